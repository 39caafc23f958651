"""Where a run of run_grpo.sh stands before it starts, read with the interpreter that runs main_ppo:

    run_state.py --config-dir DIR --scale NAME --checkpoints DIR --experiment NAME --log FILE [OVERRIDE ...]

Prints the run's trainer.total_training_steps (an empty line when the config leaves it to the data). When the
checkpoint folder already holds the last of those steps, says so in one line on stderr (the step it reached, how to
train on, how to start afresh) and exits with status 3: veRL would only validate again and train nothing.

veRL 0.9.1's rules (verl/trainer/ppo/v1/trainer_base.py, ``_load_checkpoint`` and ``fit``): with
``trainer.resume_mode=auto`` (the recipe's) a run resumes from ``<default_local_dir>/global_step_<N>``, N read
from ``latest_checkpointed_iteration.txt`` in that folder (when ``global_step_<N>`` exists; a relative folder is
under the working directory); ``resume_path`` resumes from ``trainer.resume_from_path`` (``.../global_step_<N>``);
``disable`` starts from scratch. It then trains while step N + 1 <= ``total_training_steps``: a run that resumes at
N >= ``total_training_steps`` trains nothing. The settings are read as Hydra would compose them for these keys: the
last override on the command line, else config/scale/<scale>.yaml, else format_length_grpo.yaml; the launcher's
own ``trainer.default_local_dir`` is ``--checkpoints``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from verl_ext.run_plan import MAIN_CONFIG, config_value

TRACKER = "latest_checkpointed_iteration.txt"
FINISHED = 3
KEYS = ("trainer.total_training_steps", "trainer.resume_mode", "trainer.resume_from_path", "trainer.default_local_dir")


def _unquoted(value: str) -> str:
    """A Hydra override's value as a plain string: one pair of enclosing quotes removed."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def settings(config_dir: Path, scale: str, checkpoints: Path, overrides: list[str]) -> dict[str, Any]:
    """``KEYS`` as the run sees them: the last of the user's overrides (``key=``, ``+key=``, ``++key=``), else the
    launcher's (``trainer.default_local_dir`` = ``checkpoints``), else the scale file, else the main config."""
    import yaml

    layers = [yaml.safe_load((config_dir / "scale" / f"{scale}.yaml").read_text()) or {}]
    layers.append(yaml.safe_load((config_dir / MAIN_CONFIG).read_text()) or {})
    found: dict[str, Any] = {}
    for key in KEYS:
        found[key] = next((value for layer in layers if (value := config_value(layer, key)) is not None), None)
    found["trainer.default_local_dir"] = str(checkpoints)
    for override in overrides:
        key, sep, value = override.lstrip("+").partition("=")
        if sep and key in KEYS:
            value = _unquoted(value)
            found[key] = None if value.lower() in ("null", "~", "") else value
    return found


def _step_of(folder: str) -> int | None:
    name = Path(folder).name
    return int(name.removeprefix("global_step_")) if name.startswith("global_step_") and name[12:].isdigit() else None


def resumes_at(found: dict[str, Any]) -> tuple[int, Path] | None:
    """(N, folder) of the checkpoint veRL would resume from; None when it would start from scratch (or a setting is
    an interpolation, which only Hydra resolves)."""
    if any("${" in str(value) for value in found.values() if value is not None):
        return None
    mode = str(found["trainer.resume_mode"] or "auto")
    if mode == "resume_path" and found["trainer.resume_from_path"]:
        folder = Path(found["trainer.resume_from_path"]).absolute()
        step = _step_of(str(folder))
        return None if step is None else (step, folder)
    if mode != "auto":
        return None
    root = Path(str(found["trainer.default_local_dir"])).absolute()
    try:
        step = int((root / TRACKER).read_text().strip())
    except (OSError, ValueError):
        return None
    folder = root / f"global_step_{step}"
    return (step, folder) if folder.is_dir() else None


def finished_line(experiment: str, step: int, total: int, folder: Path, log: Path) -> str:
    """The one line a finished run gets: the step it reached, how to train on, how to start afresh."""
    checkpoints = folder.parent
    logs = f"{shlex.quote(str(log.parent / log.name.removesuffix('.jsonl')))}.*"
    return (
        f"run_grpo.sh: {experiment} has finished: its checkpoint of step {step} (trainer.total_training_steps={total}) "
        f"is in {checkpoints}, so veRL would train nothing; to train on, raise trainer.total_training_steps (e.g. "
        f"trainer.total_training_steps={step + 1}); to start afresh, rm -r {shlex.quote(str(checkpoints))} {logs} "
        "or set EXPERIMENT to a new name"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-dir", type=Path, required=True)
    parser.add_argument("--scale", required=True)
    parser.add_argument("--checkpoints", type=Path, required=True, help="the launcher's trainer.default_local_dir")
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--log", type=Path, required=True, help="the run's metrics log")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    found = settings(args.config_dir, args.scale, args.checkpoints, args.overrides)
    total = found["trainer.total_training_steps"]
    try:
        total = None if total is None else int(total)
    except ValueError:
        total = None  # an interpolation or an expression: main_ppo decides, nothing is known here
    print("" if total is None else total)
    resume = resumes_at(found)
    if total is not None and resume is not None and resume[0] >= total:
        print(finished_line(args.experiment, resume[0], total, resume[1], args.log), file=sys.stderr)
        return FINISHED
    return 0


if __name__ == "__main__":
    sys.exit(main())
