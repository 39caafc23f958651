"""setup.py's ``gpu`` extra (pip install -e ".[gpu]"): vLLM and flash-attn at exactly veRL 0.9.1's pins,
resolvable on paper against veRL's and verl-ext's own requirements (read from installed metadata)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, metadata, requires

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

GPU_EXTRA = "gpu"
# veRL 0.9.1's extras that define its vLLM + FSDP stack, and the packages whose pins the gpu extra must share.
VERL_EXTRAS = ("vllm", "fsdp", "flash-attn-cu130torch211", "verl-core")
SAME_PIN_AS_VERL = ("vllm", "flash-attn", "torch", "transformers")


def requirements(dist: str, extra: str | None) -> list[Requirement]:
    """A distribution's Requires-Dist for one extra (None: the unconditional ones)."""
    found = []
    # requires() reads Requires-Dist of a dist-info and requires.txt of an egg-info alike.
    for line in requires(dist) or []:
        requirement = Requirement(line)
        marker = requirement.marker
        if extra is None and marker is None:
            found.append(requirement)
        elif (
            extra is not None
            and marker is not None
            and marker.evaluate({"extra": extra})
            and not marker.evaluate({"extra": ""})
        ):
            requirement.marker = None
            found.append(requirement)
    return found


def pins(requirements_: list[Requirement]) -> dict[str, str]:
    """name -> version of every ``==`` pin."""
    return {
        canonicalize_name(r.name): spec.version for r in requirements_ for spec in r.specifier if spec.operator == "=="
    }


@pytest.fixture(scope="module")
def gpu_extra() -> list[Requirement]:
    try:
        provided = metadata("verl-ext").get_all("Provides-Extra") or []
    except PackageNotFoundError:
        pytest.fail("verl-ext is not installed: pip install -e . first")
    assert GPU_EXTRA in provided, f"setup.py declares no '{GPU_EXTRA}' extra (extras: {provided})"
    return requirements("verl-ext", GPU_EXTRA)


@pytest.fixture(scope="module")
def verl_stack() -> list[Requirement]:
    return [r for extra in (None, *VERL_EXTRAS) for r in requirements("verl", extra)]


def test_gpu_extra_pins_vllm_flash_attn_torch_and_transformers_as_verl_does(gpu_extra, verl_stack) -> None:
    ours, verls = pins(gpu_extra), pins(verl_stack)
    assert {name: ours.get(name) for name in SAME_PIN_AS_VERL} == {name: verls[name] for name in SAME_PIN_AS_VERL}


def test_gpu_extra_brings_verls_vllm_stack_with_transferqueue(gpu_extra) -> None:
    verl = [r for r in gpu_extra if canonicalize_name(r.name) == "verl"]
    assert verl and "vllm" in verl[0].extras, "the gpu extra should install verl[vllm] (torch, vLLM, TransferQueue)"
    assert "0.9.1" in verl[0].specifier


def test_every_gpu_pin_satisfies_every_other_requirement_on_that_package(gpu_extra, verl_stack) -> None:
    """Resolvable on paper: no requirement of veRL's stack or of verl-ext excludes a version the extra pins."""
    others = verl_stack + requirements("verl-ext", None)
    conflicts = [
        f"{name}=={version} vs {other}"
        for name, version in pins(gpu_extra).items()
        for other in others
        if canonicalize_name(other.name) == name and not other.specifier.contains(version, prereleases=True)
    ]
    assert conflicts == []


# ---------------------------------------------------------------- the GPU guide's install block (docs/gpu.md)
REPO = __import__("pathlib").Path(__file__).resolve().parents[1]
GPU_GUIDE = REPO / "docs" / "gpu.md"
INSTALL_BEGIN, INSTALL_END = "<!-- gpu-install:begin -->", "<!-- gpu-install:end -->"


def install_block() -> list[str]:
    text = GPU_GUIDE.read_text(encoding="utf-8")
    block = text[text.index(INSTALL_BEGIN) + len(INSTALL_BEGIN) : text.index(INSTALL_END)]
    return [line for line in block.strip().removeprefix("```bash").removesuffix("```").strip().splitlines()]


def pip_pins(line: str) -> dict[str, str]:
    return {
        canonicalize_name(r.name): str(r.specifier).removeprefix("==")
        for r in (Requirement(w) for w in line.split()[2:] if "==" in w and not w.startswith("-"))
    }


def test_install_block_pins_torch_and_flash_attn_as_verls_gpu_extras_from_their_cu130_sources(verl_stack) -> None:
    lines = install_block()
    verls = pins([r for extra in ("vllm", "flash-attn-cu130torch211") for r in requirements("verl", extra)])
    torch_line = next(line for line in lines if "torch==" in line)
    assert pip_pins(torch_line) == {name: verls[name] for name in ("torch", "torchvision", "torchaudio")}
    # veRL's extras are named for the CUDA build they need (cu130): torch comes from that index
    cuda = next(e for e in metadata("verl").get_all("Provides-Extra") if e.startswith("flash-attn-")).split("-")[2][:5]
    assert torch_line.endswith(f"--index-url https://download.pytorch.org/whl/{cuda}")
    flash_line = next(line for line in lines if "flash-attn==" in line)
    assert pip_pins(flash_line) == {"flash-attn": verls["flash-attn"]}
    assert "--only-binary flash-attn" in flash_line and "--no-deps" in flash_line
    # torch and flash-attn first, so that the gpu extra finds them satisfied and builds nothing; then the check
    assert lines.index(torch_line) < lines.index(flash_line) < lines.index('pip install -e ".[gpu]"')
    assert lines[-1] == "verl-ext doctor"


def test_install_requirements_state_the_driver_the_doctor_checks() -> None:
    from verl_ext.doctor import MIN_DRIVER_FOR_CUDA_MAJOR

    text = GPU_GUIDE.read_text(encoding="utf-8")
    # NVIDIA: CUDA 13.x needs driver >= 580 (minor-version-compatibility table); the doctor checks the same
    assert MIN_DRIVER_FOR_CUDA_MAJOR[13] == 580 and "an NVIDIA driver >= 580" in text
    top = (REPO / "README.md").read_text(encoding="utf-8")
    assert "NVIDIA driver >= 580" in top and "Set up a GPU node" in top and "--no-build-isolation" not in top
