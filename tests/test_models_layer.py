"""verl_ext/models/ sits below the demo and the veRL adapters, which both build their tiny model with it: it imports
neither (read from the source with ast, so that a lazy import inside a function counts too)."""

from __future__ import annotations

import ast
from pathlib import Path

MODELS = Path(__file__).resolve().parents[1] / "verl_ext" / "models"


def _imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_the_models_package_imports_neither_the_demo_nor_the_verl_adapters() -> None:
    sources = sorted(MODELS.glob("*.py"))
    assert MODELS / "tiny.py" in sources
    upward = {
        (path.name, module)
        for path in sources
        for module in _imported_modules(path)
        if module.split(".")[:2] in (["verl_ext", "demo"], ["verl_ext", "verl"])
    }
    assert upward == set()


def test_the_import_reader_sees_a_lazy_upward_import(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from verl_ext.demo.problems import load_problems\n    import verl_ext.verl.cpu\n")
    assert _imported_modules(source) == {"verl_ext.demo.problems", "verl_ext.verl.cpu"}
