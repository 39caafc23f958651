"""Packaging: pyproject.toml's requirements are spelled as the installed packages declare them, antlr4 is the
4.9.3 that hydra and math-verify both accept, a build puts the demo's data and data_prep's selections in the
packages without setuptools' "absent from the packages configuration" warning, and the version is written once.

Builds run setuptools' own commands (egg_info, build_py, through the setup.py shim, which reads pyproject.toml) on
a copy of the sources in a temporary folder; egg_info keeps the requirement text as written."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("src")
    for name in ("setup.py", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, folder)
    for package in ("verl_ext", "data_prep"):
        shutil.copytree(REPO / package, folder / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return folder


def _setup(folder: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-W", "always", "setup.py", *args], cwd=folder, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def written_requirements(source_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Requirement]:
    egg_base = tmp_path_factory.mktemp("egg")
    _setup(source_copy, "-q", "egg_info", "--egg-base", str(egg_base))
    lines = (egg_base / "verl_ext.egg-info" / "requires.txt").read_text(encoding="utf-8").splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.startswith("[")]


def test_every_extra_asked_of_a_dependency_is_spelled_as_that_dependency_declares_it(written_requirements):
    # pip 23.0 compares extras as written: math-verify declares `antlr4-9-3`, and `antlr4_9_3` made it warn
    for requirement in written_requirements:
        if requirement.extras:
            declared = set(importlib.metadata.metadata(requirement.name).get_all("Provides-Extra") or [])
            assert requirement.extras <= declared, (requirement, sorted(declared))


def test_antlr4_pin_is_the_one_version_hydra_and_math_verify_both_accept(written_requirements):
    (pin,) = [r for r in written_requirements if r.name == "antlr4-python3-runtime"]
    needs = [
        r
        for dist in ("hydra-core", "latex2sympy2_extended")
        for r in map(Requirement, importlib.metadata.requires(dist) or [])
        if r.name == "antlr4-python3-runtime" and r.marker is None
    ]
    assert len(needs) == 2  # hydra: 4.9.*, latex2sympy2_extended: 4.9.3 to 4.13.2
    assert str(pin.specifier) == "==4.9.3" and all(r.specifier.contains("4.9.3") for r in needs)
    assert not any(
        r.name == "math-verify" and r.extras for r in written_requirements
    )  # its extra would warn on pip 23.0


def test_antlr4_runtime_installed_is_4_9_3():
    assert importlib.metadata.version("antlr4-python3-runtime") == "4.9.3"


def test_build_ships_demo_data_without_a_packages_warning(source_copy, tmp_path):
    done = _setup(source_copy, "-q", "build_py", "--build-lib", str(tmp_path / "lib"))
    assert "absent from the `packages` configuration" not in done.stderr + done.stdout
    shipped = tmp_path / "lib" / "verl_ext" / "demo" / "data"
    source = REPO / "verl_ext" / "demo" / "data"
    every_file = sorted(p.name for p in source.iterdir() if p.is_file())
    assert {"README.md", "problems.jsonl"} <= set(every_file)
    assert sorted(p.name for p in shipped.iterdir()) == every_file  # every data file ships, nothing else
    assert (shipped / "problems.jsonl").read_bytes() == (
        REPO / "verl_ext" / "demo" / "data" / "problems.jsonl"
    ).read_bytes()


def test_build_ships_data_prep_with_its_selections(source_copy, tmp_path):
    _setup(source_copy, "-q", "build_py", "--build-lib", str(tmp_path / "lib"))
    shipped = tmp_path / "lib" / "data_prep"
    assert (shipped / "prepare.py").is_file()
    selections = sorted(p.name for p in (REPO / "data_prep" / "selections").iterdir())
    assert selections and sorted(p.name for p in (shipped / "selections").iterdir()) == selections


def test_the_version_is_written_once_in_pyproject_and_read_from_the_package_metadata():
    import verl_ext

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    declared = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert verl_ext.__version__ == importlib.metadata.version("verl-ext") == declared
    assert declared not in (REPO / "setup.py").read_text(encoding="utf-8")
    assert declared not in (REPO / "verl_ext" / "__init__.py").read_text(encoding="utf-8")


def test_the_declared_license_is_the_root_license_file():
    assert "MIT License" in (REPO / "LICENSE").read_text(encoding="utf-8")
    assert importlib.metadata.metadata("verl-ext")["License-Expression"] == "MIT"
