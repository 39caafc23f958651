"""Cost of the group stage (answer clusters + majority + semantic frequency) for one training step.

    python benchmarks/bench_group.py OUTPUTS_DIR [--prompts 128] [--samples 8 64] [--steps 5] [--seed 0]

OUTPUTS_DIR: the release's ``outputs/`` folder (``<run>/<step>/res*_<BENCH>.json``). Its answers are
pooled per problem: the AIME2024 and AMC2023 problems have 9 outputs each (3 runs x 3 steps). A step's
group for a prompt draws n answers (with replacement) from one problem's pool, which gives about as
many distinct answers as the release's training rollouts (~2.4 per 8; the figure printed is measured).
Those answers are mostly integers, which need no checker, so a second scenario stresses the checker:
MATH500 problems whose ground truth is not a plain integer, each group mixing the model's answer with
its ground truth (both forms, e.g. ``\\frac{1}{2}`` and ``0.5``, to be clustered by math-verify).

Figures: ``cold`` is the first step of this process (the checker's child processes start: a fresh
interpreter and math-verify's imports); ``warm`` is the median of the next ``--steps`` steps (fresh
draws). Targets (issue 20): under 1 s for 128 x 8 and under 5 s for 128 x 64, warm; the release's
median GPU step is 181.5 s. Groups that need the checker are spread over ``--threads`` threads (one
checker child each; default min(4, cores)). Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections import defaultdict
from pathlib import Path

from verl_ext.rewards.answer import extract_answer
from verl_ext.rewards.correctness import _as_integer
from verl_ext.rewards.equivalence import answer_key, cluster_groups
from verl_ext.rewards.group import majority_rewards, semantic_frequency_rewards


def answer_pools(outputs: Path) -> tuple[list[list[str | None]], list[list[str | None]]]:
    """(pools of problems with several outputs, MATH500 pairs [model answer, ground truth] with a non-integer truth)."""
    files = sorted(outputs.glob("*/*/res*_*.json"))
    if not files:
        raise SystemExit(f"no res*_<BENCH>.json files under {outputs}/<run>/<step>/")
    pools: dict[str, list[str | None]] = defaultdict(list)
    hard: list[list[str | None]] = []
    for path in files:
        for item in json.loads(path.read_text(encoding="utf-8")):
            prompt = item["prompt"] if isinstance(item["prompt"], str) else json.dumps(item["prompt"], sort_keys=True)
            answer = extract_answer(item["response"])
            pools[prompt].append(answer)
            truth = str(item["ground_truth"])
            if "MATH500" in path.name and _as_integer(truth) is None and answer is not None:
                hard.append([answer, truth])
    return [pool for pool in pools.values() if len(pool) > 1], hard


def draw_step(pools: list[list[str | None]], prompts: int, samples: int, rng: random.Random) -> list[list[str | None]]:
    groups = []
    for _ in range(prompts):
        pool = rng.choice(pools)
        groups.append([rng.choice(pool) for _ in range(samples)])
    return groups


def group_stage(groups: list[list[str | None]], threads: int | None) -> dict:
    """Time one step's group stage; also count what it did."""
    started = time.perf_counter()
    calls = timeouts = fallbacks = 0
    for clusters in cluster_groups(groups, threads=threads):
        majority_rewards(clusters)
        semantic_frequency_rewards(clusters)
        calls += clusters.checker_calls
        timeouts += clusters.timeouts
        fallbacks += clusters.fallback
    seconds = time.perf_counter() - started
    distinct = statistics.mean(len({answer_key(a) for a in g} - {None}) for g in groups)
    return {"seconds": seconds, "checker_calls": calls, "timeouts": timeouts, "fallbacks": fallbacks, "distinct": distinct}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outputs", type=Path, help="the release's outputs/ folder")
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--samples", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--steps", type=int, default=5, help="warm steps per configuration (median reported)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="checker threads (default: the checker pool size, min(4, cores))")
    args = parser.parse_args()

    pools, hard = answer_pools(args.outputs)
    print(f"{len(pools)} problems with pooled outputs; {len(hard)} MATH500 problems with a non-integer ground truth")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    rng = random.Random(args.seed)
    scenarios = [("release answers", pools)] + ([("math500 answer + truth", hard)] if hard else [])
    first = True
    for name, source in scenarios:
        for n in args.samples:
            runs = [group_stage(draw_step(source, args.prompts, n, rng), args.threads) for _ in range(args.steps + first)]
            cold = runs.pop(0) if first else None
            first = False
            warm = statistics.median(r["seconds"] for r in runs)
            head = f"{name:>24}  {args.prompts} x {n:<3}"
            stats = (
                f"distinct/group {statistics.mean(r['distinct'] for r in runs):.2f}  checker calls/step "
                f"{statistics.mean(r['checker_calls'] for r in runs):.0f}  timeouts {sum(r['timeouts'] for r in runs)}  "
                f"fallbacks {sum(r['fallbacks'] for r in runs)}"
            )
            if cold is not None:
                print(f"{head}  cold {cold['seconds']:.3f} s (checker children start)")
            print(f"{head}  warm {warm:.3f} s (median of {len(runs)} steps; max {max(r['seconds'] for r in runs):.3f} s)  {stats}")


if __name__ == "__main__":
    main()
