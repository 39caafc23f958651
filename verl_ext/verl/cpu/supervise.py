"""``run_grpo.sh scale=cpu`` runs veRL's ``main_ppo`` through this module:

    python -m verl_ext.verl.cpu.supervise --metrics LOG.jsonl --output RUN.log [--total-steps N] [--reward R]
        [--verbose] -- COMMAND...

* Nothing outside the run's folders: run_grpo.sh gives the whole launch a private temporary folder (``TMPDIR`` and
  ``RAY_TMPDIR``: a short folder under the caller's temporary folder, removed when the launch ends), where Ray keeps
  its session folders and veRL its checkpoint locks (``verl.utils.fs.local_mkdir_safe``: ``ckpt_<hash>.lock`` in
  ``tempfile.gettempdir()``). At the end the processes whose command line names that folder (Ray's, should any
  outlive main_ppo) are ended, and after a failed run Ray's own logs are copied beside the run's log
  (``<RUN>.ray-logs/``: the workers' output files), as the folder goes away.
* Ray's token authentication stays on without its notice and without a token file in ``~/.ray``: unless the caller
  chose ``RAY_AUTH_MODE``, the run's local Ray instance gets a fresh random token (``RAY_AUTH_MODE=token``,
  ``RAY_AUTH_TOKEN``; Ray says nothing when the mode is set explicitly).
* The terminal shows a progress view (unless ``--verbose``: then main_ppo's output as it is): a line per training
  step (reward, format rate, length, seconds) and per validation, read from veRL's metrics log as it grows, and the
  lines meant for the user (``progress.message_for_the_user``); main_ppo's whole output (the config veRL prints, its
  metric dictionaries, Ray's and veRL's messages) is appended to ``--output``, named at the start and at the end.
  A failed run shows the end of that output.
* At the end, a run whose every training reward was 0 says so and what it means (``progress.zero_reward_lines``).

Exit status: main_ppo's.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from verl_ext.verl.cpu import progress

PREFIX = "run_grpo.sh: "
POLL_S = 0.5
FAILED_TAIL_LINES = 40


def say(text: str) -> None:
    print(f"{PREFIX}{text}", file=sys.stderr, flush=True)


def child_environment(environ: dict[str, str]) -> dict[str, str]:
    """``environ`` with a token of its own for a local Ray instance whose authentication mode the caller did not
    choose."""
    env = dict(environ)
    if "RAY_AUTH_MODE" not in environ:
        env["RAY_AUTH_MODE"] = "token"
        env["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    return env


class MetricsFollower:
    """Reads the records veRL's file logger appends to ``path`` (one JSON object per line, written whole), as they
    come; a line not yet ended is left for the next read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.pending = b""

    def new_records(self) -> list[tuple[int, dict]]:
        import json

        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        lines = (self.pending + chunk).split(b"\n")
        self.pending = lines.pop()
        records = []
        for line in lines:
            if line.strip():
                try:
                    record = json.loads(line)
                    records.append((int(record["step"]), dict(record["data"])))
                except (ValueError, KeyError, TypeError):
                    continue  # not a file-logger record: the log reader (verl-ext table) names such lines
        return records


def run_with_progress(
    command: Sequence[str], env: dict[str, str], output: Path, metrics: Path, total_steps: int | None, show
) -> int:
    """Run ``command``, its output appended to ``output``, the progress view through ``show``; its exit status."""
    output.parent.mkdir(parents=True, exist_ok=True)
    follower = MetricsFollower(metrics)
    messages: list[str] = []
    lock = threading.Lock()
    with open(output, "a", encoding="utf-8", errors="replace") as log:
        log.write(f"=== run_grpo.sh, {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(command)}\n")
        log.flush()
        process = subprocess.Popen(
            list(command),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
        )

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                log.write(line)
                log.flush()
                message = progress.message_for_the_user(line)
                if message:
                    with lock:
                        messages.append(message)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()

        def show_new() -> None:
            with lock:
                pending, messages[:] = list(messages), []
            for message in pending:
                show(message)
            for step, data in follower.new_records():
                for line in progress.record_lines(step, data, total_steps):
                    show(line)

        try:
            while process.poll() is None:
                time.sleep(POLL_S)
                show_new()
        except KeyboardInterrupt:  # the terminal's Ctrl-C reached main_ppo too: let it stop
            process.wait()
        reader.join()
        show_new()
    return process.returncode


def tail(path: Path, lines: int) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


def ray_log_folders(temp_dir: Path) -> list[Path]:
    """The ``logs`` folders of the Ray sessions under ``temp_dir`` (Ray's ``<temp>/ray/session_<...>/logs``)."""
    return sorted(p for p in (temp_dir / "ray").glob("session_*/logs") if p.is_dir() and not p.is_symlink())


def clean_up(temp_dir: Path | None, status: int, output: Path, say: Callable[[str], None]) -> None:
    """End the processes still naming the launch's temporary folder; after a failure, keep Ray's logs beside
    ``output`` (the launcher removes the folder)."""
    if temp_dir is None or not temp_dir.is_absolute() or not temp_dir.is_dir():
        return  # nothing of the launch's to look for (a relative name could match any process)
    from verl_ext.verl.cpu.launcher import kill_ray_under

    kill_ray_under(temp_dir)
    logs = ray_log_folders(temp_dir)
    if status != 0 and logs:
        keep = output.with_suffix(".ray-logs")
        for folder in logs:
            shutil.copytree(folder, keep / folder.parent.name, dirs_exist_ok=True)
        say(f"Ray's own logs of this failed run: {keep}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m verl_ext.verl.cpu.supervise", description=__doc__.split("\n")[0])
    parser.add_argument("--metrics", type=Path, required=True, help="veRL's file-logger log of the run")
    parser.add_argument("--output", type=Path, required=True, help="main_ppo's whole output is appended here")
    parser.add_argument(
        "--total-steps",
        type=lambda text: int(text) if text else None,
        help="the run's trainer.total_training_steps, for 'step 1/2' (empty: not known)",
    )
    parser.add_argument("--reward", default="the reward", help="REWARD, named when every reward was 0")
    parser.add_argument("--verbose", action="store_true", help="main_ppo's output on the terminal, no progress view")
    parser.add_argument(
        "--temp-dir",
        type=Path,
        help="the launch's private temporary folder: processes naming it are ended at the end, Ray's logs in it kept "
        "after a failure (run_grpo.sh removes it)",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then main_ppo's command line")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command after --")

    env = child_environment(dict(os.environ))
    status = 1
    try:
        if args.verbose:
            status = subprocess.run(command, env=env, check=False).returncode
        else:
            say(f"main_ppo's whole output (veRL's config, its metric dictionaries, Ray's messages): {args.output}")
            say("starting Ray and veRL's workers (a minute or two on 2 cores), then a line per step:")
            status = run_with_progress(command, env, args.output, args.metrics, args.total_steps, print)
            if status != 0:
                say(f"the end of main_ppo's output ({args.output}):")
                print(tail(args.output, FAILED_TAIL_LINES), file=sys.stderr)
            say(f"main_ppo's whole output: {args.output}")
    finally:
        clean_up(args.temp_dir, status, args.output, say)
    if status == 0:
        from verl_ext.io.logs import read_metric_log

        try:
            steps = read_metric_log(args.metrics).steps
        except (OSError, ValueError):
            steps = {}
        for line in progress.zero_reward_lines(steps, args.reward):
            say(line)
    return status


if __name__ == "__main__":
    sys.exit(main())
