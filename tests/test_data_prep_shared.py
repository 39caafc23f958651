"""prepare.py against the release's real files (carried in release_data/): eval sets reproduced row for row from
raw/, training sets round-tripped from datasets/, shipped selections equal to what the release gives."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from data_prep import make_selections
from data_prep.prepare import overlaps_in, prepare
from data_prep.selection import DEEPSCALER_INDICES, MATH_TRAIN_FINGERPRINTS, load_indices, paper_sample

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO / "release_data" / "datasets"  # the release's processed parquet files, carried as released


def _rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def _same_answer(ours: str, theirs: str) -> bool:
    """Equal as text, or as numbers (the release wrote AMC answers as '142.0'; we write '142')."""
    if ours == theirs:
        return True
    try:
        return float(ours) == float(theirs)
    except ValueError:
        return False


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    """Every set with a local source, prepared once with defaults."""
    out = tmp_path_factory.mktemp("prepared")
    for name in ("aime2024", "amc2023", "math500", "minerva", "olympiadbench", "deepscaler_17k", "math_train"):
        prepare(name, out)
    return out


@pytest.mark.parametrize("name", ["aime2024", "amc2023", "math500"])
def test_eval_sets_from_raw_reproduce_the_release_files_row_for_row(out, name):
    ours, theirs = _rows(out / f"{name}.parquet"), _rows(DATASETS / f"{name}.parquet")
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        assert o["data_source"] == t["data_source"]
        assert o["prompt"] == t["prompt"]
        assert _same_answer(o["reward_model"]["ground_truth"], t["reward_model"]["ground_truth"])
        assert o["reward_model"]["style"] == t["reward_model"]["style"] == "rule"
        assert o["ability"] == t["ability"]
        assert (o["extra_info"]["index"], o["extra_info"]["split"]) == (
            t["extra_info"]["index"],
            t["extra_info"]["split"],
        )


def test_numeric_amc_answers_are_written_as_integers(out):
    answers = [r["reward_model"]["ground_truth"] for r in _rows(out / "amc2023.parquet")]
    assert answers[0] == "142" and not any(a.endswith(".0") for a in answers)


@pytest.mark.parametrize(
    "name, raw_name, size, data_source",
    [("minerva", "minerva", 272, "Minerva"), ("olympiadbench", "olympiad_bench", 675, "OlympiadBench")],
)
def test_other_eval_sets_keep_every_raw_problem_in_order(release_dir, out, name, raw_name, size, data_source):
    raw = json.loads((release_dir / "raw" / f"{raw_name}.json").read_text())
    ours = _rows(out / f"{name}.parquet")
    assert len(ours) == len(raw) == size
    assert [r["prompt"][1]["content"] for r in ours] == [r["problem"] for r in raw]
    assert {r["data_source"] for r in ours} == {data_source}
    assert all(r["reward_model"]["ground_truth"] and "$" not in r["reward_model"]["ground_truth"] for r in ours)


def test_minerva_keeps_alternative_answers(out):
    row = _rows(out / "minerva.parquet")[10]
    assert row["reward_model"]["ground_truth"] == "0.01"
    assert row["extra_info"]["answers"] == ["0.01", "0.02"]


@pytest.mark.parametrize("name", ["deepscaler_17k", "math_train"])
def test_training_sets_round_trip_from_the_release_files(out, name):
    ours, theirs = _rows(out / f"{name}.parquet"), _rows(DATASETS / f"{name}.parquet")
    assert len(ours) == len(theirs)
    assert [r["prompt"] for r in ours] == [r["prompt"] for r in theirs]
    assert [r["reward_model"] for r in ours] == [r["reward_model"] for r in theirs]
    assert [r["extra_info"]["index"] for r in ours] == [r["extra_info"]["index"] for r in theirs]
    assert {r["data_source"] for r in ours} == {"math"}  # the release's math_train has '' here


def test_no_written_file_has_an_empty_data_source(out):
    for path in out.glob("*.parquet"):
        assert all(r["data_source"] for r in _rows(path)), path


def test_shipped_selection_files_equal_what_the_release_files_give():
    assert DEEPSCALER_INDICES.read_bytes() == make_selections.gzip_text(
        make_selections.deepscaler_text(DATASETS / "deepscaler_17k.parquet")
    )
    assert MATH_TRAIN_FINGERPRINTS.read_bytes() == make_selections.gzip_text(
        make_selections.math_train_text(DATASETS / "math_train.parquet")
    )


def test_paper_generator_reproduces_the_release_sample_from_its_pandas_index():
    """The release file kept pandas' index: row numbers after dropping 6 empty-answer rows.
    RandomState(42).permutation(40309)[:17000] gives exactly those numbers, in file order."""
    table = pq.read_table(DATASETS / "deepscaler_17k.parquet")
    pandas_index = table.column("__index_level_0__").to_pylist()
    assert paper_sample(list(range(40_309))) == pandas_index
    # and the shift between pandas' index and the 40k row grows by one at each of 6 dropped rows
    shifts = sorted((e - p, e) for e, p in zip(load_indices(), pandas_index))
    assert sorted({s for s, _ in shifts}) == [0, 1, 2, 3, 4, 5, 6]


def test_overlap_report_on_the_real_sets(out):
    found = {(o.eval_name, o.train_name): len(o.pairs) for o in overlaps_in(out)}
    assert len(found) == 5 * 2
    assert found[("math500", "math_train")] == 0
    assert found[("math500", "deepscaler_17k")] == 2
