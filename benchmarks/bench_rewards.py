"""Reward throughput on the paper's real outputs, cold and warm, against the release's own check; the
worst real response (cold); the format check's bounded path (share of real answers built in its isolated
child, cost per call cold and warm); the worst single response over adversarial families; agreement
with the release's labels. Prints figures, asserts nothing.

    python benchmarks/bench_rewards.py [--release DIR] [--runs N] [--warm-passes N] [--skip-release]

--release: a copy of the paper's release (default: the files carried in release_data/, decompressed).

Cold: a fresh interpreter pinned to one CPU scores each distinct real response once (start-up, i.e.
imports and ``warm_up``, is timed apart). Its answer cache starts empty, so only answers repeated by
other responses hit it. Warm: further passes over the same responses in that process (every answer
cached): the per-response cost of extraction, length and bookkeeping. The release's check is the same
normalisation followed by sympy's ``parse_expr`` (which evals; safe here on the release's fixed
outputs), cold in its own fresh interpreter. Each row is the best of ``--runs`` fresh interpreters
(other processes only ever slow a run down). Throughput is printed per wall second and per CPU second:
on a loaded machine the CPU figure is the one to compare (the load average is printed). CPU figures
include the bounded path's child process (the scheduler's nanoseconds, /proc/PID/task/*/schedstat).
Correctness is excluded (no ground truth passed), as in training where it is only monitored.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from cpu_clock import cpu_end, cpu_start

from data_prep.carried import release_folder

PRESETS = ("format_length", "format", "length", "random")
MAX_RESPONSE = 3072
ROLLOUTS_PER_PROMPT, DISTINCT_ANSWERS_PER_PROMPT = 8, 2.4  # GRPO groups on the release's outputs (issue 10)

ADVERSARIAL = {
    "power tower 9^9^9^9": "\\boxed{9^{9^{9^{9}}}}",
    "9**9**9": "\\boxed{9**9**9}",
    "10**10**10": "\\boxed{10**10**10}",
    "2**2**2**2**2**2": "\\boxed{2**2**2**2**2**2}",
    "7**7**7": "\\boxed{7**7**7}",
    "10^{10^{100}}": "\\boxed{10^{10^{100}}}",
    "1e999999999": "\\boxed{1e999999999}",
    "1.5 x 10^99999999": "\\boxed{1.5 \\times 10^{99999999}}",
    "(2x)^{10^{100}}": "\\boxed{(2x)^{10^{100}}}",
    "sqrt(10^1000+1)": "\\boxed{\\sqrt{10^{1000}+1}}",
    "1/tan(pi/240)": "\\boxed{\\frac{1}{\\tan(\\frac{\\pi}{240})}}",
    "radical identity <": "\\boxed{\\sqrt{2}+\\sqrt{3} < \\sqrt{5+2\\sqrt{6}}}",
    "cos(pi/15) answer": "\\boxed{-\\frac{\\cos \\left( \\frac{\\pi}{15} \\right)}{8}}",
    "braces nested 5000 deep": "\\boxed{" + "{" * 5000 + "5" + "}" * 5000 + "}",
    "1 MB response": "word " * 200_000 + "\\boxed{5}",
    "200 kB answer": "\\boxed{" + "1+" * 100_000 + "1}",
    "long sum (999 chars)": "\\boxed{" + "1+" * 499 + "1}",
    "sum of 200 terms (399 chars)": "\\boxed{" + "x+" * 199 + "x}",
    "tuple of 250 numbers": "\\boxed{" + "1," * 249 + "1}",
    "100 repeating decimals": "\\boxed{" + "0.[3]" * 100 + "}",
    "60 factorials": "\\boxed{" + "x!" * 60 + "}",
    "16 square roots": "\\boxed{" + "+".join(f"\\sqrt{{{n}}}" for n in range(2, 18)) + "}",
    "1000000!": "\\boxed{1000000!}",
    "binomial(10^7, 5*10^6)": "\\boxed{\\binom{10^7}{5 \\cdot 10^6}}",
    "prod_{i=1}^{10^9}": "\\boxed{\\prod_{i=1}^{10^{9}} i}",
    "open('x','w')": "\\boxed{open('x.txt','w').write('x')}",
    "__import__('os')": "\\boxed{__import__('os').system('true')}",
    "unclosed \\boxed{": "so \\boxed{5",
    "lone surrogate": "\\boxed{\ud800\udfff}",
    # issue 19: integer parts, orderings and signs of huge transcendental values
    "floor(exp(10^15))": "\\boxed{floor(exp(10^{15}))}",
    "frac(exp(10^12))": "\\boxed{frac(exp(10^{12}))}",
    "exp(10^15) > 3": "\\boxed{exp(10^15) > 3}",
    "sign(sin(exp(10^15)))": "\\boxed{sign(\\sin(\\exp(10^{15})))}",
    "floor(exp(200)) (in bound)": "\\boxed{floor(exp(200))}",
    "floor(exp(690) sin(1))": "\\boxed{floor(exp(690) \\sin(1))}",
    "floor(sqrt(10^200+1)) (slow)": "\\boxed{floor(\\sqrt{" + str(10**200 + 1) + "})}",
}


def load_outputs(release: Path) -> list[dict]:
    items = []
    for path in sorted((release / "outputs").glob("*/*/res*_*.json")):
        items.extend(json.loads(path.read_text(encoding="utf-8")))
    return items


def distinct_responses(release: Path) -> list[tuple[str, int]]:
    """Each distinct real response with a token count, once, in file order."""
    seen: dict[str, int] = {}
    for item in load_outputs(release):
        if item.get("response_token_len") not in (None, "") and item["response"] not in seen:
            seen[item["response"]] = int(item["response_token_len"])
    return list(seen.items())


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"CPU {core}"
    return "not pinned (no sched_setaffinity)"


def _timed_pass(score, responses: list[tuple[str, int]]) -> tuple[float, float]:
    cpu, wall = cpu_start(), time.perf_counter()
    for response, tokens in responses:
        score(response, tokens)
    wall = time.perf_counter() - wall
    return wall, cpu_end() - cpu


def _ready_bounded_path() -> None:
    """Start the bounded path's child and wait for it (start-up cost, not an answer's; ``warm_up`` does not start
    it)."""
    from verl_ext.rewards.format import bounded_caller

    bounded_caller().call("x")


def child(kind: str, release: Path, warm_passes: int) -> dict:
    """Runs in a fresh interpreter: start-up, one cold pass, ``warm_passes`` warm passes."""
    pinned = pin_to_one_core()
    responses = distinct_responses(release)
    start = time.perf_counter()
    if kind == "release":
        from sympy.parsing import sympy_parser

        from verl_ext.rewards.answer import extract_answer
        from verl_ext.rewards.format import _SINGLE_EQUALS, normalize_answer

        transformations = sympy_parser.standard_transformations + (sympy_parser.implicit_multiplication_application,)

        def score(response: str, tokens: int) -> None:
            answer = extract_answer(response)
            if answer:
                try:
                    text = _SINGLE_EQUALS.sub("==", normalize_answer(answer)).replace("^", "**")
                    sympy_parser.parse_expr(text, transformations=transformations)
                except Exception:
                    pass

        score("\\boxed{\\frac{1}{2}+x^2}", 10)  # imports, as warm_up does for ours
    else:
        from verl_ext.core import score_response
        from verl_ext.rewards.format import warm_up

        warm_up()
        _ready_bounded_path()
        rng = random.Random(0)

        def score(response: str, tokens: int) -> None:
            score_response(kind, response, response_tokens=tokens, max_response_tokens=MAX_RESPONSE, rng=rng)

    startup = time.perf_counter() - start
    cold = _timed_pass(score, responses)
    warm = [_timed_pass(score, responses) for _ in range(warm_passes if kind != "release" else 0)]
    best_warm = min(warm, key=lambda pair: pair[1]) if warm else (float("nan"), float("nan"))
    return {"pinned": pinned, "n": len(responses), "startup_s": startup, "cold": cold, "warm": best_warm}


def run_child(kind: str, release: Path, warm_passes: int, runs: int) -> dict:
    """The best of ``runs`` fresh interpreters (fastest cold CPU time; fastest warm CPU time)."""
    results = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, __file__, "--child", kind, "--release", str(release), "--warm-passes", str(warm_passes)],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    best = min(results, key=lambda r: r["cold"][1])
    best["warm"] = min((r["warm"] for r in results), key=lambda pair: pair[1])
    return best


def agreement(release: Path) -> tuple[int, int, int, int]:
    """(format decisions equal, labelled, format_length scores equal, with token counts) vs the release's labels."""
    from verl_ext.core import score_response

    outputs, files = release / "outputs", {}
    same_format = same_score = labelled = scored = 0
    for line in (outputs / "reference_labels.jsonl").read_text(encoding="utf-8").splitlines():
        label = json.loads(line)
        key = (label["run"], label["step"], label["bench"])
        if key not in files:
            (path,) = (outputs / label["run"] / str(label["step"])).glob(f"res*_{label['bench']}.json")
            files[key] = json.loads(path.read_text(encoding="utf-8"))
        item = files[key][label["idx"]]
        labelled += 1
        same_format += score_response("format", item["response"]).signals.format == label["format"]
        if label["length_reward"] is not None:
            scored += 1
            ours = score_response(
                "format_length",
                item["response"],
                response_tokens=int(item["response_token_len"]),
                max_response_tokens=MAX_RESPONSE,
            ).score
            same_score += abs(ours - label["format_length"]) <= 1e-9
    return same_format, labelled, same_score, scored


