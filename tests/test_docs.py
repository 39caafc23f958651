"""The README and docs/ against the code they describe.

Checked on every page (README.md, docs/*.md, recipe/format_length/README.md): relative links and #anchors resolve
(anchors by GitHub's rule: the heading's text lowercased, every character but letters, digits, ``_``, ``-`` and
spaces dropped, spaces turned into ``-``, ``-1``, ``-2`` ... after repeats); every command in a fenced shell block
names something that exists and ``verl-ext`` commands parse with the real parser (nothing is run); reward names
match the registry, and the lists that claim to be complete are; figures the code can give are derived from it
(the paper's table from ``verl-ext table`` on the carried logs, the resume steps from ``scale=cpu``'s config);
the README stays a front page. The deviation table of docs/fidelity.md is checked in test_recipe_config.py and the
GPU install block of docs/gpu.md in test_recipe_extras.py, beside the code they render or pin.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import importlib.util
import io
import itertools
import re
import shlex
from importlib.metadata import metadata
from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt

from verl_ext.cli import build_parser
from verl_ext.rewards.registry import get_preset, preset_names

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
RECIPE = REPO / "recipe" / "format_length"
RECIPE_README = RECIPE / "README.md"
PAGES = [README, *DOCS, RECIPE_README]
MAX_README_LINES = 200
SHELL_LANGUAGES = {"bash", "sh", "shell"}
# Backticked paths under these folders are files of this repository.
REPO_FOLDERS = ("verl_ext/", "tests/", "recipe/", "benchmarks/", "data_prep/", "examples/", "release_data/", "docs/")

MARKDOWN = MarkdownIt("commonmark").enable("table")


def page_id(path: Path) -> str:
    return str(path.relative_to(REPO))


@functools.cache
def parsed(path: Path) -> list:
    return MARKDOWN.parse(path.read_text(encoding="utf-8"))


def inline_tokens(path: Path):
    """(line, child token) of every inline element of the page, tables and lists included."""
    for token in parsed(path):
        if token.type == "inline":
            for child in token.children or []:
                yield token.map[0] + 1 if token.map else 0, child


def fences(path: Path, languages: set[str] = SHELL_LANGUAGES) -> list[tuple[int, str]]:
    """(first line, content) of the page's fenced blocks in one of ``languages``."""
    return [
        (token.map[0] + 1, token.content)
        for token in parsed(path)
        if token.type == "fence" and token.info.split()[:1] and token.info.split()[0] in languages
    ]


def code_spans(path: Path) -> list[tuple[int, str]]:
    return [(line, child.content) for line, child in inline_tokens(path) if child.type == "code_inline"]


# --- anchors and links -------------------------------------------------------------------------------------------


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (github-slugger): lowercase, only letters, digits, _, - and spaces
    kept, each space a hyphen."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def headings(path: Path) -> list[str]:
    """The rendered text of every heading (code spans without their backticks, link texts without targets)."""
    tokens = parsed(path)
    return [
        "".join(child.content for child in tokens[i + 1].children if child.type in ("text", "code_inline"))
        for i, token in enumerate(tokens)
        if token.type == "heading_open"
    ]


