"""``verl-ext doctor``: can this node run the recipe's GPU path (veRL 0.9.1, vLLM + FSDP) at the chosen scale?

Each check is ``ok``, ``warn`` (works, but look: with what to do), ``WRONG`` (with the tool's own error and the
fix) or ``skipped`` (with why it could not be checked); the exit status is 1 when anything is WRONG.

The node's GPU stack: the NVIDIA driver (>= 580: CUDA 13.x, which torch 2.11 and vLLM 0.24 are built with);
``nvidia-smi`` failing, or ``/dev/nvidia*`` present without a loaded driver, is WRONG, never "a CPU machine";
torch (it imports, built with CUDA 13), the GPUs it sees (compute capability >= 8.0 for flash-attn 2, the
memory nvidia-smi reports), the torch / vLLM / flash-attn versions veRL's installed metadata pins (its
``vllm`` and ``flash-attn-cu130torch211`` extras), transformers against verl-ext's ``gpu`` extra, whether pip
would build flash-attn from source (PyPI has only its sdist), veRL 0.9.x and verl-ext's ``verl.plugins``
entry point.

The run (the figures of ``verl_ext.run_plan``: the scale and overrides as given to run_grpo.sh, its
environment): GPUs visible against GPUS_PER_NODE, GPU memory against the scale's estimate (with the settings
that fit a smaller card), ``/dev/shm`` against what Ray's object store takes (and NCCL needs), free disk at
CKPT_DIR against the checkpoints kept, the model (a local directory, the Hugging Face cache, or the hub reached
for its config.json), a running Ray cluster that ``ray.init()`` would attach to, and (``nccl=True``) an NCCL
all-reduce across the visible GPUs.

Without any NVIDIA device or tool (a CPU machine) the GPU and run checks are skipped and named, and the status
is 0. Every probe of the machine is a field of :class:`Probes` (fakes in tests), and every check runs guarded:
a probe that raises is reported WRONG with its error, never a traceback.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from verl_ext import doctor_probes as probe
from verl_ext import run_plan
from verl_ext.doctor_probes import PYPI_SIMPLE, WHEELHOUSE, Gpu, ModelUnavailable, ToolFailed, first_line
from verl_ext.run_plan import GIB, ModelSize, RunPlan

__all__ = ["Check", "Gpu", "ModelUnavailable", "Probes", "ToolFailed", "report", "run_checks"]

# NVIDIA's minor-version-compatibility table: CUDA 13.x runs on driver >= 580 (12.x: >= 525).
MIN_DRIVER_FOR_CUDA_MAJOR = {12: 525, 13: 580}
MIN_COMPUTE_CAPABILITY = (8, 0)  # flash-attn 2: Ampere, Ada, Hopper and newer
INSTALL_HINT = "see 'Set up a GPU node' in recipe/format_length/README.md"
TORCH_INDEX = "https://download.pytorch.org/whl/cu130"
FLASH_ATTN_BUILD = (
    "pip install ninja packaging psutil wheel setuptools && MAX_JOBS=8 pip install --no-build-isolation "
    "flash-attn=={version} (a CUDA 13.0 toolkit on the node, CUDA_HOME set)"
)
MIN_FREE_DISK = GIB  # below this the disk counts as full, whatever the run needs


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok", "warn", "WRONG" or "skipped"
    detail: str
    fix: str = ""


@dataclass
class Probes:
    nvidia_smi: Callable[[], tuple[str, list[Gpu]] | None] = probe.nvidia_smi
    device_files: Callable[[], list[str]] = probe.device_files
    kernel_driver: Callable[[], str | None] = probe.kernel_driver_version
    torch_gpus: Callable[[], list[Gpu]] = probe.torch_gpus
    torch_cuda: Callable[[], str | None] = probe.torch_cuda
    version: Callable[[str], str | None] = probe.version
    import_error: Callable[[str], str | None] = probe.import_error
    requires: Callable[[str], list[str]] = probe.requires
    plugin_registered: Callable[[], bool] = probe.plugin_registered
    disk_free: Callable[[Path], tuple[Path, int]] = probe.disk_free
    shm: Callable[[], tuple[int, int] | None] = probe.shm
    object_store_bytes: Callable[[], int] = probe.object_store_bytes
    ray_address: Callable[[Mapping[str, str]], str | None] = probe.ray_address
    model_config: Callable[[str, Mapping[str, str]], tuple[dict, str]] = probe.model_config
    model_size: Callable[[dict], ModelSize] = run_plan.model_size
    index_files: Callable[[str, str], list[str]] = probe.index_files
    nccl_all_reduce: Callable[[int], dict] = probe.nccl_all_reduce
    python_tags: Callable[[], list[str]] = probe.python_tags


# ---------------------------------------------------------------- the checks (pure: probe results in, Checks out)
def extra_pins(requires: list[str], extras: Sequence[str]) -> dict[str, str]:
    """Package -> ``==`` version in the given extras of a distribution's Requires-Dist lines."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = {}
    for line in requires:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or not any(marker.evaluate({"extra": e}) for e in extras):
            continue
        for spec in requirement.specifier:
            if spec.operator == "==":
                pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def verl_pins(requires: list[str]) -> dict[str, str]:
    """Package -> ``==`` version in veRL's vllm and flash-attn-cu130torch211 extras (its GPU path)."""
    return extra_pins(requires, ("vllm", "flash-attn-cu130torch211"))


