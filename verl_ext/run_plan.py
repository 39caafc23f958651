"""What a launch of recipe/format_length/run_grpo.sh would need from a node: the run's figures as the launcher
resolves them, and estimates of its GPU memory and checkpoint disk from them (for ``verl-ext doctor``).

The figures come from the recipe's config, each from the first of: the run's Hydra overrides (as given to
run_grpo.sh), the launcher's environment (``MODEL_PATH``, ``NNODES``, ``GPUS_PER_NODE``), the scale file
(``config/scale/<scale>.yaml``), the main config (``format_length_grpo.yaml``).

Estimates, per GPU, for a model of P parameters sharded by FSDP over W GPUs (W = nodes x GPUs per node);
B: bytes. They are reasoned from veRL 0.9.1's hybrid engine, not measured:

    rollout  = u * card + P * (4 [fp32 params, unless param_offload] + 8 [Adam m, v, unless optimizer_offload]) / W
               + reserve
    training = 16 B * P / W (fp32 params, grads, Adam m and v) + 5 * T * V * 2 B (bf16 logits-sized tensors of a
               micro-batch: logits, softmax, their product for the entropy, two gradients) + T * layers * hidden * 2 B
               (gradient-checkpointed layer inputs) + reserve

u: ``rollout.gpu_memory_utilization`` (vLLM takes that share of the whole card, and refuses to start when it is
not free); T: ``actor.ppo_max_token_len_per_gpu`` (dynamic batch size: tokens per micro-batch); V: the
vocabulary; reserve: ``RESERVE_BYTES`` for CUDA contexts (the FSDP worker's and vLLM's) and NCCL buffers. The
FSDP state stays on the GPU during rollouts unless offloaded; veRL's train-mode context drops the gradients
after each update. A run fits a card when both stay within ``FIT_SHARE`` of it (allocator fragmentation).

Checkpoint: ``CHECKPOINT_BYTES_PER_PARAM`` B per parameter (veRL's save_contents model + optimizer: fp32 FSDP
shards, Adam m and v), times the checkpoints kept (``trainer.max_actor_ckpt_to_keep``; veRL removes the oldest
before writing a new one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RECIPE_CONFIG = REPO / "recipe" / "format_length" / "config"
MAIN_CONFIG = "format_length_grpo.yaml"
DEFAULT_SCALE = "paper"

GIB = 2**30
RESERVE_BYTES = 3 * GIB
FIT_SHARE = 0.9
FP32_PARAM_BYTES = 4
ADAM_BYTES = 8
TRAINING_STATE_BYTES = 16  # fp32 params 4 + fp32 grads 4 + Adam m, v 8
LOGITS_COPIES = 5
BF16_BYTES = 2
CHECKPOINT_BYTES_PER_PARAM = FP32_PARAM_BYTES + ADAM_BYTES


def _integer(value: Any) -> int:
    if isinstance(value, bool) or float(value) != int(float(value)):
        raise ValueError
    return int(float(value))


def _boolean(value: Any) -> bool:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ValueError
    return value


def _integer_or_none(value: Any) -> int | None:
    return None if value is None else _integer(value)


# RunPlan field -> (config key, launcher environment variable that sets it or None, conversion)
FIELDS: dict[str, tuple[str, str | None, Callable[[Any], Any]]] = {
    "model": ("actor_rollout_ref.model.path", "MODEL_PATH", str),
    "nnodes": ("trainer.nnodes", "NNODES", _integer),
    "gpus_per_node": ("trainer.n_gpus_per_node", "GPUS_PER_NODE", _integer),
    "gpu_memory_utilization": ("actor_rollout_ref.rollout.gpu_memory_utilization", None, float),
    "tensor_parallel": ("actor_rollout_ref.rollout.tensor_model_parallel_size", None, _integer),
    "param_offload": ("actor_rollout_ref.actor.fsdp_config.param_offload", None, _boolean),
    "optimizer_offload": ("actor_rollout_ref.actor.fsdp_config.optimizer_offload", None, _boolean),
    "tokens_per_gpu": ("actor_rollout_ref.actor.ppo_max_token_len_per_gpu", None, _integer),
    "max_prompt_length": ("data.max_prompt_length", None, _integer),
    "max_response_length": ("data.max_response_length", None, _integer),
    "checkpoints_kept": ("trainer.max_actor_ckpt_to_keep", None, _integer_or_none),
    "save_freq": ("trainer.save_freq", None, _integer),
    "total_steps": ("trainer.total_training_steps", None, _integer),
}
# May be null (None) in the config: every other field must be set.
NULLABLE = {"checkpoints_kept"}


class RunPlanError(ValueError):
    pass


@dataclass(frozen=True)
class RunPlan:
    scale: str
    model: str
    nnodes: int
    gpus_per_node: int
    gpu_memory_utilization: float
    tensor_parallel: int
    param_offload: bool
    optimizer_offload: bool
    tokens_per_gpu: int
    max_prompt_length: int
    max_response_length: int
    checkpoints_kept: int | None
    save_freq: int
    total_steps: int
    ckpt_dir: Path

    @property
    def world(self) -> int:
        return self.nnodes * self.gpus_per_node

    @property
    def checkpoints_on_disk(self) -> int:
        """Checkpoints on disk at once: those kept, or (None: all kept) every save_freq-th step and the last."""
        saves = len({*range(self.save_freq, self.total_steps + 1, self.save_freq), self.total_steps})
        return saves if self.checkpoints_kept is None else min(self.checkpoints_kept, saves)


@dataclass(frozen=True)
class ModelSize:
    parameters: int
    vocab_size: int
    hidden_size: int
    layers: int


@dataclass(frozen=True)
class MemoryEstimate:
    rollout: float
    training: float

    @property
    def peak(self) -> float:
        return max(self.rollout, self.training)


def config_value(tree: Any, dotted: str) -> Any:
    """The value at a dotted key (``trainer.total_training_steps``) of a loaded YAML tree; None when absent."""
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def _load(path: Path) -> dict:
    import yaml

    try:
        return yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise RunPlanError(f"cannot read {path}: {error}") from error


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """Hydra overrides (``key=value``, ``+key=value``, ``scale=smoke``) -> key: value as Hydra types it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as error:
        raise RunPlanError(f"cannot parse the overrides {' '.join(overrides)}: {error}") from error
    return {o.key_or_group: o.value() for o in parsed if not o.is_delete()}


