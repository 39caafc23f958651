"""The machine probes of ``verl-ext doctor`` (verl_ext/doctor.py): each asks the real machine one question.

A probe returns what it found, None where there is nothing to find (no nvidia-smi, no /dev/shm), and raises
``ToolFailed`` (a tool ran and failed: its exit status and output) or ``ModelUnavailable`` (why, and the fix);
any other exception is the doctor's to report. Tests replace them through ``verl_ext.doctor.Probes``.
"""

from __future__ import annotations

import glob
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

WHEELHOUSE = "https://verl-project.github.io/verl-wheelhouse/simple/"
PYPI_SIMPLE = "https://pypi.org/simple/"
NCCL_TIMEOUT_S = 300
NETWORK_TIMEOUT_S = 15


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_mib: int | None  # None: the tool reported no figure ([N/A])
    capability: tuple[int, int] | None = None


class ToolFailed(Exception):
    """A tool of the machine ran and failed: its exit status and what it printed."""

    def __init__(self, tool: str, returncode: int, output: str) -> None:
        super().__init__(f"{tool} exited with status {returncode}: {output or '(no output)'}")
        self.tool, self.returncode, self.output = tool, returncode, output


class ModelUnavailable(Exception):
    """The run's model cannot be read here: why, and the fix."""

    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.detail, self.fix = detail, fix


