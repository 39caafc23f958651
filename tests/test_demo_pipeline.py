"""The demo as a pipeline: its modules import each other downward only and share no private names; a 2-step
run gives the numbers the code gave before the demo was split into stages (a committed reference log); an
earlier run's folder is not written over without ``--force``; ``verl-ext -h`` names both engines."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import platform
import re
from pathlib import Path

import pytest

REFERENCE = Path(__file__).parent / "reference" / "demo_two_steps.json"


# --- the import graph, read from the source with ast ------------------------------------------------------


def _package_modules(package: str) -> dict[str, Path]:
    """Every module of ``package`` (recursively): dotted name -> file."""
    root = Path(importlib.util.find_spec(package).origin).parent
    modules = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path, known: set[str]) -> list[tuple[str, list[str], ast.AST]]:
    """``(imported module, names taken from it, node)`` for every import anywhere in the file (function-level and
    ``TYPE_CHECKING`` ones too) of a module in ``known``; ``from package import submodule`` counts as the submodule."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node) for alias in node.names if alias.name in known]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], *([base] if base else [])]
                )
            if base not in known:
                continue
            plain = [alias.name for alias in node.names if f"{base}.{alias.name}" not in known]
            found += [(f"{base}.{alias.name}", [], node) for alias in node.names if f"{base}.{alias.name}" in known]
            if plain:
                found.append((base, plain, node))
    return found


def _demo_graph() -> tuple[dict[str, set[str]], dict[str, Path]]:
    """The import graph of ``verl_ext`` restricted to the modules reachable from ``verl_ext.demo.*``."""
    modules = _package_modules("verl_ext")
    known = set(modules)
    edges = {name: {target for target, _, _ in _imports(name, path, known)} for name, path in modules.items()}
    reachable, todo = set(), [name for name in modules if name.startswith("verl_ext.demo")]
    while todo:
        name = todo.pop()
        if name not in reachable:
            reachable.add(name)
            todo += edges[name]
    return {name: edges[name] & reachable for name in reachable}, modules


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module, or a module importing itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_cycle_finder_finds_a_loop_and_passes_a_chain() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert _cycles({"a": {"a"}}) == [["a"]]


def test_demo_modules_import_each_other_without_a_cycle() -> None:
    """Every import counts, also those inside functions: a lazy import is still a dependency."""
    graph, _ = _demo_graph()
    assert _cycles(graph) == []
    assert {"verl_ext.demo.pipeline", "verl_ext.demo.engines.trl", "verl_ext.demo.engines.verl"} <= set(graph)
    assert "verl_ext.verl.cpu.launcher" in graph["verl_ext.demo.engines.verl"]  # the Ray helpers, imported downward


def test_no_private_name_crosses_a_demo_module() -> None:
    """No ``from m import _x`` nor ``m._x`` between two modules where one of them is the demo's."""
    graph, modules = _demo_graph()
    known = set(modules)
    crossings = []
    for name in sorted(graph):
        path = modules[name]
        aliases: dict[str, str] = {}
        for target, names, node in _imports(name, path, known):
            if not (name.startswith("verl_ext.demo") or target.startswith("verl_ext.demo")):
                continue
            crossings += [f"{name} imports {target}.{n}" for n in names if n.startswith("_") and not n.startswith("__")]
            for alias in node.names:
                if isinstance(node, ast.Import) and alias.name == target:
                    aliases[alias.asname or alias.name] = target
                elif isinstance(node, ast.ImportFrom) and target.endswith(f".{alias.name}"):
                    aliases[alias.asname or alias.name] = target
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = ast.unparse(node.value)
                if owner in aliases:
                    crossings.append(f"{name} uses {aliases[owner]}.{node.attr}")
    assert crossings == []


def test_every_engine_is_registered_under_its_own_name_with_the_interface() -> None:
    from verl_ext.demo.engines.registry import ENGINES, get_engine

    assert set(ENGINES) == {"trl", "verl"}
    for name, engine in ENGINES.items():
        assert engine.name == name and engine.label and engine.summary
        assert callable(engine.check) and callable(engine.train)
    with pytest.raises(ValueError, match="trl, verl"):
        get_engine("deepspeed")


# --- behaviour: the same numbers as before the move ---------------------------------------------------------


def _platform() -> dict[str, str]:
    import torch
    import transformers
    import trl

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(),
    }


def _untimed(log: Path) -> list[dict]:
    """The metric log's lines without ``timing_s/*`` (wall times differ from run to run)."""
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return [
        {"step": line["step"], "data": {k: v for k, v in line["data"].items() if not k.startswith("timing_s/")}}
        for line in lines
    ]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory):
    """``(reference, config, result)``: the reference's 2-step run again (warm-up cache in a temporary folder)."""
    from verl_ext.demo.config import DemoConfig
    from verl_ext.demo.pipeline import run

    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    root = tmp_path_factory.mktemp("demo_reference")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VERL_EXT_CACHE", str(root / "cache"))
        config = DemoConfig(**reference["config"], out=str(root / "out"))
        yield reference, config, run(config)