@functools.cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in headings(path):
        slug = github_slug(heading)
        repeats = seen.get(slug, 0)
        seen[slug] = repeats + 1
        found.add(slug if repeats == 0 else f"{slug}-{repeats}")
    return frozenset(found)


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every link and image of the page."""
    found = []
    for line, child in inline_tokens(path):
        if child.type == "link_open":
            found.append((line, child.attrs["href"]))
        elif child.type == "image":
            found.append((line, child.attrs["src"]))
    return found


@pytest.mark.parametrize(
    "heading, anchor",
    [
        ("Set up a GPU node", "set-up-a-gpu-node"),
        ("Check the node: verl-ext doctor", "check-the-node-verl-ext-doctor"),
        ("The veRL engine: --engine verl", "the-verl-engine---engine-verl"),
        ("Evaluating a checkpoint: examples/eval_checkpoint.sh", "evaluating-a-checkpoint-exampleseval_checkpointsh"),
        ("The metrics log, checkpoints and resume", "the-metrics-log-checkpoints-and-resume"),
        ("Scoring: bounded cost and throughput", "scoring-bounded-cost-and-throughput"),
    ],
)
def test_github_anchor_rule(heading: str, anchor: str) -> None:
    assert github_slug(heading) == anchor


def test_repeated_headings_get_numbered_anchors(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Notes\n\n## Notes\n\n## Notes\n")
    assert anchors(page) == {"notes", "notes-1", "notes-2"}


def test_a_heading_with_code_is_anchored_by_its_text() -> None:
    assert "verl-ext-score" in anchors(REPO / "docs" / "cli.md")  # "## verl-ext score"
    assert "check-the-node-verl-ext-doctor" in anchors(REPO / "docs" / "gpu.md")


def test_every_relative_link_and_anchor_resolves() -> None:
    broken = []
    checked = 0
    for page in PAGES:
        for line, target in links(page):
            if re.match(r"^[a-z]+:", target):  # https:, mailto:
                continue
            checked += 1
            file_part, _, anchor = target.partition("#")
            resolved = (page.parent / file_part).resolve() if file_part else page
            if not resolved.exists():
                broken.append(f"{page_id(page)}:{line}: {target}: no such file")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                broken.append(f"{page_id(page)}:{line}: {target}: no heading with that anchor")
    assert checked > 30
    assert broken == []


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(README.parent / target.partition("#")[0]).resolve() for _, target in links(README)}
    assert [page_id(page) for page in DOCS if page.resolve() not in linked] == []


def test_the_readme_is_a_front_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines: move reference text to docs/"


def test_repository_paths_named_in_the_docs_exist() -> None:
    missing = []
    for page in PAGES:
        for line, span in code_spans(page):
            for word in span.split():
                path = word.rstrip(".,:;)").split("::")[0]
                if path.startswith(REPO_FOLDERS) and not re.search(r"[<>{}*$\[]", path):
                    if not (REPO / path).exists():
                        missing.append(f"{page_id(page)}:{line}: {path}")
    assert missing == []


# --- commands in fenced shell blocks -----------------------------------------------------------------------------

COMMAND_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
PLACEHOLDER = re.compile(r"<[\w.-]+>")  # <head-ip>: a word to fill in, not a redirection
ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")
OPERATOR = set(";&|<>()")


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a shell snippet, each a list of words with its leading VAR=value assignments:
    continuation lines joined, comments dropped, split at ;, &&, ||, |, redirections; a $(...) is a command of its
    own (replaced by a word in the command that holds it); a <placeholder> is a word."""
    commands = []
    for line in script.replace("\\\n", " ").splitlines():
        for inner in COMMAND_SUBSTITUTION.findall(line):
            commands += shell_commands(inner)
        line = PLACEHOLDER.sub("PLACEHOLDER", COMMAND_SUBSTITUTION.sub("SUBSTITUTED", line))
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words: list[str] = []
        for token in lexer:
            if token and set(token) <= OPERATOR:
                commands.append(words)
                words = []
            else:
                words.append(token)
        commands.append(words)
    return [words for words in commands if words]


def test_shell_commands_are_split_as_the_shell_splits_them() -> None:
    script = 'A=1 pip install -e ".[trl]" && verl-ext demo  # main job\nD=x\nx $(python -m m) | y \\\n  --z <v> >f\n'
    assert shell_commands(script) == [
        ["A=1", "pip", "install", "-e", ".[trl]"],
        ["verl-ext", "demo"],
        ["D=x"],
        ["python", "-m", "m"],
        ["x", "SUBSTITUTED"],
        ["y", "--z", "PLACEHOLDER"],
        ["f"],
    ]


