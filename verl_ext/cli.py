"""``verl-ext``: the command line. Thin: parse arguments, call the library, print.

Each subcommand is one ``add_<name>_parser(subparsers)`` function that registers its arguments and
its handler (``set_defaults(handler=...)``); a handler takes the parsed arguments and returns the
exit status. Adding a subcommand = one such function + one line in ``SUBCOMMANDS``.

Exit status: 0 success, 1 a run that failed (scoring stalled or crashed), 2 bad input or arguments.
``-o`` follows one rule in every subcommand (``verl_ext.io.output``): exactly that file, missing folders
created, ``wrote PATH`` on stderr; a directory, a path under a file or an input file is refused before any work.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from verl_ext import __version__
from verl_ext.demo.cli import add_demo_parser

PROG = "verl-ext"


class Parser(argparse.ArgumentParser):
    """argparse's parser, but an unknown choice (a preset, a student, a command) is one line with the closest known
    names, not the usage block: ``verl-ext score: error: argument --reward: unknown choice 'majorty': did you mean
    'majority'? (known: ...)``. Subcommand parsers are made of the same class (argparse's default for subparsers)."""

    def _check_value(self, action: argparse.Action, value: object) -> None:
        # argparse's own check, the one place that sees the value and its choices (a private hook of argparse,
        # unchanged in Python 3.10-3.13; tests/test_names.py fails if it stops being called).
        if action.choices is None or value in action.choices:
            return
        from verl_ext.names import unknown_name_message

        where = "/".join(action.option_strings) or action.metavar or action.dest
        message = unknown_name_message("choice", str(value), [str(choice) for choice in action.choices])
        self.exit(2, f"{self.prog}: error: argument {where}: {message}\n")


OUTPUT_RULE = (
    "writes exactly this file (creating missing folders) and says so on stderr; refused for a directory or an "
    "input file"
)


def _say_wrote(path: str | Path) -> None:
    print(f"wrote {path}", file=sys.stderr)


def _check_output(output: str | None, inputs: Sequence[str], example_name: str) -> None:
    """Refuse a bad ``-o`` before any work (the rule of ``verl_ext.io.output``); no ``-o``: nothing to check."""
    from verl_ext.io.output import check_output_path

    if output:
        check_output_path(output, inputs, example_name)


def _write_text(text: str, output: str | None, inputs: Sequence[str], example_name: str) -> None:
    """``text`` to stdout, or to the file ``output`` under the ``-o`` rule of ``verl_ext.io.output``."""
    from verl_ext.io.output import prepare_output_path

    if not output:
        print(text, end="" if text.endswith("\n") else "\n")
        return
    path = prepare_output_path(output, inputs, example_name)
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    _say_wrote(path)


def _log_names(args: argparse.Namespace) -> list[str | None]:
    names = args.name or []
    if names and len(names) != len(args.logs):
        raise ValueError(f"--name given {len(names)} times for {len(args.logs)} logs: give one per log, in order")
    return list(names) or [None] * len(args.logs)


def _read_logs(args: argparse.Namespace):
    from verl_ext.io.logs import read_metric_log

    return [read_metric_log(path, name) for path, name in zip(args.logs, _log_names(args), strict=True)]


def _add_output_format(parser: argparse.ArgumentParser, csv: bool = True) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    if csv:
        group.add_argument("--csv", action="store_true", help="print CSV instead of a Markdown table")


# --- score ---------------------------------------------------------------------------------------


def add_score_parser(subparsers: argparse._SubParsersAction) -> None:
    from verl_ext.rewards.registry import preset_names
    from verl_ext.scoring import DEFAULT_MAX_RESPONSE_LENGTH, DEFAULT_TIMEOUT_S

    parser = subparsers.add_parser(
        "score",
        help="score generations offline with a reward preset",
        description="Score generation files (veRL validation/rollout dumps, JSON/JSONL/parquet with response and "
        "ground_truth, generation lists) and write every record back with pred, format, length_reward, "
        "correct (with a ground truth) and score.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help=".jsonl, .json or .parquet files")
    parser.add_argument(
        "-o", "--output", required=True, metavar="OUT.jsonl", help=f"scored records (JSONL): {OUTPUT_RULE}"
    )
    parser.add_argument(
        "--reward",
        required=True,
        choices=preset_names(),
        help="reward preset (the registry's, "
        "verl_ext/rewards/registry.py; random is the control: 1 or 0 with probability 1/2, see --seed)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the random preset's draws: record i of the inputs always "
        "gets the same score for one seed, whatever --workers (default 0)",
    )
    parser.add_argument(
        "--max-response-length",
        type=int,
        default=DEFAULT_MAX_RESPONSE_LENGTH,
        metavar="TOKENS",
        help=f"token budget of the length reward and of truncation (default {DEFAULT_MAX_RESPONSE_LENGTH})",
    )
    parser.add_argument("--peak", type=float, default=0.5, help="peak of the length curve, in (0, 1) (default 0.5)")
    parser.add_argument(
        "--tail-fraction",
        type=float,
        default=1.0,
        metavar="F",
        help="token-level rewards read the last ceil(F x T) of a response's T tokens, F in (0, 1] (default 1: all; "
        "RENT's best for token_entropy: 1/3)",
    )
    parser.add_argument(
        "--min-share",
        type=float,
        default=0.25,
        metavar="S",
        help="semantic_frequency: a group whose largest answer cluster holds under S of it scores 0 (default 0.25, "
        "EMPO's)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="scoring processes (default: every core, one per 1000 responses at most)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"bound of one correctness check; an item over it scores 0 and is counted (default {DEFAULT_TIMEOUT_S})",
    )
    parser.add_argument(
        "--tokenizer", metavar="PATH", help="count the tokens of responses whose record has no token count"
    )
    parser.add_argument("--data-source", metavar="NAME", help="data_source of records that have none")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    parser.set_defaults(handler=run_score)


def run_score(args: argparse.Namespace) -> int:
    from verl_ext.scoring import ScoreOptions, score_files

    options = ScoreOptions(
        args.reward,
        args.max_response_length,
        args.peak,
        args.timeout,
        args.workers,
        seed=args.seed,
        tail_fraction=args.tail_fraction,
        min_share=args.min_share,
    )
    summary = score_files(
        args.inputs,
        args.output,
        options,
        tokenizer=args.tokenizer,
        data_source=args.data_source,
        progress=not (args.quiet or args.no_progress),
    )
    if not args.quiet:
        lines = [
            f"scored {summary.rows} responses from {summary.files} file(s) in {summary.seconds:.1f} s "
            f"({summary.per_second:.1f}/s, {summary.workers} process(es))"
        ]
        if summary.tokens_counted:
            lines.append(f"counted the tokens of {summary.tokens_counted} responses with {args.tokenizer}")
        if summary.with_ground_truth:
            share = summary.correct / summary.with_ground_truth
            lines.append(f"correct: {summary.correct}/{summary.with_ground_truth} ({share:.3f})")
        if summary.timed_out or summary.correct_errors:
            lines.append(
                f"warning: {summary.timed_out} check(s) stopped by their time bound, "
                f"{summary.correct_errors} correctness check(s) failed (scored 0; see timed_out / correct_error in "
                "the output)"
            )
        if summary.answer_fallbacks:
            lines.append(
                "warning: the answer-equivalence checker could not start for "
                f"{summary.answer_fallbacks} sample(s): their groups were clustered by normalised string equality "
                "(answer_fallback = 1 in the output)"
            )
        print("\n".join(lines), file=sys.stderr)
        _say_wrote(args.output)
    return 0


# --- metrics -------------------------------------------------------------------------------------


def add_metrics_parser(subparsers: argparse._SubParsersAction) -> None:
    from verl_ext.eval.metrics import DEFAULT_BOOTSTRAP, DEFAULT_CONFIDENCE

    parser = subparsers.add_parser(
        "metrics",
        help="accuracy, mean@k, pass@k, maj@k with bootstrap CIs, format rate, lengths",
        description="Metrics of `verl-ext score` outputs, per data_source (and step, input file, scored file when "
        "they vary): accuracy (mean@k), unbiased pass@k and maj@k for k samples per problem, with bootstrap "
        "confidence intervals over problems; format rate, mean score, response tokens, truncation rate.",
    )
    parser.add_argument(
        "scored",
        nargs="+",
        metavar="SCORED",
        help="files written by `verl-ext score` (JSONL; a JSON list or parquet of scored records is read too)",
    )
    parser.add_argument("--k", type=int, nargs="+", default=[], metavar="K", help="also report pass@K for these K")
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=DEFAULT_BOOTSTRAP,
        metavar="N",
        help=f"bootstrap resamples (default {DEFAULT_BOOTSTRAP})",
    )
    parser.add_argument(
        "--confidence", type=float, default=DEFAULT_CONFIDENCE, help=f"CI level (default {DEFAULT_CONFIDENCE})"
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("-o", "--output", metavar="FILE", help=f"write to FILE instead of stdout: {OUTPUT_RULE}")
    _add_output_format(parser)
    parser.set_defaults(handler=run_metrics)


def run_metrics(args: argparse.Namespace) -> int:
    from verl_ext.eval.metrics import compute_metrics, to_markdown, to_payload
    from verl_ext.eval.render import to_csv, to_json
    from verl_ext.io.scored import read_scored

    if any(k < 1 for k in args.k):
        raise ValueError(f"--k values must be >= 1, got {args.k}")
    if args.bootstrap < 1:
        raise ValueError(f"--bootstrap must be >= 1 (resamples per confidence interval), got {args.bootstrap}")
    if not 0.0 < args.confidence < 1.0:
        raise ValueError(f"--confidence must lie strictly between 0 and 1, got {args.confidence}")
    _check_output(args.output, args.scored, "metrics.md")
    report = compute_metrics(
        {path: read_scored(path) for path in args.scored}, args.k, args.bootstrap, args.confidence, args.seed
    )
    if args.json:
        text = to_json(to_payload(report))
    elif args.csv:
        text = to_csv(report.rows)
    else:
        text = to_markdown(report)
    _write_text(text, args.output, args.scored, "metrics.md")
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


# --- table ---------------------------------------------------------------------------------------


def _add_log_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "logs", nargs="+", metavar="LOG", help="veRL file-logger JSONL or a JSON list of per-step dicts"
    )
    parser.add_argument(
        "--benchmarks", nargs="+", metavar="B", help="benchmarks, in column order (default: those every log has)"
    )
    parser.add_argument("--max-step", type=int, metavar="N", help="only steps <= N")
    parser.add_argument(
        "--name",
        action="append",
        metavar="NAME",
        help="run name, once per LOG in order (default: train set and reward read from the file "
        "name, as in correctness (DeepScaleR-17k), for the release's and the recipe's runs; else the file stem)",
    )


def add_table_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "table",
        help="the paper's table: best validation step per run",
        description="For each run, the validation step with the best mean accuracy over the benchmarks (earliest on "
        "ties) and its per-benchmark accuracies. Accuracy metric: val-*/<bench>/acc/mean@N, else .../correct/mean@N, "
        "else val/test_score/<bench>, else .../reward/mean@N or .../score/mean@N.",
    )
    _add_log_arguments(parser)
    parser.add_argument("-o", "--output", metavar="FILE", help=f"write to FILE instead of stdout: {OUTPUT_RULE}")
    _add_output_format(parser)
    parser.set_defaults(handler=run_table)


