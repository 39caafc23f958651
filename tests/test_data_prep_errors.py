"""Bad input fails loudly, naming file, row and field; --drop-invalid lists every dropped row;
output files are written atomically."""

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_prep import writer
from data_prep.layouts import read_records
from data_prep.prepare import prepare
from data_prep.records import DataError
from data_prep.sources import Source
from data_prep.templates import qwen_boxed


def _aime(n: int = 30) -> list[dict]:
    return [{"problem": f"Problem number {i}.", "answer": str(i), "year": 2024} for i in range(n)]


def _with(rows: list[dict], i: int, **changes) -> list[dict]:
    rows = [dict(r) for r in rows]
    rows[i].update(changes)
    return [{k: v for k, v in r.items() if v is not ...} for r in rows]


def _processed(n: int = 30) -> list[dict]:
    return [
        {
            "data_source": "AIME2024",
            "prompt": qwen_boxed(f"P{i}"),
            "ability": "math",
            "reward_model": {"ground_truth": str(i), "style": "rule"},
            "extra_info": {"index": i, "split": "test"},
        }
        for i in range(n)
    ]


def _write(tmp_path: Path, rows, name: str = "src.json") -> Path:
    path = tmp_path / name
    if name.endswith(".parquet"):
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        path.write_text(rows if isinstance(rows, str) else json.dumps(rows))
    return path


BAD_SOURCES = [
    ("missing problem field", _with(_aime(), 3, problem=...), "row 3: field 'problem': missing"),
    ("empty problem", _with(_aime(), 4, problem="  "), "row 4: field 'problem': empty"),
    ("problem not text", _with(_aime(), 4, problem=12), "row 4: field 'problem': not text: 12"),
    ("empty answer", _with(_aime(), 5, answer=""), "row 5: field 'answer': missing or empty answer: ''"),
    ("null answer", _with(_aime(), 6, answer=None), "row 6: field 'answer': missing or empty answer: None"),
    ("unreadable meta field", _with(_aime(), 2, year="soon"), "row 2: field 'year': cannot read 'soon' as int64"),
    (
        "duplicate problem",
        _with(_aime(), 7, problem="Problem  number 2."),
        "row 7: field 'problem': duplicate problem: same text as row 2",
    ),
    ("too few rows", _aime(29), "aime2024 output has 29 rows; expected 30"),
    ("too many rows", _aime(31), "aime2024 output has 31 rows; expected 30"),
    ("unknown layout", [{"q": "x", "a": "1"}] * 30, "unknown field layout: fields ['a', 'q']"),
    ("not a list", {"problem": "x"}, "expected a JSON list of problems, got a JSON dict"),
    ("row not an object", ["just text"] * 30, "row 0: expected an object with named fields, got str"),
    ("no rows", [], "no rows"),
    ("broken JSON", '[{"problem": "x",', "not valid JSON"),
]


@pytest.mark.parametrize("case, rows, message", BAD_SOURCES, ids=[c[0] for c in BAD_SOURCES])
def test_bad_sources_fail_naming_file_row_and_field(tmp_path, case, rows, message):
    source = _write(tmp_path, rows)
    with pytest.raises(DataError) as err:
        prepare("aime2024", tmp_path / "out", source=str(source))
    assert str(source) in str(err.value)
    assert message in str(err.value)
    assert not (tmp_path / "out").exists()


BAD_PROCESSED = [
    (
        "unknown prompt layout",
        _with(_processed(), 1, prompt=[{"role": "user", "content": "P1"}]),
        "row 1: field 'prompt'",
    ),
    (
        "empty ground truth",
        _with(_processed(), 2, reward_model={"ground_truth": " ", "style": "rule"}),
        "row 2: field 'reward_model.ground_truth'",
    ),
    (
        "bad extra_info field",
        _with(_processed(), 3, extra_info={"index": 3, "split": "test", "year": "later"}),
        "row 3: field 'extra_info.year': cannot read 'later' as int64",
    ),
    (
        "duplicate row",
        _with(_processed(), 9, extra_info={"index": 4, "split": "test"}),
        "row 9: field 'extra_info.index': duplicate row: index 4 is also row 4",
    ),
]


@pytest.mark.parametrize("case, rows, message", BAD_PROCESSED, ids=[c[0] for c in BAD_PROCESSED])
def test_bad_processed_files_fail_naming_row_and_field(tmp_path, case, rows, message):
    source = _write(tmp_path, rows, "processed.parquet")
    with pytest.raises(DataError, match="processed.parquet") as err:
        prepare("aime2024", tmp_path, source=str(source))
    assert message in str(err.value)


@pytest.mark.parametrize("solution", ["The answer is 4.", "So \\boxed{ }.", "\\boxed{4"])
def test_math_solution_without_a_usable_box_is_named(solution):
    rows = [{"problem": "P", "solution": "\\boxed{1}"}, {"problem": "Q", "solution": solution}]
    layout, records, rejected = read_records(Source("math.json", rows))
    assert layout == "problem_solution" and [r.answer for r in records] == ["1"]
    assert [str(i) for r in rejected for i in r.issues] == [
        "math.json: row 1: field 'solution': no non-empty \\boxed{} answer in the solution"
    ]


@pytest.mark.parametrize(
    "name, message",
    [("missing.json", "no such file"), ("data.csv", "unsupported file type '.csv'")],
)
def test_unusable_paths_are_errors(tmp_path, name, message):
    (tmp_path / "data.csv").write_text("problem,answer\n")
    with pytest.raises(DataError, match=message):
        prepare("aime2024", tmp_path, source=str(tmp_path / name))


def test_jsonl_error_names_the_line(tmp_path):
    source = tmp_path / "src.jsonl"
    source.write_text('{"problem": "a", "answer": "1"}\n{oops\n')
    with pytest.raises(DataError, match=r"src.jsonl: line 2: not valid JSON"):
        prepare("aime2024", tmp_path, source=str(source))


def test_drop_invalid_keeps_going_and_lists_every_dropped_row(tmp_path):
    rows = _aime(32)
    rows[3]["answer"] = ""
    rows[10]["problem"] = rows[1]["problem"]
    path, text = prepare("aime2024", tmp_path, source=str(_write(tmp_path, rows)), drop_invalid=True)
    written = pq.read_table(path).to_pylist()
    assert len(written) == 30
    assert [r["extra_info"]["index"] for r in written] == [i for i in range(32) if i not in (3, 10)]
    dropped = [line for line in text.splitlines() if line.strip().startswith("dropped:")]
    assert len(dropped) == 2
    assert "row 3: field 'answer'" in dropped[0] and "row 10: field 'problem': duplicate" in dropped[1]
    assert "WARNING" not in text


def test_drop_invalid_turns_a_wrong_count_into_a_warning(tmp_path):
    path, text = prepare("aime2024", tmp_path, source=str(_write(tmp_path, _aime(29))), drop_invalid=True)
    assert len(pq.read_table(path)) == 29
    assert "WARNING: " in text and "aime2024 output has 29 rows; expected 30" in text


def test_a_crash_while_writing_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    source = str(_write(tmp_path, _aime()))
    path, _ = prepare("aime2024", tmp_path / "out", source=source)
    before = path.read_bytes()

    def crash(table, f):
        f.write(b"PAR1 half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(writer.pq, "write_table", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        prepare("aime2024", tmp_path / "out", source=source)
    assert path.read_bytes() == before
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["aime2024.parquet"]
