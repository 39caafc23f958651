"""verl-ext's CPU backend for veRL 0.9.1: the stock trainer (``main_ppo``) with no GPU.

Selected by ``VERL_PLATFORM=cpu`` (veRL's own platform switch); otherwise nothing here is imported and
veRL behaves exactly as without verl-ext. When selected, :func:`enable` (called by the verl-ext plugin in
the driver and in every Ray worker) checks the installed veRL (:mod:`.compat`: version range and every
internal touched, a loud error naming the supported version otherwise), then registers:

* platform ``cpu`` (:mod:`.platform`): gloo, host memory, one logical Ray ``GPU`` per training process;
* rollout ``hf`` (:mod:`.rollout`, :mod:`.server`): generation with plain ``transformers``
  (temperature / top-p / top-k / greedy, log-probs), weights loaded from veRL's colocated weight sync;
* veRL's FSDP engines for device ``cpu`` (:mod:`.engines`);

and silences the warnings veRL, torch and Ray give about their own choices, such as the optional engines a CPU run
has no use for (:mod:`.quiet`).

The recipe group ``scale=cpu`` sets the matching config (``rollout.name=hf``, ``strategy=fsdp2``, no
flash-attention, no remove-padding, no compile).
"""

from __future__ import annotations

import os

SELECT_ENV = "VERL_PLATFORM"
SELECT_VALUE = "cpu"

_enabled = False


def selected() -> bool:
    """Whether this process runs veRL on the CPU backend (``VERL_PLATFORM=cpu``)."""
    return os.environ.get(SELECT_ENV, "").strip().lower() == SELECT_VALUE


def enable() -> None:
    """Check veRL, then register the platform, the ``hf`` rollout and the CPU engines (idempotent)."""
    global _enabled
    if _enabled:
        return
    from verl_ext.verl.cpu.quiet import silence_known_warnings

    silence_known_warnings()  # before check_verl imports veRL's engine modules
    from verl_ext.verl.cpu.compat import HOOKS, PLATFORM_HOOKS, check_verl

    check_verl(PLATFORM_HOOKS)  # imports veRL's platform manager, which sets its logger's level
    from verl_ext.verl.cpu.quiet import quiet_platform_override

    quiet_platform_override()
    from verl_ext.verl.cpu import platform as _platform  # noqa: F401 - registers platform "cpu"

    check_verl(HOOKS)  # imports veRL's engine modules, which ask for the platform
    from verl.workers.rollout import base as rollout_base
    from verl.workers.rollout.replica import RolloutReplicaRegistry

    from verl_ext.verl.cpu import engines
    from verl_ext.verl.cpu.rollout import ROLLOUT_NAME, CPUReplica

    engines.apply()
    RolloutReplicaRegistry.register(ROLLOUT_NAME, lambda: CPUReplica)
    rollout_base._ROLLOUT_REGISTRY[(ROLLOUT_NAME, "async")] = "verl_ext.verl.cpu.rollout.CPUServerAdapter"
    _enabled = True


def register_failed_platform(error: BaseException) -> None:
    """Register platform ``cpu`` as one that raises ``error`` when veRL instantiates it.

    veRL logs a plugin's import error at debug level only; this makes the cause surface at the first
    ``get_platform()`` instead of a bare "Unknown platform 'cpu'".
    """
    try:
        from verl.plugin.platform import PlatformBase, PlatformRegistry
    except ImportError:
        return

    class FailedCPUPlatform(PlatformBase):
        def __new__(cls, *_args, **_kwargs):
            raise RuntimeError(f"verl-ext's CPU backend cannot run: {error}") from error

    PlatformRegistry.register(platform=SELECT_VALUE)(FailedCPUPlatform)