def _driver_major(version: str) -> int | None:
    try:
        return int(version.split(".")[0])
    except ValueError:
        return None


def _driver_fix(output: str) -> str:
    lowered = output.lower()
    if "mismatch" in lowered:
        return (
            "the loaded kernel module and the driver's libraries differ (a driver update without a reboot): reboot "
            "the node, or unload and reload the nvidia kernel modules; nvidia-smi must then run"
        )
    if "couldn't communicate" in lowered or "not loaded" in lowered or "no devices were found" in lowered:
        return "load or (re)install the NVIDIA driver (>= 580) and reboot; nvidia-smi must then run"
    return "make nvidia-smi run (its message above names the cause); then run the doctor again"


def check_driver(
    smi: tuple[str, list[Gpu]] | None, smi_error: ToolFailed | None, device_files: list[str], kernel: str | None
) -> Check:
    """torch 2.11 (cu130) and vLLM 0.24 are CUDA 13 builds, whatever torch is installed now: driver >= 580."""
    needed = MIN_DRIVER_FOR_CUDA_MAJOR[13]
    if smi_error is not None:
        return Check("NVIDIA driver", "WRONG", f"nvidia-smi failed: {smi_error}", _driver_fix(smi_error.output))
    if smi is None:
        if not device_files:
            return Check("NVIDIA driver", "skipped", "no nvidia-smi and no /dev/nvidia*: a machine without NVIDIA GPUs")
        if kernel is None:
            return Check(
                "NVIDIA driver",
                "WRONG",
                f"{', '.join(device_files)} exist but no NVIDIA kernel module is loaded "
                "(no /proc/driver/nvidia/version) and there is no nvidia-smi",
                "install the NVIDIA driver (>= 580) and reboot (in a container: run it with the NVIDIA container "
                "toolkit, e.g. docker run --gpus all)",
            )
        driver, source = kernel, "/proc/driver/nvidia/version; nvidia-smi is not installed"
    else:
        driver, source = smi[0], "nvidia-smi"
    major = _driver_major(driver)
    if major is None or major < needed:
        return Check(
            "NVIDIA driver",
            "WRONG",
            f"driver {driver} ({source}); torch 2.11 and vLLM 0.24 are CUDA 13 builds, which need >= {needed}",
            f"upgrade the NVIDIA driver to {needed} or later (a datacenter GPU may instead use NVIDIA's "
            f"cuda-compat forward-compatibility package)",
        )
    return Check("NVIDIA driver", "ok", f"driver {driver} ({source}; CUDA 13 needs >= {needed})")


