"""Reward throughput per preset on the paper's real outputs (one core), and the worst single-response
time over the adversarial set. Prints figures; asserts nothing.

    python benchmarks/bench_rewards.py [--shared PATH] [--repeat N]

Throughput is measured cold (answer caches cleared before each preset) and warm (a second pass), on
one core: the process pins itself to one CPU where the OS allows. Correctness is excluded from the
surrogate presets' figures (no ground truth passed), as in training where it is only monitored.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

from verl_ext.rewards import format as format_module
from verl_ext.rewards.presets import score_response

ADVERSARIAL = {
    "power tower 9^9^9^9": "\\boxed{9^{9^{9^{9}}}}",
    "10^{10^{100}}": "\\boxed{10^{10^{100}}}",
    "2^2^2^2^2^2": "\\boxed{2^{2^{2^{2^{2^{2}}}}}}",
    "braces nested 5000 deep": "\\boxed{" + "{" * 5000 + "5" + "}" * 5000 + "}",
    "1 MB response": "word " * 200_000 + "\\boxed{5}",
    "200 kB answer": "\\boxed{" + "1+" * 100_000 + "1}",
    "unclosed \\boxed{": "so \\boxed{5",
    "\\boxed 5": "\\boxed 5",
    "\\fbox{5}": "\\fbox{5}",
    "empty box": "\\boxed{}",
    "two boxes": "\\boxed{1} or \\boxed{2}",
    "lone surrogate": "\\boxed{\ud800\udfff}",
    "\\frac{1}{0}": "\\boxed{\\frac{1}{0}}",
    "1000000!": "\\boxed{1000000!}",
    "binomial(10^7, 5*10^6)": "\\boxed{binomial(10^7, 5 \\cdot 10^6)}",
    "factorial(10^6)": "\\boxed{factorial(1000000)}",
    "deep parentheses": "\\boxed{" + "(" * 30 + "1" + ")" * 30 + "}",
    "long sum (1000 chars)": "\\boxed{" + "1+" * 499 + "1}",
}


def load_outputs(shared: Path) -> list[dict]:
    items = []
    for path in sorted((shared / "outputs").glob("*/*/res*_*.json")):
        items.extend(json.loads(path.read_text(encoding="utf-8")))
    return items


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}"
    return "not pinned (no sched_setaffinity)"


def throughput(preset: str, items: list[dict], repeat: int) -> tuple[float, float]:
    format_module._check_answer.cache_clear()
    rng = random.Random(0)

    def one_pass() -> float:
        start = time.perf_counter()
        for item in items:
            score_response(
                preset,
                item["response"],
                response_tokens=int(item["response_token_len"]),
                max_response_tokens=3072,
                rng=rng,
            )
        return len(items) / (time.perf_counter() - start)

    cold = one_pass()
    warm = max(one_pass() for _ in range(repeat))
    return cold, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_shared = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rl-without-gt"
    parser.add_argument("--shared", type=Path, default=default_shared)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    print(pin_to_one_core())
    format_module.warm_up()
    items = [item for item in load_outputs(args.shared) if item.get("response_token_len") not in (None, "")]
    print(f"{len(items)} real outputs with token counts")
    print(f"{'preset':<15} {'cold resp/s':>12} {'warm resp/s':>12}")
    for preset in ("format_length", "format", "length", "random"):
        cold, warm = throughput(preset, items, args.repeat)
        print(f"{preset:<15} {cold:>12,.0f} {warm:>12,.0f}")

    print("\nadversarial set, format_length, one response each (cold cache):")
    worst = 0.0
    for name, response in ADVERSARIAL.items():
        format_module._check_answer.cache_clear()
        start = time.perf_counter()
        scored = score_response("format_length", response, response_tokens=100, max_response_tokens=3072)
        elapsed = (time.perf_counter() - start) * 1000
        worst = max(worst, elapsed)
        info = scored.extra_info()
        print(f"  {name:<26} {elapsed:7.2f} ms  F={info['format']:.0f} timed_out={info['timed_out']:.0f}")
    print(f"worst single response: {worst:.2f} ms")


if __name__ == "__main__":
    main()