def _converted(name: str, value: Any, source: str) -> Any:
    key, _, convert = FIELDS[name]
    try:
        return convert(value)
    except (TypeError, ValueError):
        raise RunPlanError(f"{key} = {value!r} ({source}) is not a valid {name.replace('_', ' ')}") from None


def read_plan(
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    config_dir: Path = RECIPE_CONFIG,
    cwd: Path | None = None,
) -> RunPlan:
    """The run's figures (module docstring); RunPlanError naming the file, key or override that is wrong."""
    import os

    environ = os.environ if environ is None else environ
    given = parse_overrides(overrides)
    scale = str(given.get("scale", DEFAULT_SCALE))
    scale_file = config_dir / "scale" / f"{scale}.yaml"
    if not scale_file.is_file():
        raise RunPlanError(f"unknown scale '{scale}' (no {scale_file})")
    layers = [(_load(scale_file), str(scale_file)), (_load(config_dir / MAIN_CONFIG), str(config_dir / MAIN_CONFIG))]
    values: dict[str, Any] = {}
    for name, (key, variable, _) in FIELDS.items():
        if key in given:
            values[name] = _converted(name, given[key], f"override {key}")
        elif variable and environ.get(variable):
            values[name] = _converted(name, environ[variable], f"{variable} in the environment")
        else:
            found = next(((v, source) for tree, source in layers if (v := config_value(tree, key)) is not None), None)
            if found is None and name not in NULLABLE:
                raise RunPlanError(f"neither {scale_file} nor {MAIN_CONFIG} sets {key}")
            values[name] = None if found is None else _converted(name, *found)
    ckpt = Path(environ.get("CKPT_DIR") or repo_of(config_dir) / "checkpoints").expanduser()
    values["ckpt_dir"] = ckpt if ckpt.is_absolute() else (cwd or Path.cwd()) / ckpt
    return RunPlan(scale=scale, **values)


def repo_of(config_dir: Path) -> Path:
    """The checkout a recipe config folder belongs to (<repo>/recipe/format_length/config)."""
    return config_dir.resolve().parents[2]