def check_torch(
    version: str | None, torch_cuda: str | None, import_error: str | None, pinned: str | None, gpu_node: bool
) -> list[Check]:
    reinstall = f"pip install --force-reinstall torch=={pinned or '2.11.0'} --index-url {TORCH_INDEX}"
    if version is None:
        return [
            Check(
                "torch", "WRONG", "not installed", f"pip install torch=={pinned or '2.11.0'} --index-url {TORCH_INDEX}"
            )
        ]
    if import_error is not None:
        return [
            Check(
                "torch",
                "WRONG",
                f"torch {version} is installed but does not import: {import_error}",
                f"{reinstall} (a missing libcudnn/libnccl/libcublas: its nvidia-* wheels are missing or broken, or "
                "LD_LIBRARY_PATH points at another CUDA)",
            )
        ]
    checks = []
    if pinned and version.split("+")[0] != pinned:
        status = "WRONG" if gpu_node else "skipped"
        detail = f"torch {version}, veRL 0.9.1's GPU path pins {pinned}" + (
            "" if gpu_node else " (no GPU here: not required)"
        )
        checks.append(
            Check(
                "torch version",
                status,
                detail,
                f"pip install torch=={pinned} --index-url {TORCH_INDEX}" if gpu_node else "",
            )
        )
    else:
        checks.append(Check("torch version", "ok", f"torch {version}"))
    if not gpu_node:
        checks.append(
            Check(
                "torch CUDA",
                "skipped",
                f"torch built with CUDA {torch_cuda or 'none (a CPU build)'}; no GPU here to use it",
            )
        )
    elif not torch_cuda or not torch_cuda.startswith("13."):
        checks.append(
            Check(
                "torch CUDA",
                "WRONG",
                f"torch built with CUDA {torch_cuda or 'none (a CPU build)'}; vLLM 0.24 needs CUDA 13",
                reinstall,
            )
        )
    else:
        checks.append(Check("torch CUDA", "ok", f"torch built with CUDA {torch_cuda}"))
    return checks


def check_gpus(smi: tuple[str, list[Gpu]] | None, gpus: list[Gpu]) -> Check:
    unreported = [index for index, gpu in enumerate(smi[1] if smi else []) if gpu.memory_mib is None]
    if unreported:
        return Check(
            "GPUs",
            "WRONG",
            f"nvidia-smi reports memory.total [N/A] for GPU {', '.join(map(str, unreported))}",
            f"nvidia-smi -q -d MEMORY -i {unreported[0]} shows why (MIG enabled without instances, a vGPU that "
            "reports no memory, a failing GPU); fix it or hide that GPU with CUDA_VISIBLE_DEVICES",
        )
    if not gpus:
        seen = f"nvidia-smi sees {len(smi[1])} GPU(s)" if smi else "the NVIDIA device files are there"
        return Check(
            "GPUs",
            "WRONG",
            f"{seen}, torch sees none",
            "a CPU build of torch, a driver older than torch's CUDA needs, or CUDA_VISIBLE_DEVICES hiding them: "
            "see the checks above",
        )
    kinds = Counter(f"{g.name} ({g.memory_mib / 1024:.0f} GiB)" for g in gpus if g.memory_mib is not None)
    described = ", ".join(f"{count} x {kind}" for kind, count in kinds.items())
    old = [g for g in gpus if g.capability is not None and g.capability < MIN_COMPUTE_CAPABILITY]
    if old:
        return Check(
            "GPUs",
            "WRONG",
            f"{len(gpus)}: {described}; compute capability {old[0].capability} < 8.0",
            "flash-attn 2 needs Ampere or newer (A100, H100, RTX 30xx/40xx)",
        )
    return Check("GPUs", "ok", f"{len(gpus)}: {described}")


def check_package(
    label: str, dist: str, module: str, pinned: str | None, gpu_node: bool, fix: str, probes: Probes
) -> Check:
    version = probes.version(dist)
    if version is None:
        if not gpu_node:
            return Check(label, "skipped", "not installed (needed on GPU nodes only)")
        return Check(label, "WRONG", "not installed", fix)
    if pinned and version.split("+")[0] != pinned:
        return Check(
            label,
            "WRONG" if gpu_node else "skipped",
            f"{dist} {version}, pinned {pinned}" + ("" if gpu_node else " (no GPU here: not required)"),
            fix if gpu_node else "",
        )
    error = probes.import_error(module)
    if error:
        return Check(
            label,
            "WRONG" if gpu_node else "skipped",
            f"{dist} {version} does not import: {error}",
            fix if gpu_node else "",
        )
    return Check(label, "ok", f"{dist} {version}")


def _compatible_wheels(files: list[str], version: str, tags: list[str]) -> list[str]:
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    supported = set(tags)
    found = []
    for name in files:
        try:
            _, wheel_version, _, wheel_tags = parse_wheel_filename(name)
        except InvalidWheelFilename:
            continue
        if str(wheel_version).split("+")[0] == version and any(str(tag) in supported for tag in wheel_tags):
            found.append(name)
    return found


