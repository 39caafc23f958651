"""Cost of the per-token statistics for token-level rewards: the extra full-vocabulary pass in veRL's actor
forward, and the TRL wrapper's forward per step.

    python benchmarks/bench_token_stats.py [--repeats 10] [--large-vocab 151936] [--large-positions 1024]

Prints, each as cold (first call in the process) and warm (the fastest and the median of ``--repeats`` calls,
interleaved between the cases compared so that a shared machine's load falls on all of them alike):

1. The statistics on logits already in memory, per call: veRL's ``entropy_from_logits`` (what the old-log-prob
   pass always computes), veRL's ``logprobs_from_logits``, and verl-ext's ``self_certainty_from_logits``: on the
   CPU recipe's shape (8 sequences of prompt + response, vocabulary of the tiny model) and on a Qwen2.5-sized
   vocabulary (``--large-vocab`` x ``--large-positions`` float32 logits). The ratio self-certainty / entropy is
   the part of the old-log-prob pass's logits work the flag adds (both are memory-bound passes over the logits).
2. veRL's FSDP engine output step (``prepare_model_outputs`` of :class:`verl_ext.verl.actor_engine.
   SelfCertaintyFSDPEngine`) per micro-batch, flag off (veRL's work: log-probs and entropy) and on, in the padded
   layout of the CPU backend and the packed layout of the GPU recipe: the added cost inside the actor's forward,
   model excluded.
3. TRL: ``completion_token_statistics`` on the demo's default student (the ``capable`` architecture, random
   weights: the cost does not depend on them), one step's batch (``prompts_per_step`` x ``num_generations``
   completions of ``max_completion_length`` tokens): log-probs only (today's cost of a log-prob preset), each
   statistic alone, and all three from the one forward.

The whole step on the CPU backend, with and without the flag: ``benchmarks/bench_cpu_trainer.py
--self-certainty`` (``timing_s/old_log_prob``, ``timing_s/self_certainty_write``). The machine's load average is
printed: figures are only comparable at equal load. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import torch


def timed_together(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float, float]]:
    """Per function: (cold seconds: its first call, warm: the fastest and the median of ``repeats`` further calls).
    The warm rounds interleave the functions, so that a shared machine's load falls on all of them alike; the
    fastest call is the least disturbed one."""
    cold = {}
    for name, function in functions.items():
        started = time.perf_counter()
        function()
        cold[name] = time.perf_counter() - started
    warm: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            warm[name].append(time.perf_counter() - started)
    return {name: (cold[name], min(warm[name]), statistics.median(warm[name])) for name in functions}


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:9.2f} ms"


def line(name: str, figures: tuple[float, float, float], unit: str = "") -> str:
    cold, fastest, median = figures
    return f"{name:<28} cold {ms(cold)}   warm fastest {ms(fastest)}  median {ms(median)}{unit}"


def logits_statistics(positions: int, vocab: int, repeats: int) -> None:
    import verl.utils.torch_functional as verl_F

    from verl_ext.verl.token_stats import self_certainty_from_logits

    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(positions, vocab, generator=generator)
    labels = torch.randint(0, vocab, (positions,), generator=generator)
    rows = {
        "entropy (veRL)": lambda: verl_F.entropy_from_logits(logits),
        "log-probs (veRL)": lambda: verl_F.logprobs_from_logits(logits, labels),
        "self-certainty (verl-ext)": lambda: self_certainty_from_logits(logits),
        "self-certainty at T=0.6": lambda: self_certainty_from_logits(logits, 0.6),
    }
    print(f"  logits {positions} x {vocab} float32 ({logits.numel() * 4 / 2**20:.0f} MiB)")
    figures = timed_together(rows, repeats)
    for name, figure in figures.items():
        print("    " + line(name, figure))
    ratio = figures["self-certainty at T=0.6"][1] / figures["entropy (veRL)"][1]
    print(f"    self-certainty at T=0.6 / entropy (warm, fastest): {ratio:.2f}")


def bare_engine():
    import verl.utils.torch_functional as verl_F

    from verl_ext.verl.actor_engine import SelfCertaintyFSDPEngine

    engine = object.__new__(SelfCertaintyFSDPEngine)
    engine.engine_config = SimpleNamespace(
        entropy_checkpointing=False, entropy_from_logits_with_chunking=False, entropy_from_logits_chunk_size=2048
    )
    engine.compute_entropy_from_logits = verl_F.entropy_from_logits
    engine.use_ulysses_sp = False
    engine.ulysses_sequence_parallel_size = 1
    engine.pad_to_length = False
    engine.pad_to_length_bucket = 1024
    return engine


def engine_output_step(lengths: list[int], vocab: int, remove_padding: bool, repeats: int) -> None:
    from verl.utils import tensordict_utils as tu

    from verl_ext.verl.token_stats import SELF_CERTAINTY_FLAG

    generator = torch.Generator().manual_seed(0)
    ids = torch.nested.nested_tensor(
        [torch.randint(0, vocab, (n,), generator=generator) for n in lengths], layout=torch.jagged
    )
    positions = torch.nested.nested_tensor([torch.arange(n) for n in lengths], layout=torch.jagged)
    engine = bare_engine()
    layout = "packed" if remove_padding else "padded"
    calls = {}
    for flag in (False, True):
        batch = tu.get_tensordict(
            tensor_dict={"input_ids": ids, "position_ids": positions},
            non_tensor_dict={
                "use_remove_padding": remove_padding,
                "calculate_entropy": True,
                "temperature": 0.6,
                SELF_CERTAINTY_FLAG: flag,
            },
        )
        model_inputs, output_args = engine.prepare_model_inputs(batch)
        logits = torch.randn(*model_inputs["input_ids"].shape, vocab, generator=generator)
        output = SimpleNamespace(logits=logits)
        calls["self-certainty on" if flag else "flag off (veRL's work)"] = lambda o=output, a=output_args, b=batch: (
            engine.prepare_model_outputs(o, a, b, None)
        )
    figures = timed_together(calls, repeats)
    print(f"  {layout}: {len(lengths)} sequences, {sum(lengths)} positions, vocabulary {vocab}, T = 0.6")
    for name, figure in figures.items():
        print("    " + line(name, figure))
    off, on = figures["flag off (veRL's work)"][1], figures["self-certainty on"][1]
    print(f"    added (warm, fastest): {ms(on - off)} = {100 * (on - off) / off:.0f}% of veRL's output step")


def trl_per_step(repeats: int) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from verl_ext.demo.config import DemoConfig
    from verl_ext.demo.problems import load_problems
    from verl_ext.demo.students import get_student
    from verl_ext.demo.warmup import prompt_text, tokenizer_corpus
    from verl_ext.integrations.trl_logprobs import completion_token_statistics
    from verl_ext.models.tiny import tiny_model_dir

    config = DemoConfig().resolved()
    student = get_student(config.student)
    with tempfile.TemporaryDirectory() as cache:
        problems = load_problems()
        directory = tiny_model_dir(tokenizer_corpus(problems), student.spec, Path(cache))
        model = AutoModelForCausalLM.from_pretrained(directory)
        tokenizer = AutoTokenizer.from_pretrained(directory)
    torch.set_num_threads(config.threads)
    completions = config.prompts_per_step * config.num_generations
    length = config.max_completion_length
    prompts = [prompt_text(problems[i // config.num_generations]) for i in range(completions)]
    prompt_ids = tokenizer(text=prompts)["input_ids"]
    generator = torch.Generator().manual_seed(0)
    completion_ids = [torch.randint(3, len(tokenizer), (length,), generator=generator).tolist() for _ in prompts]
    parameters = sum(p.numel() for p in model.parameters())
    print(
        f"  student {config.student!r} ({parameters / 1e6:.1f} M parameters, vocabulary {model.config.vocab_size}), "
        f"{completions} completions x {length} tokens per step (prompts_per_step x num_generations), "
        f"{config.threads} torch thread(s), temperature {config.temperature}"
    )
    cases = {
        "log-probs only (today)": ("logprobs",),
        "self-certainty only": ("self_certainty",),
        "entropy only": ("entropy",),
        "all three, one forward": ("logprobs", "entropy", "self_certainty"),
    }
    calls = {
        name: lambda wanted=wanted: completion_token_statistics(
            model, prompt_ids, completion_ids, config.temperature, wanted
        )
        for name, wanted in cases.items()
    }
    figures = timed_together(calls, repeats)
    for name, figure in figures.items():
        print("    " + line(name, figure, " per step"))
    base = figures["log-probs only (today)"][1]
    extra = figures["all three, one forward"][1] - base
    print(
        f"    entropy + self-certainty beside the log-probs (warm, fastest): {ms(extra)} per step "
        f"({100 * extra / base:.0f}%)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--large-vocab", type=int, default=151936, help="Qwen2.5's output layer")
    parser.add_argument("--large-positions", type=int, default=512)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {os.cpu_count()} cores")
    print("1. statistics on logits in memory")
    logits_statistics(8 * 430, 320, args.repeats)  # the CPU recipe's old-log-prob batch: 8 x (prompt + response)
    logits_statistics(args.large_positions, args.large_vocab, max(3, args.repeats // 3))
    print("2. veRL's FSDP engine output step (prepare_model_outputs), per micro-batch, model excluded")
    engine_output_step([410 + 3 * i for i in range(8)], 320, remove_padding=False, repeats=args.repeats)
    engine_output_step([410 + 3 * i for i in range(8)], 320, remove_padding=True, repeats=args.repeats)
    engine_output_step([args.large_positions // 2] * 2, args.large_vocab, remove_padding=True, repeats=3)
    print("3. TRL: completion_token_statistics per step on the demo's student")
    trl_per_step(args.repeats)
    load_after = os.getloadavg()
    print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
