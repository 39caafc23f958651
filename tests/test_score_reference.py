"""`verl-ext score` output is byte-identical, on every preset, to a reference taken before the scoring core was
rebuilt (tests/reference/score_presets.json, written by commit "score reference" from the code of 8add065).

The input is built from the carried release outputs: the 30 AIME 2024 problems, each with the responses of the
release's 3 runs x 3 checkpoints (9 responses: one group per problem), their token counts and ground truths, plus
deterministic per-token log-probabilities (from a hash of the response's place in the release) for the
log-probability presets. Group-level presets vote over real model answers; sample-level ones score each response."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from verl_ext.scoring import ScoreOptions, score_files

REPO = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((REPO / "tests" / "reference" / "score_presets.json").read_text(encoding="utf-8"))
INPUT_NAME = "aime_groups.jsonl"


def release_groups_input() -> str:
    """The reference input as JSONL text (its SHA-256 is recorded beside the expected outputs)."""
    files = sorted((REPO / "release_data" / "outputs").glob("*/*/res_all_AIME2024.json.gz"))
    assert len(files) == 9, files
    rows = []
    for path in files:
        run, step = path.parts[-3], path.parts[-2]
        for i, record in enumerate(json.loads(gzip.decompress(path.read_bytes()))):
            seed = hashlib.sha256(f"{run}/{step}/{i}".encode()).digest()
            count = 4 + seed[0] % 13
            logprobs = [-((seed[(k % 31) + 1] + 1) / 256.0) * (1 + k % 3) for k in range(count)]
            rows.append(
                {
                    "problem": record["problem"],
                    "response": record["response"],
                    "ground_truth": record["ground_truth"],
                    "response_token_len": int(record["response_token_len"]),
                    "run": run,
                    "release_step": int(step),
                    "response_logprobs": logprobs,
                }
            )
    rows.sort(key=lambda r: (r["problem"], r["run"], r["release_step"]))
    return "".join(json.dumps(row) + "\n" for row in rows)


@pytest.fixture(scope="module")
def reference_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("score_reference")
    text = release_groups_input()
    assert hashlib.sha256(text.encode()).hexdigest() == REFERENCE["input_sha256"]
    (folder / INPUT_NAME).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("preset", sorted(REFERENCE["presets"]))
def test_score_output_is_byte_identical_to_the_reference(preset, reference_input, monkeypatch):
    monkeypatch.chdir(reference_input)  # records name their source as given: a relative path, as in the reference
    output = reference_input / f"scored_{preset}.jsonl"
    score_files([INPUT_NAME], output, ScoreOptions(reward=preset, workers=1), progress=False)
    written = output.read_bytes()
    expected = REFERENCE["presets"][preset]
    assert [json.loads(line)["score"] for line in written.splitlines()] == expected["scores"]
    assert hashlib.sha256(written).hexdigest() == expected["sha256"]
