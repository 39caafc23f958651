"""veRL's own FSDP engines and process-group set-up, made usable on the host CPU.

Three adjustments, applied only when the CPU backend is selected:

* ``EngineRegistry``: veRL registers its FSDP/FSDP2 engines for devices ``cuda`` and ``npu``; for ``cpu`` the
  value-model engine is veRL's class, the language-model engine its subclass that can also return per-token
  self-certainty (:class:`verl_ext.verl.actor_engine.SelfCertaintyFSDPEngine`: veRL's outputs unchanged unless a
  batch asks for it).
* ``initialize_global_process_group_ray``: veRL builds the backend string ``cpu:gloo,<device>:<backend>``,
  which on this platform reads ``cpu:gloo,cpu:gloo`` and torch rejects it (duplicate device type); with
  one device type the backend is plain ``gloo``.
* FSDP2's forward-only reference model uses ``CPUOffloadPolicy(pin_memory=True)``; pinned memory needs an
  accelerator. On the CPU the policy is kept, unpinned.
"""

from __future__ import annotations

import functools

import verl.utils.distributed as verl_distributed
import verl.workers.engine.fsdp.transformer_impl as fsdp_impl
from verl.workers.engine.base import EngineRegistry

CPU_DEVICE = "cpu"
GLOO = "gloo"


class UnpinnedCPUOffloadPolicy(fsdp_impl.CPUOffloadPolicy):
    """FSDP2's CPU offload policy with ``pin_memory`` forced off (there is no accelerator to pin for)."""

    def __init__(self, pin_memory: bool = True) -> None:
        super().__init__(pin_memory=False)


def gloo_process_group(initialize):
    """``initialize`` with the backend defaulting to ``gloo`` instead of ``cpu:gloo,cpu:gloo``."""

    @functools.wraps(initialize)
    def initialize_gloo(timeout_second=None, backend=None):
        return initialize(timeout_second=timeout_second, backend=backend or GLOO)

    initialize_gloo.verl_ext_cpu = True
    return initialize_gloo


def register_cpu_engines() -> None:
    """Register the FSDP engines for device ``cpu`` (idempotent): veRL's value-model engine, and its language-model
    engine's self-certainty subclass."""
    from verl_ext.verl.actor_engine import register

    register((CPU_DEVICE,))
    backends = EngineRegistry._engines.get("value_model", {})
    missing = [name for name in ("fsdp", "fsdp2") if CPU_DEVICE not in backends.get(name, {})]
    if missing:
        EngineRegistry.register(model_type="value_model", backend=missing, device=CPU_DEVICE)(
            fsdp_impl.FSDPEngineWithValueHead
        )


def apply() -> None:
    """All three adjustments; safe to call more than once."""
    register_cpu_engines()
    if not getattr(verl_distributed.initialize_global_process_group_ray, "verl_ext_cpu", False):
        verl_distributed.initialize_global_process_group_ray = gloo_process_group(
            verl_distributed.initialize_global_process_group_ray
        )
    # veRL's worker module imports the function by name: replace it there too when already imported.
    import sys

    workers = sys.modules.get("verl.workers.engine_workers")
    if workers is not None:
        workers.initialize_global_process_group_ray = verl_distributed.initialize_global_process_group_ray
    fsdp_impl.CPUOffloadPolicy = UnpinnedCPUOffloadPolicy
