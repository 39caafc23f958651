"""The one rule for ``-o/--output`` of every ``verl-ext`` subcommand.

``-o PATH`` writes exactly ``PATH`` (a file; nothing is appended to its name) and creates missing
parent folders. It is refused, before any work, when ``PATH`` is an existing directory, when a
parent of it is an existing file, or when it is one of the command's input files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


class OutputError(ValueError):
    """An ``-o`` path that cannot be written; the message names the path and why."""


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return a.resolve() == b.resolve()


def check_output_path(output: str | Path, inputs: Iterable[str | Path] = (), example_name: str = "out.jsonl") -> Path:
    """``output`` as a Path, or OutputError when it is a directory, lies under a file, or is an input.

    ``example_name`` is the file name suggested for a directory (``DIR/<example_name>``).
    """
    path = Path(output)
    if str(output).endswith(("/", os.sep)) and not path.exists():
        raise OutputError(f"-o {output}: names a folder, not a file: give a file name such as {path / example_name}")
    if path.is_dir():
        raise OutputError(f"-o {output}: is a directory: give a file name such as {path / example_name}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"-o {output}: {parent} is a file, not a folder")
            break
    for source in inputs:
        if _same_file(path, Path(source)):
            named = "" if str(source) == str(output) else f" ({source})"
            raise OutputError(f"-o {output}: is an input file{named}; refusing to overwrite it: choose another name")
    return path


def prepare_output_path(output: str | Path, inputs: Iterable[str | Path] = (), example_name: str = "out.jsonl") -> Path:
    """``check_output_path``, then create the missing parent folders."""
    path = check_output_path(output, inputs, example_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