# ---------------------------------------------------------------- probes of the real machine
def nvidia_smi() -> tuple[str, list[Gpu]] | None:
    """(driver version, GPUs) from nvidia-smi; None when it is not installed; ToolFailed when it fails."""
    if shutil.which("nvidia-smi") is None:
        return None
    query = ["nvidia-smi", "--query-gpu=driver_version,name,memory.total", "--format=csv,noheader,nounits"]
    try:
        result = subprocess.run(query, capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired as error:
        raise ToolFailed("nvidia-smi", -1, "no answer within 60 s (a GPU fallen off the bus?)") from error
    output = " | ".join(line.strip() for line in (result.stdout + "\n" + result.stderr).splitlines() if line.strip())
    if result.returncode != 0:
        raise ToolFailed("nvidia-smi", result.returncode, output)
    return parse_nvidia_smi(result.stdout)


def parse_nvidia_smi(out: str) -> tuple[str, list[Gpu]]:
    """``driver_version, name, memory.total`` rows (MiB, no units); a memory of ``[N/A]`` is kept as None."""
    rows = [[part.strip() for part in line.split(",")] for line in out.splitlines() if line.strip()]
    if not rows or any(len(row) != 3 for row in rows):
        raise ToolFailed("nvidia-smi", 0, f"unexpected output: {out.strip()!r}")
    gpus = []
    for _, name, memory in rows:
        try:
            memory_mib: int | None = int(float(memory))
        except ValueError:
            memory_mib = None
        gpus.append(Gpu(name=name, memory_mib=memory_mib))
    return rows[0][0], gpus


def device_files() -> list[str]:
    return sorted(glob.glob("/dev/nvidia[0-9]*"))


def kernel_driver_version() -> str | None:
    """The loaded NVIDIA kernel module's version (/proc/driver/nvidia/version), None when none is loaded."""
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
    except OSError:
        return None
    words = text.split()
    for index, word in enumerate(words):
        if word == "Module" and index + 1 < len(words):
            return words[index + 1]
    return text.strip() or None


def torch_gpus() -> list[Gpu]:
    import torch

    if not torch.cuda.is_available():
        return []
    gpus = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        gpus.append(Gpu(props.name, props.total_memory // 2**20, (props.major, props.minor)))
    return gpus


def torch_cuda() -> str | None:
    import torch

    return torch.version.cuda


def version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def import_error(module: str) -> str | None:
    try:
        importlib.import_module(module)
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


def requires(dist: str) -> list[str]:
    try:
        return metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        return []


def plugin_registered() -> bool:
    return any(ep.value == "verl_ext.verl.plugin" for ep in metadata.entry_points(group="verl.plugins"))


def disk_free(path: Path) -> tuple[Path, int]:
    """(the folder measured: ``path`` or its nearest existing parent, bytes free there for this user)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    stats = os.statvfs(probe)
    return probe, stats.f_bavail * stats.f_frsize


def shm() -> tuple[int, int] | None:
    """(size, bytes free) of /dev/shm; None when there is no /dev/shm."""
    try:
        stats = os.statvfs("/dev/shm")
    except OSError:
        return None
    return stats.f_blocks * stats.f_frsize, stats.f_bavail * stats.f_frsize


def object_store_bytes() -> int:
    """What Ray's default object store asks of /dev/shm on this node: its share of the memory, capped where
    Ray stops requiring /dev/shm (ray_constants; resolve_object_store_memory and the plasma set-up)."""
    from ray._common.utils import get_system_memory
    from ray._private import ray_constants

    share = int(get_system_memory() * ray_constants.DEFAULT_OBJECT_STORE_MEMORY_PROPORTION)
    return min(share, ray_constants.REQUIRE_SHM_SIZE_THRESHOLD)


def ray_address(environ: Mapping[str, str]) -> str | None:
    from verl_ext.verl.forward_env import ray_init_attaches_to

    return ray_init_attaches_to(environ)


def is_hub_id(model: str) -> bool:
    """run_grpo.sh's is_hub_id: owner/name and no such path here."""
    return (
        bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*", model)) and not Path(model).exists()
    )


def _read_config(path: Path) -> dict:
    config = json.loads(path.read_text())
    if not isinstance(config, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return config


def model_config(model: str, environ: Mapping[str, str]) -> tuple[dict, str]:
    """(the model's config.json, where it came from); ModelUnavailable with the fix otherwise. Nothing is written:
    a config fetched from the hub goes to a temporary folder, not the Hugging Face cache."""
    if not is_hub_id(model):
        folder = Path(model).expanduser()
        if not (folder / "config.json").is_file():
            raise ModelUnavailable(
                f"MODEL_PATH {model} is not a model directory (no config.json there)",
                "point MODEL_PATH (run_smoke.sh --model) at the downloaded model's folder, or give a hub id",
            )
        return _read_config(folder / "config.json"), "a local directory"
    import huggingface_hub
    from huggingface_hub import errors

    cached = huggingface_hub.try_to_load_from_cache(model, "config.json")
    if isinstance(cached, str):
        return _read_config(Path(cached)), "the Hugging Face cache"
    endpoint = environ.get("HF_ENDPOINT") or "https://huggingface.co"
    download = (
        "download it where the hub is reachable (huggingface-cli download {model} --local-dir DIR), MODEL_PATH=DIR"
    )
    if environ.get("HF_HUB_OFFLINE", "0") not in ("", "0"):
        raise ModelUnavailable(
            f"{model} is not in the Hugging Face cache and HF_HUB_OFFLINE is set", download.format(model=model)
        )
    try:
        # One request without retries first (hf_hub_download retries a dead network for 23 s), then the file.
        url = huggingface_hub.hf_hub_url(model, "config.json")
        huggingface_hub.get_hf_file_metadata(url, timeout=NETWORK_TIMEOUT_S, retry_on_errors=False)
        with tempfile.TemporaryDirectory(prefix="verl-ext-doctor-") as folder:
            path = huggingface_hub.hf_hub_download(
                model, "config.json", local_dir=folder, etag_timeout=NETWORK_TIMEOUT_S
            )
            config = _read_config(Path(path))
    except errors.GatedRepoError as error:
        raise ModelUnavailable(
            f"{model} is gated on {endpoint}: {first_line(error)}",
            "accept the model's terms on its hub page and set HF_TOKEN (forwarded to every worker)",
        ) from error
    except errors.RepositoryNotFoundError as error:
        raise ModelUnavailable(
            f"{model} is not on {endpoint}: {first_line(error)}",
            "check the id; a private model needs HF_TOKEN",
        ) from error
    except Exception as error:  # no network, DNS, proxy, TLS: huggingface_hub raises several kinds
        raise ModelUnavailable(
            f"cannot fetch {model}'s config.json from {endpoint}: {type(error).__name__}: {first_line(error)}",
            "set HF_ENDPOINT to a mirror reachable from here, or " + download.format(model=model),
        ) from error
    return config, f"{endpoint} (config.json fetched; the run downloads the weights)"


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def index_files(index: str, project: str) -> list[str]:
    """File names a PEP 503 simple index lists for ``project`` (its HTML page's links)."""
    import urllib.request
    from html.parser import HTMLParser

    class Links(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.names: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            href = dict(attrs).get("href") if tag == "a" else None
            if href:
                self.names.append(href.split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1])

    request = urllib.request.Request(f"{index.rstrip('/')}/{project}/", headers={"Accept": "text/html"})
    with urllib.request.urlopen(request, timeout=NETWORK_TIMEOUT_S) as response:
        parser = Links()
        parser.feed(response.read().decode("utf-8", "replace"))
    return parser.names


def nccl_all_reduce(world: int) -> dict:
    """Runs ``python -m verl_ext.nccl_check`` (one process per GPU) and returns its JSON result."""
    command = [sys.executable, "-m", "verl_ext.nccl_check", "--world", str(world)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=NCCL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as error:
        raise ToolFailed("the NCCL all-reduce", -1, f"no result within {NCCL_TIMEOUT_S} s (a hang)") from error
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise ToolFailed("the NCCL all-reduce", result.returncode, tail(result.stderr or result.stdout))
    return json.loads(lines[-1])


def tail(text: str, lines: int = 6) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def python_tags() -> list[str]:
    """This interpreter's wheel tags, most specific first (packaging's sys_tags, as pip matches wheels)."""
    from packaging.tags import sys_tags

    return [str(tag) for tag in sys_tags()]
