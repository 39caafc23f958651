"""The veRL internals the CPU backend relies on, checked when it loads.

The backend touches public registries (platforms, rollout replicas, engines) and a few private names of
veRL 0.9.1. :func:`check_verl` verifies the installed version and every one of those names up front, so
that a veRL upgrade that moved one fails at start-up with a message naming it, never mid-run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from packaging.version import Version

SUPPORTED_VERL = (Version("0.9.1"), Version("0.10"))  # [low, high)
SUPPORTED_TEXT = "veRL >=0.9.1,<0.10 (built and tested against 0.9.1)"


class UnsupportedVerlError(RuntimeError):
    """The installed veRL lacks an internal the CPU backend needs."""


def _is_dict(value: object) -> bool:
    return isinstance(value, dict)


Hook = tuple[str, str, Callable[[object], bool], str]

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


def _resolve(path: str) -> object:
    """A module, or a class inside one (``package.module.Class``)."""
    try:
        return importlib.import_module(path)
    except ImportError:
        module_name, _, attribute = path.rpartition(".")
        if not module_name:
            raise
        return getattr(importlib.import_module(module_name), attribute)


def check_verl(hooks: tuple[Hook, ...] = PLATFORM_HOOKS + HOOKS) -> None:
    """Raise :class:`UnsupportedVerlError` unless veRL's version and every hook in ``hooks`` fit."""
    import verl

    version = Version(getattr(verl, "__version__", "0"))
    low, high = SUPPORTED_VERL
    if not low <= version < high:
        raise UnsupportedVerlError(f"verl-ext's CPU backend supports {SUPPORTED_TEXT}; veRL {version} is installed")
    problems = []
    for module_name, attribute, check, use in hooks:
        try:
            value = getattr(_resolve(module_name), attribute)
        except (ImportError, AttributeError) as error:
            problems.append(f"{module_name}.{attribute} ({use}): {type(error).__name__}: {error}")
            continue
        if not check(value):
            problems.append(f"{module_name}.{attribute} ({use}): unexpected {type(value).__name__}")
    if problems:
        raise UnsupportedVerlError(
            f"verl-ext's CPU backend supports {SUPPORTED_TEXT}; in the installed veRL {version} these internals "
            "moved: " + "; ".join(problems)
        )
