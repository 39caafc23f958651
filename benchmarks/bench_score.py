"""Throughput of `verl-ext score --reward correctness` on the paper's real outputs (1,517 responses).

    python benchmarks/bench_score.py [--release DIR] [--workers 0 1 2] [--repeat N]     # 0: the default choice

--release: a copy of the paper's release (default: the files carried in release_data/, decompressed).

Runs the whole command path (read, score in a process pool, write) once per worker count and prints
responses per second, the agreement with the release's stored verdicts and the machine's load (the
figures are only comparable at equal load: other work on the cores slows every run). Pool start-up
(fresh interpreters, sympy and math-verify imports, the isolated checker's children) is included, as
a user pays it; the steady-state rate, measured after the first 10 % of responses, is printed too.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from data_prep.carried import release_folder
from verl_ext.io.jsonl import write_jsonl
from verl_ext.scoring import ScoreOptions, load_samples, score_samples, scored_record


def run_once(inputs: list[Path], workers: int) -> dict:
    options = ScoreOptions("correctness", workers=workers or None)
    started = time.perf_counter()
    samples, _ = load_samples(inputs)
    marks: list[float] = []

    def rows():
        for sample, scored in zip(samples, score_samples(samples, options, progress=False)):
            marks.append(time.perf_counter())
            yield scored_record(sample, scored, options.reward)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "scored.jsonl"
        write_jsonl(rows(), out)
        total = time.perf_counter() - started
        records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    tenth = len(marks) // 10
    steady = (len(marks) - tenth) / (marks[-1] - marks[tenth]) if marks[-1] > marks[tenth] else float("nan")
    agree = sum(float(r["stored_score"]) == r["score"] for r in records)
    return {
        "workers": f"{options.worker_count(len(samples))}" + (" (default)" if not workers else ""),
        "responses": len(records),
        "seconds": total,
        "per_second": len(records) / total,
        "steady_per_second": steady,
        "agree": agree,
        "timed_out": sum(int(r["timed_out"]) for r in records),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", type=Path, help="a copy of the release (default: the carried files)")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[0, 1, 2], help="process counts; 0 = the default choice"
    )
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with release_folder(args.release) as release:
        return measure(release, args.workers, args.repeat)


def measure(release: Path, worker_counts: list[int], repeat: int) -> int:
    inputs = sorted((release / "outputs").glob("*/*/*.json"))
    if not inputs:
        print(f"no outputs under {release / 'outputs'}", file=sys.stderr)
        return 2
    print(f"{len(inputs)} files; {os.cpu_count()} CPU(s); load average before: {os.getloadavg()[0]:.2f}")
    print(
        "| processes | responses | seconds | responses/s | steady responses/s | agree with stored score | timed out"
        " | load after |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for _ in range(repeat):
        for workers in worker_counts:
            r = run_once(inputs, workers)
            print(
                f"| {r['workers']} | {r['responses']} | {r['seconds']:.1f} | {r['per_second']:.1f} "
                f"| {r['steady_per_second']:.1f} | {r['agree']}/{r['responses']} ({r['agree'] / r['responses']:.2%}) "
                f"| {r['timed_out']} | {os.getloadavg()[0]:.2f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
