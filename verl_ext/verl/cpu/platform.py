"""veRL platform ``cpu``: every device call lands on the host CPU.

Selected by ``VERL_PLATFORM=cpu``. Ray placement still needs an accelerator resource (veRL's resource
pools count only ``GPU``/``NPU``), so each training process asks for one *logical* Ray ``GPU``: start Ray
with ``num_gpus`` equal to the number of training processes (``scale=cpu`` does). No CUDA is touched.
"""

from __future__ import annotations

import types
from contextlib import contextmanager
from typing import Any

import psutil
import torch
from verl.plugin.platform import PlatformRegistry
from verl.plugin.platform.platform_base import PlatformBase

PLATFORM_NAME = "cpu"


def _no_op(*_: Any, **__: Any) -> None:
    return None


def _zero(*_: Any, **__: Any) -> int:
    return 0


def _mem_get_info(*_: Any) -> tuple[int, int]:
    memory = psutil.virtual_memory()
    return memory.available, memory.total


class _Stream:
    """Stand-in for an accelerator stream: work on the CPU is synchronous."""

    def __init__(self, *_: Any, **__: Any) -> None:
        pass

    def synchronize(self) -> None:
        return None

    def wait_stream(self, *_: Any) -> None:
        return None

    def wait_event(self, *_: Any) -> None:
        return None

    def record_event(self, *_: Any) -> None:
        return None


def cpu_device_module() -> types.ModuleType:
    """A ``torch.<device>``-like namespace for the host: ``torch.cpu`` plus no-op memory/stream calls."""
    module = types.ModuleType("verl_ext_cpu_device")
    module.is_available = lambda: True
    module.current_device = lambda: "cpu"
    module.device_count = lambda: 1
    module.set_device = _no_op
    module.synchronize = _no_op
    module.empty_cache = _no_op
    module.ipc_collect = _no_op
    module.set_per_process_memory_fraction = _no_op
    module.memory_allocated = _zero
    module.memory_reserved = _zero
    module.max_memory_allocated = _zero
    module.max_memory_reserved = _zero
    module.reset_peak_memory_stats = _no_op
    module.mem_get_info = _mem_get_info
    module.get_device_name = lambda *_: "cpu"
    module.get_rng_state = lambda *_: torch.get_rng_state()
    module.set_rng_state = lambda state, *_: torch.set_rng_state(state)
    module.manual_seed = torch.manual_seed
    module.manual_seed_all = torch.manual_seed
    module.Stream = _Stream
    module.Event = torch.cpu.Event
    module.current_stream = lambda *_: _Stream()

    @contextmanager
    def stream(*_: Any):
        yield

    module.stream = stream
    return module


@PlatformRegistry.register(platform=PLATFORM_NAME)
class PlatformCPU(PlatformBase):
    """Host CPU as veRL's device: gloo collectives, no IPC, no profiler."""

    _device_module = cpu_device_module()

    @property
    def device_name(self) -> str:
        return "cpu"

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> types.ModuleType:
        return self._device_module

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        return False  # never auto-detected: only VERL_PLATFORM=cpu selects it

    def current_device(self) -> str:  # veRL passes it to tensor.to(); "cpu" is valid there
        return "cpu"

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None

    def synchronize(self, device_index: int | None = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        return "VERL_EXT_CPU_VISIBLE_DEVICES"  # nothing to hide: a name no library reads

    @contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        return "GPU"  # logical: Ray is started with num_gpus = training processes

    def ray_noset_envvars(self) -> list[str]:
        return []

    def is_ipc_supported(self) -> bool:
        return False

    def cudart(self) -> Any:
        return None
