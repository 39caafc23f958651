"""Load a source's raw rows: a local file (JSON list, JSONL, parquet, a ``save_to_disk`` folder) or a
Hub dataset. Rows come back as plain dicts, in file order; nothing here interprets fields.

The network is touched only by ``load_hub``, and only through the ``loader`` it is given
(``datasets.load_dataset`` by default).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_prep.records import DataError

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(:[\w.-]+)?(@[\w.-]+)?$")


@dataclass(frozen=True)
class Source:
    """Rows of one source and a human-readable name for messages (a path or ``hub:ID``)."""

    origin: str
    rows: list[dict[str, Any]]


def _check_dicts(rows: Sequence[Any], origin: str) -> list[dict[str, Any]]:
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DataError(f"{origin}: row {i}: expected an object with named fields, got {type(row).__name__}")
    return list(rows)


def _read_jsonl(text: str, origin: str) -> list[Any]:
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(f"{origin}: line {lineno}: not valid JSON ({exc.msg})") from None
    return rows


def _read_json(text: str, origin: str) -> list[Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # one object per line, as datasets' to_json writes
            return _read_jsonl(text, origin)
        raise DataError(f"{origin}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, list):
        raise DataError(f"{origin}: expected a JSON list of problems, got a JSON {type(data).__name__}")
    return data


DATA_SUFFIXES = (".json", ".jsonl", ".parquet")
SAVED_DATASET_MARKERS = ("dataset_dict.json", "state.json")
"""Files ``save_to_disk`` writes at the top of a DatasetDict / a Dataset folder."""
SOURCE_KINDS = (
    "a .json/.jsonl/.parquet file, a datasets save_to_disk folder (PATH or PATH@SPLIT),"
    " or a Hub id owner/name[:config][@split]"
)


def _plain_folder_error(path: Path, wanted: Sequence[str]) -> DataError:
    """One line for a folder that ``save_to_disk`` did not write: what a source may be, and which file to pass."""
    files = sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix in DATA_SUFFIXES)
    head = (
        f"{path}: a plain folder, not a datasets save_to_disk folder (no {' or '.join(SAVED_DATASET_MARKERS)});"
        f" a source is {SOURCE_KINDS}"
    )
    if not files:
        return DataError(f"{head}; this folder holds no {'/'.join(DATA_SUFFIXES)} file")
    pick = next((name for name in wanted if name in files), None)
    if pick is not None:
        return DataError(f"{head}; pick the file of this set: --source {path / pick}")
    shown = ", ".join(files[:8]) + (f", ... ({len(files)} in all)" if len(files) > 8 else "")
    return DataError(f"{head}; pick one of its files with --source {path}/FILE: {shown}")


def _read_saved_dataset(path: Path, split: str | None, wanted: Sequence[str] = ()) -> list[Any]:
    if not any((path / marker).is_file() for marker in SAVED_DATASET_MARKERS):
        raise _plain_folder_error(path, wanted)
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:  # a damaged save_to_disk folder
        raise DataError(f"{path}: cannot read this save_to_disk folder ({type(exc).__name__}: {exc})") from None
    if isinstance(loaded, datasets.DatasetDict):
        names = list(loaded.keys())
        if split is None and len(names) != 1:
            raise DataError(f"{path}: holds splits {names}; name one as PATH@SPLIT")
        name = split or names[0]
        if name not in loaded:
            raise DataError(f"{path}: no split '{name}' (has {names})")
        loaded = loaded[name]
    return loaded.to_list()


def _read_json_file(path: Path, origin: str) -> list[Any]:
    """A JSON list or JSON lines file, gzip-compressed when its name ends in ``.gz``."""
    if path.suffix == ".gz":
        import gzip

        try:
            text = gzip.decompress(path.read_bytes()).decode("utf-8")
        except (OSError, EOFError) as exc:
            raise DataError(f"{origin}: not a readable gzip file ({exc})") from None
    else:
        text = path.read_text(encoding="utf-8")
    return _read_jsonl(text, origin) if path.name.endswith((".jsonl", ".jsonl.gz")) else _read_json(text, origin)


def load_file(path: Path, split: str | None = None, wanted: Sequence[str] = ()) -> Source:
    """Rows of a local file: ``.json`` (list or JSON lines), ``.jsonl`` (either gzip-compressed as ``.gz``),
    ``.parquet``, or a folder written by ``datasets``' ``save_to_disk`` (``split`` picks from a DatasetDict).

    Any other folder is a DataError saying what a source may be; ``wanted`` (file names, preferred
    first) lets it name the file to pass when the folder holds one of them."""
    origin = str(path)
    if not path.exists():
        raise DataError(f"{origin}: no such file")
    if path.is_dir():
        rows = _read_saved_dataset(path, split, wanted)
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise DataError(f"{origin}: not a readable parquet file ({exc})") from None
    elif path.suffix in (".json", ".jsonl") or path.suffixes[-2:] in ([".json", ".gz"], [".jsonl", ".gz"]):
        rows = _read_json_file(path, origin)
    else:
        raise DataError(
            f"{origin}: unsupported file type '{path.suffix}' (use .json, .jsonl or .parquet, or .json.gz/.jsonl.gz)"
        )
    return Source(origin, _check_dicts(rows, origin))


def parse_hub_id(spec: str) -> tuple[str, str | None, str | None]:
    """``owner/name[:config][@split]`` -> (repo id, config, split)."""
    if not HUB_ID.match(spec):
        raise DataError(f"'{spec}' is neither an existing file nor a Hub id (owner/name[:config][@split])")
    rest, _, split = spec.partition("@")
    repo, _, config = rest.partition(":")
    return repo, config or None, split or None


def load_hub(
    repo: str,
    configs: Sequence[str | None],
    split: str,
    loader: Callable[..., Any] | None = None,
) -> Source:
    """Rows of a Hub dataset's ``split``, the given ``configs`` concatenated in order.

    ``loader`` defaults to ``datasets.load_dataset`` (downloads, with its progress bar).
    """
    if loader is None:
        import datasets

        loader = datasets.load_dataset
    rows: list[Any] = []
    for config in configs:
        try:
            part = loader(repo, config, split=split)
        except Exception as exc:  # network, missing config, ...: say which dataset
            where = f"{repo}" + (f" (config {config})" if config else "")
            raise DataError(f"hub:{where}@{split}: could not load ({type(exc).__name__}: {exc})") from None
        rows.extend(part.to_list() if hasattr(part, "to_list") else list(part))
    named = ",".join(c for c in configs if c)
    origin = f"hub:{repo}" + (f":{named}" if named else "") + f"@{split}"
    return Source(origin, _check_dicts(rows, origin))