def check_flash_attn_source(version: str, probes: Probes) -> Check:
    """flash-attn is not installed: would pip build it? Where a wheel for this interpreter is (wheelhouse, PyPI)."""
    tags = probes.python_tags()
    here = tags[0] if tags else "this interpreter"
    found: dict[str, list[str] | str] = {}
    for label, index in (("PyPI", PYPI_SIMPLE), ("the verl wheelhouse", WHEELHOUSE)):
        try:
            found[label] = _compatible_wheels(probes.index_files(index, "flash-attn"), version, tags)
        except Exception as error:
            found[label] = f"unreachable ({type(error).__name__}: {first_line(error)})"
    pypi, wheelhouse = found["PyPI"], found["the verl wheelhouse"]
    wheelhouse_line = (
        f"pip install flash-attn=={version} --no-deps --only-binary flash-attn --index-url {WHEELHOUSE} "
        f"before pip install -e '.[gpu]' ({INSTALL_HINT})"
    )
    if isinstance(pypi, list) and pypi:
        return Check("flash-attn wheel", "ok", f"not installed; PyPI has a wheel for {here}: {pypi[0]}")
    pypi_text = "PyPI has no flash-attn wheel for it, only the source" if isinstance(pypi, list) else f"PyPI {pypi}"
    if isinstance(wheelhouse, list) and wheelhouse:
        return Check(
            "flash-attn wheel",
            "WRONG",
            f"not installed, and pip install -e '.[gpu]' would build flash-attn {version} from source ({pypi_text}; "
            f"hours without ninja); the verl wheelhouse has {wheelhouse[0]} for {here}",
            wheelhouse_line,
        )
    wheelhouse_text = (
        f"the verl wheelhouse has none for {here} (its wheels are cp312)"
        if isinstance(wheelhouse, list)
        else f"the verl wheelhouse is {wheelhouse}"
    )
    return Check(
        "flash-attn wheel",
        "WRONG",
        f"not installed, and pip would build flash-attn {version} from source: {pypi_text}; {wheelhouse_text}",
        f"use Python 3.12 and the wheelhouse ({wheelhouse_line}), or build it: "
        + FLASH_ATTN_BUILD.format(version=version),
    )


def check_verl(probes: Probes) -> list[Check]:
    version = probes.version("verl")
    if version is None or not version.startswith("0.9."):
        return [
            Check(
                "veRL",
                "WRONG",
                f"veRL {version or 'not installed'}; verl-ext needs 0.9.x",
                'pip install -e ".[gpu]" (or -e . on CPU)',
            )
        ]
    checks = []
    error = probes.import_error("verl")
    checks.append(
        Check("veRL", "WRONG", f"veRL {version} does not import: {error}", 'pip install -e ".[gpu]"')
        if error
        else Check("veRL", "ok", f"veRL {version}")
    )
    ext = probes.version("verl-ext")
    if ext is None or not probes.plugin_registered():
        checks.append(
            Check(
                "verl-ext",
                "WRONG",
                "verl-ext's verl.plugins entry point is not installed",
                "pip install -e . in this checkout",
            )
        )
    else:
        checks.append(Check("verl-ext", "ok", f"verl-ext {ext}, verl.plugins entry point registered"))
    return checks


def check_gpu_count(plan: RunPlan, gpus: list[Gpu]) -> Check:
    if len(gpus) < plan.gpus_per_node:
        return Check(
            "GPU count",
            "WRONG",
            f"torch sees {len(gpus)} GPU(s); the run asks for GPUS_PER_NODE={plan.gpus_per_node} (scale={plan.scale}): "
            "Ray would wait for the missing ones",
            f"GPUS_PER_NODE={len(gpus)} (with the memory check below), or make all GPUs visible (CUDA_VISIBLE_DEVICES)",
        )
    extra = f"; {len(gpus) - plan.gpus_per_node} left unused" if len(gpus) > plan.gpus_per_node else ""
    return Check("GPU count", "ok", f"{len(gpus)} visible, GPUS_PER_NODE={plan.gpus_per_node}{extra}")