def worst_cases() -> list[tuple[str, float, float, float]]:
    """(name, CPU ms, F, budget exceeded) of each adversarial response, answer cache cleared."""
    from verl_ext.core import score_response
    from verl_ext.rewards import format as format_module

    format_module.warm_up()
    _ready_bounded_path()
    rows = []
    for name, response in ADVERSARIAL.items():
        format_module._check_answer.cache_clear()
        start, wall = cpu_start(), time.perf_counter()
        scored = score_response("format_length", response, response_tokens=100, max_response_tokens=MAX_RESPONSE)
        wall = (time.perf_counter() - wall) * 1000
        elapsed = (cpu_end() - start) * 1000
        rows.append((name, elapsed, wall, scored.signals.format, float(scored.signals.format_budget_exceeded)))
    return rows


def worst_real(release: Path) -> dict:
    """Runs in a fresh interpreter: each distinct real response scored once (format_length, cold: its
    answer is new to the process), timed alone; the costliest by wall time and by CPU (children included)."""
    pin_to_one_core()
    from verl_ext.core import score_response
    from verl_ext.rewards.format import warm_up

    warm_up()
    _ready_bounded_path()
    worst = {"wall_ms": 0.0, "cpu_ms": 0.0, "wall_answer": "", "cpu_answer": ""}
    for response, tokens in distinct_responses(release):
        cpu, wall = cpu_start(), time.perf_counter()
        scored = score_response("format_length", response, response_tokens=tokens, max_response_tokens=MAX_RESPONSE)
        wall = (time.perf_counter() - wall) * 1000
        cpu = (cpu_end() - cpu) * 1000
        if wall > worst["wall_ms"]:
            worst.update(wall_ms=wall, wall_answer=scored.signals.pred or "")
        if cpu > worst["cpu_ms"]:
            worst.update(cpu_ms=cpu, cpu_answer=scored.signals.pred or "")
    return worst