def module_path(name: str) -> Path | None:
    """The file or package folder of module ``name``, found without importing it (``None`` if there is none)."""
    top, *rest = name.split(".")
    spec = importlib.util.find_spec(top)
    if spec is None:
        return None
    locations = [Path(p) for p in spec.submodule_search_locations or []]
    path = locations[0] if locations else Path(spec.origin or "")
    for part in rest:
        candidates = [found for loc in locations for found in (loc / part, loc / f"{part}.py") if found.exists()]
        if not candidates:
            return None
        path = candidates[0]
        locations = [path] if path.is_dir() else []
    return path


def runnable_module(name: str) -> bool:
    """``python -m name`` finds something to run: a module file, or a package with ``__main__.py``."""
    path = module_path(name)
    return path is not None and (path.suffix == ".py" or (path / "__main__.py").is_file())


def argparse_problem(parse, args: list[str]) -> str | None:
    """Why ``parse(args)`` (argparse's parse_args) refuses ``args``, or None if they parse."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            parse(args)
    except SystemExit as exc:
        if exc.code:
            return stderr.getvalue().strip().splitlines()[-1] if stderr.getvalue().strip() else f"exit {exc.code}"
    return None


def verl_ext_problem(args: list[str]) -> str | None:
    if {"-h", "--help", "--version"} & set(args):
        args = args[:1]  # the subcommand must exist; its help would print and exit
    return argparse_problem(build_parser().parse_args, args)


def reward_problem(name: str | None) -> str | None:
    if name is None or not re.fullmatch(r"[a-z_]+", name):  # unset, a variable, a placeholder
        return None
    return None if name in preset_names() else f"unknown reward {name!r}"


def hydra_override_problems(words: list[str]) -> list[str]:
    problems = []
    for word in words:
        key, _, value = word.lstrip("+").partition("=")
        if key in ("reward.reward_manager.name", "trainer.v1.sampler.sampler_kwargs.reward"):
            problems.append(reward_problem(value))
        elif key in ("scale", "eval") and re.fullmatch(r"\w+", value):
            if not (RECIPE / "config" / key / f"{value}.yaml").is_file():
                problems.append(f"{word}: no recipe/format_length/config/{key}/{value}.yaml")
    return [p for p in problems if p]


def option_values(words: list[str], option: str) -> list[str]:
    """The words after ``option`` up to the next option."""
    if option not in words:
        return []
    values = []
    for word in words[words.index(option) + 1 :]:
        if word.startswith("-"):
            break
        values.append(word)
    return values


def python_problems(args: list[str]) -> list[str]:
    from verl_ext.demo.students import STUDENTS

    if args[:1] == ["-m"] and len(args) >= 2:
        module, rest = args[1], args[2:]
        if not runnable_module(module):
            return [f"python -m {module}: no such module"]
        if module == "verl_ext.cli":
            return [p for p in [verl_ext_problem(rest)] if p]
        if module == "data_prep.prepare":
            from data_prep.prepare import parse_args

            return [p for p in [argparse_problem(parse_args, rest)] if p]
        problems = []
        if module in ("verl_ext.demo.measure", "verl_ext.demo.warm_cache"):
            runs = [run.split("/", 1) for run in option_values(rest, "--runs")]
            rewards = option_values(rest, "--rewards") + [reward for _, reward in runs]
            students = option_values(rest, "--student") + [student for student, _ in runs]
            problems += [reward_problem(reward) for reward in rewards]
            problems += [f"unknown student {s!r}" for s in students if s not in STUDENTS]
        return [p for p in problems + hydra_override_problems(rest) if p]
    if args and args[0].endswith(".py"):
        if not (REPO / args[0]).is_file():
            return [f"python {args[0]}: no such file"]
        if args[0] == "data_prep/prepare.py":
            from data_prep.prepare import parse_args

            return [p for p in [argparse_problem(parse_args, args[1:])] if p]
    return []


def command_problems(words: list[str]) -> list[str]:
    """What is wrong with one simple command of the docs (nothing is run)."""
    words = list(words)
    env = {}
    while words and ASSIGNMENT.match(words[0]):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    problems = [reward_problem(env.get("REWARD"))]
    if not words:
        return [p for p in problems if p]
    program, args = words[0], words[1:]
    if program == "verl-ext":
        problems.append(verl_ext_problem(args))
    elif re.fullmatch(r"python(3(\.\d+)?)?", program):
        problems += python_problems(args)
    elif program == "bash" and args:
        if not (REPO / args[0]).is_file():
            problems.append(f"bash {args[0]}: no such file")
        problems += hydra_override_problems(args[1:])
    elif program.endswith(".sh") and "/" in program:
        if not (REPO / program).is_file():
            problems.append(f"{program}: no such file")
    elif program == "pip" and "-e" in args:
        extras = re.findall(r"\[([\w,-]+)\]", args[args.index("-e") + 1])
        known = set(metadata("verl-ext").get_all("Provides-Extra") or [])
        problems += [f"pip extra {e!r} is not declared" for x in extras for e in x.split(",") if e not in known]
    elif program == "for" and args[:2] == ["REWARD", "in"]:
        problems += [reward_problem(name) for name in args[2:]]
    return [p for p in problems if p]


def documented_commands() -> list[tuple[str, list[str]]]:
    return [
        (f"{page_id(page)}:{line}", words)
        for page in PAGES
        for line, script in fences(page)
        for words in shell_commands(script)
    ]


def test_every_command_in_a_shell_block_names_something_that_exists_and_parses() -> None:
    commands = documented_commands()
    programs = {words[0] for _, words in commands}
    assert {"verl-ext", "python", "bash", "pip"} <= programs  # the checks below ran on real commands
    problems = [f"{where}: {shlex.join(words)}: {p}" for where, words in commands for p in command_problems(words)]
    assert problems == []


@pytest.mark.parametrize(
    "command, problem",
    [
        ("verl-ext demo --reward majorty", "unknown choice"),
        ("verl-ext scroe x.jsonl", "unknown choice"),
        ("verl-ext table", "required"),
        ("python -m verl_ext.demo.no_such_module", "no such module"),
        ("python data_prep/no_such_script.py", "no such file"),
        ("python data_prep/prepare.py no_such_set", "invalid choice"),
        ("bash recipe/format_length/no_such.sh", "no such file"),
        ("REWARD=majorty bash recipe/format_length/run_grpo.sh", "unknown reward"),
        ("bash recipe/format_length/run_grpo.sh scale=gpu", "no recipe/format_length/config/scale/gpu.yaml"),
        ('pip install -e ".[tset]"', "not declared"),
        ("python -m verl_ext.demo.measure --runs capable/formatt", "unknown reward"),
    ],
)
def test_a_broken_command_is_reported(command: str, problem: str) -> None:
    (words,) = shell_commands(command)
    assert any(problem in p for p in command_problems(words)), command_problems(words)


def test_the_readmes_two_commands_are_the_documented_install_and_runs() -> None:
    blocks = [script.strip() for _, script in fences(README)]
    assert 'pip install torch==2.13.0 && pip install -e ".[trl]" && verl-ext demo' in blocks
    assert (
        'pip install torch==2.13.0 && pip install -e ".[test,trl]" && '
        "python -m pytest --import-mode=importlib tests -n auto --dist loadgroup"
    ) in blocks
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "python -m pytest --import-mode=importlib tests -n auto --dist loadgroup" in ci


# --- reward names ------------------------------------------------------------------------------------------------


def tables(path: Path) -> list[tuple[list[str], list[list[str]]]]:
    """(header cells, body rows) of every table of the page, cells as their markdown source."""
    found = []
    header: list[str] = []
    rows: list[list[str]] = []
    row: list[str] | None = None
    section = ""
    tokens = parsed(path)
    for i, token in enumerate(tokens):
        if token.type == "table_open":
            header, rows = [], []
        elif token.type in ("thead_open", "tbody_open"):
            section = token.type
        elif token.type == "tr_open":
            row = []
        elif token.type in ("th_open", "td_open") and row is not None:
            row.append(tokens[i + 1].content.strip())
        elif token.type == "tr_close" and row is not None:
            (header.extend(row) if section == "thead_open" else rows.append(row))
            row = None
        elif token.type == "table_close":
            found.append((header, rows))
    return found


def rewards_tables(path: Path) -> list[list[list[str]]]:
    """The rows of the page's reward tables (header: reward, level, ...)."""
    return [rows for header, rows in tables(path) if [h.lower() for h in header[:2]] == ["reward", "level"]]