def check_gpu_memory(plan: RunPlan, size: ModelSize, gpus: list[Gpu]) -> Check:
    known = [g.memory_mib for g in gpus if g.memory_mib is not None]
    if not known:
        return Check("GPU memory", "skipped", "no GPU memory figure (see the GPUs check)")
    card = min(known) * 2**20
    estimate = run_plan.gpu_memory_estimate(plan, size, card)
    figures = (
        f"scale={plan.scale}: {size.parameters / 1e9:.2f}B parameters over {plan.world} GPU(s), vLLM at "
        f"{plan.gpu_memory_utilization:g} of the card; estimated per GPU: rollout {estimate.rollout / GIB:.1f} GiB, "
        f"training {estimate.training / GIB:.1f} GiB, of {card / GIB:.0f} GiB"
    )
    if run_plan.fits(estimate, card):
        return Check("GPU memory", "ok", figures)
    settings = run_plan.fitting_settings(plan, size, card)
    fix = (
        "settings estimated to fit this card: " + "; ".join(settings)
        if settings
        else "no single setting fits this card by the estimate: more GPUs (NNODES, GPUS_PER_NODE), a smaller model, "
        "or actor_rollout_ref.actor.fsdp_config.param_offload=true optimizer_offload=true"
    )
    return Check(
        "GPU memory",
        "warn",
        f"{figures}: over {run_plan.FIT_SHARE:.0%} of the card, likely out of memory (an estimate, not a measurement)",
        fix,
    )


def check_shm(shm: tuple[int, int] | None, object_store: int) -> Check:
    docker = f"docker run --shm-size={max(1, -(-int(object_store * 1.1) // GIB))}g (or --ipc=host)"
    fix = f"{docker}; on Kubernetes mount an emptyDir with medium: Memory at /dev/shm"
    if shm is None:
        return Check("/dev/shm", "WRONG", "no /dev/shm: NCCL and Ray's object store need it", fix)
    size, free = shm
    detail = f"{size / GIB:.1f} GiB, {free / GIB:.1f} GiB free; Ray's object store asks {object_store / GIB:.1f} GiB"
    if free < object_store:
        return Check(
            "/dev/shm",
            "WRONG",
            f"{detail}: Ray puts its object store in /tmp instead (slow), and NCCL between this node's GPUs fails "
            "(bus error) when /dev/shm fills (a container's default is 64 MB)",
            fix,
        )
    return Check("/dev/shm", "ok", detail)


def check_disk(plan: RunPlan, size: ModelSize | None, measured: Path, free: int) -> Check:
    where = f"CKPT_DIR {plan.ckpt_dir}" + ("" if measured == plan.ckpt_dir else f" (measured at {measured})")
    if size is None:
        if free < MIN_FREE_DISK:
            return Check(
                "disk", "WRONG", f"{where}: {free / 1e9:.1f} GB free: full", "free space there, or set CKPT_DIR"
            )
        return Check("disk", "skipped", f"{where}: {free / 1e9:.0f} GB free; the model's size is unknown (see 'model')")
    need = run_plan.checkpoint_bytes(plan, size)
    kept = plan.checkpoints_on_disk
    detail = (
        f"{where}: {free / 1e9:.0f} GB free; {kept} checkpoint(s) kept x {need / kept / 1e9:.0f} GB "
        f"(fp32 FSDP shards + Adam state of {size.parameters / 1e9:.2f}B parameters) = {need / 1e9:.0f} GB"
    )
    if free < need or free < MIN_FREE_DISK:
        fix = f"free {max(need, MIN_FREE_DISK) / 1e9:.0f} GB there, or set CKPT_DIR to a volume with that much free"
        if kept > 1:
            fix += f", or trainer.max_actor_ckpt_to_keep=1 ({need / kept / 1e9:.0f} GB)"
        return Check("disk", "WRONG", detail, fix)
    return Check("disk", "ok", detail)


def check_ray(plan: RunPlan, address: str | None) -> Check:
    if address is None:
        return Check("Ray", "ok", "no running cluster to attach to: ray.init() starts a Ray instance of the run's own")
    if plan.nnodes > 1:
        return Check("Ray", "ok", f"a cluster runs at {address} (NNODES={plan.nnodes}: the run is a job on a cluster)")
    return Check(
        "Ray",
        "warn",
        f"ray.init() in main_ppo would attach to the running Ray cluster at {address} (RAY_ADDRESS, or the last "
        "`ray start` on this node): the run gets that cluster's GPUs and its workers' environment and code, and "
        "the launcher's secrets go in the run's runtime env, which Ray logs",
        "`ray stop` (and unset RAY_ADDRESS) for a Ray instance of the run's own; to use that cluster, start it "
        "with RAY_LOGGER_LEVEL=warning",
    )


