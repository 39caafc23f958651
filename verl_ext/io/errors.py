"""The one error type readers raise: it names the file and, where it can, the line, item or row."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input: unknown format, invalid JSON, a missing or malformed field, an empty file.

    ``str(error)`` is ``"<path>: <where>: <message>"`` (``where`` is e.g. ``line 12``, ``item 3`` or ``row 7``).
    """

    def __init__(self, path: str | Path, message: str, where: str | None = None) -> None:
        self.path = str(path)
        self.where = where
        self.message = message
        super().__init__(f"{self.path}: {where}: {message}" if where else f"{self.path}: {message}")