def named(cell: str) -> list[str]:
    return re.findall(r"`([a-z_]+)`", cell)


def level_of(name: str) -> str:
    """The preset's level in the registry: sample, group or token."""
    return get_preset(name).level.value


@pytest.mark.parametrize("page", [README, REPO / "docs" / "rewards.md"], ids=page_id)
def test_the_rewards_table_lists_every_preset_once_at_its_level(page: Path) -> None:
    (rows,) = rewards_tables(page)
    listed = [(name, row[1]) for row in rows for name in named(row[0])]
    assert sorted(name for name, _ in listed) == preset_names()
    assert [(name, level) for name, level in listed if level != level_of(name)] == []


def leading_reward(cell: str) -> str | None:
    """The reward a demo-table row is about: `format`, format_length, capable/majority (5), format, `--kl-coef 0`."""
    match = re.match(r"^`?(?:[a-z]+/)?([a-z_]+)", cell)
    return match.group(1) if match else None


def test_every_reward_named_in_a_table_is_a_preset() -> None:
    unknown = []
    checked = 0
    for page in PAGES:
        for header, rows in tables(page):
            if not re.match(r"^(student/)?reward\b", header[0].lower()):
                continue
            for row in rows:
                names = named(row[0]) if "`" in row[0][:1] else [leading_reward(row[0])]
                checked += len(names)
                unknown += [f"{page_id(page)}: {row[0]}" for name in names if name not in preset_names()]
    assert checked > 50
    assert unknown == []


