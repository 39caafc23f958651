"""Cost of veRL's group stage per training step: ``verl_ext.verl.group_stage.run_group_stage`` end to end.

    python benchmarks/bench_verl_group_stage.py [--release DIR] [--prompts 128] [--samples 8 64] [--steps 3]
        [--response-tokens 3072] [--reward majority]

What ``DiagnosticsReplayBuffer.sample`` adds to a step besides veRL's own sampling: read the rollouts'
``extra_fields``, ``rm_scores``, ``rollout_log_probs`` and ``response_mask`` (an in-memory store stands in for
TransferQueue: the figures leave out TransferQueue's own transfer time), group by prompt uid, cluster the
answers, apply the rule, build the jagged ``rm_scores`` and hand them to ``kv_batch_put``, compute the collapse
monitors. Answers are drawn per prompt from the release's pooled outputs as in ``bench_group.py`` (about 2.4
distinct per 8); responses are ``--response-tokens`` long (the paper's 3072: the worst case for the tensor work).
Figures: the first step (checker children start) and the median of the later ones (warm), wall and CPU seconds of
this process and its checker children. Asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path
from typing import Any

import bench_group  # benchmarks/, beside this script: the answer pools and the step draw
import torch
from cpu_clock import cpu_end, cpu_start

from verl_ext.verl.group_stage import StageOptions, run_group_stage


class MemoryStore:
    """kv_batch_get / kv_batch_put over dicts of per-rollout values; ragged tensors come back jagged."""

    def __init__(self, rows: dict[str, dict[str, Any]]):
        self.rows = rows

    def kv_batch_get(self, keys, partition_id, select_fields):
        out = {}
        for field in select_fields:
            values = [self.rows[key][field] for key in keys]
            out[field] = (
                torch.nested.as_nested_tensor(values, layout=torch.jagged)
                if isinstance(values[0], torch.Tensor)
                else values
            )
        return out

    def kv_batch_put(self, keys, partition_id, fields):
        self.written = fields


def step_rows(groups: list[list[str | None]], tokens: int, rng: random.Random) -> dict[str, dict[str, Any]]:
    rows = {}
    for g, answers in enumerate(groups):
        for s, answer in enumerate(answers):
            length = rng.randint(tokens // 4, tokens)
            rows[f"p{g}_{s}_0"] = {
                "extra_fields": {
                    "reward_extra_info": {
                        "pred": answer or "",
                        "format": float(answer is not None),
                        "correct": 0.0,
                        "monitor_error": 0.0,
                        "response_tokens": length,
                        "reward_error": 0.0,
                    }
                },
                "rm_scores": torch.zeros(length),
                "rollout_log_probs": -torch.rand(length),
                "response_mask": torch.ones(length, dtype=torch.int64),
            }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", type=Path, help="a copy of the release (default: the carried files)")
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--samples", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--response-tokens", type=int, default=3072)
    parser.add_argument("--reward", default="majority")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pools, _ = bench_group.release_answer_pools(args.release)
    rng = random.Random(args.seed)
    options = StageOptions(reward=args.reward, rollout_log_probs=True)
    for samples in args.samples:
        runs = []
        for _ in range(args.steps + 1):
            store = MemoryStore(
                step_rows(bench_group.draw_step(pools, args.prompts, samples, rng), args.response_tokens, rng)
            )
            before = cpu_start()
            started = time.perf_counter()
            run_group_stage(list(store.rows), "train", options, store.kv_batch_get, store.kv_batch_put)
            wall = time.perf_counter() - started
            cpu = cpu_end() - before
            runs.append((wall, cpu))
        (first_wall, first_cpu), warm = runs[0], runs[1:]
        print(
            f"{args.reward} {args.prompts} x {samples}, responses up to {args.response_tokens} tokens: first step "
            f"{first_wall:.2f} s wall / {first_cpu:.2f} CPU s; "
            f"warm median {statistics.median(w for w, _ in warm):.2f} s wall / "
            f"{statistics.median(c for _, c in warm):.2f} CPU s over {len(warm)} steps"
        )


if __name__ == "__main__":
    main()
