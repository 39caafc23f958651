"""verl-ext's model cache: where built models live, and how an entry is built once however many processes ask.

An entry is a folder, ``<root>/<name>``, complete or absent: it is built in a staging folder beside it and renamed
into place. Processes asking for the same entry at once (two demos of one seed, the test suite's workers) take a
lock beside it (``<root>/.<name>.lock``, ``fcntl.flock``; the file stays): the first builds, the others wait and
then read its entry instead of building their own copy.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def cache_root() -> Path:
    """``$VERL_EXT_CACHE``, else ``$XDG_CACHE_HOME/verl-ext``, else ``~/.cache/verl-ext``."""
    if os.environ.get("VERL_EXT_CACHE"):
        return Path(os.environ["VERL_EXT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "verl-ext"


@contextmanager
def file_lock(path: Path, waiting: str = "") -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing; released when the block ends, or the process
    does). When another process holds it, ``waiting`` (if given) is printed once to stderr before blocking. Where
    ``fcntl`` does not exist (Windows) nothing is locked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                print(waiting, file=sys.stderr, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def entry_lock(target: Path) -> Iterator[None]:
    """Hold the lock of cache entry ``target``: no other process builds or rewrites it meanwhile."""
    with file_lock(target.parent / f".{target.name}.lock", f"verl-ext: waiting for another process building {target}"):
        yield


def build_once(target: Path, complete: Callable[[Path], bool], build: Callable[[Path], None]) -> bool:
    """Make cache entry ``target`` unless ``complete(target)`` holds, before or after waiting for a process building
    it; True when this call built it.

    ``build(staging)`` fills a fresh folder beside ``target``, which must then be ``complete`` (else RuntimeError)
    and is renamed to ``target``; an incomplete ``target`` (not made here: entries are renamed whole) is replaced.
    An exception of ``build`` propagates, leaving neither an entry nor the staging folder."""
    if complete(target):
        return False
    with entry_lock(target):
        if complete(target):  # built by the process that held the lock before
            return False
        staging = Path(tempfile.mkdtemp(prefix=f".building-{target.name}-", dir=target.parent))
        try:
            build(staging)
            if not complete(staging):
                raise RuntimeError(f"building {target} gave an incomplete entry: {sorted(os.listdir(staging))}")
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return True
