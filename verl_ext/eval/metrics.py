"""Evaluation metrics of scored responses (``verl-ext metrics``).

Per group (data source, and step, input file or scored file when they vary), with n_i samples of
problem i and c_i of them correct:

    accuracy (mean@k)  mean over problems of c_i / n_i           (single-sample runs: plain accuracy)
    pass@k             mean over problems of 1 - C(n_i - c_i, k) / C(n_i, k), the unbiased estimator
                       of "at least one of k samples is correct" (Chen et al., 2021), k <= n_i
    maj@k              mean over problems of the correctness of the most frequent extracted answer
                       among the k samples, answers compared by equivalence (math-verify on the
                       distinct normalised answers, ``verl_ext.rewards.equivalence``: ``2``, ``2.0`` and
                       ``\frac{4}{2}`` are one answer); samples without an answer do not vote; the
                       majority's correctness is the mean over its samples; a tie counts the mean over
                       the tied answers, i.e. the expectation under a random tie-break. If the checker
                       cannot start, answers are compared as normalised text and a warning says so

Confidence intervals: percentile bootstrap over problems (problems resampled with replacement,
``n_boot`` times, fixed seed), at ``confidence`` (95 % by default).
Also per group: format rate, mean reward score, mean and median response tokens, truncation rate
(over samples with a token count) and the number of checks stopped by their time bound; with correctness verdicts,
URLVR's diagnostics of the scored reward (``verl_ext.eval.proxy``): its point-biserial correlation with correctness
(``point_biserial``; absent when either is constant) and, with several samples per problem, the pseudo-label
accuracy (the correctness of each problem's highest-scored sample, ties to the first).
A problem is identified by ``uid``, ``prompt``, ``input`` or ``problem`` (the first present).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from verl_ext.eval import proxy
from verl_ext.io.errors import InputError
from verl_ext.io.scored import ScoredRow
from verl_ext.rewards.equivalence import AnswerClusters, cluster_answers, cluster_groups

DEFAULT_BOOTSTRAP = 1000
DEFAULT_CONFIDENCE = 0.95


# --- estimators ----------------------------------------------------------------------------------


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem with ``c`` correct out of ``n`` samples: 1 - C(n-c, k) / C(n, k)."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    # C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i), stable for large n
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def majority_vote(preds: Sequence[str | None], correct: Sequence[float]) -> tuple[float, AnswerClusters]:
    """Correctness of the majority answer by equivalence, and the clusters it came from.

    Ties: mean over the tied clusters; no answer at all: 0. A cluster's correctness is the mean over
    its samples (equivalent answers normally share one verdict)."""
    if len(preds) != len(correct):
        raise ValueError("preds and correct differ in length")
    clusters = cluster_answers(preds)
    return majority_of(clusters, correct), clusters


def majority_of(clusters: AnswerClusters, correct: Sequence[float]) -> float:
    """Correctness of the majority cluster of ``clusters`` (see ``majority_vote``)."""
    if not clusters.sizes:
        return 0.0
    verdicts: dict[int, list[float]] = defaultdict(list)
    for label, ok in zip(clusters.labels, correct, strict=False):
        if label is not None:
            verdicts[label].append(ok)
    top = max(clusters.sizes)
    tied = [label for label, size in enumerate(clusters.sizes) if size == top]
    return float(np.mean([np.mean(verdicts[label]) for label in tied]))


def majority_correct(preds: Sequence[str | None], correct: Sequence[float]) -> float:
    """Correctness of the majority answer, answers compared by equivalence (see ``majority_vote``)."""
    return majority_vote(preds, correct)[0]


def bootstrap_ci(
    values: Sequence[float], n_boot: int = DEFAULT_BOOTSTRAP, confidence: float = DEFAULT_CONFIDENCE, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (one value per problem)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("no values")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    batch = max(1, 2_000_000 // data.size)  # bound memory: at most ~2M resampled values at a time
    for start in range(0, n_boot, batch):
        stop = min(n_boot, start + batch)
        idx = rng.integers(0, data.size, size=(stop - start, data.size))
        means[start:stop] = data[idx].mean(axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


# --- several samples per problem: sampled accuracy, majority vote, collapse monitors -------------


@dataclass(frozen=True)
class SampledMetrics:
    """Metrics of problems that each have k samples (see ``sampled_metrics``)."""

    problems: int
    mean_at_k: float  # mean over problems of c_i / n_i (sampled accuracy)
    maj_at_k: float  # mean over problems of the majority answer's correctness (``majority_of``)
    monitors: dict[str, float]  # ``collapse.batch_monitors`` of each problem's ``collapse.group_monitors``
    fallbacks: int  # problems whose answers were compared as normalised text (the checker could not start)


def sampled_metrics(preds: Sequence[Sequence[str | None]], correct: Sequence[Sequence[float]]) -> SampledMetrics:
    """mean@k, maj@k and the collapse monitors of ``preds[i]`` (the extracted answers of problem i's samples, None
    for no answer) with their verdicts ``correct[i]``.

    maj@k as in the module doc (equivalence clusters of every problem's answers at once, ``cluster_groups``; ties
    averaged; no answer at all counts 0). Monitors per problem, averaged over problems (``collapse.group_monitors``
    with the verdicts): ``majority_ratio`` (largest cluster / k), ``distinct_answers`` (clusters),
    ``answer_entropy`` (of the cluster shares among the answered samples) and ``label_accuracy`` (the majority
    cluster's first sample is correct). ValueError for no problems, an empty group or misaligned verdicts."""
    from verl_ext.collapse import batch_monitors, group_monitors

    if not preds:
        raise ValueError("no problems")
    if len(preds) != len(correct):
        raise ValueError(f"{len(preds)} problems' answers but {len(correct)} problems' verdicts")
    for index, (answers, verdicts) in enumerate(zip(preds, correct, strict=True)):
        if not answers:
            raise ValueError(f"problem {index} has no samples")
        if len(answers) != len(verdicts):
            raise ValueError(f"problem {index}: {len(answers)} answers but {len(verdicts)} verdicts")
    clusterings = cluster_groups(preds)
    accuracy = [float(np.mean(verdicts)) for verdicts in correct]
    majority = [majority_of(clusters, verdicts) for clusters, verdicts in zip(clusterings, correct, strict=True)]
    monitors = batch_monitors(
        [group_monitors(clusters, correct=verdicts) for clusters, verdicts in zip(clusterings, correct, strict=True)]
    )
    return SampledMetrics(
        problems=len(preds),
        mean_at_k=float(np.mean(accuracy)),
        maj_at_k=float(np.mean(majority)),
        monitors=monitors,
        fallbacks=sum(c.fallback for c in clusterings),
    )


# --- grouping ------------------------------------------------------------------------------------


@dataclass
class MetricsReport:
    """One row per group; ``group_keys`` name the grouping columns that appear in the rows."""

    rows: list[dict[str, Any]]
    group_keys: list[str]
    confidence: float
    warnings: list[str] = field(default_factory=list)


def _short_names(paths: Sequence[str]) -> dict[str, str]:
    """Basenames when they are unique, else the paths below their common folder."""
    names = {p: Path(p).name for p in paths}
    if len(set(names.values())) == len(names):
        return names
    try:
        common = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])
    except ValueError:  # paths on different drives
        return {p: p for p in paths}
    return {p: os.path.relpath(os.path.abspath(p), common) for p in paths}


