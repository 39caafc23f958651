"""Stage 7 of the demo: the command line, ``verl-ext demo`` (registered by ``verl_ext.cli``) and
``python -m verl_ext.demo``: parse the options into a ``DemoConfig``, run the pipeline."""

from __future__ import annotations

import argparse

from verl_ext.demo.config import DemoConfig
from verl_ext.demo.engines.registry import ENGINES
from verl_ext.demo.pipeline import run
from verl_ext.demo.students import STUDENTS
from verl_ext.rewards.registry import preset_names


def add_demo_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``demo`` (arguments and handler ``run_demo``) on a ``verl-ext`` subparsers object."""
    d = DemoConfig()
    capable = STUDENTS[d.student]

    def per_student(attribute: str) -> str:
        return ", ".join(f"{name} {getattr(student, attribute)}" for name, student in STUDENTS.items())

    engines = " or ".join(engine.label for engine in ENGINES.values())
    parser = subparsers.add_parser(
        "demo",
        help=f"the main job on any machine: GRPO with a surrogate reward on a tiny model, on CPU ({engines})",
        description="Warm up a tiny locally built Qwen2 model on templated solutions of shipped arithmetic problems "
        "(the student's recipe: the capable one's mostly end in a plain sentence, the consistent one's box an answer "
        f"that sometimes slips), then train it with GRPO ({engines}) rewarded by a verl-ext preset. Prints per-step "
        "reward, format rate, length and (monitoring) accuracy, and the held-out boxed and latent accuracy, greedy and "
        "over K samples (mean@K, maj@K); writes a veRL-format metric log, curves.png, samples.jsonl, sampled.jsonl "
        "and summary.json.",
    )
    parser.add_argument(
        "--reward", default=d.reward, choices=preset_names(), help=f"reward preset (default {d.reward})"
    )
    parser.add_argument(
        "--student",
        default=d.student,
        choices=sorted(STUDENTS),
        help="; ".join(f"{name}: {student.description}" for name, student in STUDENTS.items())
        + f" (default {d.student})",
    )
    parser.add_argument("--steps", type=int, metavar="N", help=f"GRPO steps (default: {per_student('grpo_steps')})")
    parser.add_argument("--model", metavar="PATH", help="a local Hugging Face causal LM instead of the tiny model")
    parser.add_argument("--out", metavar="DIR", help="output folder (default verl-ext-demo/<reward>-seed<seed>)")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"seed of warm-up and GRPO (default {d.seed})")
    parser.add_argument(
        "--warmup-steps",
        type=int,
        metavar="N",
        help=f"supervised warm-up steps (default: {per_student('warmup_steps')}; 0 with --model)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="warm up afresh even when a warmed-up model with the same cache key is stored",
    )
    parser.add_argument(
        "--num-generations",
        type=int,
        default=d.num_generations,
        metavar="G",
        help=f"completions per prompt (default {d.num_generations})",
    )
    parser.add_argument(
        "--prompts-per-step",
        type=int,
        default=d.prompts_per_step,
        metavar="P",
        help=f"prompts per GRPO step (default {d.prompts_per_step})",
    )
    parser.add_argument(
        "--max-completion-length",
        type=int,
        metavar="TOKENS",
        help=f"token budget of generation and of the length reward (default {capable.max_completion_length})",
    )
    parser.add_argument("--lr", type=float, help=f"GRPO learning rate (default: {per_student('learning_rate')})")
    parser.add_argument(
        "--kl-coef",
        type=float,
        metavar="BETA",
        help="weight of the KL term to the warmed-up model (TRL's beta; veRL's kl_loss_coef) "
        f"(default: {per_student('kl_coef')})",
    )
    parser.add_argument(
        "--eval-every", type=int, metavar="N", help=f"held-out evaluation every N steps (default {capable.eval_every})"
    )
    parser.add_argument(
        "--eval-samples",
        type=int,
        default=d.eval_samples,
        metavar="K",
        help=f"sampled completions per held-out problem at each evaluation, for mean@K, maj@K and distinct answers "
        f"(default {d.eval_samples}; 0: greedy evaluation only)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=d.threads,
        help=f"torch threads (default {d.threads}: fastest on a shared machine)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no per-step lines")
    parser.add_argument(
        "--engine",
        default=d.engine,
        choices=list(ENGINES),
        help="GRPO through "
        + "; ".join(f"{name}: {engine.summary}" for name, engine in ENGINES.items())
        + f" (default {d.engine})",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="write over an earlier run in the output folder (without it, a non-empty folder is refused)",
    )
    parser.set_defaults(handler=run_demo)


def config_from_args(args: argparse.Namespace) -> DemoConfig:
    return DemoConfig(
        reward=args.reward,
        student=args.student,
        steps=args.steps,
        model=args.model,
        out=args.out,
        seed=args.seed,
        warmup_steps=args.warmup_steps,
        num_generations=args.num_generations,
        prompts_per_step=args.prompts_per_step,
        max_completion_length=args.max_completion_length,
        learning_rate=args.lr,
        kl_coef=args.kl_coef,
        eval_every=args.eval_every,
        eval_samples=args.eval_samples,
        threads=args.threads,
        progress=not args.quiet,
        use_cache=not args.no_cache,
        engine=args.engine,
    )


def run_demo(args: argparse.Namespace) -> int:
    """Handler of ``verl-ext demo``: 0 on success (bad options raise ValueError, an earlier run's folder without
    ``--force`` FileExistsError: the CLI answers 2 with the message)."""
    run(config_from_args(args), force=args.force)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m verl_ext.demo``: the same command without the ``verl-ext`` entry point."""
    import sys

    parser = argparse.ArgumentParser(prog="python -m verl_ext.demo")
    add_demo_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["demo", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.handler(args)
    except (ValueError, OSError) as exc:  # OSError: also a failed veRL trainer (--engine verl), as in verl_ext.cli
        print(f"verl-ext demo: error: {exc}", file=sys.stderr)
        return 2
