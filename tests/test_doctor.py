"""verl-ext doctor: each GPU-stack problem is reported WRONG with its fix (fake probes), and on a machine
without an NVIDIA driver the GPU checks are named as not checked and the exit status is 0 (a real run)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from verl_ext.doctor import Gpu, Probes, report, run_checks

# veRL 0.9.1's own Requires-Dist lines for its GPU path (as in its installed METADATA).
VERL_REQUIRES = [
    'torch==2.11.0; extra == "vllm"',
    'vllm==0.24.0; extra == "vllm"',
    'flash-attn==2.8.3; extra == "flash-attn-cu130torch211"',
    'torch==2.11.0; extra == "cpu"',
]
H200 = Gpu("NVIDIA H200", 143771, (9, 0))
VERSIONS = {"torch": "2.11.0+cu130", "vllm": "0.24.0", "flash-attn": "2.8.3", "verl": "0.9.1", "verl-ext": "0.1.0"}


def healthy_gpu_node() -> Probes:
    return Probes(
        nvidia_smi=lambda: ("580.95.05", [Gpu("NVIDIA H200", 143771)] * 8),
        torch_gpus=lambda: [H200] * 8,
        torch_cuda=lambda: "13.0",
        version=VERSIONS.get,
        import_error=lambda module: None,
        verl_requires=lambda: VERL_REQUIRES,
        plugin_registered=lambda: True,
    )


def statuses(probes: Probes) -> dict[str, str]:
    return {check.name: check.status for check in run_checks(probes)}


def test_a_healthy_node_passes_every_check_and_reports_the_gpus() -> None:
    checks = run_checks(healthy_gpu_node())
    assert {c.status for c in checks} == {"ok"}
    gpus = next(c for c in checks if c.name == "GPUs")
    assert gpus.detail.startswith("8: NVIDIA H200 140 GiB")
    assert report(checks)[1] == 0


@pytest.mark.parametrize(
    ("change", "failing", "fix_words"),
    [
        # NVIDIA: CUDA 13.x needs driver >= 580 (minor-version-compatibility table)
        ({"nvidia_smi": lambda: ("575.57.08", [Gpu("NVIDIA H200", 143771)])}, "NVIDIA driver", "580"),
        ({"torch_cuda": lambda: "12.8"}, "torch CUDA", "download.pytorch.org/whl/cu130"),
        ({"torch_cuda": lambda: None}, "torch CUDA", "--force-reinstall torch==2.11.0"),
        ({"version": {**VERSIONS, "torch": "2.10.0"}.get}, "torch version", "torch==2.11.0"),
        ({"torch_gpus": lambda: []}, "GPUs", "CUDA_VISIBLE_DEVICES"),
        ({"torch_gpus": lambda: [Gpu("Tesla V100", 32768, (7, 0))]}, "GPUs", "Ampere"),
        ({"version": {k: v for k, v in VERSIONS.items() if k != "flash-attn"}.get}, "flash-attn", "verl-wheelhouse"),
        (
            {"import_error": lambda m: "ImportError: undefined symbol" if m == "flash_attn" else None},
            "flash-attn",
            "--only-binary",
        ),
        ({"version": {**VERSIONS, "vllm": "0.11.0"}.get}, "vLLM", ".[gpu]"),
        ({"version": {**VERSIONS, "verl": "0.7.1"}.get}, "veRL", ".[gpu]"),
        ({"plugin_registered": lambda: False}, "verl-ext", "pip install -e ."),
    ],
)
def test_each_problem_is_wrong_with_its_fix_and_fails_the_exit_status(
    change: dict, failing: str, fix_words: str
) -> None:
    checks = run_checks(replace(healthy_gpu_node(), **change))
    wrong = [c for c in checks if c.status == "WRONG"]
    assert [c.name for c in wrong] == [failing]
    assert fix_words in wrong[0].fix
    text, status = report(checks)
    assert status == 1 and f"fix: {wrong[0].fix}" in text


def test_driver_580_is_enough_for_cuda_13() -> None:
    probes = replace(healthy_gpu_node(), nvidia_smi=lambda: ("580.65.06", [Gpu("NVIDIA H100", 81559)]))
    assert statuses(probes)["NVIDIA driver"] == "ok"


def test_without_a_driver_the_gpu_checks_are_skipped_and_the_status_is_zero() -> None:
    probes = replace(
        healthy_gpu_node(),
        nvidia_smi=lambda: None,
        torch_cuda=lambda: None,
        version={**VERSIONS, "torch": "2.13.0+cpu", "vllm": None, "flash-attn": None}.get,
    )
    found = statuses(probes)
    assert {
        name: found[name] for name in ("NVIDIA driver", "torch CUDA", "GPUs", "vLLM", "flash-attn")
    } == dict.fromkeys(("NVIDIA driver", "torch CUDA", "GPUs", "vLLM", "flash-attn"), "skipped")
    assert found["veRL"] == "ok"
    text, status = report(run_checks(probes))
    assert status == 0 and "not checked here: NVIDIA driver" in text


def test_the_real_command_on_this_cpu_machine_names_what_it_could_not_check() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "verl_ext.cli", "doctor"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not checked here: NVIDIA driver" in result.stdout
    assert "ok       veRL           veRL 0.9.1" in result.stdout


def test_an_older_cuda_torch_does_not_hide_that_the_driver_is_too_old_for_the_stack_its_fix_installs() -> None:
    probes = replace(
        healthy_gpu_node(), torch_cuda=lambda: "12.8", nvidia_smi=lambda: ("570.133.20", [Gpu("NVIDIA H100", 81559)])
    )
    found = statuses(probes)
    assert (found["NVIDIA driver"], found["torch CUDA"]) == ("WRONG", "WRONG")
