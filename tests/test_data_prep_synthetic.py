"""Sources there is no local copy of (DeepScaleR's 40k set, MATH train, AIME 2025, Hub layouts),
tested with synthetic files shaped like them. No test here touches the network: Hub loading goes
through a fake loader."""

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_prep.prepare import prepare
from data_prep.records import DataError
from data_prep.selection import load_indices, paper_sample

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO / "release_data" / "datasets"  # the release's processed parquet files, carried as released


# Rows of the 40k set the release dropped for an empty answer: one in each gap of its pandas index.
EMPTY_ANSWER_ROWS = (6327, 6336, 6407, 6414, 38209, 38211)


def _rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def _write_parquet(rows: list[dict], path: Path) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _write_jsonl(rows: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


class FakeHub:
    """Stands in for datasets.load_dataset: records calls, serves rows per (repo, config)."""

    class _Split:
        def __init__(self, rows):
            self._rows = rows

        def to_list(self):
            return list(self._rows)

    def __init__(self, data: dict):
        self.data, self.calls = data, []

    def __call__(self, repo, config, split):
        self.calls.append((repo, config, split))
        return self._Split(self.data[(repo, config)])


@pytest.fixture(scope="module")
def release_17k() -> list[dict]:
    return _rows(DATASETS / "deepscaler_17k.parquet")


@pytest.fixture(scope="module")
def deepscaler_40k(tmp_path_factory, release_17k) -> Path:
    """A 40,315-row file in DeepScaleR-Preview's layout holding the release's 17k problems at their
    40k rows, filler elsewhere, and empty answers where the release dropped rows."""
    rows = [{"problem": f"filler problem {i}", "answer": str(i), "solution": "..."} for i in range(40_315)]
    for row in release_17k:
        rows[row["extra_info"]["index"]] = {
            "problem": row["prompt"][1]["content"],
            "answer": row["reward_model"]["ground_truth"],
            "solution": "...",
        }
    for i in EMPTY_ANSWER_ROWS:
        rows[i]["answer"] = ""
    return _write_parquet(rows, tmp_path_factory.mktemp("ds") / "deepscaler_40k.parquet")


def test_deepscaler_17k_from_the_40k_set_equals_the_release_file(tmp_path, deepscaler_40k, release_17k):
    path, text = prepare("deepscaler_17k", tmp_path, source=str(deepscaler_40k))
    ours = _rows(path)
    assert [r["prompt"] for r in ours] == [r["prompt"] for r in release_17k]
    assert [r["reward_model"] for r in ours] == [r["reward_model"] for r in release_17k]
    assert [r["extra_info"]["index"] for r in ours] == [r["extra_info"]["index"] for r in release_17k]
    assert "ignored 6 invalid source row(s) outside the paper's sample" in text
    assert "the release's sampler (RandomState(42) over 40309 readable rows) reproduces the shipped selection" in text


def test_paper_generator_on_the_40k_set_gives_the_shipped_selection(deepscaler_40k):
    answers = pq.read_table(deepscaler_40k, columns=["answer"]).column("answer").to_pylist()
    kept = [i for i, a in enumerate(answers) if a.strip()]
    assert len(kept) == 40_309
    assert paper_sample(kept) == load_indices()


def test_a_truncated_40k_set_fails_naming_count_and_missing_rows(tmp_path, deepscaler_40k):
    rows = _rows(deepscaler_40k)[:40_000]
    source = _write_parquet(rows, tmp_path / "short.parquet")
    with pytest.raises(DataError) as err:
        prepare("deepscaler_17k", tmp_path, source=str(source))
    message = str(err.value)
    assert "short.parquet" in message and "the raw source has 40000 rows; expected 40315" in message
    assert "no row with index" in message
    assert not (tmp_path / "deepscaler_17k.parquet").exists()


def test_math_train_from_a_full_math_training_set_equals_the_release_file(tmp_path):
    """A 7,500-problem MATH layout (problem, level, type, solution) in another order; the ground
    truth is the solution's last box."""
    release = _rows(DATASETS / "math_train.parquet")
    rows = [
        {
            "problem": r["prompt"][1]["content"],
            "level": "Level 3",
            "type": "Algebra",
            "solution": "We first get $\\boxed{wrong}$, then the answer is "
            f"$\\boxed{{{r['reward_model']['ground_truth']}}}$.",
        }
        for r in release
    ]
    rows += [
        {"problem": f"extra {i}", "level": "Level 1", "type": "Geometry", "solution": "\\boxed{1}"} for i in range(30)
    ]
    random.Random(0).shuffle(rows)
    path, text = prepare("math_train", tmp_path, source=str(_write_jsonl(rows, tmp_path / "math.jsonl")))
    ours = _rows(path)
    assert [r["prompt"] for r in ours] == [r["prompt"] for r in release]
    assert [r["reward_model"] for r in ours] == [r["reward_model"] for r in release]
    assert [r["extra_info"]["index"] for r in ours] == [r["extra_info"]["index"] for r in release]
    assert ours[0]["extra_info"]["level"] == "Level 3" and ours[0]["extra_info"]["subject"] == "Algebra"
    assert "30 valid source problem(s) are not in the paper's set" in text


def _aime2025_rows(n: int = 30) -> list[dict]:
    return [
        {
            "id": str(i),
            "problem": f"AIME 2025 problem {i}: find $n$.",
            "answer": str(100 + i),
            "year": 2025,
            "url": f"https://example.org/{i}",
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("writer, suffix", [(_write_jsonl, "jsonl"), (_write_parquet, "parquet")])
def test_aime2025_from_a_locally_saved_copy(tmp_path, writer, suffix):
    source = writer(_aime2025_rows(), tmp_path / f"aime25.{suffix}")
    path, text = prepare("aime2025", tmp_path / "out", source=str(source))
    rows = _rows(path)
    assert len(rows) == 30 and {r["data_source"] for r in rows} == {"AIME2025"}
    assert rows[3]["reward_model"]["ground_truth"] == "103"
    assert (rows[3]["extra_info"]["year"], rows[3]["extra_info"]["unique_id"]) == (2025, "3")
    assert "aime2025: wrote" in text and "data_source AIME2025" in text


def test_aime2025_from_the_hub_concatenates_the_two_opencompass_configs(tmp_path):
    half = [{"question": f"Problem {i}", "answer": str(i)} for i in range(30)]
    hub = FakeHub(
        {("opencompass/AIME2025", "AIME2025-I"): half[:15], ("opencompass/AIME2025", "AIME2025-II"): half[15:]}
    )
    path, text = prepare("aime2025", tmp_path, source="opencompass/AIME2025", hub_loader=hub)
    assert hub.calls == [
        ("opencompass/AIME2025", "AIME2025-I", "test"),
        ("opencompass/AIME2025", "AIME2025-II", "test"),
    ]
    assert [r["prompt"][1]["content"] for r in _rows(path)] == [f"Problem {i}" for i in range(30)]
    assert "hub:opencompass/AIME2025:AIME2025-I,AIME2025-II@test" in text


def test_from_hub_uses_the_default_hub_id(tmp_path):
    hub = FakeHub({("math-ai/aime25", None): _aime2025_rows()})
    prepare("aime2025", tmp_path, from_hub=True, hub_loader=hub)
    assert hub.calls == [("math-ai/aime25", None, "test")]


def test_olympiadbench_hub_layout_with_list_answers_and_context(tmp_path):
    rows = [
        {
            "id": i,
            "question": f"Q{i}",
            "final_answer": [f"${i}$"],
            "context": "Setup." if i == 0 else None,
            "unit": None,
            "answer_type": "Numerical",
            "subfield": "Algebra",
            "solution": ["..."],
        }
        for i in range(675)
    ]
    hub = FakeHub({("Hothan/OlympiadBench", "OE_TO_maths_en_COMP"): rows})
    path, _ = prepare("olympiadbench", tmp_path, source="Hothan/OlympiadBench", hub_loader=hub)
    out = _rows(path)
    assert hub.calls == [("Hothan/OlympiadBench", "OE_TO_maths_en_COMP", "train")]
    assert out[0]["prompt"][1]["content"] == "Setup.\n\nQ0"
    assert out[5]["reward_model"]["ground_truth"] == "5"
    assert out[5]["extra_info"]["subject"] == "Algebra"


def test_a_hub_failure_is_reported_with_the_dataset_id(tmp_path):
    def broken(repo, config, split):
        raise ConnectionError("offline")

    with pytest.raises(DataError, match=r"hub:math-ai/aime25@test: could not load \(ConnectionError: offline\)"):
        prepare("aime2025", tmp_path, from_hub=True, hub_loader=broken)


@pytest.mark.parametrize("as_dict", [False, True])
def test_a_save_to_disk_folder_is_a_local_source(tmp_path, as_dict):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list(_aime2025_rows())
    folder = tmp_path / "saved"
    (datasets.DatasetDict({"test": ds, "other": ds}) if as_dict else ds).save_to_disk(str(folder))
    source = f"{folder}@test" if as_dict else str(folder)
    path, _ = prepare("aime2025", tmp_path / "out", source=source)
    assert len(_rows(path)) == 30


def test_a_paper_problem_whose_solution_has_no_box_fails_naming_its_row(tmp_path):
    release = _rows(DATASETS / "math_train.parquet")
    rows = [
        {"problem": r["prompt"][1]["content"], "solution": f"\\boxed{{{r['reward_model']['ground_truth']}}}"}
        for r in release
    ]
    rows[5]["solution"] = "no box"
    with pytest.raises(DataError, match=r"math.jsonl: row 5: field 'solution': no non-empty \\boxed\{\} answer"):
        prepare("math_train", tmp_path, source=str(_write_jsonl(rows, tmp_path / "math.jsonl")))