def bounded_path(release: Path, repeats: int = 20) -> dict:
    """Which distinct real answers the format check builds in its isolated child, and what a call costs:
    cold (the answer's first call in a freshly started child) and warm (repeats), wall time of the call
    and CPU of both processes; the same texts built in this process for comparison."""
    from verl_ext.rewards import format as format_module
    from verl_ext.rewards.answer import extract_answer
    from verl_ext.rewards.isolation import IsolatedCaller

    format_module.warm_up()
    responses = distinct_responses(release)
    answers: dict[str, int] = {}
    for response, _ in responses:
        answer = extract_answer(response)
        answers[answer] = answers.get(answer, 0) + 1
    routed: list[str] = []
    real_builds = format_module._builds_in_child
    format_module._builds_in_child = lambda text: routed.append(text) or real_builds(text)
    bounded_answers = []
    for answer in answers:
        before = len(routed)
        format_module._check_answer.cache_clear()
        format_module.check_answer_format(answer)
        if len(routed) > before:
            bounded_answers.append(answer)
    format_module._builds_in_child = real_builds
    texts = sorted(set(routed))

    def timed(call, text: str) -> tuple[float, float]:
        cpu, wall = cpu_start(), time.perf_counter()
        call(text)
        wall = (time.perf_counter() - wall) * 1000
        return wall, (cpu_end() - cpu) * 1000

    cold, warm, local_cold, local_warm = [], [], [], []
    for text in texts:
        caller = IsolatedCaller(
            f"{format_module.__name__}:build_in_this_process",
            timeout_s=format_module.BOUNDED_CPU_S,
            warm_up_args=("x",),
        )
        caller.call("x")  # started and warmed up: only the answer's own first call is timed
        cold.append(timed(caller.call, text))
        warm.extend(timed(caller.call, text) for _ in range(repeats))
        caller.close()
        local_cold.append(timed(format_module.build_in_this_process, text))
        local_warm.extend(timed(format_module.build_in_this_process, text) for _ in range(repeats))

    def mean(rows: list[tuple[float, float]]) -> tuple[float, float]:
        return (sum(r[0] for r in rows) / len(rows), sum(r[1] for r in rows) / len(rows)) if rows else (0.0, 0.0)

    return {
        "answers": len(answers),
        "bounded_answers": len(bounded_answers),
        "texts": texts,
        "responses": len(responses),
        "bounded_responses": sum(answers[a] for a in bounded_answers),
        "cold": mean(cold),
        "warm": mean(warm),
        "local_cold": mean(local_cold),
        "local_warm": mean(local_warm),
    }


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f}" if seconds == seconds and seconds > 0 else f"{'-':>10}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", type=Path, help="a copy of the release (default: the carried files)")
    parser.add_argument("--runs", type=int, default=3, help="fresh interpreters per row (the best counts)")
    parser.add_argument("--warm-passes", type=int, default=5)
    parser.add_argument("--skip-release", action="store_true", help="do not time the release's check")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "worst":
        print(json.dumps(worst_real(args.release)))
        return 0
    if args.child:
        print(json.dumps(child(args.child, args.release, args.warm_passes)))
        return 0
    with release_folder(args.release) as release:
        return report(args, release)


