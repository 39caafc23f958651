"""The project's pytest configuration: a test run starts without pytest-asyncio's deprecation warning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_this_session_has_a_default_fixture_loop_scope(request):
    assert request.config.getini("asyncio_default_fixture_loop_scope") == "function"


def test_a_pytest_run_under_the_project_config_warns_nothing_about_the_loop_scope(tmp_path):
    test_file = tmp_path / "test_tiny.py"
    test_file.write_text("def test_nothing():\n    pass\n", encoding="utf-8")
    # -X dev shows every DeprecationWarning, as a fresh virtual environment's pytest may.
    result = subprocess.run(
        [
            sys.executable,
            "-X",
            "dev",
            "-m",
            "pytest",
            "-c",
            str(REPO / "pytest.ini"),
            "-p",
            "no:cacheprovider",
            str(test_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "1 passed" in output
    assert "PytestDeprecationWarning" not in output and "is unset" not in output, output