def model_size(config_json: Mapping[str, Any]) -> ModelSize:
    """Parameters (transformers builds the model on the meta device: nothing is allocated), vocabulary, hidden
    size and layers of the model whose config.json is ``config_json``."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    fields = dict(config_json)
    if "model_type" not in fields:
        raise ValueError("the model's config.json has no model_type")
    config = AutoConfig.for_model(fields.pop("model_type"), **fields)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return ModelSize(
        parameters=sum(p.numel() for p in model.parameters()),
        vocab_size=int(text.vocab_size),
        hidden_size=int(getattr(text, "hidden_size", 0) or 0),
        layers=int(getattr(text, "num_hidden_layers", 0) or 0),
    )


def gpu_memory_estimate(plan: RunPlan, size: ModelSize, card_bytes: float) -> MemoryEstimate:
    """Per-GPU bytes of the rollout and training phases (module docstring)."""
    p, w = size.parameters, plan.world
    resident = p * ((0 if plan.param_offload else FP32_PARAM_BYTES) + (0 if plan.optimizer_offload else ADAM_BYTES))
    rollout = plan.gpu_memory_utilization * card_bytes + resident / w + RESERVE_BYTES
    training = TRAINING_STATE_BYTES * p / w + plan.tokens_per_gpu * _bytes_per_token(size) + RESERVE_BYTES
    return MemoryEstimate(rollout=rollout, training=training)


def _bytes_per_token(size: ModelSize) -> int:
    return LOGITS_COPIES * size.vocab_size * BF16_BYTES + size.layers * size.hidden_size * BF16_BYTES


def fits(estimate: MemoryEstimate, card_bytes: float) -> bool:
    return estimate.peak <= FIT_SHARE * card_bytes


def fitting_settings(plan: RunPlan, size: ModelSize, card_bytes: float) -> list[str]:
    """Overrides under which the estimate fits ``card_bytes``, each with its cost; [] when none does."""
    estimate = gpu_memory_estimate(plan, size, card_bytes)
    settings: list[str] = []
    budget = FIT_SHARE * card_bytes
    if estimate.rollout > budget:
        vllm_weights = BF16_BYTES * size.parameters / plan.tensor_parallel
        for optimizer_offload in sorted({plan.optimizer_offload, True}):
            resident = size.parameters * (
                (0 if plan.param_offload else FP32_PARAM_BYTES) + (0 if optimizer_offload else ADAM_BYTES)
            )
            share = math.floor((FIT_SHARE - (resident / plan.world + RESERVE_BYTES) / card_bytes) * 20) / 20
            if share * card_bytes > 1.5 * vllm_weights:  # vLLM needs its weights and room for a KV cache
                words = [f"actor_rollout_ref.rollout.gpu_memory_utilization={share:.2f}"]
                if optimizer_offload != plan.optimizer_offload:
                    words.insert(0, "actor_rollout_ref.actor.fsdp_config.optimizer_offload=true")
                cost = "a smaller KV cache: slower rollouts" + (
                    "; Adam's state kept in host memory between updates: slower steps"
                    if optimizer_offload != plan.optimizer_offload
                    else ""
                )
                settings.append(f"{' '.join(words)} ({cost})")
                break
    if estimate.training > budget:
        per_token = _bytes_per_token(size)
        tokens = int((budget - TRAINING_STATE_BYTES * size.parameters / plan.world - RESERVE_BYTES) // per_token)
        tokens = tokens // 1024 * 1024
        if tokens >= plan.max_prompt_length + plan.max_response_length:
            settings.append(
                f"actor_rollout_ref.actor.ppo_max_token_len_per_gpu={tokens} (smaller micro-batches: slower, and the "
                "release's loss weights tokens by micro-batch), or first actor_rollout_ref.actor.entropy_checkpointing"
                "=true (the entropy recomputed in the backward pass: same numbers, less memory)"
            )
    if len(settings) < (estimate.rollout > budget) + (estimate.training > budget):
        return []
    return settings


def checkpoint_bytes(plan: RunPlan, size: ModelSize) -> int:
    """Disk the run's checkpoints take at once (module docstring)."""
    return CHECKPOINT_BYTES_PER_PARAM * size.parameters * plan.checkpoints_on_disk
