"""Readers for model generations (what ``verl-ext score`` takes), one per record layout.

Layouts (told apart by the first record of a file; every later record must follow it):

``verl_dump``
    veRL 0.9's ``trainer.validation_data_dir`` / ``trainer.rollout_data_dir`` JSONL
    (``RayPPOTrainer._write_generations``): ``input`` (decoded prompt), ``output`` (decoded response),
    ``gts`` (ground truth or null), ``score``, ``step``, plus every ``reward_extra_info`` key.
``flat``
    Records with ``response`` and ``ground_truth`` (optional ``response_token_len``/``response_length``/
    ``response_tokens``, ``data_source``, ``step``, ``prompt``), as in the paper's release outputs:
    a JSON list, JSONL or parquet. A veRL-style ``reward_model.ground_truth`` is read when there is
    no ``ground_truth``.
``generation_lists``
    One record per prompt with ``responses``, a list of k samples (veRL's ``main_generation_server``
    parquet, or ``examples/eval_checkpoint.sh``'s vLLM output, which adds ``response_token_lens``):
    each sample becomes one record with ``response``, ``sample_index`` and ``response_token_len``.

Files: ``.jsonl``, ``.json`` (a JSON list, or JSONL), ``.parquet``. Any other suffix is an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verl_ext.io.errors import InputError
from verl_ext.io.jsonl import check_readable, iter_json_records, to_jsonable

TOKEN_FIELDS = ("response_token_len", "response_length", "response_tokens")
"""Fields read as the response's token count, in this order of preference."""

SUFFIXES = (".json", ".jsonl", ".parquet")


@dataclass
class Sample:
    """One response to score. ``fields``: the input record (JSON-able), written back out with the scores."""

    path: str
    where: str
    fields: dict[str, Any]
    response: str
    ground_truth: str | None
    response_tokens: int | None

    @property
    def location(self) -> str:
        return f"{self.path}: {self.where}"


# --- field parsing -------------------------------------------------------------------------------


def parse_ground_truth(value: Any, path: str, where: str) -> str | None:
    """A ground truth as text; None when absent or blank. Numbers become their text (142.0 -> "142.0")."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError(path, f"ground truth must be text or a number, got {value!r}", where)
    if isinstance(value, float):
        return None if math.isnan(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value if value.strip() else None
    raise InputError(path, f"ground truth must be text or a number, got a {type(value).__name__}: {value!r:.80}", where)


def parse_token_count(value: Any, field: str, path: str, where: str) -> int | None:
    """A token count from an int, an integral float or a numeric string ("860"); None when blank."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number: float
    if isinstance(value, bool):
        raise InputError(path, f"{field} must be a whole number, got {value!r}", where)
    if isinstance(value, (int, float)):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise InputError(path, f"{field} must be a whole number, got {value!r}", where) from None
    else:
        raise InputError(path, f"{field} must be a whole number, got a {type(value).__name__}", where)
    if math.isnan(number) or number != int(number) or number < 0:
        raise InputError(path, f"{field} must be a whole number >= 0, got {value!r}", where)
    return int(number)


def token_count(record: dict[str, Any], path: str, where: str) -> int | None:
    for field in TOKEN_FIELDS:
        if field in record:
            count = parse_token_count(record[field], field, path, where)
            if count is not None:
                return count
    return None


def _response(record: dict[str, Any], field: str, path: str, where: str) -> str:
    if field not in record:
        raise InputError(path, f"missing field {field!r} (keys: {', '.join(sorted(record)) or 'none'})", where)
    value = record[field]
    if not isinstance(value, str):
        raise InputError(path, f"field {field!r} must be text, got {type(value).__name__}", where)
    return value


# --- layouts -------------------------------------------------------------------------------------


def _verl_dump(path: str, where: str, record: dict[str, Any]) -> Iterator[Sample]:
    response = _response(record, "output", path, where)
    truth = parse_ground_truth(record.get("gts"), path, where)
    yield Sample(path, where, record, response, truth, token_count(record, path, where))