def check_nccl(result: dict, world: int) -> Check:
    if not result.get("correct"):
        return Check(
            "NCCL all-reduce",
            "WRONG",
            f"across {world} GPU(s): wrong sum {result.get('got')!r}, expected {result.get('expected')!r}",
            "NCCL_DEBUG=INFO shows the transport; NCCL_P2P_DISABLE=1 if peer-to-peer is broken",
        )
    return Check(
        "NCCL all-reduce",
        "ok",
        f"across {world} GPU(s): correct; {result['mib']} MiB in {result['seconds'] * 1000:.1f} ms, "
        f"bus bandwidth {result['busbw_gbps']:.1f} GB/s",
    )


# ---------------------------------------------------------------- running them
@dataclass
class _Node:
    """What the probes found, shared by the checks."""

    smi: tuple[str, list[Gpu]] | None = None
    smi_error: ToolFailed | None = None
    gpu_node: bool = False
    torch_ok: bool = False
    gpus: list[Gpu] = field(default_factory=list)


def _guarded(name: str, check: Callable[[], Check | list[Check]]) -> list[Check]:
    """The check's result; a probe or check that raises is WRONG with its error (never a traceback)."""
    try:
        result = check()
    except ToolFailed as error:
        return [Check(name, "WRONG", str(error), "the tool's message above names the cause")]
    except Exception as error:
        return [Check(name, "WRONG", f"could not check: {type(error).__name__}: {first_line(error)}", "")]
    return result if isinstance(result, list) else [result]


def run_checks(
    probes: Probes | None = None,
    *,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    config_dir: Path = run_plan.RECIPE_CONFIG,
    nccl: bool = False,
) -> list[Check]:
    """Every check (module docstring), for a run of run_grpo.sh with ``overrides`` in ``environ``."""
    probes = probes or Probes()
    environ = os.environ if environ is None else environ
    node = _Node()
    try:
        node.smi = probes.nvidia_smi()
    except ToolFailed as error:
        node.smi_error = error
    except Exception as error:  # it could not even run (permissions, a broken binary)
        node.smi_error = ToolFailed("nvidia-smi", -1, f"{type(error).__name__}: {first_line(error)}")
    device_files = _safe(probes.device_files, [])
    node.gpu_node = node.smi is not None or node.smi_error is not None or bool(device_files)
    checks = _guarded(
        "NVIDIA driver",
        lambda: check_driver(
            node.smi, node.smi_error, device_files, _safe(probes.kernel_driver, None) if device_files else None
        ),
    )
    checks += _guarded("GPU stack", lambda: _stack_checks(probes, node))
    checks += _guarded("run", lambda: _run_checks(probes, node, overrides, environ, config_dir, nccl))
    return checks


def _safe(probe: Callable, default):
    try:
        return probe()
    except Exception:
        return default


def _stack_checks(probes: Probes, node: _Node) -> list[Check]:
    pins = verl_pins(probes.requires("verl")) if probes.version("verl") else {}
    ext_pins = extra_pins(probes.requires("verl-ext"), ("gpu",))
    torch_version = probes.version("torch")
    checks: list[Check] = []
    if torch_version is not None:
        torch_error = probes.import_error("torch")
        node.torch_ok = torch_error is None
    else:
        torch_error = None
    torch_cuda = None
    if node.torch_ok:
        try:
            torch_cuda = probes.torch_cuda()
        except Exception as error:
            torch_error, node.torch_ok = f"{type(error).__name__}: {first_line(error)}", False
    checks += check_torch(torch_version, torch_cuda, torch_error, pins.get("torch"), node.gpu_node)
    if node.gpu_node and node.torch_ok:

        def gpus() -> Check:
            node.gpus = probes.torch_gpus()
            return check_gpus(node.smi, node.gpus)

        checks += _guarded("GPUs", gpus)
    elif node.gpu_node:
        checks.append(Check("GPUs", "WRONG", "not counted: torch does not work (see the torch check)", ""))
    checks += _guarded(
        "vLLM",
        lambda: check_package(
            "vLLM", "vllm", "vllm", pins.get("vllm"), node.gpu_node, 'pip install -e ".[gpu]"', probes
        ),
    )
    flash_version = pins.get("flash-attn", "2.8.3")
    checks += _guarded(
        "flash-attn",
        lambda: check_package(
            "flash-attn",
            "flash-attn",
            "flash_attn",
            pins.get("flash-attn"),
            node.gpu_node,
            f"pip install flash-attn=={flash_version} --no-deps --only-binary flash-attn "
            f"--index-url {WHEELHOUSE} ({INSTALL_HINT})",
            probes,
        ),
    )
    if node.gpu_node and probes.version("flash-attn") is None:
        checks += _guarded("flash-attn wheel", lambda: check_flash_attn_source(flash_version, probes))
    checks += _guarded(
        "transformers",
        lambda: check_package(
            "transformers",
            "transformers",
            "transformers",
            ext_pins.get("transformers"),
            node.gpu_node,
            "pip install -e '.[gpu]' (verl-ext's gpu extra"
            + (f": transformers=={ext_pins['transformers']})" if "transformers" in ext_pins else ")"),
            probes,
        ),
    )
    checks += _guarded("veRL", lambda: check_verl(probes))
    return checks


