"""The carried release files (release_data/): each one's released content has the SHA-256 its manifest
lists, nothing unlisted is carried, the license travels with them, and a changed file is refused."""

import gzip
import hashlib
import shutil
from pathlib import Path

import pytest

from data_prep.carried import CARRIED_DIR, carried_path, manifest, materialise

REPO = Path(__file__).resolve().parents[1]


DOCUMENTS = {"LICENSE", "README.md", "SHA256SUMS"}


def _listed() -> list[str]:
    return sorted(manifest())


@pytest.mark.parametrize("name", _listed())
def test_each_carried_file_has_the_released_sha256(name):
    path = carried_path(name)
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    assert hashlib.sha256(data).hexdigest() == manifest()[name]


def test_only_listed_files_are_carried():
    carried = {p.relative_to(CARRIED_DIR).as_posix() for p in CARRIED_DIR.rglob("*") if p.is_file()}
    listed = {carried_path(name).relative_to(CARRIED_DIR).as_posix() for name in manifest()}
    assert carried - DOCUMENTS == listed


def test_the_release_license_is_carried():
    text = (CARRIED_DIR / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert "Permission is hereby granted, free of charge" in text


def test_manifest_lines_are_in_sha256sum_format():
    for line in (CARRIED_DIR / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, name = line.split("  ")
        assert len(digest) == 64 and set(digest) <= set("0123456789abcdef")
        assert not name.startswith(("/", ".")), name


def test_materialised_folder_holds_the_released_bytes(tmp_path):
    out = materialise(tmp_path / "release")
    for name, digest in manifest().items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest


def test_a_changed_carried_file_is_refused(tmp_path):
    copy = tmp_path / "carried"
    shutil.copytree(CARRIED_DIR, copy)
    target = copy / "release" / "run_train.sh"
    target.write_bytes(target.read_bytes() + b"\n")
    with pytest.raises(ValueError, match="run_train.sh: content differs"):
        materialise(tmp_path / "out", copy)
