"""Seconds per step and peak memory of veRL's trainer on the CPU (``run_grpo.sh scale=cpu``).

    python benchmarks/bench_cpu_trainer.py [--steps 4] [--reward format_length] [--cold] [--self-certainty]

Runs the recipe launcher for real (Ray, FSDP2 actor + reference, the HF rollout, validation at the
last step, a checkpoint at the last step), samples the memory of every process it starts every 0.2 s,
then prints from the run's own file-logger metrics (veRL's ``timing_s/*``):

* per training step: generation (``gen``: the agent loop's rollouts, including the reward managers,
  which score each rollout as it finishes), old log-prob recompute (``old_log_prob``, which includes verl-ext's
  reward stage, ``reward_stage``, and with ``--self-certainty`` the actor's per-token self-certainty and its
  write-back, ``self_certainty_write``), reference log-prob (``ref``), actor update (``update_actor``), weight
  sync (``update_weights``), total (``step``);
* ``reward``: veRL's V1 sync trainer scores inside ``gen`` and logs no separate reward time; the line
  gives the reward managers' own share, measured by scoring the run's validation generations again
  in this process (``trainer.validation_data_dir``), per response;
* wall time of the whole launch (Ray start-up, model build or cache, data, validation, checkpoint);
* peak RSS: of the largest process and of all processes of the run together (sampled maxima).

Step 1 includes one-time warm-up; steps 2+ are the steady state a user sees per step. ``--cold``
builds the tiny model in an empty cache first (as on a fresh machine). Prints the load average: the
figures are only comparable at equal load. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from verl_ext.verl.cpu.launcher import LAUNCHER, REPO, kill_ray_under, launcher_env, ray_temp_dir

DEFAULT_DATA = REPO / "release_data" / "datasets"  # the release's parquet files, carried in the repository
PHASES = (
    "gen",
    "old_log_prob",
    "self_certainty_write",
    "reward_stage",
    "ref",
    "adv",
    "update_actor",
    "update_weights",
    "step",
)


class MemorySampler:
    """Peak RSS of a process tree: the largest single process and the sum over the tree."""

    def __init__(self, root_pid: int, period_s: float = 0.2) -> None:
        self.root = psutil.Process(root_pid)
        self.period_s = period_s
        self.peak_process = 0
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break
            sizes = []
            for process in processes:
                try:
                    sizes.append(process.memory_info().rss)
                except psutil.Error:
                    continue
            if sizes:
                self.peak_process = max(self.peak_process, max(sizes))
                self.peak_total = max(self.peak_total, sum(sizes))
            self._stop.wait(self.period_s)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def run_launcher(
    work: Path, steps: int, reward: str, data_dir: Path, cache: Path | None, overrides: tuple[str, ...] = ()
) -> dict:
    ray_dir = ray_temp_dir("vxb")
    env = launcher_env(data_dir, work, "bench", reward)
    if cache is not None:
        env["VERL_EXT_CACHE"] = str(cache)
    command = [
        "bash",
        str(LAUNCHER),
        "scale=cpu",
        f"trainer.total_training_steps={steps}",
        f"trainer.save_freq={steps}",
        f"trainer.test_freq={steps}",
        f"trainer.validation_data_dir={work / 'validation'}",
        f"+ray_kwargs.ray_init._temp_dir={ray_dir}",
        *overrides,
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with MemorySampler(process.pid) as memory:
            output, _ = process.communicate(timeout=1800)
    finally:
        kill_ray_under(ray_dir)
        shutil.rmtree(ray_dir, ignore_errors=True)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        sys.stderr.write(output[-5000:])
        raise SystemExit(f"the launch failed with exit status {process.returncode}")
    return {"wall_s": wall, "peak_process": memory.peak_process, "peak_total": memory.peak_total}


def step_timings(log: Path) -> dict[int, dict[str, float]]:
    steps: dict[int, dict[str, float]] = {}
    for line in log.read_text().splitlines():
        record = json.loads(line)
        data = record["data"]
        if "timing_s/step" in data:
            steps[record["step"]] = {phase: float(data.get(f"timing_s/{phase}", 0.0)) for phase in PHASES}
    return dict(sorted(steps.items()))


def reward_seconds_per_response(validation_dir: Path, reward: str, max_response_length: int) -> tuple[int, float]:
    """(responses, seconds per response) of the reward preset on the run's validation generations."""
    from verl_ext.core import score_response

    records = [
        json.loads(line) for path in sorted(validation_dir.glob("*.jsonl")) for line in path.read_text().splitlines()
    ]
    if not records:
        return 0, float("nan")
    started = time.perf_counter()
    for record in records:
        score_response(
            reward,
            record["output"],
            response_tokens=int(record.get("response_tokens", max_response_length)),
            max_response_tokens=max_response_length,
            ground_truth=record.get("gts"),
        )
    return len(records), (time.perf_counter() - started) / len(records)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--reward", default="format_length")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cold", action="store_true", help="build the tiny model in an empty cache first")
    parser.add_argument(
        "--self-certainty",
        action="store_true",
        help="the actor also computes per-token self-certainty (trainer.v1.sampler.sampler_kwargs.self_certainty)",
    )
    args = parser.parse_args(argv)
    overrides = ("+trainer.v1.sampler.sampler_kwargs.self_certainty=true",) if args.self_certainty else ()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cache = work / "cache" if args.cold else None
        figures = run_launcher(work, args.steps, args.reward, args.data_dir, cache, overrides)
        timings = step_timings(work / "logs" / "format_length" / "bench.jsonl")
        responses, reward_s = reward_seconds_per_response(work / "validation", args.reward, 24)
    load_after = os.getloadavg()
    cache_state = "cold" if args.cold else "warm"
    flag = ", per-token self-certainty on" if args.self_certainty else ""
    print(f"run_grpo.sh scale=cpu, {args.steps} steps, REWARD={args.reward}, {cache_state} model cache{flag}")
    print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f} on {os.cpu_count()} cores")
    print("step  " + "  ".join(f"{phase:>14}" for phase in PHASES))
    for step, values in timings.items():
        print(f"{step:>4}  " + "  ".join(f"{values[phase]:>14.2f}" for phase in PHASES))
    steady = [values for step, values in timings.items() if step > 1]
    if steady:
        print("mean of steps 2+ (s): " + ", ".join(f"{p} {statistics.mean(v[p] for v in steady):.2f}" for p in PHASES))
    print(f"reward (inside gen): {reward_s * 1e3:.2f} ms per response over {responses} validation responses")
    print(f"wall time of the launch: {figures['wall_s']:.1f} s")
    print(
        f"peak RSS: largest process {figures['peak_process'] / 2**20:.0f} MiB, "
        f"all processes together {figures['peak_total'] / 2**20:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
