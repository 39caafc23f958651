"""Readers and writers: generations to score, scored rows, per-step metric logs. Readers never score.

Every reader raises ``InputError`` naming the file and the line (``line N``), list element
(``item N``) or parquet row (``row N``) of bad input. ``verl_ext.io.output`` holds the one rule for
output paths (``-o``) of every subcommand.
"""

from verl_ext.io.errors import InputError
from verl_ext.io.generations import Sample, read_generations
from verl_ext.io.jsonl import write_jsonl
from verl_ext.io.logs import MetricLog, read_metric_log
from verl_ext.io.scored import ScoredRow, read_scored

__all__ = [
    "InputError",
    "MetricLog",
    "Sample",
    "ScoredRow",
    "read_generations",
    "read_metric_log",
    "read_scored",
    "write_jsonl",
]
