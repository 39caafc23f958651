"""data_prep's pure pieces: boxed extraction, answer values, templates, normalisation, Hub ids."""

import pytest

from data_prep.answers import format_number, last_boxed, to_answers
from data_prep.overlap import find_overlap, normalise
from data_prep.records import DataError
from data_prep.sets import SETS, hub_spec
from data_prep.sources import parse_hub_id
from data_prep.templates import INSTRUCTION, TEMPLATES, problem_from_messages


@pytest.mark.parametrize(
    "text, expected",
    [
        ("so $\\boxed{5}$.", "5"),
        ("first \\boxed{1}, finally \\boxed{2}", "2"),
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"),
        ("$\\boxed 7$", "7"),
        ("\\fbox{3}", "3"),
        ("\\boxed{1} then \\fbox{4}", "4"),
        ("no box here", None),
        ("\\boxed{unclosed", None),
        ("\\boxed", None),
    ],
)
def test_last_boxed_takes_the_last_box_with_matched_braces(text, expected):
    assert last_boxed(text) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("204", ["204"]),
        ("025", ["025"]),  # strings are kept as written
        (142.0, ["142"]),
        (0.5, ["0.5"]),
        (7, ["7"]),
        (" \\$ 5", [" \\$ 5"]),  # strings are kept verbatim, as the release did
        ("$(1, 2)$", ["$(1, 2)$"]),
        (["9.6\n"], ["9.6"]),  # list items (Minerva, OlympiadBench) are cleaned
        (["$\\frac{1}{2}$"], ["\\frac{1}{2}"]),
        ([" $a$,$b$ "], ["a,b"]),
        (["\\$18.90"], ["\\$18.90"]),  # an escaped dollar is content, not a delimiter
        (["0.01\n", "0.02\n"], ["0.01", "0.02"]),
        (None, None),
        ("", None),
        ("   ", None),
        ([], None),
        ([""], None),
        (True, None),
        (float("nan"), None),
        ({"a": 1}, None),
    ],
)
def test_to_answers_cleans_values_and_rejects_empty_ones(value, expected):
    assert to_answers(value) == expected


def test_format_number_writes_integral_floats_as_integers():
    assert [format_number(v) for v in (142.0, -3.0, 2.5, 10)] == ["142", "-3", "2.5", "10"]


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_inverts_to_the_problem(name):
    problem = "Find $x$ if $x+1=2$.\n\nGive a number."
    assert problem_from_messages(TEMPLATES[name](problem)) == problem


def test_templates_have_the_documented_shape():
    assert TEMPLATES["qwen_boxed"]("P") == [
        {"role": "system", "content": INSTRUCTION},
        {"role": "user", "content": "P"},
    ]
    assert TEMPLATES["plain_boxed"]("P") == [{"role": "user", "content": "P\n" + INSTRUCTION}]
    assert INSTRUCTION == "Please reason step by step, and put your final answer within \\boxed{}."


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "just a problem"}],
        [{"role": "system", "content": "other system"}, {"role": "user", "content": "P"}],
        "not messages",
        [{"content": "no role"}],
    ],
)
def test_other_message_layouts_are_not_recognised(messages):
    assert problem_from_messages(messages) is None


@pytest.mark.parametrize(
    "a, b",
    [
        ("Find $x$.", "find x"),
        ("Compute \\left( 1+2 \\right).", "compute (1+2)"),
        ("A  B\nC", "a b c"),
    ],
)
def test_normalise_ignores_spacing_case_dollars_and_sizing(a, b):
    assert normalise(a) == normalise(b)


def test_normalise_keeps_different_problems_apart():
    assert normalise("Evaluate $\\log_8 2$.") != normalise("Evaluate $\\log_8 3$.")


def test_find_overlap_reports_eval_rows_and_first_train_row():
    overlap = find_overlap("E", ["Find $x$.", "New one"], "T", ["other", "find x", "Find  $x$"])
    assert overlap.pairs == ((0, 1),)
    assert "E (2) in T: 1" in str(overlap)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("owner/name", ("owner/name", None, None)),
        ("owner/name:cfg", ("owner/name", "cfg", None)),
        ("owner/name@test", ("owner/name", None, "test")),
        ("Hothan/OlympiadBench:OE_TO_maths_en_COMP@train", ("Hothan/OlympiadBench", "OE_TO_maths_en_COMP", "train")),
    ],
)
def test_parse_hub_id(spec, expected):
    assert parse_hub_id(spec) == expected


@pytest.mark.parametrize("spec", ["missing_file.json", "/abs/path/file.parquet", "a/b/c"])
def test_a_missing_path_that_is_no_hub_id_is_an_error(spec):
    with pytest.raises(DataError, match="neither an existing file nor a Hub id"):
        parse_hub_id(spec)


def test_hub_spec_uses_known_configs_and_split_unless_overridden():
    aime25 = SETS["aime2025"]
    assert hub_spec(aime25, "opencompass/AIME2025", None, None).configs == ("AIME2025-I", "AIME2025-II")
    assert hub_spec(aime25, "opencompass/AIME2025", None, None).split == "test"
    assert hub_spec(aime25, "opencompass/AIME2025", "AIME2025-I", "x").configs == ("AIME2025-I",)
    assert hub_spec(aime25, "someone/else", None, None).split == "train"


def test_registry_sizes_and_names():
    assert {n: (s.data_source, s.size) for n, s in SETS.items()} == {
        "deepscaler_17k": ("math", 17000),
        "math_train": ("math", 7470),
        "aime2024": ("AIME2024", 30),
        "aime2025": ("AIME2025", 30),
        "amc2023": ("AMC2023", 83),
        "math500": ("MATH500", 500),
        "minerva": ("Minerva", 272),
        "olympiadbench": ("OlympiadBench", 675),
    }
    assert all(s.data_source for s in SETS.values())