def run_table(args: argparse.Namespace) -> int:
    from verl_ext.eval.render import to_csv, to_json
    from verl_ext.eval.table import build_table, to_markdown

    _check_output(args.output, args.logs, "table.md")
    benchmarks, rows = build_table(_read_logs(args), args.benchmarks, args.max_step)
    if args.json:
        text = to_json({"benchmarks": benchmarks, "max_step": args.max_step, "rows": [row.as_dict() for row in rows]})
    elif args.csv:
        sources = [{"run": r.run, "run_code": r.run_code, "log": r.log, "step": r.step} for r in rows]
        text = to_csv(
            [{**source, **r.accuracies, "average": r.average} for source, r in zip(sources, rows, strict=True)]
        )
    else:
        text = to_markdown(benchmarks, rows)
    _write_text(text, args.output, args.logs, "table.md")
    return 0


# --- plot ----------------------------------------------------------------------------------------


def add_plot_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plot",
        help="the paper's curves: accuracy, training reward, response length, format rates per step",
        description="One figure, one line per run, with a panel (when logged) per benchmark's validation accuracy, "
        "the training reward, the training format rate, the mean response length and the validation format rate; "
        "accuracies and rates on a fixed 0-1 axis, lengths from 0; a latent accuracy, when logged, dashed beside the "
        "boxed one. Runs named as in `table`; one colour per reward and a line style per train set.",
    )
    _add_log_arguments(parser)
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FIG.png",
        help=f"image file, format from the suffix (.png, .pdf, .svg, ...; PNG without one): {OUTPUT_RULE}",
    )
    parser.add_argument(
        "--title", help="figure title (default: the run's name, or the number of runs and the colour key)"
    )
    parser.set_defaults(handler=run_plot)


