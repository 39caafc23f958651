"""The veRL internals the CPU backend relies on, checked when it loads.

The backend touches public registries (platforms, rollout replicas, engines) and a few private names of
veRL 0.9.1. :func:`check_verl` verifies the installed version and every one of those names up front, so
that a veRL upgrade that moved one fails at start-up with a message naming it, never mid-run.
"""

from __future__ import annotations

from verl_ext.verl.compat import SUPPORTED_TEXT, SUPPORTED_VERL, Hook, UnsupportedVerlError, check_hooks
from verl_ext.verl.compat import is_dict as _is_dict

__all__ = ["HOOKS", "PLATFORM_HOOKS", "SUPPORTED_TEXT", "SUPPORTED_VERL", "UnsupportedVerlError", "check_verl"]

# (module, attribute, check of the value, what the backend does with it). Checked first: veRL's engine
# modules ask for the platform when imported, so the platform is registered before the other checks.
PLATFORM_HOOKS: tuple[Hook, ...] = (
    ("verl.plugin.platform", "PlatformRegistry", callable, "registers the 'cpu' platform"),
    ("verl.plugin.platform.platform_base", "PlatformBase", callable, "base class of the CPU platform"),
)
HOOKS: tuple[Hook, ...] = (
    ("verl.workers.rollout.replica", "RolloutReplicaRegistry", callable, "registers the 'hf' rollout replica"),
    ("verl.workers.rollout.replica", "RolloutReplica", callable, "base class of the HF rollout replica"),
    ("verl.workers.rollout.base", "_ROLLOUT_REGISTRY", _is_dict, "maps ('hf', 'async') to the server adapter"),
    ("verl.workers.rollout.base", "BaseRollout", callable, "base class of the server adapter"),
    ("verl.workers.rollout.replica", "TokenOutput", callable, "the rollout server's reply"),
    ("verl.workers.engine.base", "EngineRegistry", callable, "registers veRL's FSDP engines for device 'cpu'"),
    ("verl.workers.engine.base.EngineRegistry", "_engines", _is_dict, "engines registered per device"),
    ("verl.workers.engine.fsdp.transformer_impl", "FSDPEngineWithLMHead", callable, "the actor/ref engine"),
    ("verl.workers.engine.fsdp.transformer_impl", "FSDPEngineWithValueHead", callable, "the critic engine"),
    ("verl.workers.engine.fsdp.transformer_impl", "CPUOffloadPolicy", callable, "unpinned on CPU (FSDP2 ref)"),
    ("verl.utils.distributed", "initialize_global_process_group_ray", callable, "gloo-only process group"),
)


def check_verl(hooks: tuple[Hook, ...] = PLATFORM_HOOKS + HOOKS) -> None:
    """Raise :class:`UnsupportedVerlError` unless veRL's version (:data:`SUPPORTED_VERL`) and every hook fit."""
    check_hooks(hooks, "verl-ext's CPU backend", SUPPORTED_VERL, SUPPORTED_TEXT)
