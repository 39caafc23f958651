"""The CPU rollout server: a Ray actor that generates with plain ``transformers``, token in, token out.

It answers veRL's rollout-server calls (``generate`` and the lifecycle calls of a vLLM server, which are
no-ops on the CPU: nothing to sleep, no KV cache kept between requests) and takes new weights from
:class:`~verl_ext.verl.cpu.adapter.CPUServerAdapter` after every actor update. Concurrent requests are
collected and decoded together, one batch per set of sampling parameters. Every reply carries the
``global_steps`` of the weights that produced it (veRL's replay buffer requires it).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

import torch

from verl_ext.verl.cpu.generation import Generated, generate_batch
from verl_ext.verl.cpu.sampling import SamplingParams

logger = logging.getLogger(__name__)

MAX_BATCH = 64
COLLECT_S = 0.005  # wait this long for concurrent requests before decoding a batch


def server_name(replica_rank: int) -> str:
    """The Ray actor name of a replica's server (the adapter looks it up by this name)."""
    return f"verl_ext_cpu_hf_server_{replica_rank}"


def _as_ids(value: Any) -> set[int]:
    if value is None:
        return set()
    if isinstance(value, (list, tuple, set)):
        return {int(v) for v in value}
    return {int(value)}


def max_new_tokens(prompt_tokens: int, prompt_length: int, response_length: int, requested: int | None) -> int:
    """veRL's budget: the request's ``max_tokens`` else ``response_length``, within the context window."""
    room = prompt_length + response_length - prompt_tokens
    if room < 1:
        raise ValueError(
            f"prompt of {prompt_tokens} tokens leaves no room to generate (prompt_length {prompt_length} + "
            f"response_length {response_length})"
        )
    budget = response_length if requested is None else int(requested)
    return max(1, min(budget, room))


class HFRolloutServer:
    """One replica's generator (see the module docstring)."""

    def __init__(self, config: Any, model_config: Any, replica_rank: int) -> None:
        from transformers import AutoModelForCausalLM

        self.config = config
        self.replica_rank = replica_rank
        path = getattr(model_config, "local_path", None) or model_config.path
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        self.model.eval()
        generation = self.model.generation_config
        self.eos_ids = _as_ids(generation.eos_token_id) | _as_ids(self.model.config.eos_token_id)
        pad = generation.pad_token_id if generation.pad_token_id is not None else self.model.config.pad_token_id
        self.pad_id = int(pad) if pad is not None else min(self.eos_ids or {0})
        self.global_steps: int | None = None
        self.weight_updates = 0
        self._pending: list[tuple[list[int], SamplingParams, asyncio.Future]] = []
        self._drainer: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    # ------------------------------------------------------------------ generation
    async def generate(
        self,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        request_id: str,
        image_data: Any = None,
        video_data: Any = None,
        **_: Any,
    ):
        """One completion for ``prompt_ids`` as veRL's ``TokenOutput`` (log-probs always included)."""
        from verl.workers.rollout.replica import TokenOutput

        if image_data is not None or video_data is not None:
            raise ValueError("the CPU rollout generates text only (image_data/video_data given)")
        prompt = [int(token) for token in prompt_ids]
        params = dict(sampling_params)
        requested = params.pop("max_tokens", params.pop("max_new_tokens", None))
        budget = max_new_tokens(len(prompt), self.config.prompt_length, self.config.response_length, requested)
        sampling = SamplingParams.from_request(params, budget)
        future = asyncio.get_running_loop().create_future()
        self._pending.append((prompt, sampling, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        result: Generated = await future
        return TokenOutput(
            token_ids=result.token_ids,
            log_probs=result.log_probs,
            stop_reason="completed",
            extra_fields={"global_steps": self.global_steps},
        )

    async def _drain(self) -> None:
        await asyncio.sleep(COLLECT_S)
        while self._pending:
            batch, self._pending = self._pending, []
            groups: dict[SamplingParams, list] = defaultdict(list)
            for item in batch:
                groups[item[1]].append(item)
            for sampling, items in groups.items():
                for start in range(0, len(items), MAX_BATCH):
                    chunk = items[start : start + MAX_BATCH]
                    try:
                        async with self._lock:
                            results = await asyncio.to_thread(
                                generate_batch,
                                self.model,
                                [p for p, _, _ in chunk],
                                sampling,
                                self.eos_ids,
                                self.pad_id,
                            )
                    except Exception as error:  # each waiting request gets the error
                        for _, _, future in chunk:
                            if not future.done():
                                future.set_exception(error)
                        continue
                    for (_, _, future), result in zip(chunk, results, strict=True):
                        if not future.done():
                            future.set_result(result)

    # ------------------------------------------------------------------ weights
    async def load_weights(self, weights: dict[str, torch.Tensor]) -> int:
        """Load the actor's full weights (HF names); returns how many tensors were loaded.

        Raises ``KeyError`` naming the first unknown tensor names: a weight the model lacks would
        otherwise be dropped without a word and the rollout would silently keep stale weights.
        """
        own = self.model.state_dict()
        unknown = sorted(name for name in weights if name not in own)
        if unknown:
            raise KeyError(f"weights the rollout model does not have: {unknown[:5]} ({len(unknown)} in all)")
        async with self._lock:
            with torch.no_grad():
                for name, tensor in weights.items():
                    own[name].copy_(tensor.to(own[name].dtype))
        self.weight_updates += 1
        return len(weights)

    async def set_global_steps(self, global_steps: int) -> None:
        self.global_steps = global_steps

    async def get_weight_updates(self) -> int:
        return self.weight_updates

    # ------------------------------------------------------------------ lifecycle (no-ops on the CPU)
    async def wake_up(self, tags: list[str] | None = None) -> None:
        return None

    async def sleep(self) -> None:
        return None

    async def clear_kv_cache(self) -> None:
        return None

    async def release_kv_cache(self) -> None:
        return None

    async def resume_kv_cache(self) -> None:
        return None

    async def wait_for_requests_to_drain(self) -> None:
        while self._pending or (self._drainer is not None and not self._drainer.done()):
            await asyncio.sleep(COLLECT_S)

    async def abort_all_requests(self, reject_request: bool = False, **_: Any) -> dict[str, Any]:
        return {"aborted_count": 0, "request_ids": []}

    async def resume_generation(self) -> None:
        return None

    async def start_profile(self, **_: Any) -> None:
        return None

    async def stop_profile(self) -> None:
        return None
