"""scale=cpu's tiny model (`python -m verl_ext.verl.cpu.tiny_model`, which every CPU launch runs): built once with the
chat template veRL needs, printed alone (no progress bar on the user's terminal), and found again in its cache
without importing transformers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from verl_ext.verl.cpu.tiny_model import CHAT_TEMPLATE

PROBE = """
import sys
from verl_ext.verl.cpu.tiny_model import recipe_model_dir
print(recipe_model_dir())
print("transformers" in sys.modules)
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    cache = tmp_path_factory.mktemp("cache")
    done = subprocess.run(
        [sys.executable, "-m", "verl_ext.verl.cpu.tiny_model"],
        env={**os.environ, "VERL_EXT_CACHE": str(cache)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return cache, done


def test_the_first_call_builds_the_model_and_prints_its_folder_alone(built) -> None:
    from transformers import AutoTokenizer

    cache, done = built
    assert done.returncode == 0, done.stderr
    (folder,) = done.stdout.splitlines()
    assert Path(folder).parent == cache and (Path(folder) / "model.safetensors").is_file()
    assert "Writing model shards" not in done.stderr and "%|" not in done.stderr, done.stderr
    assert AutoTokenizer.from_pretrained(folder).chat_template == CHAT_TEMPLATE


def _probe(cache: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, "VERL_EXT_CACHE": str(cache)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_a_cached_model_is_found_without_importing_transformers(built) -> None:
    cache, done = built
    assert _probe(cache) == [done.stdout.strip(), "False"]


def test_a_cached_model_without_the_template_gets_it_back(built, tmp_path: Path) -> None:
    import shutil

    from transformers import AutoTokenizer

    cache, done = built
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    folder = copy / Path(done.stdout.strip()).name
    (folder / "chat_template.jinja").write_text("{{ messages }}", encoding="utf-8")
    assert _probe(copy) == [str(folder), "True"]  # repaired through transformers
    assert AutoTokenizer.from_pretrained(folder).chat_template == CHAT_TEMPLATE
