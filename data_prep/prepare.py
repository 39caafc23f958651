"""Write the paper's training and evaluation sets as veRL parquet files.

    python data_prep/prepare.py NAME [--source PATH_OR_HUB_ID] [--out DIR] [--template T]
    python data_prep/prepare.py --all [--out DIR] [--from-hub]
    python data_prep/prepare.py --check-overlap [--out DIR]     # report on files already in DIR
    python data_prep/prepare.py --list

Without --source, a set is read from its release file carried in release_data/ (if there is one).
--source takes a local file (JSON list, JSONL, parquet, a save_to_disk folder) or a Hub id
owner/name[:config][@split]; --from-hub uses the set's default Hub id. Only these two touch the network.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from data_prep.build import Built, build
from data_prep.layouts import read_records
from data_prep.overlap import Overlap, find_overlap
from data_prep.records import DataError, NoSourceError
from data_prep.rows import to_table
from data_prep.sets import EVAL_SETS, SETS, TRAIN_SETS, SetSpec, hub_spec
from data_prep.sources import Source, load_file, load_hub, parse_hub_id
from data_prep.templates import DEFAULT_TEMPLATE, TEMPLATES
from data_prep.writer import write_parquet_atomic

DEFAULT_OUT = Path("data")
FILE_SUFFIXES = (".json", ".jsonl", ".parquet")


def _local_path(text: str) -> tuple[Path, str | None] | None:
    """``PATH`` or ``PATH@SPLIT`` (a save_to_disk folder) when that path exists, else None."""
    if Path(text).exists():
        return Path(text), None
    head, sep, split = text.rpartition("@")
    if sep and Path(head).is_dir():
        return Path(head), split
    return None


def resolve_source(
    spec: SetSpec, source: str | None, from_hub: bool, hub_loader: Callable[..., Any] | None = None
) -> Source:
    """Rows for ``spec``: the given local file or Hub id, the default Hub id, or the local default."""
    if source:
        local = _local_path(source)
        if local is not None:
            # the set's file under its release name (carried gzip-compressed here, released without .gz)
            wanted = ([spec.local.name.removesuffix(".gz")] if spec.local else []) + [
                f"{spec.name}{suffix}" for suffix in FILE_SUFFIXES
            ]
            return load_file(*local, wanted=wanted)
        if source.startswith(("/", ".", "~")) or Path(source).suffix in FILE_SUFFIXES:
            raise DataError(f"{source}: no such file")
        repo, config, split = parse_hub_id(source)
        hub = hub_spec(spec, repo, config, split)
        if hub.repo not in {h.repo for h in spec.hub}:
            print(f"note: {repo} is not a Hub id known for {spec.name}; trying it anyway", file=sys.stderr)
        return load_hub(hub.repo, hub.configs, hub.split, hub_loader)
    if from_hub:
        hub = spec.hub[0]
        return load_hub(hub.repo, hub.configs, hub.split, hub_loader)
    if spec.local is not None and spec.local.exists():
        return load_file(spec.local)
    ids = ", ".join(str(h) for h in spec.hub)
    where = f" (expected {spec.local})" if spec.local else ""
    raise NoSourceError(f"{spec.name}: no local source{where}; pass --source FILE_OR_HUB_ID or --from-hub (Hub: {ids})")


def _sample_prompt(row: dict[str, Any], width: int = 160) -> str:
    parts = [f"[{m['role']}] {m['content']}" for m in row["prompt"]]
    return textwrap.shorten(" ".join(parts), width=width, placeholder=" ...")


def report(spec: SetSpec, source: Source, built: Built, path: Path, template: str) -> str:
    """What was written, as printed by the CLI."""
    lines = [
        f"{spec.name}: wrote {path} ({len(built.rows)} rows, data_source {spec.data_source}, template {template})",
        f"  source: {source.origin} ({len(source.rows)} rows, layout {built.layout})",
    ]
    if built.rows:
        lines.append(f"  sample prompt: {_sample_prompt(built.rows[0])}")
        lines.append(f"  sample ground truth: {built.rows[0]['reward_model']['ground_truth']}")
    lines += [f"  note: {n}" for n in built.notes]
    lines += [f"  dropped: {i}" for i in built.dropped]
    lines += [f"  WARNING: {w}" for w in built.warnings]
    return "\n".join(lines)


def prepare(
    name: str,
    out: Path,
    source: str | None = None,
    template: str = DEFAULT_TEMPLATE,
    from_hub: bool = False,
    drop_invalid: bool = False,
    hub_loader: Callable[..., Any] | None = None,
) -> tuple[Path, str]:
    """Build set ``name`` and write ``out/NAME.parquet`` atomically; returns (path, report text)."""
    spec = SETS[name]
    src = resolve_source(spec, source, from_hub, hub_loader)
    built = build(spec, src, template, drop_invalid)
    path = out / f"{name}.parquet"
    write_parquet_atomic(to_table(built.rows), path)
    return path, report(spec, src, built, path, template)


def overlaps_in(out: Path) -> list[Overlap]:
    """Overlap of every eval file in ``out`` with every training file in ``out``."""
    problems = {}
    for name in EVAL_SETS + TRAIN_SETS:
        path = out / f"{name}.parquet"
        if path.exists():
            _, records, _ = read_records(load_file(path))
            problems[name] = [r.problem for r in records]
    return [
        find_overlap(e, problems[e], t, problems[t])
        for e in EVAL_SETS
        if e in problems
        for t in TRAIN_SETS
        if t in problems
    ]


def _list_sets() -> str:
    lines = []
    for spec in SETS.values():
        local = spec.local if spec.local and spec.local.exists() else "(none)"
        lines.append(f"{spec.name:15} {spec.data_source:14} {spec.size:6} rows  local: {local}")
        lines.append(f"{'':15} hub: {', '.join(str(h) for h in spec.hub)}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Write the paper's train/eval sets as veRL parquet files.")
    parser.add_argument("name", nargs="?", choices=sorted(SETS), metavar="NAME", help=f"one of: {', '.join(SETS)}")
    parser.add_argument(
        "--all", action="store_true", help="every set (skips sets with no local source unless --from-hub)"
    )
    parser.add_argument(
        "--source",
        help="local .json/.jsonl/.parquet file, datasets save_to_disk folder (PATH[@SPLIT]), "
        "or Hub id owner/name[:config][@split]",
    )
    parser.add_argument("--from-hub", action="store_true", help="read from the set's default Hub id (network)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--template", choices=sorted(TEMPLATES), default=DEFAULT_TEMPLATE)
    parser.add_argument("--drop-invalid", action="store_true", help="drop bad rows (each listed) instead of failing")
    parser.add_argument(
        "--check-overlap", action="store_true", help="report eval problems found in training files in --out"
    )
    parser.add_argument("--list", action="store_true", help="list sets, local sources and Hub ids")
    args = parser.parse_args(argv)
    if args.all and (args.name or args.source):
        parser.error("--all takes no NAME and no --source")
    if not (args.name or args.all or args.check_overlap or args.list):
        parser.error("give NAME, --all, --check-overlap or --list")
    if args.source and not args.name:
        parser.error("--source needs a NAME")
    return args


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (1 when any set failed)."""
    args = parse_args(argv)
    if args.list:
        print(_list_sets())
    names = list(SETS) if args.all else ([args.name] if args.name else [])
    failed, skipped = [], []
    for name in names:
        try:
            _, text = prepare(name, args.out, args.source, args.template, args.from_hub, args.drop_invalid)
            print(text)
        except NoSourceError as exc:
            if not args.all:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            skipped.append(name)
            print(f"{name}: skipped: {exc}")
        except DataError as exc:
            failed.append(name)
            print(f"error: {exc}", file=sys.stderr)
    if args.check_overlap:
        print(f"overlap (normalised problem text) between eval and training files in {args.out}:")
        for overlap in overlaps_in(args.out):
            print(f"  {overlap}")
    if args.all:
        done = [n for n in names if n not in failed and n not in skipped]
        print(f"done: {len(done)} written, {len(skipped)} skipped {skipped}, {len(failed)} failed {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