def test_two_step_run_gives_the_numbers_of_the_code_before_the_move(reference_run) -> None:
    reference, config, result = reference_run
    here = _platform()
    if here != reference["platform"]:
        pytest.skip(f"the reference was run on {reference['platform']}, this is {here}: float sums may differ")
    # the reference predates the sampled held-out evaluation (val-*/DEMO/<x>/mean@8 and maj@8/mean): it draws from
    # its own random stream, so every other number is the same
    sampled = re.compile(r"^val-(core|aux)/DEMO/[^/]+/(mean@8|maj@8/mean)$")
    log = [
        {"step": line["step"], "data": {k: v for k, v in line["data"].items() if not sampled.match(k)}}
        for line in _untimed(Path(result.log))
    ]
    assert log == reference["log"]
    samples = (Path(config.out) / "samples.jsonl").read_bytes()
    assert hashlib.sha256(samples).hexdigest() == reference["samples_sha256"]


def test_the_same_command_again_replaces_its_earlier_output_and_says_so(
    reference_run, capsys: pytest.CaptureFixture[str]
) -> None:
    from dataclasses import replace

    from verl_ext.demo.pipeline import run

    _, config, first = reference_run
    out = Path(config.out)
    log = Path(first.log)
    before = _untimed(log)
    leftover = out / "verl"  # what an earlier run of the same settings may have left (the veRL engine's folder)
    leftover.mkdir()
    again = run(replace(config, progress=True))  # no --force
    assert f"replacing the earlier output of this command in {out}" in capsys.readouterr().out
    assert again.log == first.log and _untimed(log) == before  # same seed, same machine: the same numbers
    assert not leftover.exists()  # replaced, not written over


def test_a_run_of_other_settings_is_refused_and_force_writes_over_it(
    reference_run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil
    from dataclasses import replace

    from verl_ext.demo.pipeline import run

    _, config, _ = reference_run
    out = tmp_path / "copy"
    shutil.copytree(config.out, out)
    other = replace(config, out=str(out), steps=1, progress=True)
    with pytest.raises(FileExistsError, match="other settings: steps 2 there, 1 now"):
        run(other)
    run(other, force=True)
    assert f"--force: writing over what is in {out}" in capsys.readouterr().out


def test_an_earlier_runs_folder_is_refused_without_force_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from verl_ext.cli import main

    out = tmp_path / "earlier"
    out.mkdir()
    (out / "summary.json").write_text("{}", encoding="utf-8")
    assert main(["demo", "--out", str(out), "--steps", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(out) in err and "--force" in err
    assert [p.name for p in out.iterdir()] == ["summary.json"]  # nothing written, nothing started
    assert (out / "summary.json").read_text(encoding="utf-8") == "{}"


def _record(out: Path, config, outputs: list[str] | None = None) -> None:
    from verl_ext.demo.config import write_run_record

    write_run_record(out, config, outputs)


@pytest.mark.parametrize(
    ("state", "force", "outcome"),
    [
        ("missing", False, "new"),
        ("empty", False, "new"),
        ("this command's finished run", False, "same command"),
        ("this command's unfinished run", False, "same command"),
        ("this command's run and a note of the user's", False, FileExistsError),
        ("this command's run and a note of the user's", True, "forced"),
        ("a run of other settings", False, FileExistsError),
        ("a run of other settings", True, "forced"),
        ("files without a record", False, FileExistsError),
        ("files without a record", True, "forced"),
        ("a broken record", False, FileExistsError),
        ("file", True, NotADirectoryError),
    ],
)
def test_output_folder_check(state: str, force: bool, outcome: object, tmp_path: Path) -> None:
    from dataclasses import replace

    from verl_ext.demo.config import DemoConfig, check_output_folder, checked
    from verl_ext.demo.pipeline import output_names

    config = checked(DemoConfig(steps=3, out=str(tmp_path / "out")))
    out = tmp_path / "out"
    if state != "missing" and state != "file":
        out.mkdir()
    if state == "file":
        out.write_text("", encoding="utf-8")
    if state.startswith("this command's"):
        (out / "format_length-seed0.jsonl").write_text("", encoding="utf-8")
        (out / "trainer").mkdir()  # TRL's output folder, left by a run that did not finish
        (out / "curves.png").write_text("", encoding="utf-8")
        (out / "extra-output.json").write_text("", encoding="utf-8")  # a file a newer demo writes: recorded at the end
        finished = state != "this command's unfinished run"
        _record(out, config, [p.name for p in out.iterdir()] if finished else None)
        if not finished:
            (out / "extra-output.json").unlink()
    if state == "this command's run and a note of the user's":
        (out / "notes.txt").write_text("mine", encoding="utf-8")
    if state == "a run of other settings":
        _record(out, replace(config, steps=5))
    if state == "files without a record":
        (out / "format_length-seed0.jsonl").write_text("", encoding="utf-8")
    if state == "a broken record":
        (out / ".verl-ext-demo.json").write_text("{", encoding="utf-8")
    if isinstance(outcome, type):
        with pytest.raises(outcome, match=str(out)):
            check_output_folder(out, force, config, output_names(config))
    else:
        assert check_output_folder(out, force, config, output_names(config)) == outcome


def test_top_level_help_says_the_demo_runs_on_either_engine() -> None:
    from verl_ext.cli import build_parser

    text = " ".join(build_parser().format_help().split())
    demo = text.split(" demo ", 1)[1].split(" options:", 1)[0]
    assert "TRL" in demo and "veRL" in demo, demo
