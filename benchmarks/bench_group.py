"""Cost of the group stage (answer clusters + majority + semantic frequency) for one training step.

    python benchmarks/bench_group.py [--release DIR] [--prompts 128] [--samples 8 64] [--steps 5] [--seed 0]

--release: a copy of the paper's release (default: the files carried in release_data/, decompressed). The
answers of its ``outputs/<run>/<step>/res*_<BENCH>.json`` are pooled per problem: the AIME2024 and AMC2023 problems have 9 outputs each (3 runs x 3 steps). A step's
group for a prompt draws n answers (with replacement) from one problem's pool, which gives about as
many distinct answers as the release's training rollouts (~2.4 per 8; the figure printed is measured).
Those answers are mostly integers, which need no checker, so a second scenario stresses the checker:
MATH500 problems whose ground truth is not a plain integer, each group mixing the model's answer with
its ground truth (both forms, e.g. ``\\frac{1}{2}`` and ``0.5``, to be clustered by math-verify).

Figures, each step a fresh draw:
- ``cold``: the first step of this process (the checker's child processes start: a fresh interpreter,
  math-verify's imports), every answer new;
- ``warm, new answers``: median over ``--steps`` steps run by checker children that are already started
  but restarted (outside the timing) before each step, so that no answer is in their parse caches: a
  training step whose prompts the run has not seen yet;
- ``warm, repeated``: median over ``--steps`` steps with the children and their caches kept; the pools are
  small, so most answers were parsed in an earlier step (a run revisiting its prompts; optimistic).
Targets (issue 20): under 1 s for 128 x 8 and under 5 s for 128 x 64, warm; the release's
median GPU step is 181.5 s. Wall figures depend on the machine's load (printed); the CPU seconds of
this process and of the checker children (``cpu_clock.py``) much less. Groups that need the checker are
spread over ``--threads`` threads (one checker child each; default min(4, cores)). Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cpu_clock import cpu_end, cpu_start

from data_prep.carried import release_folder
from verl_ext.rewards import equivalence
from verl_ext.rewards.answer import extract_answer
from verl_ext.rewards.correctness import _as_integer
from verl_ext.rewards.equivalence import answer_key, cluster_distinct, cluster_groups
from verl_ext.rewards.group import majority_rewards, semantic_frequency_rewards
from verl_ext.rewards.isolation import default_pool_size


def release_answer_pools(release: Path | None) -> tuple[list[list[str | None]], list[list[str | None]]]:
    """``answer_pools`` of a copy of the release, or of the carried files (``release`` None)."""
    with release_folder(release) as folder:
        return answer_pools(folder / "outputs")


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
    """Time one step's group stage (wall, and CPU of this process and the checker children); count what it did."""
    cpu_before = cpu_start()
    started = time.perf_counter()
    calls = timeouts = fallbacks = 0
    for clusters in cluster_groups(groups, threads=threads):
        majority_rewards(clusters)
        semantic_frequency_rewards(clusters)
        calls += clusters.checker_calls
        timeouts += clusters.timeouts
        fallbacks += clusters.fallback
    seconds = time.perf_counter() - started
    cpu = cpu_end() - cpu_before
    distinct = statistics.mean(len({answer_key(a) for a in g} - {None}) for g in groups)
    return {
        "seconds": seconds,
        "cpu": cpu,
        "checker_calls": calls,
        "timeouts": timeouts,
        "fallbacks": fallbacks,
        "distinct": distinct,
    }


def restart_checker(threads: int | None) -> None:
    """Stop the checker's children and start as many fresh ones (empty caches), outside any timing."""
    for caller in equivalence._callers.values():
        caller.close()
    equivalence._callers.clear()
    count = threads or default_pool_size()
    with ThreadPoolExecutor(count) as pool:  # concurrent calls: each starts its own child
        list(pool.map(lambda _: cluster_distinct(["\\frac{1}{2}", "0.5"]), range(count)))


def summary(runs: list[dict]) -> str:
    return (
        f"median {statistics.median(r['seconds'] for r in runs):.3f} s, max {max(r['seconds'] for r in runs):.3f} s "
        f"over {len(runs)} steps; CPU median {statistics.median(r['cpu'] for r in runs):.3f} s; distinct/group {statistics.mean(r['distinct'] for r in runs):.2f}, checker calls/step "
        f"{statistics.mean(r['checker_calls'] for r in runs):.0f}, timeouts {sum(r['timeouts'] for r in runs)}, "
        f"fallbacks {sum(r['fallbacks'] for r in runs)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", type=Path, help="a copy of the release (default: the carried files)")
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--samples", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--steps", type=int, default=5, help="warm steps per configuration (median reported)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=None, help="checker threads (default: the checker pool size, min(4, cores))"
    )
    args = parser.parse_args()

    pools, hard = release_answer_pools(args.release)
    print(f"{len(pools)} problems with pooled outputs; {len(hard)} MATH500 problems with a non-integer ground truth")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    rng = random.Random(args.seed)
    scenarios = [("release answers", pools)] + ([("math500 answer + truth", hard)] if hard else [])
    first = True
    for name, source in scenarios:
        for n in args.samples:
            head = f"{name} {args.prompts} x {n}"
            if first:
                cold = group_stage(draw_step(source, args.prompts, n, rng), args.threads)
                print(
                    f"{head}: cold {cold['seconds']:.3f} s, CPU {cold['cpu']:.3f} s (checker children start; every answer new)"
                )
                first = False
            fresh = []
            for _ in range(args.steps):
                restart_checker(args.threads)
                fresh.append(group_stage(draw_step(source, args.prompts, n, rng), args.threads))
            print(f"{head}: warm, new answers: {summary(fresh)}")
            repeated = [group_stage(draw_step(source, args.prompts, n, rng), args.threads) for _ in range(args.steps)]
            print(f"{head}: warm, repeated answers: {summary(repeated)}")


if __name__ == "__main__":
    main()
