"""The warmed-up student, built once and reused: a cache keyed by everything that changes its weights.

The warm-up is deterministic for a given key, so a cached model is the very model a fresh warm-up
would give, bit for bit (the weights are stored as float32 safetensors), and the GRPO run that
follows is the same. The key (``warm_cache_key``; written next to the model as ``warm-key.json``)
holds: the cache format version; the SHA-256 of the untrained model's files (tokenizer, config,
weights: whatever built them, with whichever library versions); the SHA-256 of the problem file; every warm-up
setting of the ``Student`` (steps, learning rate, batch size, boxed and worked-steps shares, and the slipped answers'
share and spread where a recipe has them); the seed; the torch thread count; the torch and transformers versions; and
the CPU kernel family torch uses (``torch.backends.cpu.get_cpu_capability()``) with the machine
type, since the thread count and the kernels change the order of floating-point sums.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from verl_ext.demo.students import Student
from verl_ext.demo.warmup import WarmupResult
from verl_ext.models.cache import build_once, cache_root

CACHE_VERSION = 2  # bump when the warm-up or the way it is stored changes
KEY_FILE = "warm-key.json"
RESULT_FILE = "warm-result.json"


def file_sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def folder_sha256(folder: Path | str) -> str:
    """SHA-256 over the names and contents of a folder's files (sorted): the untrained model as built."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).iterdir() if p.is_file()):
        digest.update(path.name.encode("utf-8") + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def warm_cache_key(
    student: Student, base_sha256: str, problems_sha256: str, seed: int, warmup_steps: int, threads: int
) -> dict[str, Any]:
    """Everything the warmed-up weights depend on (see the module docstring)."""
    import torch
    import transformers

    key = {
        "cache_version": CACHE_VERSION,
        "base_model_sha256": base_sha256,
        "problems_sha256": problems_sha256,
        "warmup_steps": warmup_steps,
        "warmup_lr": student.warmup_lr,
        "warmup_batch_size": student.warmup_batch_size,
        "boxed_share": student.boxed_share,
        "steps_share": student.steps_share,
        "seed": seed,
        "threads": threads,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(),
    }
    if student.slip_share:  # noisy targets: named only where used, so the other students' keys stay as they were
        key.update(slip_share=student.slip_share, slip_spread=student.slip_spread)
    return key


def key_digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class WarmedModel:
    path: Path
    warmup: WarmupResult
    cached: bool  # True: loaded from the cache, no warm-up ran in this process
    base: Path  # the untrained model it was warmed up from


def warmed_model_dir(
    student: Student,
    base_dir: Path,
    problems_file: Path,
    train,
    *,
    seed: int,
    warmup_steps: int,
    threads: int,
    progress: bool,
    root: Path | None = None,
) -> WarmedModel:
    """The warmed-up model's folder: from the cache, or warmed up now from ``base_dir`` and stored, once however many
    processes ask at the same time (``cache.build_once``)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    key = warm_cache_key(student, folder_sha256(base_dir), file_sha256(problems_file), seed, warmup_steps, threads)
    root = Path(root) if root is not None else cache_root()
    target = root / f"warm-{student.name}-{key_digest(key)}"
    results: list[WarmupResult] = []

    def build(folder: Path) -> None:
        tokenizer = AutoTokenizer.from_pretrained(base_dir, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(base_dir, local_files_only=True, dtype="float32")
        results.append(student.warm_up(model, tokenizer, train, steps=warmup_steps, seed=seed, progress=progress))
        tokenizer.save_pretrained(folder)
        model.save_pretrained(folder)
        (folder / KEY_FILE).write_text(json.dumps(key, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (folder / RESULT_FILE).write_text(json.dumps(asdict(results[0])) + "\n", encoding="utf-8")

    if build_once(target, lambda entry: (entry / RESULT_FILE).exists(), build):
        return WarmedModel(target, results[0], cached=False, base=base_dir)
    stored = json.loads((target / RESULT_FILE).read_text(encoding="utf-8"))
    return WarmedModel(target, WarmupResult(**stored), cached=True, base=base_dir)


def warm_student(
    student_name: str,
    seed: int,
    threads: int = 1,
    progress: bool = True,
    *,
    warmup_steps: int | None = None,
    root: Path | None = None,
) -> WarmedModel:
    """The warmed-up tiny model of a student and seed, as ``verl-ext demo`` uses it (built when missing):
    ``warmup_steps`` None is the student's own count; ``root`` None is the cache (``cache.cache_root``)."""
    import torch

    from verl_ext.demo.students import get_student
    from verl_ext.demo.warmup import tokenizer_corpus
    from verl_ext.models.tiny import tiny_model_dir

    torch.set_num_threads(threads)
    student = get_student(student_name)
    problems_file = student.problems_path
    train, test = student.problems()
    base = tiny_model_dir(tokenizer_corpus(train + test), student.spec)
    steps = student.warmup_steps if warmup_steps is None else warmup_steps
    return warmed_model_dir(
        student,
        base,
        problems_file,
        train,
        seed=seed,
        warmup_steps=steps,
        threads=threads,
        progress=progress,
        root=root,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m verl_ext.demo.warm_cache --student capable --seeds 0 1``: fill the cache before timed runs."""
    import argparse
    import os

    parser = argparse.ArgumentParser(prog="python -m verl_ext.demo.warm_cache", description=main.__doc__)
    parser.add_argument("--student", default="capable")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ[name] = "1"
    for seed in args.seeds:
        warmed = warm_student(args.student, seed, args.threads, progress=False)
        origin = "cached" if warmed.cached else f"warmed up in {warmed.warmup.seconds:.0f} s"
        print(f"{args.student} seed {seed}: {warmed.path} ({origin}, loss {warmed.warmup.last_loss:.3f})", flush=True)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
