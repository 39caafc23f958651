"""``verl-ext doctor``: is this node's stack the one veRL 0.9.1's vLLM + FSDP path needs?

Checks, each ``ok``, ``WRONG`` (with its fix) or ``skipped`` (with why it could not be checked):
the NVIDIA driver (>= 580: CUDA 13.x, which torch 2.11 and vLLM 0.24 are built with), the CUDA version
torch was built with, the GPUs torch sees (count, memory, compute capability >= 8.0 for flash-attn 2),
and the torch / vLLM / flash-attn versions veRL's installed metadata pins (its ``vllm`` and
``flash-attn-cu130torch211`` extras), veRL 0.9.x and verl-ext with its ``verl.plugins`` entry point.
Without an NVIDIA driver (a CPU machine) the GPU checks are skipped, not failed.
Every probe of the machine is a field of :class:`Probes`, so the logic runs anywhere with fakes.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

# NVIDIA's minor-version-compatibility table: CUDA 13.x runs on driver >= 580 (12.x: >= 525).
MIN_DRIVER_FOR_CUDA_MAJOR = {12: 525, 13: 580}
MIN_COMPUTE_CAPABILITY = (8, 0)  # flash-attn 2: Ampere, Ada, Hopper and newer
INSTALL_HINT = "see 'Set up a GPU node' in recipe/format_length/README.md"
TORCH_INDEX = "https://download.pytorch.org/whl/cu130"
WHEELHOUSE = "https://verl-project.github.io/verl-wheelhouse/simple/"


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_mib: int
    capability: tuple[int, int] | None = None


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok", "WRONG" or "skipped"
    detail: str
    fix: str = ""


def _nvidia_smi() -> tuple[str, list[Gpu]] | None:
    """(driver version, GPUs) from nvidia-smi, or None when there is no nvidia-smi or it fails."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version,name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    rows = [[part.strip() for part in line.split(",")] for line in out.splitlines() if line.strip()]
    if not rows:
        return None
    return rows[0][0], [Gpu(name=row[1], memory_mib=int(float(row[2]))) for row in rows]


