"""Which source rows make up the paper's training sets, in the paper's order.

deepscaler_17k
    The release built it as: number the 40,315 DeepScaleR-Preview rows 0..40314 (that number is
    ``extra_info.index``), drop the rows whose answer is empty (6 rows), then take pandas'
    ``DataFrame.sample(n=17000, random_state=42)``, which is
    ``numpy.random.RandomState(42).permutation(40309)[:17000]`` over the remaining rows
    (``paper_sample``). The shipped ``selections/deepscaler_17k.txt.gz`` holds the resulting 17,000
    40k-row numbers in sample order; it is the canonical selection, and ``paper_sample`` is tested to
    reproduce it.
math_train
    The release's 7,470 MATH training problems come from a 7,474-row MATH file that is not public;
    their ``extra_info.index`` has 4 gaps. The shipped ``selections/math_train.tsv.gz`` holds, in the
    paper's order, each problem's ``extra_info.index`` and ``fingerprint`` (a hash of its exact text),
    so any copy of the 7,500-problem MATH training set yields exactly the paper's problems.

Pure functions apart from reading the shipped files.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_prep.records import Issue, Record, Rejected

SELECTIONS = Path(__file__).resolve().parent / "selections"
DEEPSCALER_INDICES = SELECTIONS / "deepscaler_17k.txt.gz"
MATH_TRAIN_FINGERPRINTS = SELECTIONS / "math_train.tsv.gz"
DEEPSCALER_ROWS = 40_315
DEEPSCALER_SAMPLE = 17_000
DEEPSCALER_SEED = 42
FINGERPRINT_HEX = 12


@dataclass(frozen=True)
class Selection:
    """Selected records (in output order, ``source_index`` = the paper's index), the issues that
    block rows the selection needs, and notes worth printing."""

    records: list[Record]
    issues: list[Issue]
    notes: list[str]


def paper_sample(kept_rows: Sequence[int], n: int = DEEPSCALER_SAMPLE, seed: int = DEEPSCALER_SEED) -> list[int]:
    """The release's sampler: ``kept_rows`` (source rows with a non-empty answer, ascending) picked by
    ``RandomState(seed).permutation(len(kept_rows))[:n]``, i.e. pandas' ``sample(n, random_state=seed)``."""
    order = np.random.RandomState(seed).permutation(len(kept_rows))[:n]
    return [int(kept_rows[i]) for i in order]


def sampler_note(kept_rows: Sequence[int], wanted: Sequence[int]) -> str:
    """Whether the release's sampler, run on this raw source's readable rows, gives ``wanted``."""
    same = len(kept_rows) >= len(wanted) and paper_sample(sorted(kept_rows), len(wanted)) == list(wanted)
    verdict = "reproduces" if same else "does not reproduce (the shipped selection was used)"
    return (
        f"the release's sampler (RandomState({DEEPSCALER_SEED}) over {len(kept_rows)} readable rows) {verdict}"
        " the shipped selection"
    )


def fingerprint(problem: str) -> str:
    """Short hash of a problem's exact text (outer whitespace ignored)."""
    return hashlib.sha256(problem.strip().encode("utf-8")).hexdigest()[:FINGERPRINT_HEX]


def _data_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#")]


def load_indices(path: Path = DEEPSCALER_INDICES) -> list[int]:
    """The shipped deepscaler_17k selection: 40k-row numbers in sample order."""
    return [int(line) for line in _data_lines(path)]


def load_fingerprints(path: Path = MATH_TRAIN_FINGERPRINTS) -> list[tuple[int, str]]:
    """The shipped math_train selection: (paper's extra_info.index, fingerprint) in paper order."""
    pairs = []
    for line in _data_lines(path):
        index, fp = line.split("\t")
        pairs.append((int(index), fp))
    return pairs


def select_by_index(records: list[Record], rejected: list[Rejected], wanted: Sequence[int], origin: str) -> Selection:
    """Records whose ``source_index`` is in ``wanted``, in ``wanted``'s order.

    A wanted index that is rejected keeps its issues; one that is absent gets an issue; a rejected
    row nobody wants is only counted in a note (the paper dropped it too).
    """
    by_index = {r.source_index: r for r in records}
    rejected_by_index = {r.source_index: r for r in rejected if r.source_index is not None}
    wanted_set = set(wanted)
    chosen, issues = [], []
    for index in wanted:
        if index in by_index:
            chosen.append(by_index[index])
        elif index in rejected_by_index:
            issues.extend(rejected_by_index[index].issues)
        else:
            issues.append(
                Issue(origin, None, "extra_info.index", f"no row with index {index}, which the paper's sample needs")
            )
    issues.extend(i for r in rejected if r.source_index is None for i in r.issues)
    notes = []
    unwanted_bad = sorted(k for k in rejected_by_index if k not in wanted_set)
    if unwanted_bad:
        notes.append(
            f"ignored {len(unwanted_bad)} invalid source row(s) outside the paper's sample: {unwanted_bad[:10]}"
        )
    unused = len(by_index) - sum(1 for k in by_index if k in wanted_set)
    if unused:
        notes.append(f"{unused} valid source row(s) are not in the paper's sample")
    return Selection(chosen, issues, notes)


def select_by_fingerprint(
    records: list[Record], rejected: list[Rejected], canon: Sequence[tuple[int, str]], origin: str
) -> Selection:
    """Records whose problem text matches a canonical fingerprint, in canonical order, each given the
    canonical index. The first of several matching source rows is used (a note says how often)."""
    first: dict[str, Record] = {}
    repeats = 0
    for record in records:
        fp = fingerprint(record.problem)
        if fp in first:
            repeats += 1
        else:
            first[fp] = record
    rejected_by_fp = {fingerprint(r.problem): r for r in rejected if r.problem}
    canon_fps = {fp for _, fp in canon}
    chosen, issues = [], []
    for index, fp in canon:
        if fp in first:
            chosen.append(dataclasses.replace(first[fp], source_index=index))
        elif fp in rejected_by_fp:
            issues.extend(rejected_by_fp[fp].issues)
        else:
            issues.append(
                Issue(
                    origin,
                    None,
                    "problem",
                    f"the paper's problem with index {index} (fingerprint {fp}) is not in the source",
                )
            )
    notes = []
    ignored = [r.row for r in rejected if not r.problem or fingerprint(r.problem) not in canon_fps]
    if ignored:
        notes.append(f"ignored {len(ignored)} invalid source row(s) outside the paper's set: {ignored[:10]}")
    unused = sum(1 for fp in first if fp not in canon_fps)
    if unused:
        notes.append(f"{unused} valid source problem(s) are not in the paper's set")
    if repeats:
        notes.append(f"{repeats} source row(s) repeat an earlier problem's exact text; the first one was used")
    return Selection(chosen, issues, notes)