def run_plot(args: argparse.Namespace) -> int:
    from verl_ext.eval.plot import plot_runs

    _check_output(args.output, args.logs, "curves.png")
    path = plot_runs(_read_logs(args), args.output, args.benchmarks, args.max_step, args.title)
    _say_wrote(path)
    return 0


# --- collapse (the collapse step; logic in verl_ext/eval/collapse_step.py) -----------------------


def add_collapse_parser(subparsers: argparse._SubParsersAction) -> None:
    from verl_ext.eval import collapse_step as cs

    parser = subparsers.add_parser(
        "collapse",
        help="the collapse step per run: after it the training reward keeps rising while held-out accuracy falls",
        description="For each run: c = the last evaluation whose held-out accuracy is within --tolerance of its "
        "peak; c is the collapse step when at least --min-after evaluations follow it, the run ends at least "
        "--min-drop below the peak, and the training reward's mean after c is at least its mean over as many steps "
        "up to c. Otherwise 'none', with the reason. Held-out accuracy: --accuracy-metric, else the mean over "
        "--benchmarks of the accuracy metric `table` uses; training reward: --reward-metric, else "
        f"{' or '.join(cs.REWARD_METRICS)}. Where {cs.REWARD_ACCURACY_METRIC} is logged, also URLVR's Model "
        "Collapse Step (the first step with reward accuracy under --mcs-threshold).",
    )
    _add_log_arguments(parser)
    parser.add_argument("--accuracy-metric", metavar="METRIC", help="held-out accuracy: this logged metric")
    parser.add_argument("--reward-metric", metavar="METRIC", help="training reward: this logged metric")
    parser.add_argument("--tolerance", type=float, default=cs.DEFAULT_TOLERANCE, help="default %(default)s")
    parser.add_argument("--min-drop", type=float, default=cs.DEFAULT_MIN_DROP, help="default %(default)s")
    parser.add_argument("--min-after", type=int, default=cs.DEFAULT_MIN_AFTER, help="default %(default)s")
    parser.add_argument("--mcs-threshold", type=float, default=cs.URLVR_THRESHOLD, help="default %(default)s")
    parser.add_argument("-o", "--output", metavar="FILE", help=f"write to FILE instead of stdout: {OUTPUT_RULE}")
    _add_output_format(parser, csv=False)
    parser.set_defaults(handler=run_collapse)


