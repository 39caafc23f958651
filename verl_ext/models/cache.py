"""verl-ext's model cache: where built models live, and how an entry is built once however many processes ask.

An entry is a folder, ``<root>/<name>``, complete or absent: it is built in a staging folder beside it and renamed
into place. Processes asking for the same entry at once (two demos of one seed, the test suite's workers) take a
lock beside it (``<root>/.<name>.lock``, ``fcntl.flock``): the first builds, the others wait and then read its
entry instead of building their own copy.
"""

from __future__ import annotations

import fcntl
import os
import shutil
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
def entry_lock(target: Path) -> Iterator[None]:
    """Hold the exclusive lock of cache entry ``target`` (released when the block ends, or the process does)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_once(target: Path, complete: Callable[[Path], bool], build: Callable[[Path], None]) -> bool:
    """Make cache entry ``target``: ``build(staging)`` fills a fresh folder that is then renamed to ``target``,
    unless ``complete(target)`` holds, before or after waiting for another process building it. True when this
    call built it."""
    if complete(target):
        return False
    with entry_lock(target):
        if complete(target):  # built by the process that held the lock before
            return False
        staging = Path(tempfile.mkdtemp(prefix=f".building-{target.name}-", dir=target.parent))
        try:
            build(staging)
            if target.exists():  # incomplete (not made by build_once, which renames whole entries): replaced
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return True
