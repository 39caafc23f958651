"""`-o/--output` follows one rule in every subcommand: it writes exactly the path given (creating missing
folders) and says `wrote PATH`; a directory, a path under a file, or an input file is refused with exit 2
before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verl_ext.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _generations(folder: Path) -> Path:
    path = folder / "gen.jsonl"
    path.write_text(
        '{"response": "so \\\\boxed{1}", "ground_truth": "1"}\n{"response": "no box", "ground_truth": "2"}\n',
        encoding="utf-8",
    )
    return path


def _scored(folder: Path) -> Path:
    path = folder / "scored.jsonl"
    rows = [
        {"prompt": "p1", "pred": "1", "format": 1.0, "score": 1.0, "correct": 1.0},
        {"prompt": "p2", "pred": "", "format": 0.0, "score": 0.0, "correct": 0.0},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _log(folder: Path) -> Path:
    path = folder / "run.jsonl"
    lines = [
        {"step": 0, "data": {"val-core/A/acc/mean@1": 0.25}},
        {"step": 1, "data": {"response_length/mean": 40.0}},
        {"step": 2, "data": {"val-core/A/acc/mean@1": 0.5}},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


# subcommand -> (make its input in a folder, arguments before -o)
COMMANDS = {
    "score": (_generations, lambda inp: ["score", str(inp), "--reward", "format", "--no-progress"]),
    "metrics": (_scored, lambda inp: ["metrics", str(inp), "--bootstrap", "20"]),
    "table": (_log, lambda inp: ["table", str(inp)]),
    "plot": (_log, lambda inp: ["plot", str(inp)]),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_output_to_a_new_nested_path_is_written_exactly_there_and_reported(command, tmp_path, capsys):
    make, argv = COMMANDS[command]
    inp = make(tmp_path)
    out = tmp_path / "new" / "deeper" / "result"  # no suffix: the name is kept as given
    assert main([*argv(inp), "-o", str(out)]) == 0
    assert out.is_file() and out.stat().st_size > 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["result"]  # no sibling such as result.png
    assert f"wrote {out}\n" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_output_to_an_existing_directory_is_refused_naming_it(command, tmp_path, capsys):
    make, argv = COMMANDS[command]
    inp = make(tmp_path)
    target = tmp_path / "results"
    target.mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main([*argv(inp), "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"-o {target}: is a directory" in err
    assert ".tmp" not in err
    assert list(target.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_output_naming_an_input_is_refused_and_the_input_kept(command, tmp_path, capsys):
    make, argv = COMMANDS[command]
    inp = make(tmp_path)
    original = inp.read_bytes()
    assert main([*argv(inp), "-o", str(inp)]) == 2
    assert "is an input file; refusing to overwrite it" in capsys.readouterr().err
    assert inp.read_bytes() == original


def test_score_refuses_an_input_reached_through_another_spelling(tmp_path, capsys, monkeypatch):
    inp = _generations(tmp_path)
    original = inp.read_bytes()
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert main(["score", str(inp), "--reward", "format", "--quiet", "-o", "../gen.jsonl"]) == 2
    assert "-o ../gen.jsonl: is an input file" in capsys.readouterr().err
    assert inp.read_bytes() == original


def test_output_under_a_file_is_refused(tmp_path, capsys):
    inp = _scored(tmp_path)
    assert main(["metrics", str(inp), "--bootstrap", "20", "-o", str(inp / "m.md")]) == 2
    assert f"{inp} is a file, not a folder" in capsys.readouterr().err


def test_output_with_a_trailing_slash_is_refused_as_a_folder(tmp_path, capsys):
    inp = _log(tmp_path)
    assert main(["plot", str(inp), "-o", f"{tmp_path}/figs/"]) == 2
    assert "names a folder, not a file" in capsys.readouterr().err
    assert not (tmp_path / "figs").exists()


def test_plot_without_a_suffix_writes_png_under_the_given_name(tmp_path, capsys):
    out = tmp_path / "p"
    assert main(["plot", str(_log(tmp_path)), "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    assert not (tmp_path / "p.png").exists()
    assert capsys.readouterr().err == f"wrote {out}\n"


def test_plot_with_an_unknown_image_suffix_is_refused(tmp_path, capsys):
    assert main(["plot", str(_log(tmp_path)), "-o", str(tmp_path / "fig.xyz")]) == 2
    assert "unknown image format 'xyz'" in capsys.readouterr().err
    assert not (tmp_path / "fig.xyz").exists()


def test_stdout_is_used_without_output(tmp_path, capsys):
    assert main(["table", str(_log(tmp_path))]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("| run |") and captured.err == ""
