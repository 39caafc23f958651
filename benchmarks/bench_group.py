"""Cost of the group stage (answer clusters + majority + semantic frequency): single large groups and training steps.

    python benchmarks/bench_group.py [--release DIR] [--prompts 128] [--samples 8 64] [--steps 5] [--seed 0]
        [--only groups|steps]

Single 64-sample groups (issue 27), each printed cold and warm:
- ``symbolic D``: D = 8, 16, 32, 64 distinct ordinary symbolic answers (``i\\sqrt{i+1} + \\frac{\\pi}{i+2}``),
  each repeated to fill 64 samples;
- ``pathological D``: D = 16, 64 distinct answers that cost the checker unbounded time: towers
  (``7^{7^{7^{7}}}``) and ``\\operatorname{floor}(\\exp(10^{15}))``, which the format check rejects by its
  static bound, and ``\\lfloor e^{10^{15}} \\rfloor``, which it does not parse but math-verify does;
- ``mix``: 16 pathological and 16 symbolic distinct answers and 32 samples of four forms of 1/2, shuffled.
``cold``: a fresh process (``--scenario``) clusters the group: the checker's children start (a fresh interpreter,
math-verify's imports) inside the figure; the process's whole wall time (interpreter start, imports) is printed
beside it. ``warm``: this process, children already started by a group of the same shape, new answers.
Targets (issue 27): 64 symbolic under 5 s, 16 pathological under 5 s, 64 pathological under 10 s, wall.

Training steps (issue 20):

--release: a copy of the paper's release (default: the files carried in release_data/, decompressed). The
answers of its ``outputs/<run>/<step>/res*_<BENCH>.json`` are pooled per problem: the AIME2024 and AMC2023
problems have 9 outputs each (3 runs x 3 steps). A step's group for a prompt draws n answers (with
replacement) from one problem's pool, which gives about as many distinct answers as the release's training
rollouts (~2.4 per 8; the figure printed is measured). Those answers are mostly integers, which need no checker,
so a second scenario stresses the checker:
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
Targets (issue 20): under 1 s for 128 x 8 and under 5 s for 128 x 64, warm (and cold: issue 27); the release's
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
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from cpu_clock import cpu_end, cpu_start

from data_prep.carried import release_folder
from verl_ext.rewards import equivalence
from verl_ext.rewards.answer import extract_answer
from verl_ext.rewards.correctness import _as_integer
from verl_ext.rewards.equivalence import answer_key, cluster_groups
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
    counts = dict.fromkeys(COUNTERS, 0)
    for clusters in cluster_groups(groups, threads=threads):
        majority_rewards(clusters)
        semantic_frequency_rewards(clusters)
        for name, field in COUNTERS.items():
            counts[name] += getattr(clusters, field, 0)  # (fields a version may lack: 0)
    seconds = time.perf_counter() - started
    cpu = cpu_end() - cpu_before
    distinct = statistics.mean(len({answer_key(a) for a in g} - {None}) for g in groups)
    return {"seconds": seconds, "cpu": cpu, "distinct": distinct, **counts}


COUNTERS = {
    "checker_calls": "checker_calls",
    "timeouts": "timeouts",
    "check_errors": "check_errors",
    "screened": "screened",
    "fallbacks": "fallback",
}
"""Figure name -> ``AnswerClusters`` field, summed over a step's groups."""


def restart_checker(threads: int | None) -> None:
    """Stop the checker's children and start as many fresh ones (empty caches), outside any timing."""
    for caller in equivalence._callers.values():
        caller.close()
    equivalence._callers.clear()
    count = threads or default_pool_size()
    cluster_groups([["\\frac{1}{2}", "0.5"]] * count, threads=count)  # concurrent groups: each starts its own child


def summary(runs: list[dict]) -> str:
    return (
        f"median {statistics.median(r['seconds'] for r in runs):.3f} s, max {max(r['seconds'] for r in runs):.3f} s "
        f"over {len(runs)} steps; CPU median {statistics.median(r['cpu'] for r in runs):.3f} s; "
        f"distinct/group {statistics.mean(r['distinct'] for r in runs):.2f}, checker calls/step "
        f"{statistics.mean(r['checker_calls'] for r in runs):.0f}, {counters(runs)}"
    )


def counters(runs: list[dict]) -> str:
    return ", ".join(f"{name} {sum(r[name] for r in runs)}" for name in COUNTERS if name != "checker_calls")


# --- single large groups (issue 27) ---------------------------------------------------------------

GROUP_SAMPLES = 64
SYMBOLIC_DISTINCT = (8, 16, 32, 64)
PATHOLOGICAL_DISTINCT = (16, 64)


