"""Stage 2 of the demo: the student, ready to train.

The chosen student (``students.py``: its problems, model shape, warm-up recipe) as a model in memory: the tiny
Qwen2 built locally (``verl_ext.models.tiny``), warmed up on templated solutions (``warmup.py``) and kept in the warm
cache under a key of everything its weights depend on (``warm_cache.py``); or ``--model PATH``, any local Hugging Face
causal LM (never downloaded), warmed up in place only when asked. Nothing here touches the network: call
``go_offline`` before the Hugging Face libraries are imported.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verl_ext.demo.config import DemoConfig
from verl_ext.demo.problems import Problem
from verl_ext.demo.students import get_student
from verl_ext.demo.warm_cache import warm_student
from verl_ext.demo.warmup import WarmupResult


def go_offline() -> None:
    """Put the Hugging Face libraries offline (and W&B off) for this process and its children."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[name] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("WANDB_DISABLED", "true")
    os.environ.setdefault("WANDB_MODE", "disabled")


def load_model(source: str | Path) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of a local Hugging Face folder: float32 weights; left padding, EOS as the pad token
    when there is none (ValueError when the tokenizer has no EOS token)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    if tokenizer.eos_token_id is None:
        raise ValueError(f"{source}: the tokenizer has no EOS token")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(source, local_files_only=True, dtype="float32")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


@dataclass(frozen=True)
class LoadedStudent:
    """The student to train: model and tokenizer, where they came from (``source``), the warm-up (its figures
    as first run when ``cached``) and the student's train and held-out problems."""

    model: Any
    tokenizer: Any
    source: str
    warmup: WarmupResult
    cached: bool
    train: list[Problem]
    test: list[Problem]


def load_student(config: DemoConfig) -> LoadedStudent:
    """The warmed-up tiny student (from the cache when its key matches; a throw-away cache with
    ``use_cache=False``), or ``config.model`` from a local path, warmed up in place when ``warmup_steps`` > 0.
    ``config`` is a checked one (``config.checked``)."""
    student = get_student(config.student)
    train, test = student.problems()
    if config.model:
        path = Path(config.model)
        if not path.exists():
            raise ValueError(f"--model {config.model}: no such local directory (the demo never downloads)")
        model, tokenizer = load_model(path)
        warm = student.warm_up(
            model, tokenizer, train, steps=config.warmup_steps, seed=config.seed, progress=config.progress
        )
        return LoadedStudent(model, tokenizer, str(path), warm, False, train, test)
    root = None if config.use_cache else Path(tempfile.mkdtemp(prefix="verl-ext-warm-"))
    try:
        warmed = warm_student(
            config.student, config.seed, config.threads, config.progress, warmup_steps=config.warmup_steps, root=root
        )
        model, tokenizer = load_model(warmed.path)
    finally:
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)
    return LoadedStudent(model, tokenizer, str(warmed.base), warmed.warmup, warmed.cached, train, test)
