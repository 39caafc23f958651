"""Low-level JSON readers and writers shared by the format readers.

Readers yield ``(where, object)`` pairs, ``where`` naming the place in the file (``line 12`` for
JSONL, ``item 3`` for the elements of a JSON list, both 1-based). Blank lines of a JSONL file are
not records; every other line must be one JSON object.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from verl_ext.io.errors import InputError
from verl_ext.io.output import prepare_output_path


def check_readable(path: str | Path) -> Path:
    """``path`` as a Path; InputError when it is missing, a directory or empty."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a directory, not a file")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file")
    return path


def first_char(path: Path) -> str:
    """The first non-whitespace character of a text file ('' when it has none)."""
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        while True:
            chunk = handle.read(4096)
            if not chunk:
                return ""
            stripped = chunk.lstrip()
            if stripped:
                return stripped[0]


def _json_error(exc: json.JSONDecodeError, text: str) -> str:
    """``not valid JSON: <msg> at column C``, C 1-based within the line; text that stops early says so
    (the column is then the one just past its last character)."""
    end = len(text.rstrip())
    if exc.pos >= end:
        return f"not valid JSON: the record stops at column {end + 1} ({exc.msg}; truncated line?)"
    if exc.msg.startswith("Unterminated string"):
        return (
            f"not valid JSON: the record stops at column {end + 1} inside a string that starts at column {exc.colno}"
            " (truncated line?)"
        )
    return f"not valid JSON: {exc.msg} at column {exc.colno}"


def iter_jsonl(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Objects of a JSONL file, one per non-blank line. InputError names the line of any bad one."""
    path = check_readable(path)
    found = False
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"line {number}"
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(path, f"not UTF-8 text: {exc.reason} at byte {exc.start}", where) from None
            if not line.strip():
                continue
            text = line.rstrip("\r\n")  # the newline is not part of the record: columns count within the line
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(path, _json_error(exc, text), where) from None
            if not isinstance(obj, dict):
                raise InputError(path, f"expected a JSON object, got {type(obj).__name__}", where)
            found = True
            yield where, obj
    if not found:
        raise InputError(path, "no records (only blank lines)")


def load_json(path: str | Path) -> Any:
    """The parsed content of a JSON file; InputError with line and column when it is not valid JSON."""
    path = check_readable(path)
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        text = exc.doc.rstrip()
        if exc.pos >= len(text):  # the document stops early: point at its last character
            line = text.count("\n") + 1
            column = len(text) - (text.rfind("\n") + 1)
            raise InputError(
                path,
                f"not valid JSON: the file stops early ({exc.msg}; truncated file?)",
                f"line {line} column {column}",
            ) from None
        raise InputError(path, f"not valid JSON: {exc.msg}", f"line {exc.lineno} column {exc.colno}") from None
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text: {exc}") from None


def iter_json_list(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Elements of a JSON file holding a list of objects."""
    data = load_json(path)
    if not isinstance(data, list):
        raise InputError(path, f"expected a JSON list of objects, got a JSON {type(data).__name__}")
    if not data:
        raise InputError(path, "no records (empty JSON list)")
    for number, obj in enumerate(data, start=1):
        where = f"item {number}"
        if not isinstance(obj, dict):
            raise InputError(path, f"expected a JSON object, got {type(obj).__name__}", where)
        yield where, obj


def iter_json_records(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Objects of a JSON list file or a JSONL file, told apart by the first character ('[' or '{')."""
    path = check_readable(path)
    head = first_char(path)
    if head == "[":
        return iter_json_list(path)
    if head == "{":
        return iter_jsonl(path)
    if head == "":
        raise InputError(path, "empty file (only whitespace)")
    raise InputError(path, f"neither a JSON list nor JSONL: the file starts with {head!r}", "line 1")


def to_jsonable(value: Any) -> Any:
    """``value`` with numpy scalars and arrays (parquet cells) turned into plain Python for JSON."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    tolist = getattr(value, "tolist", None)
    if callable(tolist):  # numpy arrays and scalars
        return to_jsonable(tolist())
    item = getattr(value, "item", None)
    if callable(item):
        return to_jsonable(item())
    return str(value)


def dumps_line(obj: dict[str, Any]) -> str:
    """One JSONL line. Text with lone surrogates (possible in JSON input) is written with escapes."""
    line = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(obj, ensure_ascii=True, allow_nan=False)
    return line


def write_jsonl(rows: Iterable[dict[str, Any]], path: str | Path) -> int:
    """Write ``rows`` as JSONL, atomically (a partial file never takes the final name). Returns the count."""
    path = prepare_output_path(path)
    handle = tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    count = 0
    try:
        with handle:
            for row in rows:
                handle.write(dumps_line(row) + "\n")
                count += 1
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    return count
