"""Pre-flight of run_grpo.sh, run with the same interpreter ($PYTHON) that will run ``verl.trainer.main_ppo``.

    preflight.py --config-dir DIR --scale NAME --reward NAME --train-set NAME [--import-verl [--no-doctor]]
                 [OVERRIDE...]

Prints four lines: the run's defaults for the launcher's environment as the selected scale file sets them
(else format_length_grpo.yaml): the model path, the number of nodes, the GPUs per node; then the note the
launcher prints before a run on veRL's CPU backend (why veRL's engine warnings are silenced). Exits 2 with one
line on stderr when REWARD or TRAIN_SET is unknown, the scale file is missing, or (``--import-verl``)
veRL does not import, is not 0.9.x, or ``import verl`` did not load verl-ext's plugin (reward managers and
the release's policy loss registered). ``VERL_USE_EXTERNAL_MODULES`` must name the plugin module, so that a
broken plugin raises here instead of being skipped (veRL only logs entry-point failures at debug level).
With ``--import-verl`` and a scale other than ``cpu``, what ``verl-ext doctor`` finds WRONG or warns about
for this run (the node's GPU stack, and the run's GPU count and memory, /dev/shm, disk, model, Ray cluster:
OVERRIDE... are the run's Hydra overrides, MODEL_PATH, CKPT_DIR, NNODES, GPUS_PER_NODE the launcher's
resolved values in the environment) is printed as warnings, each with its fix; the launch goes on (nothing
is checked without an NVIDIA GPU); ``--no-doctor`` skips that (run_smoke.sh has run the doctor itself just
before).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

PREFIX = "run_grpo.sh: error: "
MAIN_CONFIG = "format_length_grpo.yaml"
TRAIN_SETS = ("deepscaler_17k", "math_train")
# Launcher environment variable -> config key whose value is its default.
LAUNCHER_DEFAULTS = {
    "MODEL_PATH": "actor_rollout_ref.model.path",
    "NNODES": "trainer.nnodes",
    "GPUS_PER_NODE": "trainer.n_gpus_per_node",
}


class PreflightError(Exception):
    pass


def _lookup(tree: dict, dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _load(path: Path) -> dict:
    import yaml  # here, so that an interpreter without it gets the one-line error of main()

    try:
        return yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise PreflightError(f"cannot read {path}: {error}") from error


def launcher_defaults(config_dir: Path, scale: str) -> dict[str, str]:
    """Each launcher default from scale/<scale>.yaml, else from the main config."""
    scale_file = config_dir / "scale" / f"{scale}.yaml"
    if not scale_file.is_file():
        choices = sorted(p.stem for p in (config_dir / "scale").glob("*.yaml"))
        raise PreflightError(f"unknown scale '{scale}' (no {scale_file}; choose one of: {' '.join(choices)})")
    layers = [_load(scale_file), _load(config_dir / MAIN_CONFIG)]
    defaults = {}
    for name, key in LAUNCHER_DEFAULTS.items():
        value = next((found for layer in layers if (found := _lookup(layer, key)) is not None), None)
        if value is None:
            raise PreflightError(f"neither {scale_file} nor {MAIN_CONFIG} sets {key} (the default of {name})")
        defaults[name] = str(value)
    return defaults


def check_names(reward: str, train_set: str) -> None:
    """Every preset of the registry runs: text presets in veRL's reward loop, group-level and log-probability
    ones through the diagnostics sampler's group stage (the recipe config names the reward there)."""
    from verl_ext.rewards.registry import preset_names

    rewards = preset_names()
    if reward not in rewards:
        raise PreflightError(f"unknown REWARD '{reward}' (choose one of: {' '.join(rewards)})")
    if train_set not in TRAIN_SETS:
        raise PreflightError(f"unknown TRAIN_SET '{train_set}' (choose one of: {' '.join(TRAIN_SETS)})")


def check_verl(reward: str) -> None:
    """veRL 0.9 imports in this interpreter and its import registered verl-ext's plugin."""
    if not os.environ.get("VERL_USE_EXTERNAL_MODULES"):
        raise PreflightError("VERL_USE_EXTERNAL_MODULES is not set: the launcher must name verl-ext's plugin module")
    try:
        import verl
    except Exception as error:  # the plugin's own import error surfaces here
        raise PreflightError(f"'import verl' failed in {sys.executable}: {type(error).__name__}: {error}") from error
    if not verl.__version__.startswith("0.9."):
        raise PreflightError(f"veRL {verl.__version__} in {sys.executable}; verl-ext supports veRL 0.9.x")
    from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls
    from verl.trainer.ppo.core_algos import POLICY_LOSS_REGISTRY

    from verl_ext.verl.loss_agg import RELEASE_POLICY_LOSS

    try:
        get_reward_manager_cls(reward)
    except ValueError as error:
        raise PreflightError(f"verl-ext's plugin did not register reward manager '{reward}': {error}") from error
    if RELEASE_POLICY_LOSS not in POLICY_LOSS_REGISTRY:
        raise PreflightError(f"verl-ext's plugin did not register policy loss '{RELEASE_POLICY_LOSS}'")


def doctor_warnings(config_dir: Path, overrides: list[str]) -> list[str]:
    """One line per check ``verl-ext doctor`` finds WRONG or warns about for this run, with its fix."""
    from verl_ext.doctor import run_checks

    return [
        f"verl-ext doctor: {c.name}: {c.detail}" + (f"; fix: {c.fix}" if c.fix else "")
        for c in run_checks(overrides=overrides, config_dir=config_dir)
        if c.status in ("WRONG", "warn")
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-dir", type=Path, required=True)
    parser.add_argument("--scale", required=True)
    parser.add_argument("--reward", required=True)
    parser.add_argument("--train-set", required=True)
    parser.add_argument("--import-verl", action="store_true")
    parser.add_argument("--no-doctor", action="store_true", help="with --import-verl: no doctor warnings")
    parser.add_argument("overrides", nargs="*", metavar="OVERRIDE", help="the run's Hydra overrides (for the doctor)")
    args = parser.parse_args(argv)
    try:
        check_names(args.reward, args.train_set)
        defaults = launcher_defaults(args.config_dir, args.scale)
        from verl_ext.verl.cpu.quiet import EXPLANATION as cpu_note

        if args.import_verl:
            check_verl(args.reward)
            if args.scale != "cpu" and not args.no_doctor:
                for warning in doctor_warnings(args.config_dir, args.overrides):
                    print(f"run_grpo.sh: warning: {warning}", file=sys.stderr)
    except ImportError as error:
        print(
            f"{PREFIX}{sys.executable} cannot run the recipe: {error} (install verl-ext there: pip install -e .)",
            file=sys.stderr,
        )
        return 2
    except PreflightError as error:
        print(f"{PREFIX}{error}", file=sys.stderr)
        return 2
    print("\n".join([*(defaults[name] for name in LAUNCHER_DEFAULTS), cpu_note]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
