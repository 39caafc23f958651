"""Offline scoring of generation files (``verl-ext score``): an adapter around the scoring core.

Pipeline: read every input (``verl_ext.io``; bad input fails before any scoring), check that each
record has what the reward needs (a ground truth for ``correctness``, a token count for the
length-based rewards, optionally counted with a tokenizer), score with the core
(``verl_ext.core.score_batch``: sample-level rewards chunk by chunk in a process pool), and write the
input records back out with the scored fields (``verl_ext.core.extra_info.scored_fields``), in input order.

Group-level rewards (majority, semantic_frequency, ...) score the samples of one prompt together: a
group is the records of one input file with the same ``uid``, ``prompt``, ``input`` or ``problem``
(the first present) and the same ``step``. A file without such a field, or with a prompt of one sample,
is an error. Token-level rewards read per-token statistics from each record (``STATISTIC_FIELDS``: lists of
numbers, one per response token): ``response_logprobs`` (self_confidence, probability), ``response_entropies``
(token_entropy), ``response_self_certainties`` (self_certainty), or the names of veRL's rollout dump
(``rollout_log_probs``, ``entropy``, ``self_certainty``); a record without the field its reward needs is an error
naming the field. Both run in the calling process, as one batch.

Bounds: a correctness check runs in an isolated child process under ``timeout_s`` (the reward
library's ``IsolatedCaller``), and the format check has its own CPU budget, so one pathological
answer costs at most ``timeout_s``; it then scores C = 0 with ``timed_out`` = 1 and ``correct_error``
saying why. As a last resort a watchdog stops the run with an error naming the records of a chunk
that makes no progress at all.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verl_ext.core import Batch, BatchError, ScoringSettings, random_draws, score_batch
from verl_ext.core.extra_info import scored_fields
from verl_ext.io.errors import InputError
from verl_ext.io.generations import Sample, read_generations
from verl_ext.io.jsonl import write_jsonl
from verl_ext.io.output import check_output_path
from verl_ext.io.scored import PROBLEM_KEYS, SCORED_FIELDS, STORED_PREFIX, problem_identity
from verl_ext.rewards.group import EMPO_MIN_SHARE
from verl_ext.rewards.length import validate_length_args
from verl_ext.rewards.registry import get_preset
from verl_ext.rewards.token_stats import STATISTICS, Ragged

DEFAULT_MAX_RESPONSE_LENGTH = 3072
DEFAULT_TIMEOUT_S = 5.0
"""Per-item bound of a correctness check offline: looser than training's 1 s, so that a loaded
machine does not turn slow-but-right checks into zeros; a pathological item still costs only this."""
CHUNK_SIZE = 16
MIN_ITEMS_PER_WORKER = 1000
"""With ``workers`` left to the default, a pool process is started only per this many responses: a
worker's start-up (a fresh interpreter, sympy, math-verify's checker child) costs about as much as
scoring several hundred responses in-process, so smaller runs score in the calling process."""


class ScoringError(RuntimeError):
    """Scoring itself failed on a record (a bug, or a stalled worker); names the record."""


@dataclass(frozen=True)
class ScoreOptions:
    reward: str
    max_response_length: int = DEFAULT_MAX_RESPONSE_LENGTH
    peak: float = 0.5
    timeout_s: float = DEFAULT_TIMEOUT_S
    workers: int | None = None  # None: every core, for runs large enough to repay a pool's start-up
    chunk_size: int = CHUNK_SIZE
    seed: int = 0  # the ``random`` control: record i's draw comes from ``random_draws(seed, i)``
    tail_fraction: float = 1.0  # token-level rewards: the last part of each response they read
    min_share: float = EMPO_MIN_SHARE  # semantic_frequency's threshold

    def validate(self) -> None:
        get_preset(self.reward)
        if isinstance(self.max_response_length, bool) or not isinstance(self.max_response_length, int):
            raise ValueError(f"max_response_length must be a whole number, got {self.max_response_length!r}")
        validate_length_args(0, self.max_response_length, self.peak)
        if not self.timeout_s > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {self.timeout_s}")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        _settings(self)  # the reward's own options (tail fraction, min share), each named when wrong

    def worker_count(self, items: int | None = None) -> int:
        """Processes used for ``items`` responses: ``workers`` when given, else every core, with at
        least MIN_ITEMS_PER_WORKER responses each (1 = score in the calling process)."""
        chunks = -(-items // self.chunk_size) if items is not None else None
        if self.workers is not None:
            return max(1, min(self.workers, chunks)) if chunks is not None else self.workers
        cores = os.cpu_count() or 1
        return cores if items is None else max(1, min(cores, items // MIN_ITEMS_PER_WORKER))


@dataclass
class ScoreSummary:
    """What a run did, for the closing line of ``verl-ext score``."""

    rows: int = 0
    files: int = 0
    seconds: float = 0.0
    with_ground_truth: int = 0
    correct: int = 0
    tokens_counted: int = 0
    timed_out: int = 0
    correct_errors: int = 0
    answer_fallbacks: int = (
        0  # samples of groups clustered by string equality (the equivalence checker could not start)
    )
    layouts: dict[str, int] = field(default_factory=dict)
    workers: int = 1

    @property
    def per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")


# --- reading and checking ------------------------------------------------------------------------


def load_samples(paths: Sequence[str | Path], data_source: str | None = None) -> tuple[list[Sample], dict[str, int]]:
    """Samples of every input, in order, and how many files had each layout.

    ``data_source`` fills the field of records without one; every sample records its ``source`` file.
    """
    if not paths:
        raise ValueError("no input files")
    samples: list[Sample] = []
    layouts: dict[str, int] = {}
    for path in paths:
        layout, found = read_generations(path)
        layouts[layout] = layouts.get(layout, 0) + 1
        for sample in found:
            if data_source and not sample.fields.get("data_source"):
                sample.fields["data_source"] = data_source
        samples.extend(found)
    return samples, layouts


def _first_missing(samples: Iterable[Sample], missing) -> tuple[Sample | None, int]:
    first, count = None, 0
    for sample in samples:
        if missing(sample):
            count += 1
            first = first or sample
    return first, count


@dataclass(frozen=True)
class GroupInputs:
    """What a group- or token-level reward reads beyond the texts: each sample's group (None: no groups) and the
    per-token statistics it needs, by name."""

    group_ids: list[tuple[str, str, str]] | None
    token_stats: dict[str, Ragged]


def check_samples(samples: Sequence[Sample], options: ScoreOptions) -> GroupInputs | None:
    """InputError naming the first record that lacks what the reward needs (and how many do). For a reward that
    reads more than the texts (``not is_text``) the ``group_inputs`` it read, for ``score_samples_by_group``."""
    spec = get_preset(options.reward)
    grouped = None if spec.is_text else group_inputs(samples, options.reward)
    if spec.needs_ground_truth:
        first, count = _first_missing(samples, lambda s: s.ground_truth is None)
        if first is not None:
            raise InputError(
                first.path,
                f"no ground truth, which reward {options.reward!r} needs ({count} of {len(samples)} records lack one)",
                first.where,
            )
    if spec.needs_length:
        first, count = _first_missing(samples, lambda s: s.response_tokens is None)
        if first is not None:
            raise InputError(
                first.path,
                f"no token count (response_token_len, response_length or response_tokens), which reward "
                f"{options.reward!r} needs ({count} of {len(samples)} records lack one); pass --tokenizer PATH to "
                "count them",
                first.where,
            )
    return grouped


STATISTIC_FIELDS = {
    "logprobs": ("response_logprobs", "rollout_log_probs"),
    "entropy": ("response_entropies", "entropy"),
    "self_certainty": ("response_self_certainties", "self_certainty"),
}
"""Per-token statistic (``token_stats.STATISTICS``) -> the record fields that may hold it, the first present read: the
offline name, then the name in veRL's rollout dump (``sampler_kwargs.dump_token_statistics``: the sampler's
``rollout_log_probs``, what the log-prob rewards train on, and the actor's ``entropy`` and ``self_certainty``), so a
dumped run can be scored again. Never the actor's ``old_log_probs`` for log-probs: other numbers than the rollout's
(top-p/top-k, kernels)."""


def prompt_group_ids(samples: Sequence[Sample], reward: str) -> list[tuple[str, str, str]]:
    """Each sample's group: (input file, step, prompt field). InputError for a record without a prompt field, and
    for a file set with one sample per prompt (the core refuses any one-sample group of a group-level reward)."""
    ids = []
    for sample in samples:
        identity = problem_identity(sample.fields)
        if identity is None:
            raise InputError(
                sample.path,
                f"no prompt field ({', '.join(PROBLEM_KEYS)}), which group-level reward {reward!r} needs to find the "
                "samples of each prompt",
                sample.where,
            )
        ids.append((sample.path, json.dumps(sample.fields.get("step")), identity))
    if len(set(ids)) == len(ids):
        raise InputError(
            samples[0].path,
            f"one sample per prompt ({len(ids)} prompts): group-level reward {reward!r} needs several samples of "
            "each prompt (n rollouts of the same prompt, grouped by uid, prompt, input or problem, within one input "
            "file and step: separate files are never pooled)",
        )
    return ids


def token_statistic(sample: Sample, statistic: str) -> list[float]:
    """The record's per-token ``statistic`` (``STATISTIC_FIELDS``): InputError naming the record and the field when
    absent or not a non-empty list of finite numbers."""
    names = STATISTIC_FIELDS[statistic]
    name = next((field for field in names if field in sample.fields), names[0])
    value = sample.fields.get(name)
    if (
        not isinstance(value, list)
        or not value
        or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in value)
    ):
        raise InputError(
            sample.path,
            f"field {name!r} must be a non-empty list of finite numbers (the response tokens' "
            f"{STATISTICS[statistic][0].split(':')[0]}), got {value!r:.80}",
            sample.where,
        )
    return [float(v) for v in value]


def group_inputs(samples: Sequence[Sample], reward: str) -> GroupInputs:
    """What a group- or token-level reward reads beyond the texts (InputError as ``prompt_group_ids`` and
    ``token_statistic``)."""
    spec = get_preset(reward)
    token_stats = {
        statistic: Ragged.from_rows([token_statistic(sample, statistic) for sample in samples])
        for statistic in spec.token_statistics
    }
    return GroupInputs(prompt_group_ids(samples, reward) if spec.is_group else None, token_stats)


def count_tokens(samples: Sequence[Sample], tokenizer: str, batch_size: int = 256) -> int:
    """Fill the token count of samples without one by tokenizing the response text. Returns how many.

    The count of decoded text can differ from the generator's by a token or two (special tokens such
    as EOS are not in the text).
    """
    missing = [s for s in samples if s.response_tokens is None]
    if not missing:
        return 0
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(tokenizer)
    except Exception as exc:  # OSError for a bad path, ValueError for a bad config, ...
        raise ValueError(f"cannot load tokenizer {tokenizer!r}: {exc}") from None
    for start in range(0, len(missing), batch_size):
        batch = missing[start : start + batch_size]
        encoded = tok([s.response for s in batch], add_special_tokens=False)["input_ids"]
        for sample, ids in zip(batch, encoded):
            sample.response_tokens = len(ids)
    return len(missing)


# --- scoring -------------------------------------------------------------------------------------

_Item = tuple[str, "int | None", "str | None"]  # response, tokens, ground truth


def _worker_init() -> None:
    from verl_ext.rewards.format import warm_up

    warm_up()


def _settings(options: ScoreOptions) -> ScoringSettings:
    return ScoringSettings(
        options.reward,
        max_response_tokens=options.max_response_length,
        peak=options.peak,
        correctness_timeout_s=options.timeout_s,
        tail_fraction=options.tail_fraction,
        min_share=options.min_share,
    )


def score_items(task: tuple[ScoreOptions, list[_Item], int]) -> list[dict[str, Any] | str]:
    """Score a chunk (its first record at ``start``); each entry is the scored fields, or an error message (str).
    Runs in pool workers."""
    options, items, start = task
    settings = _settings(options)
    batch = Batch(
        responses=[response for response, _, _ in items],
        response_tokens=[tokens for _, tokens, _ in items],
        ground_truths=[truth for _, _, truth in items],
        rngs=[random_draws(options.seed, start + i) for i in range(len(items))] if settings.preset.uses_rng else None,
    )
    try:
        results = score_batch(batch, settings).samples
    except Exception as exc:  # reported with the record's location by the parent
        return [f"{type(exc).__name__}: {exc}"] * len(items)
    return [result.error if result.error is not None else scored_fields(result) for result in results]


def _tasks(samples: Sequence[Sample], options: ScoreOptions) -> Iterator[tuple[ScoreOptions, list[_Item], int]]:
    for start in range(0, len(samples), options.chunk_size):
        items = [(s.response, s.response_tokens, s.ground_truth) for s in samples[start : start + options.chunk_size]]
        yield options, items, start


def score_samples_by_group(
    samples: Sequence[Sample], options: ScoreOptions, grouped: GroupInputs | None = None
) -> Iterator[dict[str, Any]]:
    """The scored fields of every sample, in order, for group-level and token-level rewards: one batch of every
    sample, in this process. ``grouped``: ``group_inputs`` already read (``check_samples`` returns them)."""
    inputs = grouped if grouped is not None else group_inputs(samples, options.reward)
    batch = Batch(
        responses=[sample.response for sample in samples],
        group_ids=inputs.group_ids,
        response_tokens=[sample.response_tokens for sample in samples],
        ground_truths=[sample.ground_truth for sample in samples],
        token_stats=inputs.token_stats,
    )
    try:
        results = score_batch(batch, _settings(options)).samples
    except BatchError as exc:
        sample = samples[exc.sample or 0]
        raise InputError(sample.path, str(exc), sample.where) from None
    for sample, result in zip(samples, results):
        if result.error is not None:
            raise ScoringError(f"{sample.location}: scoring failed: {result.error}")
        yield scored_fields(result)


def _stall_bound(options: ScoreOptions) -> float:
    """Seconds without any finished chunk after which the run is declared stalled (generous)."""
    return 300.0 + options.chunk_size * (2 * options.timeout_s + 5.0)


def score_samples(samples: Sequence[Sample], options: ScoreOptions, progress: bool = True) -> Iterator[dict[str, Any]]:
    """The scored fields of every sample, in order, from ``options.worker_count(len(samples))`` processes.

    A pool uses the "spawn" start method: a script calling this must guard its entry point with
    ``if __name__ == "__main__":``.
    """
    from tqdm import tqdm

    workers = options.worker_count(len(samples))
    bar = tqdm(
        total=len(samples), unit="resp", desc="scoring", disable=not progress, file=sys.stderr, dynamic_ncols=True
    )
    pool = None
    try:
        if workers <= 1:
            results: Iterator[list[dict[str, Any] | str]] = map(score_items, _tasks(samples, options))
            next_chunk = lambda: next(results)  # noqa: E731
        else:
            pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_worker_init)
            pool_results = pool.imap(score_items, _tasks(samples, options))
            bound = _stall_bound(options)
            next_chunk = lambda: pool_results.next(timeout=bound)  # noqa: E731
        index = 0
        while index < len(samples):
            try:
                chunk = next_chunk()
            except multiprocessing.TimeoutError:
                last = samples[min(index + options.chunk_size, len(samples)) - 1]
                raise ScoringError(
                    f"no progress for {_stall_bound(options):.0f} s on the records from {samples[index].location} "
                    f"to {last.location}"
                ) from None
            for offset, fields in enumerate(chunk):
                if isinstance(fields, str):
                    raise ScoringError(f"{samples[index + offset].location}: scoring failed: {fields}")
            bar.update(len(chunk))  # before yielding: the consumer may stop right after the last record
            for fields in chunk:
                yield fields
                index += 1
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()


def scored_record(sample: Sample, scored: dict[str, Any], reward: str) -> dict[str, Any]:
    """The input record with the scored fields added; input fields of the same name become ``stored_<name>``."""
    added = {**scored, "reward_preset": reward, "source": sample.path}
    taken = set(SCORED_FIELDS) | set(added)
    row: dict[str, Any] = {}
    for key, value in sample.fields.items():
        name = key
        while name in taken or (name != key and name in sample.fields):
            name = STORED_PREFIX + name
        row[name] = value
    row.update(added)
    return row


def score_files(
    inputs: Sequence[str | Path],
    output: str | Path,
    options: ScoreOptions,
    *,
    tokenizer: str | None = None,
    data_source: str | None = None,
    progress: bool = True,
) -> ScoreSummary:
    """Score every record of ``inputs`` and write them, in order, to the JSONL file ``output``.

    ``output`` follows ``verl_ext.io.output``: never a directory, never one of the inputs (OutputError).
    """
    options.validate()
    check_output_path(output, inputs, example_name="scored.jsonl")
    started = time.perf_counter()
    samples, layouts = load_samples(inputs, data_source)
    summary = ScoreSummary(files=len(inputs), layouts=layouts)
    if tokenizer:
        summary.tokens_counted = count_tokens(samples, tokenizer)
    grouped = check_samples(samples, options)
    by_group = grouped is not None
    summary.workers = 1 if by_group else options.worker_count(len(samples))
    each_sample = (
        score_samples_by_group(samples, options, grouped) if by_group else score_samples(samples, options, progress)
    )

    def rows() -> Iterator[dict[str, Any]]:
        for sample, scored in zip(samples, each_sample):
            summary.timed_out += int(bool(scored.get("timed_out")))
            summary.answer_fallbacks += int(scored.get("answer_fallback") == 1.0)
            if "correct" in scored:
                summary.with_ground_truth += 1
                summary.correct += int(scored["correct"] == 1.0)
                summary.correct_errors += int(scored.get("correct_error") is not None)
            yield scored_record(sample, scored, options.reward)

    summary.rows = write_jsonl(rows(), output)
    summary.seconds = time.perf_counter() - started
    return summary