def symbolic_answers(count: int, offset: int) -> list[str]:
    """``count`` distinct ordinary symbolic answers, none equivalent to another (offset: a fresh set)."""
    return [f"{i}\\sqrt{{{i + 1}}} + \\frac{{\\pi}}{{{i + 2}}}" for i in range(offset + 1, offset + 1 + count)]


def pathological_answers(count: int, offset: int) -> list[str]:
    """``count`` distinct answers whose value no checker can afford, in three kinds taken in turn."""
    kinds = (
        lambda k: f"{k}^{{{k}^{{{k}^{{{k}}}}}}}",  # a tower: 7^(7^(7^7))
        lambda k: f"\\operatorname{{floor}}(\\exp(10^{{{k + 8}}}))",  # the integer part of e^(10^15)
        lambda k: f"\\lfloor e^{{10^{{{k + 8}}}}} \\rfloor",  # the same in LaTeX's floor brackets
    )
    return [kinds[j % 3](7 + offset + j) for j in range(count)]


def fill(distinct: list[str], samples: int = GROUP_SAMPLES) -> list[str | None]:
    return [distinct[s % len(distinct)] for s in range(samples)]


def mixed_group(offset: int) -> list[str | None]:
    halves = ["\\frac{1}{2}", "0.5", "\\frac{2}{4}", "\\dfrac{1}{2}"] * 8
    group = pathological_answers(16, offset) + symbolic_answers(16, offset) + halves
    random.Random(offset).shuffle(group)
    return group


def single_group(name: str, offset: int) -> list[str | None]:
    """The group of scenario ``name`` ("symbolic D", "pathological D", "mix"), with answers new for ``offset``."""
    kind, _, distinct = name.partition(" ")
    if kind == "symbolic":
        return fill(symbolic_answers(int(distinct), offset))
    if kind == "pathological":
        return fill(pathological_answers(int(distinct), offset))
    if kind == "mix":
        return mixed_group(offset)
    raise SystemExit(f"unknown scenario {name!r}")


GROUP_SCENARIOS = (
    [f"symbolic {d}" for d in SYMBOLIC_DISTINCT] + [f"pathological {d}" for d in PATHOLOGICAL_DISTINCT] + ["mix"]
)
STEP_SCENARIO = "step 128 x 64"
"""A training step of release-like answers, run cold in a fresh process too."""
COLD_OFFSET, WARM_UP_OFFSET, WARM_OFFSET = 0, 1000, 2000


def run_scenario(name: str, release: Path | None, seed: int, threads: int | None) -> dict:
    """One scenario's group stage in this process (a fresh one when called from ``--scenario``)."""
    if name == STEP_SCENARIO:
        pools, _ = release_answer_pools(release)
        return group_stage(draw_step(pools, 128, 64, random.Random(seed)), threads)
    return group_stage([single_group(name, COLD_OFFSET)], threads)


def cold(name: str, args: argparse.Namespace) -> dict:
    """``name`` run by a fresh process: its figures, and the process's wall time from spawn to exit."""
    command = [sys.executable, __file__, "--scenario", name, "--seed", str(args.seed)]
    command += ["--release", str(args.release)] if args.release else []
    command += ["--threads", str(args.threads)] if args.threads else []
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {**figures, "process": time.perf_counter() - started}


def warm_group(name: str, threads: int | None) -> dict:
    group_stage([single_group(name, WARM_UP_OFFSET)], threads)  # children started by a group of the same shape
    return group_stage([single_group(name, WARM_OFFSET)], threads)


def figures(run: dict) -> str:
    return f"{run['seconds']:.2f} s, CPU {run['cpu']:.2f} s, checker calls {run['checker_calls']}, {counters([run])}"


def single_groups(args: argparse.Namespace) -> None:
    print(f"single groups of {GROUP_SAMPLES} samples; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for name in GROUP_SCENARIOS:
        first = cold(name, args)
        print(f"{name}: cold {figures(first)} (fresh process, spawn to exit: {first['process']:.2f} s)")
        print(f"{name}: warm {figures(warm_group(name, args.threads))}")
    first = cold(STEP_SCENARIO, args)
    print(f"{STEP_SCENARIO}, release answers: cold {figures(first)} (spawn to exit: {first['process']:.2f} s)")


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
    parser.add_argument("--only", choices=["groups", "steps"], help="single large groups only, or training steps only")
    parser.add_argument("--scenario", help=argparse.SUPPRESS)  # one cold run, in the fresh process cold() starts
    args = parser.parse_args()
    if args.scenario:
        print(json.dumps(run_scenario(args.scenario, args.release, args.seed, args.threads)))
        return
    if args.only != "steps":
        single_groups(args)
    if args.only == "groups":
        return

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
                    f"{head}: cold {cold['seconds']:.3f} s, CPU {cold['cpu']:.3f} s "
                    "(checker children start; every answer new)"
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
