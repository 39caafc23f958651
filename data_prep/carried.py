"""The release files this repository carries (``release_data/``): the paper's public release (MIT, its
LICENSE beside them), only the files that the tests, the CPU recipe and data_prep read.

``release_data/SHA256SUMS`` lists each carried file by its path in the release, with the SHA-256 of its
content as released (``sha256sum -c`` format, so it also checks a full copy of the release). JSON files are
carried gzip-compressed (``<path>.gz``), everything else as released.

    python -m data_prep.carried --materialise DIR   # the carried files, decompressed, in the release's layout
    python -m data_prep.carried --refresh RELEASE   # copy the manifest's files again from a release folder
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CARRIED_DIR = REPO_ROOT / "release_data"
MANIFEST = CARRIED_DIR / "SHA256SUMS"
COMPRESSED_SUFFIXES = (".json", ".jsonl")


def manifest(path: Path = MANIFEST) -> dict[str, str]:
    """Release path -> SHA-256 (hex) of its released content, from a ``sha256sum`` file."""
    entries = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name:
            raise ValueError(f"{path}:{number}: not a '<sha256>  <path>' line: {line!r}")
        entries[name] = digest
    return entries


def carried_path(release_path: str, carried_dir: Path = CARRIED_DIR) -> Path:
    """Where the carried copy of ``release_path`` lies (``.gz`` added for JSON files)."""
    compressed = Path(release_path).suffix in COMPRESSED_SUFFIXES
    return carried_dir / (release_path + ".gz" if compressed else release_path)


def released_bytes(release_path: str, carried_dir: Path = CARRIED_DIR) -> bytes:
    """The content of ``release_path`` as released (decompressed where it is carried compressed)."""
    path = carried_path(release_path, carried_dir)
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def materialise(dest: Path, carried_dir: Path = CARRIED_DIR) -> Path:
    """Write every carried file, decompressed and checked against the manifest, to ``dest`` in the
    release's layout (the folder a full copy of the release would be); returns ``dest``."""
    for name, digest in manifest(carried_dir / MANIFEST.name).items():
        data = released_bytes(name, carried_dir)
        if sha256(data) != digest:
            raise ValueError(f"{carried_path(name, carried_dir)}: content differs from the release's ({MANIFEST.name})")
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return dest


@contextmanager
def release_folder(path: Path | None = None) -> Iterator[Path]:
    """``path`` (a copy of the release) if given, else the carried files materialised in a temporary folder."""
    if path is not None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        yield materialise(Path(tmp))


def refresh(release_dir: Path, carried_dir: Path = CARRIED_DIR) -> None:
    """Copy each manifest file again from a release folder, after checking its SHA-256 there."""
    for name, digest in manifest(carried_dir / MANIFEST.name).items():
        data = (release_dir / name).read_bytes()
        if sha256(data) != digest:
            raise ValueError(f"{release_dir / name}: SHA-256 differs from {MANIFEST.name}")
        target = carried_path(name, carried_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        # mtime 0 and no file name in the header: the same input always gives the same bytes
        target.write_bytes(gzip.compress(data, 9, mtime=0) if target.suffix == ".gz" else data)
    shutil.copyfile(release_dir / "LICENSE", carried_dir / "LICENSE")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--materialise", type=Path, metavar="DIR", help="write the carried files, decompressed, to DIR")
    group.add_argument(
        "--refresh", type=Path, metavar="RELEASE", help="copy the manifest's files from a release folder"
    )
    args = parser.parse_args(argv)
    try:
        if args.materialise:
            print(materialise(args.materialise))
        else:
            refresh(args.refresh)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
