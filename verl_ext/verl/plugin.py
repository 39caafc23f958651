"""Loaded by veRL itself (``import verl`` walks the ``verl.plugins`` entry points) in the driver and in
every Ray worker: importing the managers registers them with veRL's reward-manager registry, and importing
loss_agg registers the release's (veRL 0.2) policy loss with veRL's policy-loss registry.

Also, in every process: veRL's TRL check is narrowed so that TRL >= 1.16 (no value-head class) no longer
crashes veRL's workers (:mod:`verl_ext.verl.trl_compat`); with ``VERL_PLATFORM=cpu`` only, the CPU
backend is loaded (:mod:`verl_ext.verl.cpu`); then the actor engine that can also return per-token
self-certainty is registered for the GPUs (:mod:`verl_ext.verl.actor_engine`: veRL's FSDP engine, unchanged
unless a batch asks for it) and verl-ext's trainer mode ``verl_ext_sync`` with veRL's trainer registry
(:mod:`verl_ext.verl.trainer`). veRL swallows a plugin's exceptions (logged at debug level), so a part that
cannot load says so on stderr; a CPU backend that cannot load is left as a platform that raises the same
error when veRL selects it."""

import sys
import warnings

from verl_ext.verl import trl_compat

trl_compat.apply()

from verl_ext.verl import cpu, loss_agg, managers  # noqa: E402, F401

if cpu.selected():
    try:
        cpu.enable()  # before veRL's engine modules are imported below: they ask for the platform
    except Exception as error:
        sys.stderr.write(f"verl-ext: the CPU backend (VERL_PLATFORM=cpu) cannot load: {error}\n")
        cpu.register_failed_platform(error)
        raise

try:
    # Importing veRL's engine package warns once per absent optional engine (Megatron, MindSpeed, TorchTitan, VeOmni,
    # Automodel); here it is imported in every process, also those that train nothing: those warnings are skipped.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\w+ engine is not available: ModuleNotFoundError")
        from verl_ext.verl import actor_engine, trainer  # noqa: F401

    actor_engine.register_gpu_engines()
except Exception as error:
    sys.stderr.write(
        f"verl-ext: the reward-stage trainer (trainer.v1.trainer_mode=verl_ext_sync) and its actor engine cannot "
        f"load: {type(error).__name__}: {error}\n"
    )
    raise
