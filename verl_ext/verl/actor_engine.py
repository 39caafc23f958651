"""veRL 0.9.1's FSDP actor engine with one more per-token statistic: self-certainty, from the logits it already holds.

Where: ``FSDPEngineWithLMHead.prepare_model_outputs`` (``verl/workers/engine/fsdp/transformer_impl.py``) turns each
micro-batch's logits into ``log_probs`` (and ``entropy`` when the batch's non-tensor ``calculate_entropy`` is set,
``sum_pi_squared`` when ``calculate_sum_pi_squared`` is: veRL's precedent for another full-vocabulary statistic).
:class:`SelfCertaintyFSDPEngine` calls it unchanged, then, when the micro-batch carries the non-tensor
``calculate_self_certainty`` (:data:`~verl_ext.verl.token_stats.SELF_CERTAINTY_FLAG`), adds ``self_certainty``
(:func:`~verl_ext.verl.token_stats.self_certainty_from_logits` of the same logits at the same per-sample
temperature, which veRL scales out of place, so ``output.logits`` is still the raw logits) in the layout of
``log_probs``: a jagged tensor over each sequence's prompt + response positions. Without the flag the output is
veRL's, key for key. veRL's ``postprocess_batch_func`` concatenates every key of the micro-batches' outputs and
its TransferQueue bridge writes every tensor the worker returns, so ``self_certainty`` reaches TransferQueue beside
``log_probs`` and ``entropy`` with no other change; the trainer (:mod:`verl_ext.verl.trainer`) cuts it to the
response as veRL cuts ``entropy``.

Both of veRL's layouts are covered: packed sequences (``use_remove_padding``, the GPU recipe; gathered across the
Ulysses sequence-parallel group and stripped of the packing pad by veRL's own ``_gather_and_unpad_packed``) and
padded batches (the CPU backend). Fused kernels never materialise the logits: asked for self-certainty there, the
engine raises (the configuration is refused at start-up, :mod:`verl_ext.verl.stage_checks`).

Registration: veRL's ``EngineRegistry.get_engine_cls`` prefers a ``(device, vendor)`` registration to a
device-only one; veRL registers ``FSDPEngineWithLMHead`` for devices ``cuda`` and ``npu``, so registering this
subclass for ``("cuda", "nvidia")`` and ``("cuda", "amd")`` (language models, backends ``fsdp`` and ``fsdp2``)
selects it on those GPUs without touching veRL's entry; the CPU backend registers it for device ``cpu``.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from verl.utils import tensordict_utils as tu
from verl.workers.engine.base import EngineRegistry
from verl.workers.engine.fsdp.transformer_impl import FSDPEngineWithLMHead

from verl_ext.verl.token_stats import SELF_CERTAINTY, SELF_CERTAINTY_FLAG, self_certainty_from_logits

logger = logging.getLogger(__name__)

MODEL_TYPE = "language_model"
BACKENDS = ("fsdp", "fsdp2")
GPU_KEYS = (("cuda", "nvidia"), ("cuda", "amd"))


class SelfCertaintyFSDPEngine(FSDPEngineWithLMHead):
    """veRL's FSDP language-model engine; a micro-batch flagged ``calculate_self_certainty`` also returns
    ``self_certainty`` (see the module doc)."""

    def prepare_model_outputs(self, output, output_args, micro_batch, logits_processor_func):
        model_output = super().prepare_model_outputs(output, output_args, micro_batch, logits_processor_func)
        if tu.get_non_tensor_data(data=micro_batch, key=SELF_CERTAINTY_FLAG, default=False):
            model_output[SELF_CERTAINTY] = self.self_certainty(output, output_args, micro_batch)
        return model_output

    def self_certainty(self, output: Any, output_args: dict, micro_batch: Any) -> torch.Tensor:
        """Per position of each sequence, ``logsumexp(z / T) - mean(z / T)``: a jagged tensor laid out like
        ``log_probs`` (offsets of ``micro_batch["input_ids"]``)."""
        if tu.get_non_tensor_data(data=micro_batch, key="use_fused_kernels", default=False):
            raise NotImplementedError(
                "self-certainty needs the full logits, which fused kernels (actor_rollout_ref.model."
                "use_fused_kernels=true) never materialise: set it to false"
            )
        cu_seqlens = micro_batch["input_ids"].offsets()
        logits = _full(output.logits)
        unit_temperature = output_args.get("temperature_is_one", False)  # veRL's own shortcut: no scaling at T = 1
        if tu.get_non_tensor_data(data=micro_batch, key="use_remove_padding", default=True):
            # packed: (1, total_nnz / sp + pad, V), one temperature per packed position
            temperature = None if unit_temperature else output_args["temperature_rmpad"]
            values = self_certainty_from_logits(logits.squeeze(0), temperature)
            values = self._gather_and_unpad_packed(values, output_args["pad_size"])
        else:
            # padded: (batch, max_len, V), one temperature per sequence; keep each sequence's real positions
            temperature = None if unit_temperature else output_args["temperature"].unsqueeze(-1)
            per_position = self_certainty_from_logits(logits, temperature)
            lengths = cu_seqlens.diff()
            kept = torch.arange(per_position.shape[1], device=per_position.device) < lengths.unsqueeze(-1)
            values = per_position[kept]
        return torch.nested.nested_tensor_from_jagged(values, cu_seqlens)


def _full(logits: torch.Tensor) -> torch.Tensor:
    """The whole vocabulary: with tensor parallelism the logits are a DTensor sharded on it (as veRL gathers)."""
    full_tensor = getattr(logits, "full_tensor", None)
    return full_tensor() if callable(full_tensor) else logits


def register(keys: tuple[str | tuple[str, str], ...]) -> list[str]:
    """Register :class:`SelfCertaintyFSDPEngine` for language models (``fsdp``, ``fsdp2``) under each registry key:
    ``device`` or ``(device, vendor)``. Idempotent; a key another engine class already holds is left to it (logged:
    veRL's registry refuses a second registration). Returns the keys it left to another class."""
    taken = []
    backends = EngineRegistry._engines.setdefault(MODEL_TYPE, {})
    for key in keys:
        device, vendor = key if isinstance(key, tuple) else (key, None)
        for backend in BACKENDS:
            holder = backends.get(backend, {}).get(key)
            if holder is SelfCertaintyFSDPEngine:
                continue
            if holder is not None:
                taken.append(f"{backend}:{key}")
                continue
            EngineRegistry.register(model_type=MODEL_TYPE, backend=backend, device=device, vendor=vendor)(
                SelfCertaintyFSDPEngine
            )
    if taken:
        logger.warning(
            "verl-ext: veRL's engine registry already holds another engine for %s: self-certainty is not "
            "available there",
            ", ".join(taken),
        )
    return taken


def register_gpu_engines() -> list[str]:
    """:func:`register` for the GPU keys (``("cuda", "nvidia")``, ``("cuda", "amd")``)."""
    return register(GPU_KEYS)