def _run_names(paths: Sequence[str]) -> dict[str, str]:
    stems = {p: Path(p).stem for p in paths}
    return stems if len(set(stems.values())) == len(stems) else {p: p for p in paths}


def _estimate(values: list[float], n_boot: int, confidence: float, seed: int) -> tuple[float, list[float]]:
    low, high = bootstrap_ci(values, n_boot, confidence, seed)
    return float(np.mean(values)), [low, high]


def group_metrics(
    rows: Sequence[ScoredRow],
    ks: Sequence[int] = (),
    n_boot: int = DEFAULT_BOOTSTRAP,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[dict[str, Any], list[str]]:
    """The metrics of one group of rows, and warnings about it."""
    warnings: list[str] = []
    problems: dict[str, list[ScoredRow]] = defaultdict(list)
    for row in rows:
        problems[row.problem].append(row)
    sizes = [len(samples) for samples in problems.values()]
    k = min(sizes)
    out: dict[str, Any] = {"problems": len(problems), "samples": len(rows), "k": k}
    if max(sizes) != k:
        warnings.append(f"problems have between {k} and {max(sizes)} samples: pass@k and maj@k use k = {k}")

    have_truth = [row.correct is not None for row in rows]
    if any(have_truth) and not all(have_truth):
        missing = next(row for row in rows if row.correct is None)
        raise InputError(
            missing.path,
            f"no 'correct' field while other records of its group have one ({have_truth.count(False)} of {len(rows)}): "
            "score all records with a ground truth, or none",
            missing.where,
        )
    if all(have_truth):
        per_problem = list(problems.values())
        counts = [(len(s), int(sum(r.correct for r in s))) for s in per_problem]  # type: ignore[misc]
        out["accuracy"], out["accuracy_ci"] = _estimate([c / n for n, c in counts], n_boot, confidence, seed)
        if k > 1:
            out["pass@k"], out["pass@k_ci"] = _estimate(
                [pass_at_k(n, c, k) for n, c in counts], n_boot, confidence, seed
            )
            firsts = [samples[:k] for samples in per_problem]
            # every problem's answers clustered at once, over the checker pool (as a training step's groups are)
            clusterings = cluster_groups([[r.pred for r in first_k] for first_k in firsts])
            majority = [
                majority_of(c, [r.correct for r in first_k]) for c, first_k in zip(clusterings, firsts, strict=False)
            ]  # type: ignore[misc]
            fallbacks = sum(c.fallback for c in clusterings)
            out["maj@k"], out["maj@k_ci"] = _estimate(majority, n_boot, confidence, seed)
            if fallbacks:
                warnings.append(
                    f"the answer-equivalence checker could not start for {fallbacks} problem(s): maj@k compared their "
                    "answers as normalised text"
                )
        else:
            out["pass@k"] = out["pass@k_ci"] = out["maj@k"] = out["maj@k_ci"] = None
        # how well the scored reward tracks correctness (URLVR's diagnostics: verl_ext.eval.proxy)
        proxied = proxy.batch_diagnostics(
            [row.score for row in rows], [row.correct for row in rows], [row.problem for row in rows]
        )
        out["point_biserial"] = proxied.get(proxy.PREFIX + "point_biserial")
        out["pseudo_label_accuracy"] = proxied.get(proxy.PREFIX + "pseudo_label_accuracy") if k > 1 else None
        for j in ks:
            if j > k:
                warnings.append(f"pass@{j} skipped: only {k} samples per problem")
                continue
            out[f"pass@{j}"], out[f"pass@{j}_ci"] = _estimate(
                [pass_at_k(n, c, j) for n, c in counts], n_boot, confidence, seed
            )

    out["format_rate"] = float(np.mean([row.format for row in rows]))
    out["mean_score"] = float(np.mean([row.score for row in rows]))
    tokens = [row.response_tokens for row in rows if row.response_tokens is not None]
    out["mean_tokens"] = float(np.mean(tokens)) if tokens else None
    out["median_tokens"] = float(np.median(tokens)) if tokens else None
    truncated = [row.truncated for row in rows if row.truncated is not None]
    out["truncation_rate"] = float(np.mean(truncated)) if truncated else None
    out["timeouts"] = int(sum(row.timed_out for row in rows))
    if len(tokens) not in (0, len(rows)):
        warnings.append(f"token counts known for {len(tokens)} of {len(rows)} samples only")
    return out, warnings


def compute_metrics(
    files: dict[str, Sequence[ScoredRow]],
    ks: Sequence[int] = (),
    n_boot: int = DEFAULT_BOOTSTRAP,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> MetricsReport:
    """Metrics of scored files (``{path: rows}``), one row per (file, input file, data source, step).

    The file column appears with several scored files, the input-file column when one scored file
    holds rows from several inputs (so that separate runs or generations are never pooled as samples
    of one problem), the step column when rows have steps.
    """
    if not files:
        raise ValueError("no scored files")
    for path, rows in files.items():
        if not rows:
            raise InputError(path, "no records")
    runs = _run_names(list(files))
    all_sources = list(dict.fromkeys(row.source or "" for rows in files.values() for row in rows))
    sources = _short_names(all_sources)
    with_run = len(files) > 1
    with_source = any(len({row.source for row in rows}) > 1 for rows in files.values())
    with_step = any(row.step is not None for rows in files.values() for row in rows)
    keys = (
        (["run"] if with_run else [])
        + (["source"] if with_source else [])
        + ["data_source"]
        + (["step"] if with_step else [])
    )

    report = MetricsReport(rows=[], group_keys=keys, confidence=confidence)
    for path, rows in files.items():
        groups: dict[tuple, list[ScoredRow]] = defaultdict(list)
        source_order = {s: i for i, s in enumerate(all_sources)}
        for row in rows:
            key = (
                source_order[row.source or ""] if with_source else 0,
                row.data_source,
                (row.step is not None, row.step if row.step is not None else -1) if with_step else None,
            )
            groups[key].append(row)
        for key in sorted(groups):
            members = groups[key]
            first = members[0]
            label: dict[str, Any] = {}
            if with_run:
                label["run"] = runs[path]
            if with_source:
                label["source"] = sources[first.source or ""]
            label["data_source"] = first.data_source
            if with_step:
                label["step"] = first.step
            values, warnings = group_metrics(members, ks, n_boot, confidence, seed)
            report.rows.append({**label, **values})
            where = ", ".join(f"{k}={v}" for k, v in label.items())
            report.warnings.extend(f"{where}: {w}" for w in warnings)
    return report


# --- renderings ----------------------------------------------------------------------------------


def _has(rows: Sequence[dict[str, Any]], key: str) -> bool:
    return any(row.get(key) is not None for row in rows)


def to_markdown(report: MetricsReport) -> str:
    """The report as a Markdown table; columns without any value are left out (warnings are not included)."""
    from verl_ext.eval.render import fmt_number, fmt_plain, fmt_with_ci, markdown_table

    rows = report.rows
    pct = f"{report.confidence * 100:g}%"
    columns: list[tuple[str, Callable[[dict[str, Any]], str], bool]] = [
        (key, (lambda row, key=key: fmt_plain(row.get(key))), False) for key in report.group_keys
    ]
    columns += [
        ("problems", lambda row: fmt_plain(row["problems"]), True),
        ("k", lambda row: fmt_plain(row["k"]), True),
    ]
    metric_keys = ["accuracy", "pass@k", "maj@k"] + sorted(
        {
            key
            for row in rows
            for key in row
            if key.startswith("pass@") and not key.startswith("pass@k") and not key.endswith("_ci")
        },
        key=lambda name: int(name.split("@")[1]),
    )
    headers = {"accuracy": f"accuracy / mean@k [{pct} CI]", "pass@k": "pass@k", "maj@k": "maj@k"}
    for key in metric_keys:
        if _has(rows, key):
            columns.append(
                (headers.get(key, key), (lambda row, key=key: fmt_with_ci(row.get(key), row.get(f"{key}_ci"))), True)
            )
    for key, header, digits in (
        ("format_rate", "format", 3),
        ("mean_score", "mean score", 3),
        ("point_biserial", "score-correct r_pb", 3),
        ("pseudo_label_accuracy", "pseudo-label acc", 3),
        ("mean_tokens", "tokens mean", 0),
        ("median_tokens", "tokens median", 0),
        ("truncation_rate", "truncated", 3),
    ):
        if _has(rows, key):
            columns.append((header, (lambda row, key=key, digits=digits: fmt_number(digits)(row.get(key))), True))
    if any(row.get("timeouts") for row in rows):
        columns.append(("timeouts", lambda row: fmt_plain(row["timeouts"]), True))
    return markdown_table(
        [c[0] for c in columns], [[c[1](row) for c in columns] for row in rows], [c[2] for c in columns]
    )


def to_payload(report: MetricsReport) -> dict[str, Any]:
    """The report as a JSON-able dict."""
    return {
        "confidence": report.confidence,
        "group_keys": report.group_keys,
        "rows": report.rows,
        "warnings": report.warnings,
    }