def _run_checks(
    probes: Probes,
    node: _Node,
    overrides: Sequence[str],
    environ: Mapping[str, str],
    config_dir: Path,
    nccl: bool,
) -> list[Check]:
    """The checks of the planned run; without an NVIDIA GPU, the Ray check only (the others are named)."""
    try:
        plan = run_plan.read_plan(overrides, environ, config_dir)
    except Exception as error:
        return [
            Check("run plan", "WRONG", f"cannot read the run's figures: {first_line(error)}", "fix the named setting")
        ]
    checks = _guarded("Ray", lambda: check_ray(plan, probes.ray_address(environ)))
    names = ["GPU count", "GPU memory", "/dev/shm", "disk", "model"] + (["NCCL all-reduce"] if nccl else [])
    if not node.gpu_node or plan.scale == "cpu":
        why = "no NVIDIA GPU here" if not node.gpu_node else "scale=cpu runs on the CPU"
        return checks + [
            Check(
                name,
                "skipped",
                f"cannot run here: {why} (NCCL runs between GPUs)" if name == "NCCL all-reduce" else f"{why}",
            )
            for name in names
        ]
    if node.gpus:
        checks += _guarded("GPU count", lambda: check_gpu_count(plan, node.gpus))
    else:
        checks.append(Check("GPU count", "WRONG", "torch sees no GPU (see the GPUs check)", ""))
    size: ModelSize | None = None
    try:
        config, source = probes.model_config(plan.model, environ)
        size = probes.model_size(config)
        checks.append(Check("model", "ok", f"{plan.model}: {size.parameters / 1e9:.2f}B parameters, from {source}"))
    except ModelUnavailable as error:
        checks.append(Check("model", "WRONG", error.detail, error.fix))
    except Exception as error:
        checks.append(
            Check("model", "WRONG", f"{plan.model}: cannot read its config: {type(error).__name__}: {error}", "")
        )
    if size is None:
        checks.append(Check("GPU memory", "skipped", "the model's size is unknown (see 'model')"))
    else:
        cards = node.gpus or (node.smi[1] if node.smi else [])
        checks += _guarded("GPU memory", lambda: check_gpu_memory(plan, size, cards))
    checks += _guarded("/dev/shm", lambda: check_shm(probes.shm(), probes.object_store_bytes()))
    checks += _guarded("disk", lambda: check_disk(plan, size, *probes.disk_free(plan.ckpt_dir)))
    if nccl:
        if node.gpus:
            world = len(node.gpus)
            checks += _guarded("NCCL all-reduce", lambda: check_nccl(probes.nccl_all_reduce(world), world))
        else:
            checks.append(Check("NCCL all-reduce", "WRONG", "cannot run: torch sees no GPU (see the GPUs check)", ""))
    return checks


def report(checks: list[Check]) -> tuple[str, int]:
    """The printed report and the exit status: 1 if any check is WRONG, else 0 (skipped and warned ones are named)."""
    lines = []
    for check in checks:
        lines.append(f"{check.status:<8} {check.name:<16} {check.detail}")
        if check.fix:
            lines.append(f"{'':<8} {'':<16} fix: {check.fix}")
    skipped = [c.name for c in checks if c.status == "skipped"]
    warned = [c.name for c in checks if c.status == "warn"]
    wrong = [c.name for c in checks if c.status == "WRONG"]
    if skipped:
        lines.append(f"not checked here: {', '.join(skipped)}")
    if warned:
        lines.append(f"{len(warned)} warning(s): {', '.join(warned)}")
    lines.append(f"{len(wrong)} problem(s)" + (f": {', '.join(wrong)}" if wrong else ""))
    return "\n".join(lines), 1 if wrong else 0