def report(args: argparse.Namespace, release: Path) -> int:
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (others' work slows wall-clock figures)")
    kinds = PRESETS if args.skip_release else ("release",) + PRESETS
    results = {kind: run_child(kind, release, args.warm_passes, args.runs) for kind in kinds}
    first = results[PRESETS[0]]
    print(
        f"{first['n']} distinct real responses; per row the best of {args.runs} fresh interpreters pinned to "
        f"{first['pinned']}"
    )
    print(f"{'check':<15} {'start-up s':>10} {'cold /s':>10} {'cold /cpu-s':>11} {'warm /s':>10} {'warm /cpu-s':>11}")
    for kind, r in results.items():
        label = "release check" if kind == "release" else kind
        print(
            f"{label:<15} {r['startup_s']:>10.2f} {_rate(r['n'], r['cold'][0])} {_rate(r['n'], r['cold'][1]):>11}"
            f" {_rate(r['n'], r['warm'][0])} {_rate(r['n'], r['warm'][1]):>11}"
        )
    ours = results["format_length"]
    cold_cpu, warm_cpu = ours["n"] / ours["cold"][1], ours["n"] / ours["warm"][1]
    if "release" in results:
        baseline = results["release"]
        print(
            "format_length vs the release's check, cold per CPU second: "
            f"{cold_cpu / (baseline['n'] / baseline['cold'][1]):.1f}x"
        )
    repeat = 1 - DISTINCT_ANSWERS_PER_PROMPT / ROLLOUTS_PER_PROMPT
    step = 1 / ((1 - repeat) / cold_cpu + repeat / warm_cpu)
    print(
        f"a GRPO step ({ROLLOUTS_PER_PROMPT} rollouts per prompt, ~{DISTINCT_ANSWERS_PER_PROMPT} distinct answers): "
        f"{repeat:.0%} of its responses repeat an answer of their group, so it sees about {step:,.0f} responses "
        f"per CPU second (cold for new answers, warm for repeats); answers repeated across steps are warm too"
    )

    same_format, labelled, same_score, scored = agreement(release)
    print(
        f"\nagreement with the release's labels: format {same_format}/{labelled}, format_length {same_score}/{scored}"
    )

    done = subprocess.run(
        [sys.executable, __file__, "--child", "worst", "--release", str(release)],
        capture_output=True,
        text=True,
        check=True,
    )
    worst = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        "\nworst real response, cold (fresh interpreter, each distinct response once): "
        f"{worst['wall_ms']:.2f} ms wall ({worst['wall_answer'][:40]!r}), {worst['cpu_ms']:.2f} ms CPU incl. the child "
        f"({worst['cpu_answer'][:40]!r}); target 50 ms"
    )

    path = bounded_path(release)
    print(
        f"\nbounded path (built in the isolated child under {_bound()} s of CPU): {path['bounded_answers']} of "
        f"{path['answers']} distinct real answers ({path['bounded_answers'] / path['answers']:.1%}), "
        f"{path['bounded_responses']} of {path['responses']} distinct responses "
        f"({path['bounded_responses'] / path['responses']:.1%}); texts: {path['texts']}"
    )
    print(
        f"  per call, wall ms / CPU ms of both processes: cold {path['cold'][0]:.2f} / {path['cold'][1]:.2f},"
        f" warm {path['warm'][0]:.2f} / {path['warm'][1]:.2f}; the same built in-process: cold"
        f" {path['local_cold'][0]:.2f} / {path['local_cold'][1]:.2f},"
        f" warm {path['local_warm'][0]:.2f} / {path['local_warm'][1]:.2f}"
    )

    print("\nadversarial responses, format_length, one each, answer cache cleared (CPU ms incl. the child, wall ms):")
    rows = worst_cases()
    for name, elapsed, wall, fmt, budget in rows:
        print(f"  {name:<30} {elapsed:8.2f} ms CPU {wall:8.2f} ms wall  F={fmt:.0f} budget_exceeded={budget:.0f}")
    print(f"worst adversarial response: {max(r[1] for r in rows):.2f} ms CPU, {max(r[2] for r in rows):.2f} ms wall")


def _bound() -> float:
    from verl_ext.rewards.format import BOUNDED_CPU_S

    return BOUNDED_CPU_S


if __name__ == "__main__":
    sys.exit(main())
