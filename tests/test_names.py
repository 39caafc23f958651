"""An unknown name is answered in one line with the closest known names (verl_ext/names.py), and every choice of the
command line (a reward preset, a student, a subcommand) is refused that way instead of argparse's usage block."""

from __future__ import annotations

import pytest

from verl_ext.cli import main
from verl_ext.names import closest_names, unknown_name_message
from verl_ext.rewards.registry import preset_names

PRESETS = preset_names()


# Expected matches from difflib's documented ratio 2*M/T (M matched characters, T both lengths), cutoff 0.6, worked
# by hand: majorty/majority M = 7 ("major" + "ty"), 14/15; Majority/majority (case ignored) 1; wek/weak M = 3, 6/7;
# fromat/format M = 5 ("f", "r", "mat"), 10/12; majorty/format_gated_majority M = 7, 14/28 = 0.5, under the cutoff.
@pytest.mark.parametrize(
    ("name", "known", "expected"),
    [
        ("majorty", PRESETS, ["majority"]),
        ("Majority", PRESETS, ["majority"]),
        ("fromat", ["format", "length", "random"], ["format"]),
        ("wek", ["capable", "weak"], ["weak"]),
        ("zzzzz", PRESETS, []),
        ("", PRESETS, []),
    ],
)
def test_closest_names(name: str, known: list[str], expected: list[str]) -> None:
    assert closest_names(name, known) == expected


def test_closest_names_are_at_most_three_best_first() -> None:
    known = ["format1", "format22", "format333", "format4444"]
    assert closest_names("format", known) == ["format1", "format22", "format333"]  # ratios 12/13 > 12/14 > 12/15


def test_the_message_names_the_kind_the_guess_and_every_known_name() -> None:
    assert unknown_name_message("reward preset", "majorty", ["majority", "random"]) == (
        "unknown reward preset 'majorty': did you mean 'majority'? (choose from 'majority', 'random')"
    )
    assert unknown_name_message("reward preset", "zzz", ["majority"]) == (
        "unknown reward preset 'zzz' (choose from 'majority')"
    )


@pytest.mark.parametrize(
    ("argv", "guess"),
    [
        (["score", "x.jsonl", "-o", "o.jsonl", "--reward", "majorty"], "did you mean 'majority'?"),
        (["demo", "--reward", "fromat"], "did you mean 'format'?"),
        (["demo", "--student", "wek"], "did you mean 'weak'?"),
        (["tabel", "x.jsonl"], "did you mean 'table'?"),
    ],
)
def test_an_unknown_choice_is_one_line_with_the_closest_names(argv: list[str], guess: str, capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and guess in captured.err, captured.err
    assert "usage:" not in captured.err
    assert captured.err.startswith("verl-ext")