REWARD_MENTIONS = [
    re.compile(r"\bREWARD=([a-z_]+)"),
    re.compile(r"--reward[ =]([a-z_]+)"),
    re.compile(r"reward_manager\.name=([a-z_]+)"),
    re.compile(r"sampler_kwargs\.reward=([a-z_]+)"),
    re.compile(r"reward_func\(\"([a-z_]+)\""),
]


def test_every_reward_named_in_code_is_a_preset() -> None:
    unknown = []
    checked = 0
    for page in PAGES:
        for line, text in code_spans(page) + fences(page, SHELL_LANGUAGES | {"python"}):
            for pattern in REWARD_MENTIONS:
                for name in pattern.findall(text):
                    checked += 1
                    if name not in preset_names():
                        unknown.append(f"{page_id(page)}:{line}: {name}")
    assert checked > 20
    assert unknown == []


def test_reward_option_lists_offer_every_preset() -> None:
    """A `--reward {a,b,...}` list (the demo's options line) is argparse's choices: the whole registry."""
    lists = [
        (page, choices)
        for page in PAGES
        for _, span in code_spans(page)
        for choices in re.findall(r"--reward \{([a-z_,]+)\}", span)
    ]
    assert lists, "no --reward {...} list in the docs"
    assert [page_id(page) for page, choices in lists if sorted(choices.split(",")) != preset_names()] == []


def test_the_trl_snippets_comment_names_every_preset() -> None:
    (snippet,) = [text for _, text in fences(REPO / "docs" / "rewards.md", {"python"}) if "reward_func(" in text]
    lines = [line.strip() for line in snippet.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("# any preset:"))
    comment = [lines[start].removeprefix("# any preset:")]
    comment += [line.removeprefix("#") for line in itertools.takewhile(lambda s: s.startswith("#"), lines[start + 1 :])]
    assert sorted(re.split(r"[,\s]+", " ".join(comment).strip())) == preset_names()


