"""The batch-first scoring core every front end calls (``score_batch``), its types, and the one serialisation of a
sample's signals (``verl_ext.core.extra_info``). No veRL or TRL import."""

from verl_ext.core.batch import (
    Batch,
    BatchError,
    BatchResult,
    GroupResult,
    SampleResult,
    ScoringSettings,
    group_members,
    measure_batch,
    random_draws,
    reward_loop_batch,
    score_batch,
)
from verl_ext.core.single import score_group, score_response

__all__ = [
    "Batch",
    "BatchError",
    "BatchResult",
    "GroupResult",
    "SampleResult",
    "ScoringSettings",
    "group_members",
    "measure_batch",
    "random_draws",
    "reward_loop_batch",
    "score_batch",
    "score_group",
    "score_response",
]
