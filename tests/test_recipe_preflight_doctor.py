"""recipe/format_length/preflight.py warns with `verl-ext doctor`'s findings (WRONG and warn) for the run as
launched (its overrides) before a GPU run (never for scale=cpu) and goes on; run with this interpreter as the
launcher runs it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import verl_ext.doctor
from verl_ext.doctor import Check

RECIPE = Path(__file__).resolve().parents[1] / "recipe" / "format_length"


@pytest.fixture(scope="module")
def preflight():
    spec = importlib.util.spec_from_file_location("recipe_preflight", RECIPE / "preflight.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OLD_DRIVER = Check(
    "NVIDIA driver", "WRONG", "driver 550.54.15; CUDA 13.x needs >= 580", "upgrade the NVIDIA driver to 580 or later"
)
SMALL_CARD = Check("GPU memory", "warn", "40 GiB cards", "fewer tokens")


@pytest.mark.parametrize(
    ("scale", "flags", "warned"),
    [
        ("paper", [], True),
        ("smoke", [], True),
        ("cpu", [], False),
        ("smoke", ["--no-doctor"], False),
    ],  # run_smoke.sh has run the doctor just before (CHECK_DOCTOR=0)
)
def test_a_wrong_gpu_stack_is_a_warning_with_its_fix_and_the_launch_goes_on(
    preflight,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    scale: str,
    flags: list[str],
    warned: bool,
) -> None:
    monkeypatch.setenv("VERL_USE_EXTERNAL_MODULES", "verl_ext.verl.plugin")
    asked = []

    def run_checks(**kwargs) -> list[Check]:
        asked.append(kwargs)
        return [OLD_DRIVER, SMALL_CARD, Check("veRL", "ok", "veRL 0.9.1")]

    monkeypatch.setattr(verl_ext.doctor, "run_checks", run_checks)
    status = preflight.main(
        [
            "--config-dir",
            str(RECIPE / "config"),
            "--scale",
            scale,
            "--reward",
            "format",
            "--train-set",
            "math_train",
            "--import-verl",
            *flags,
            "--",
            f"scale={scale}",
            "trainer.save_freq=1",
        ]
    )
    err = capsys.readouterr().err
    assert status == 0
    expected = (
        "run_grpo.sh: warning: verl-ext doctor: NVIDIA driver: driver 550.54.15; CUDA 13.x needs >= 580; "
        "fix: upgrade the NVIDIA driver to 580 or later"
    )
    assert (expected in err) is warned
    assert ("run_grpo.sh: warning: verl-ext doctor: GPU memory: 40 GiB cards; fix: fewer tokens" in err) is warned
    assert "veRL 0.9.1" not in err
    # the doctor judged the run as launched: its overrides and this recipe's config
    assert [a["overrides"] for a in asked] == ([[f"scale={scale}", "trainer.save_freq=1"]] if warned else [])
    assert all(a["config_dir"] == RECIPE / "config" for a in asked)


# Stand-in for $PYTHON: the pre-flight's veRL/doctor call writes its arguments and environment to $RECORD and
# succeeds; every other call runs this interpreter.
STAND_IN = """#!{python}
import json, os, sys
argv = sys.argv[1:]
if argv[0].endswith("preflight.py") and "--import-verl" in argv:
    json.dump({{"argv": argv, "env": dict(os.environ)}}, open(os.environ["RECORD"], "w"))
    sys.exit(0)
os.execv({python!r}, [{python!r}, *argv])
"""


def test_the_launcher_gives_the_doctor_the_runs_overrides_and_resolved_settings(
    tmp_path: Path, launcher_env: dict[str, str]
) -> None:
    import json
    import subprocess
    import sys

    stand_in = tmp_path / "python"
    stand_in.write_text(STAND_IN.format(python=sys.executable))
    stand_in.chmod(0o755)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    env = launcher_env | {
        "PYTHON": str(stand_in),
        "RECORD": str(tmp_path / "record.json"),
        "CHECK_VERL": "1",
        "DRY_RUN": "1",
        "DATA_DIR": str(RECIPE.parents[1] / "release_data" / "datasets"),
        "MODEL_PATH": str(model),
        "CKPT_DIR": "~/ck",
        "HOME": str(tmp_path),
    }
    result = subprocess.run(
        ["bash", str(RECIPE / "run_grpo.sh"), "scale=smoke", "trainer.save_freq=1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    recorded = json.loads((tmp_path / "record.json").read_text())
    assert recorded["argv"][-3:] == ["--", "scale=smoke", "trainer.save_freq=1"]
    assert {k: recorded["env"].get(k) for k in ("MODEL_PATH", "CKPT_DIR", "NNODES", "GPUS_PER_NODE")} == {
        "MODEL_PATH": str(model),
        "CKPT_DIR": str(tmp_path / "ck"),  # made absolute, ~ expanded, as the run uses it
        "NNODES": "1",
        "GPUS_PER_NODE": "1",  # the smoke scale's
    }
