"""Generation readers (verl_ext.io): every supported layout, and a clear error naming file and place for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from verl_ext.io import InputError, read_generations, write_jsonl
from verl_ext.io.jsonl import iter_jsonl

AIME_STEP0 = "outputs/grpo-deepscaler_17k-7b_math-bs_128-3k-zs_qwen-r_a_g_f/0/res_all_AIME2024.json"
AMC_STEP0 = "outputs/grpo-deepscaler_17k-7b_math-bs_128-3k-zs_qwen-r_a_g_f/0/res_AMC2023.json"


def _jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _parquet(path: Path, records: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(records), path)
    return path


# --- layouts -------------------------------------------------------------------------------------


def test_verl_dump_maps_output_and_gts_and_keeps_every_field(tmp_path):
    # the keys of veRL 0.9.1 RayPPOTrainer._write_generations, plus reward_extra_info keys
    records = [
        {
            "input": "user: 1+1?",
            "output": "so \\boxed{2}",
            "gts": "2",
            "score": 1.0,
            "step": 5,
            "reward": 1.0,
            "acc": True,
        },
        {"input": "user: 2+2?", "output": "no box", "gts": None, "score": 0.0, "step": 5, "reward": 0.0, "acc": False},
    ]
    layout, samples = read_generations(_jsonl(tmp_path / "5.jsonl", records))
    assert layout == "verl_dump"
    assert [s.response for s in samples] == ["so \\boxed{2}", "no box"]
    assert [s.ground_truth for s in samples] == ["2", None]
    assert [s.response_tokens for s in samples] == [None, None]
    assert samples[0].fields == records[0]
    assert samples[1].location.endswith("5.jsonl: line 2")


def test_release_json_list_reads_token_counts(release_dir):
    layout, samples = read_generations(release_dir / AIME_STEP0)
    assert layout == "flat"
    assert len(samples) == 30
    assert samples[0].ground_truth == "204"
    assert samples[0].response_tokens == 860
    assert samples[0].where == "item 1"


def test_release_file_without_token_counts_reads_none(release_dir):
    _, samples = read_generations(release_dir / AMC_STEP0)
    assert len(samples) == 83
    assert all(s.response_tokens is None for s in samples)
    assert samples[0].ground_truth == "142.0"


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("response_token_len", "860", 860),
        ("response_token_len", 860, 860),
        ("response_length", 12.0, 12),
        ("response_tokens", "7.0", 7),
        ("response_token_len", "", None),
        ("response_token_len", None, None),
    ],
)
def test_token_count_fields_and_encodings(tmp_path, field, value, expected):
    path = _jsonl(tmp_path / "g.jsonl", [{"response": "r", "ground_truth": "1", field: value}])
    assert read_generations(path)[1][0].response_tokens == expected


@pytest.mark.parametrize(
    "truth, expected",
    [("\\frac{1}{2}", "\\frac{1}{2}"), (142, "142"), (142.0, "142.0"), ("  ", None), (None, None)],
)
def test_ground_truth_becomes_text_or_none(tmp_path, truth, expected):
    path = _jsonl(tmp_path / "g.jsonl", [{"response": "r", "ground_truth": truth}])
    assert read_generations(path)[1][0].ground_truth == expected


def test_flat_parquet_with_verl_reward_model_column(tmp_path):
    records = [{"response": "\\boxed{3}", "reward_model": {"ground_truth": "3", "style": "rule"}, "data_source": "X"}]
    layout, samples = read_generations(_parquet(tmp_path / "g.parquet", records))
    assert layout == "flat"
    assert samples[0].ground_truth == "3"
    assert samples[0].fields["reward_model"] == {"ground_truth": "3", "style": "rule"}
    assert samples[0].where == "row 1"


def test_generation_lists_become_one_sample_per_response(tmp_path):
    records = [
        {
            "prompt": [{"role": "user", "content": "p1"}],
            "reward_model": {"ground_truth": "1"},
            "data_source": "D",
            "responses": ["a \\boxed{1}", "b \\boxed{2}"],
            "response_token_lens": [10, 20],
        },
        {
            "prompt": [{"role": "user", "content": "p2"}],
            "reward_model": {"ground_truth": "5"},
            "data_source": "D",
            "responses": ["c", "d"],
            "response_token_lens": [30, 3072],
        },
    ]
    layout, samples = read_generations(_parquet(tmp_path / "gen.parquet", records))
    assert layout == "generation_lists"
    assert [s.response for s in samples] == ["a \\boxed{1}", "b \\boxed{2}", "c", "d"]
    assert [s.response_tokens for s in samples] == [10, 20, 30, 3072]
    assert [s.ground_truth for s in samples] == ["1", "1", "5", "5"]
    assert [s.fields["sample_index"] for s in samples] == [0, 1, 0, 1]
    assert "responses" not in samples[0].fields and samples[0].fields["prompt"] == [{"role": "user", "content": "p1"}]
    assert samples[3].where == "row 2 sample 2"


def test_generation_lists_without_token_counts(tmp_path):
    # veRL's main_generation_server writes `responses` only
    records = [
        {"prompt": [{"role": "user", "content": "p"}], "reward_model": {"ground_truth": "1"}, "responses": ["x", "y"]}
    ]
    _, samples = read_generations(_parquet(tmp_path / "gen.parquet", records))
    assert [s.response_tokens for s in samples] == [None, None]


def test_json_suffix_holding_jsonl_is_read_as_jsonl(tmp_path):
    path = _jsonl(tmp_path / "g.json", [{"response": "a"}, {"response": "b"}])
    assert [s.where for s in read_generations(path)[1]] == ["line 1", "line 2"]


def test_blank_lines_of_jsonl_are_not_records(tmp_path):
    path = tmp_path / "g.jsonl"
    path.write_text('{"response": "a"}\n\n   \n{"response": "b"}\n', encoding="utf-8")
    assert [s.where for s in read_generations(path)[1]] == ["line 1", "line 4"]


# --- bad input -----------------------------------------------------------------------------------

BAD_INPUTS = [
    # name, file name, content (str written as text, bytes as bytes), expected words in the error
    ("unknown suffix", "g.csv", "response,ground_truth\n", ["g.csv", "unknown format '.csv'"]),
    ("empty file", "g.jsonl", "", ["g.jsonl", "empty file"]),
    ("only whitespace", "g.json", "  \n\n", ["g.json", "empty file"]),
    (
        "truncated last JSONL line",
        "g.jsonl",
        '{"response": "a"}\n{"response": "b", "ground',
        ["g.jsonl: line 2", "truncated"],
    ),
    # '{"response": "b",' is 17 characters: the record stops at column 18 of line 2, not "line 2 column 1" of the
    # line's newline
    (
        "cut line with its newline",
        "g.jsonl",
        '{"response": "a"}\n{"response": "b", \n{"response": "c"}\n',
        ["g.jsonl: line 2: not valid JSON: the record stops at column 18", "truncated line?"],
    ),
    (
        "cut inside a string",
        "g.jsonl",
        '{"response": "a"}\n{"response": "b", "ground\n',
        ["g.jsonl: line 2: not valid JSON: the record stops at column 26 inside a string that starts at column 19"],
    ),
    (
        "bad character mid-line",
        "g.jsonl",
        '{"response": "a"}\n{"response": x}\n',
        ["g.jsonl: line 2: not valid JSON: Expecting value at column 14"],
    ),
    # the file ends after '{"response": "b"}' on line 2, whose last character is column 19 (a leading space)
    (
        "JSON list cut after an element",
        "g.json",
        '[{"response": "a"},\n {"response": "b"},\n',
        ["g.json: line 2 column 19", "stops early"],
    ),
    (
        "bad JSONL line in the middle",
        "g.jsonl",
        '{"response": "a"}\n{oops}\n{"response": "c"}\n',
        ["g.jsonl: line 2", "not valid JSON"],
    ),
    ("truncated JSON list", "g.json", '[{"response": "a"},\n {"response": "b"', ["g.json: line 2", "not valid JSON"]),
    ("empty JSON list", "g.json", "[]", ["g.json", "no records"]),
    ("list of non-objects", "g.json", '[{"response": "a"}, 3]', ["g.json: item 2", "expected a JSON object"]),
    (
        "JSONL line not an object",
        "g.jsonl",
        '{"response": "a"}\n[1, 2]\n',
        ["g.jsonl: line 2", "expected a JSON object"],
    ),
    ("not JSON at all", "g.json", "response: a\n", ["g.json: line 1", "neither a JSON list nor JSONL"]),
    (
        "unknown record layout",
        "g.jsonl",
        '{"text": "a", "answer": "1"}\n',
        ["g.jsonl: line 1", "unknown record layout", "answer, text"],
    ),
    (
        "later record misses the response",
        "g.jsonl",
        '{"response": "a"}\n{"response": "b"}\n{"resp": "c"}\n',
        ["g.jsonl: line 3", "missing field 'response'"],
    ),
    (
        "veRL dump line misses output",
        "5.jsonl",
        '{"input": "p", "output": "a", "gts": "1"}\n{"input": "p", "gts": "1"}\n',
        ["5.jsonl: line 2", "missing field 'output'"],
    ),
    ("response is not text", "g.jsonl", '{"response": 12}\n', ["g.jsonl: line 1", "must be text"]),
    (
        "token count not a number",
        "g.jsonl",
        '{"response": "a", "response_token_len": "many"}\n',
        ["line 1", "response_token_len must be a whole number"],
    ),
    ("negative token count", "g.jsonl", '{"response": "a", "response_length": -3}\n', ["line 1", ">= 0"]),
    (
        "ground truth a mapping",
        "g.jsonl",
        '{"response": "a", "ground_truth": {"x": 1}}\n',
        ["line 1", "ground truth must be text or a number"],
    ),
    ("not UTF-8", "g.jsonl", b'{"response": "\xff\xfe"}\n', ["g.jsonl", "UTF-8"]),
    ("parquet that is not parquet", "g.parquet", "PAR1 not really", ["g.parquet", "not a readable parquet file"]),
]


@pytest.mark.parametrize("name, filename, content, words", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_fails_with_file_and_place(tmp_path, name, filename, content, words):
    path = tmp_path / filename
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with pytest.raises(InputError) as caught:
        read_generations(path)
    for word in words:
        assert word in str(caught.value), (word, str(caught.value))


def test_missing_file_and_directory_are_named(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_generations(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="is a directory"):
        read_generations(tmp_path)


def test_empty_parquet_table_is_an_error(tmp_path):
    path = tmp_path / "g.parquet"
    pq.write_table(pa.table({"response": pa.array([], pa.string())}), path)
    with pytest.raises(InputError, match="no records"):
        read_generations(path)


@pytest.mark.parametrize(
    "record, words",
    [
        ({"responses": []}, ["row 1", "non-empty list"]),
        ({"responses": ["a", "b"], "response_token_lens": [1]}, ["row 1", "as long as 'responses'"]),
        ({"responses": ["a", None]}, ["row 1 sample 2", "must be text"]),
    ],
)
def test_bad_generation_lists(tmp_path, record, words):
    path = tmp_path / "g.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_generations(path)
    # JSONL places are lines; the words name the sample within the record
    message = str(caught.value).replace("line 1", "row 1")
    for word in words:
        assert word in message


# --- writer --------------------------------------------------------------------------------------


def test_write_jsonl_round_trips_and_escapes_lone_surrogates(tmp_path):
    rows = [{"text": "ünïcode ∑", "n": 1}, {"text": "lone \ud800 surrogate", "n": 2}]
    path = tmp_path / "out" / "rows.jsonl"
    assert write_jsonl(rows, path) == 2
    back = [record for _, record in iter_jsonl(path)]
    assert back == rows
    assert "ünïcode ∑" in path.read_text(encoding="utf-8")  # readable text where it can be


def test_write_jsonl_leaves_no_file_when_rows_fail(tmp_path):
    def rows():
        yield {"a": 1}
        raise RuntimeError("scoring failed")

    path = tmp_path / "rows.jsonl"
    with pytest.raises(RuntimeError):
        write_jsonl(rows(), path)
    assert list(tmp_path.iterdir()) == []