def run_collapse(args: argparse.Namespace) -> int:
    from verl_ext.eval import collapse_step as cs
    from verl_ext.eval.render import to_json

    _check_output(args.output, args.logs, "collapse.md")
    options = dict(tolerance=args.tolerance, min_drop=args.min_drop, min_after=args.min_after)
    rows = cs.collapse_rows(
        _read_logs(args),
        benchmarks=args.benchmarks,
        accuracy_metric=args.accuracy_metric,
        reward_metric=args.reward_metric,
        max_step=args.max_step,
        mcs_threshold=args.mcs_threshold,
        **options,
    )
    text = to_json({**options, "rows": [r.as_dict() for r in rows]}) if args.json else cs.to_markdown(rows)
    _write_text(text, args.output, args.logs, "collapse.md")
    return 0


# --- doctor --------------------------------------------------------------------------------------


def add_doctor_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check this node for the recipe's GPU run: driver, CUDA, GPUs, installs, memory, disk, model",
        description="Reports the NVIDIA driver, the CUDA torch was built with, the GPUs, the torch, vLLM, "
        "flash-attn, transformers, veRL and verl-ext installs against their pins, and for the run that "
        "run_grpo.sh would launch with these overrides and this environment (MODEL_PATH, CKPT_DIR, NNODES, "
        "GPUS_PER_NODE): GPU count and memory, /dev/shm, disk at CKPT_DIR, the model, a running Ray cluster; "
        "each with its fix when wrong. On a machine without an NVIDIA GPU the GPU checks are skipped and named. "
        "Exit 1 if anything is wrong.",
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="run_grpo.sh's Hydra overrides, e.g. scale=smoke"
    )
    parser.add_argument("--nccl", action="store_true", help="also all-reduce across the visible GPUs with NCCL")
    parser.set_defaults(handler=_run_doctor)


def _run_doctor(args: argparse.Namespace) -> int:
    from verl_ext.doctor import report, run_checks

    text, status = report(run_checks(overrides=args.overrides, nccl=args.nccl))
    print(text)
    return status


# --- entry point ---------------------------------------------------------------------------------

SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    add_score_parser,
    add_metrics_parser,
    add_table_parser,
    add_plot_parser,
    add_collapse_parser,
    add_demo_parser,
    add_doctor_parser,
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description="verl-ext: label-free RL rewards for math, and their evaluation.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from verl_ext.eval.table import TableError
    from verl_ext.io.errors import InputError
    from verl_ext.scoring import ScoringError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except BrokenPipeError:  # the reader of stdout went away (`| head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except ScoringError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except (InputError, TableError, ValueError, OSError) as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