def test_run_grpo_header_lists_every_preset_as_a_reward() -> None:
    header = (RECIPE / "run_grpo.sh").read_text(encoding="utf-8").split("\n#   TRAIN_SET", 1)[0]
    block = header.split("\n#   REWARD", 1)[1]
    names = [
        word
        for line in block.splitlines()
        if "|" in line
        for word in re.split(r"[|\s]+", re.split(r"[(\[]", line)[0])
        if re.fullmatch(r"[a-z_]+", word)
    ]
    assert sorted(names) == preset_names()


def test_the_launchers_reward_setting_lists_every_preset() -> None:
    (row,) = [row for header, rows in tables(RECIPE_README) for row in rows if row[0] == "`REWARD`"]
    assert sorted(named(row[2])) == preset_names()


# --- figures derived from the code --------------------------------------------------------------------------------


def test_no_test_counts_in_the_docs() -> None:
    """Test counts go stale with every new test: the docs give timings, not counts."""
    counts = [
        f"{page_id(page)}: {match.group(0)}"
        for page in PAGES
        for match in re.finditer(r"\b\d[\d,]*\s+(?:tests|passed)\b", page.read_text(encoding="utf-8"))
    ]
    assert counts == []


def expand_braces(word: str) -> list[str]:
    """Bash's brace expansion of one {a,b,...} group (all this test needs)."""
    match = re.search(r"\{([^{}]*,[^{}]*)\}", word)
    if not match:
        return [word]
    return [word[: match.start()] + choice + word[match.end() :] for choice in match.group(1).split(",")]


def test_the_readmes_paper_table_is_what_the_documented_table_command_prints(release_dir, capsys) -> None:
    """The table on the front page is the output of docs/cli.md's `verl-ext table` command on the carried logs
    (shell expansion done here: $D the release folder, the brace group, then each glob sorted)."""
    from verl_ext.cli import main

    commands = [words for _, script in fences(REPO / "docs" / "cli.md") for words in shell_commands(script)]
    (command,) = [words for words in commands if words[:2] == ["verl-ext", "table"]]
    args = []
    for word in command[1:]:
        for expanded in expand_braces(word.replace("$D", str(release_dir))):
            args += sorted(glob.glob(expanded)) if "*" in expanded else [expanded]
    assert main(args) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    text = README.read_text(encoding="utf-8").splitlines()
    start = text.index(printed[0])
    assert text[start : start + len(printed)] == printed


def test_the_resume_sentence_matches_the_cpu_scale() -> None:
    """scale=cpu trains N steps and saves at N; a rerun with N+1 steps resumes from N and saves N+1
    (tests/test_cpu_trainer_e2e.py launches exactly that)."""
    trainer = yaml.safe_load((RECIPE / "config" / "scale" / "cpu.yaml").read_text())["trainer"]
    steps = trainer["total_training_steps"]
    assert trainer["save_freq"] == steps
    page = REPO / "docs" / "cpu-backend.md"
    text = " ".join(page.read_text(encoding="utf-8").split())
    assert f"`trainer.total_training_steps={steps + 1}` resumes from the checkpoint at step {steps}" in text
    assert f"trains step {steps + 1} and saves the checkpoint at step {steps + 1}" in text
    assert any(f"trainer.total_training_steps={steps + 1}" in script for _, script in fences(page))
    for other in PAGES:
        assert f"resumes from the checkpoint at step {steps + 1}" not in " ".join(other.read_text().split())


def test_the_doctors_install_hint_names_a_section_that_exists() -> None:
    from verl_ext.doctor import INSTALL_HINT

    section, page = re.search(r"'([^']+)' in (\S+)", INSTALL_HINT).groups()
    assert github_slug(section) in anchors(REPO / page)