def _torch_gpus() -> list[Gpu]:
    import torch

    if not torch.cuda.is_available():
        return []
    gpus = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        gpus.append(Gpu(props.name, props.total_memory // 2**20, (props.major, props.minor)))
    return gpus


def _torch_cuda() -> str | None:
    import torch

    return torch.version.cuda


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _import_error(module: str) -> str | None:
    try:
        importlib.import_module(module)
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


def _verl_requires() -> list[str]:
    return metadata.requires("verl") or []


def _plugin_registered() -> bool:
    return any(ep.value == "verl_ext.verl.plugin" for ep in metadata.entry_points(group="verl.plugins"))


@dataclass
class Probes:
    nvidia_smi: Callable[[], tuple[str, list[Gpu]] | None] = _nvidia_smi
    torch_gpus: Callable[[], list[Gpu]] = _torch_gpus
    torch_cuda: Callable[[], str | None] = _torch_cuda
    version: Callable[[str], str | None] = _version
    import_error: Callable[[str], str | None] = _import_error
    verl_requires: Callable[[], list[str]] = _verl_requires
    plugin_registered: Callable[[], bool] = _plugin_registered


def verl_pins(requires: list[str]) -> dict[str, str]:
    """Package -> ``==`` version in veRL's vllm and flash-attn-cu130torch211 extras (its GPU path)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = {}
    for line in requires:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or not any(marker.evaluate({"extra": e}) for e in ("vllm", "flash-attn-cu130torch211")):
            continue
        for spec in requirement.specifier:
            if spec.operator == "==":
                pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def _driver_major(version: str) -> int | None:
    try:
        return int(version.split(".")[0])
    except ValueError:
        return None


def check_driver(smi: tuple[str, list[Gpu]] | None) -> Check:
    """torch 2.11 (cu130) and vLLM 0.24 are CUDA 13 builds, whatever torch is installed now: driver >= 580."""
    if smi is None:
        return Check(
            "NVIDIA driver", "skipped", "no nvidia-smi, or it failed: no NVIDIA driver on this machine (a CPU machine?)"
        )
    driver, needed = smi[0], MIN_DRIVER_FOR_CUDA_MAJOR[13]
    major = _driver_major(driver)
    if major is None or major < needed:
        return Check(
            "NVIDIA driver",
            "WRONG",
            f"driver {driver}; torch 2.11 and vLLM 0.24 are CUDA 13 builds, which need >= {needed}",
            f"upgrade the NVIDIA driver to {needed} or later (a datacenter GPU may instead use NVIDIA's "
            f"cuda-compat forward-compatibility package)",
        )
    return Check("NVIDIA driver", "ok", f"driver {driver} (CUDA 13 needs >= {needed})")


def check_torch(version: str | None, torch_cuda: str | None, pinned: str | None, gpu_node: bool) -> list[Check]:
    if version is None:
        return [
            Check(
                "torch", "WRONG", "not installed", f"pip install torch=={pinned or '2.11.0'} --index-url {TORCH_INDEX}"
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
                f"pip install --force-reinstall torch=={pinned or '2.11.0'} --index-url {TORCH_INDEX}",
            )
        )
    else:
        checks.append(Check("torch CUDA", "ok", f"torch built with CUDA {torch_cuda}"))
    return checks


def check_gpus(smi: tuple[str, list[Gpu]] | None, gpus: list[Gpu]) -> Check:
    if smi is None:
        return Check("GPUs", "skipped", "no NVIDIA driver: no GPU to count")
    if not gpus:
        return Check(
            "GPUs",
            "WRONG",
            f"nvidia-smi sees {len(smi[1])} GPU(s), torch sees none",
            "a CPU build of torch, a driver older than torch's CUDA needs, or CUDA_VISIBLE_DEVICES hiding them: "
            "see the checks above",
        )
    described = ", ".join(f"{g.name} {g.memory_mib / 1024:.0f} GiB" for g in gpus)
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
            label, "WRONG" if gpu_node else "skipped", f"{dist} {version}, veRL pins {pinned}", fix if gpu_node else ""
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


def run_checks(probes: Probes | None = None) -> list[Check]:
    probes = probes or Probes()
    smi = probes.nvidia_smi()
    gpu_node = smi is not None
    pins = verl_pins(probes.verl_requires()) if probes.version("verl") else {}
    torch_version = probes.version("torch")
    torch_cuda = probes.torch_cuda() if torch_version else None
    gpus = probes.torch_gpus() if gpu_node and torch_version else []
    checks = [check_driver(smi), *check_torch(torch_version, torch_cuda, pins.get("torch"), gpu_node)]
    if torch_version:
        checks.append(check_gpus(smi, gpus))
    checks.append(check_package("vLLM", "vllm", "vllm", pins.get("vllm"), gpu_node, 'pip install -e ".[gpu]"', probes))
    checks.append(
        check_package(
            "flash-attn",
            "flash-attn",
            "flash_attn",
            pins.get("flash-attn"),
            gpu_node,
            f"pip install flash-attn=={pins.get('flash-attn', '2.8.3')} --no-deps --only-binary flash-attn "
            f"--index-url {WHEELHOUSE} ({INSTALL_HINT})",
            probes,
        )
    )
    checks.extend(check_verl(probes))
    return checks


def report(checks: list[Check]) -> tuple[str, int]:
    """The printed report and the exit status: 1 if any check is WRONG, else 0 (skipped ones are named)."""
    lines = []
    for check in checks:
        lines.append(f"{check.status:<8} {check.name:<14} {check.detail}")
        if check.fix:
            lines.append(f"{'':<8} {'':<14} fix: {check.fix}")
    skipped = [c.name for c in checks if c.status == "skipped"]
    wrong = [c.name for c in checks if c.status == "WRONG"]
    if skipped:
        lines.append(f"not checked here: {', '.join(skipped)}")
    lines.append(f"{len(wrong)} problem(s)" + (f": {', '.join(wrong)}" if wrong else ""))
    return "\n".join(lines), 1 if wrong else 0
