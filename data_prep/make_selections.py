"""Regenerate ``selections/*.gz`` from the release's processed training files.

    python data_prep/make_selections.py [--datasets DIR]   # DIR holds deepscaler_17k.parquet, math_train.parquet

Only maintainers need this; the tests check that the shipped files equal what it produces.
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
from pathlib import Path

from data_prep.carried import CARRIED_DIR
from data_prep.layouts import read_records
from data_prep.records import raise_issues
from data_prep.selection import DEEPSCALER_INDICES, MATH_TRAIN_FINGERPRINTS, fingerprint
from data_prep.sources import load_file

DEEPSCALER_HEADER = (
    "# deepscaler_17k: the paper's 17,000 DeepScaleR-Preview rows (0-based row numbers of the 40,315-row\n"
    "# set), in the order of the release's deepscaler_17k.parquet. Generator: drop empty-answer rows, then\n"
    "# numpy RandomState(42).permutation(40309)[:17000] (pandas sample(n=17000, random_state=42)).\n"
)
MATH_HEADER = (
    "# math_train: the paper's 7,470 MATH training problems in the release's order: extra_info.index <TAB>\n"
    "# first 12 hex digits of sha256(problem text, outer whitespace stripped).\n"
)


def gzip_text(text: str) -> bytes:
    """Deterministic gzip (no timestamp), so regenerating gives identical bytes."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as f:
        f.write(text.encode("utf-8"))
    return buf.getvalue()


def deepscaler_text(processed: Path) -> str:
    """Shipped-file text for the deepscaler_17k selection, from the release's processed file."""
    _, records, rejected = read_records(load_file(processed))
    raise_issues([i for r in rejected for i in r.issues], str(processed))
    return DEEPSCALER_HEADER + "".join(f"{r.source_index}\n" for r in records)


def math_train_text(processed: Path) -> str:
    """Shipped-file text for the math_train selection, from the release's processed file."""
    _, records, rejected = read_records(load_file(processed))
    raise_issues([i for r in rejected for i in r.issues], str(processed))
    return MATH_HEADER + "".join(f"{r.source_index}\t{fingerprint(r.problem)}\n" for r in records)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=CARRIED_DIR / "datasets")
    args = parser.parse_args(argv)
    DEEPSCALER_INDICES.write_bytes(gzip_text(deepscaler_text(args.datasets / "deepscaler_17k.parquet")))
    MATH_TRAIN_FINGERPRINTS.write_bytes(gzip_text(math_train_text(args.datasets / "math_train.parquet")))
    print(f"wrote {DEEPSCALER_INDICES} and {MATH_TRAIN_FINGERPRINTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
