"""The command line: one set, --all, --check-overlap, --list, usage errors, script mode."""

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from data_prep.prepare import main

REPO = Path(__file__).resolve().parents[1]


def test_one_set_prints_rows_data_source_and_a_sample_prompt(tmp_path, capsys):
    assert main(["math500", "--out", str(tmp_path), "--template", "plain_boxed"]) == 0
    out = capsys.readouterr().out
    assert f"math500: wrote {tmp_path / 'math500.parquet'} (500 rows, data_source MATH500, template plain_boxed)" in out
    assert "sample prompt: [user] Convert the point $(0,3)$" in out
    rows = pq.read_table(tmp_path / "math500.parquet").to_pylist()
    assert rows[0]["prompt"][0]["content"].endswith(
        "\nPlease reason step by step, and put your final answer within \\boxed{}."
    )


def test_all_writes_every_local_set_skips_aime2025_and_reports_overlap(tmp_path, capsys):
    assert main(["--all", "--out", str(tmp_path), "--check-overlap"]) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{n}.parquet"
        for n in ("deepscaler_17k", "math_train", "aime2024", "amc2023", "math500", "minerva", "olympiadbench")
    )
    assert "aime2025: skipped: aime2025: no local source" in out and "math-ai/aime25" in out
    assert "math500 (500) in deepscaler_17k: 2" in out
    assert "done: 7 written, 1 skipped ['aime2025'], 0 failed []" in out


def test_a_set_without_a_source_fails_with_the_hub_ids_to_use(tmp_path, capsys):
    assert main(["aime2025", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "pass --source FILE_OR_HUB_ID or --from-hub" in err and "yentinglin/aime_2025" in err


def test_a_bad_source_exits_1_with_the_reason(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"q": 1}]')
    assert main(["aime2024", "--source", str(bad), "--out", str(tmp_path)]) == 1
    assert "unknown field layout" in capsys.readouterr().err


def test_list_names_every_set_and_hub_id(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    for text in (
        "deepscaler_17k",
        "agentica-org/DeepScaleR-Preview-Dataset",
        "HuggingFaceH4/MATH-500@test",
        "olympiadbench",
    ):
        assert text in out


@pytest.mark.parametrize(
    "argv", [[], ["--all", "aime2024"], ["--all", "--source", "x.json"], ["--source", "x.json"], ["nope"]]
)
def test_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 2


def test_check_overlap_alone_reports_on_existing_files(tmp_path, capsys):
    assert main(["--check-overlap", "--out", str(tmp_path)]) == 0
    assert "overlap (normalised problem text)" in capsys.readouterr().out


def test_runs_as_a_script_from_any_directory(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "data_prep" / "prepare.py"), "aime2024", "--out", "o"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "aime2024: wrote o/aime2024.parquet (30 rows, data_source AIME2024" in result.stdout
    assert (tmp_path / "o" / "aime2024.parquet").exists()


@pytest.mark.parametrize(
    "files, set_name, pick",
    [
        (["aime2024.json", "amc2023.json", "notes.txt"], "aime2024", "--source {folder}/aime2024.json"),
        # olympiadbench's own file in the release is olympiad_bench.json
        (["olympiad_bench.json", "math500.json"], "olympiadbench", "--source {folder}/olympiad_bench.json"),
        (["a.json", "b.parquet"], "aime2024", "pick one of its files with --source {folder}/FILE: a.json, b.parquet"),
        (["notes.txt"], "aime2024", "this folder holds no .json/.jsonl/.parquet file"),
    ],
    ids=["folder holds the set's file", "set file under another name", "no file of the set", "no data file"],
)
def test_a_plain_folder_source_is_one_line_saying_what_a_source_may_be(tmp_path, capsys, files, set_name, pick):
    folder = tmp_path / "raw"
    folder.mkdir()
    for name in files:
        (folder / name).write_text("[]", encoding="utf-8")
    assert main([set_name, "--source", str(folder), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        f"error: {folder}: a plain folder, not a datasets save_to_disk folder"
    )
    assert "a source is a .json/.jsonl/.parquet file, a datasets save_to_disk folder" in err and "Hub id" in err
    assert pick.format(folder=folder) in err
    assert not (tmp_path / "out").exists()


def test_the_release_raw_folder_as_source_names_the_file_to_pass(release_dir, capsys, tmp_path):
    raw = release_dir / "raw"
    assert main(["aime2024", "--source", str(raw), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    assert f"--source {raw / 'aime2024.json'}" in err