def _flat_truth(record: dict[str, Any], path: str, where: str) -> str | None:
    if "ground_truth" in record:
        return parse_ground_truth(record["ground_truth"], path, where)
    reward_model = record.get("reward_model")
    if isinstance(reward_model, dict):
        return parse_ground_truth(reward_model.get("ground_truth"), path, where)
    return None


def _flat(path: str, where: str, record: dict[str, Any]) -> Iterator[Sample]:
    response = _response(record, "response", path, where)
    yield Sample(path, where, record, response, _flat_truth(record, path, where), token_count(record, path, where))


def _generation_lists(path: str, where: str, record: dict[str, Any]) -> Iterator[Sample]:
    responses = record.get("responses")
    if not isinstance(responses, list) or not responses:
        raise InputError(path, "field 'responses' must be a non-empty list of texts", where)
    lengths = record.get("response_token_lens")
    if lengths is not None and (not isinstance(lengths, list) or len(lengths) != len(responses)):
        raise InputError(path, "field 'response_token_lens' must be a list as long as 'responses'", where)
    base = {k: v for k, v in record.items() if k not in ("responses", "response_token_lens")}
    truth = _flat_truth(record, path, where)
    for index, response in enumerate(responses):
        sample_where = f"{where} sample {index + 1}"
        if not isinstance(response, str):
            raise InputError(path, f"response must be text, got {type(response).__name__}", sample_where)
        fields = dict(base, response=response, sample_index=index)
        tokens = None
        if lengths is not None:
            tokens = parse_token_count(lengths[index], "response_token_lens", path, sample_where)
            fields["response_token_len"] = tokens
        yield Sample(path, sample_where, fields, response, truth, tokens)


LAYOUTS: dict[str, tuple[Callable[[dict[str, Any]], bool], Callable[..., Iterator[Sample]]]] = {
    "verl_dump": (lambda r: "output" in r and ("input" in r or "gts" in r), _verl_dump),
    "flat": (lambda r: "response" in r, _flat),
    "generation_lists": (lambda r: "responses" in r, _generation_lists),
}


def detect_layout(record: dict[str, Any], path: str, where: str) -> str:
    for name, (matches, _) in LAYOUTS.items():
        if matches(record):
            return name
    raise InputError(
        path,
        "unknown record layout: expected a veRL generation dump (input, output, gts), records with "
        "'response' (and 'ground_truth'), or generation lists ('responses'); "
        f"found keys: {', '.join(sorted(record)) or 'none'}",
        where,
    )


# --- files ---------------------------------------------------------------------------------------


def _iter_parquet(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(path, f"not a readable parquet file: {exc}") from None
    if table.num_rows == 0:
        raise InputError(path, "no records (empty table)")
    for number, row in enumerate(table.to_pylist(), start=1):
        yield f"row {number}", to_jsonable(row)


def iter_records(path: str | Path, any_suffix: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, record)`` for every record of a JSON list, JSONL or parquet file.

    ``any_suffix``: read a file of another suffix as JSON list or JSONL instead of refusing it.
    """
    path = check_readable(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _iter_parquet(path)
    if suffix in (".json", ".jsonl") or any_suffix:
        return iter_json_records(path)
    raise InputError(path, f"unknown format {suffix or '(no suffix)'!r}: expected one of {', '.join(SUFFIXES)}")


def read_generations(path: str | Path) -> tuple[str, list[Sample]]:
    """All samples of one file, and the name of its layout. InputError names the file and record of a bad one."""
    name = str(path)
    layout: str | None = None
    samples: list[Sample] = []
    for where, record in iter_records(path):
        if layout is None:
            layout = detect_layout(record, name, where)
        samples.extend(LAYOUTS[layout][1](name, where, record))
    assert layout is not None  # iter_records raises on a file without records
    return layout, samples
