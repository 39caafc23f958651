"""The demo's metric log, written as veRL's file logger writes it, whatever the engine.

One line per step, ``{"step": N, "data": {"metric/name": value, ...}}`` (what ``verl-ext table`` and
``verl-ext plot`` read). Step 0 holds the evaluation before training, as in veRL. Metric names are veRL's
(each engine translates its own: ``engines/trl.py`` renames TRL's logs, ``engines/verl.py`` keeps veRL's).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

_SAMPLED = re.compile(r"^(?P<prefix>val-core/[^/]+/acc)/mean@(?P<k>[2-9]|\d\d+)$")  # k >= 2: a sampled evaluation


class MetricLogWriter:
    """Appends ``{"step", "data"}`` lines to ``path`` (truncated on open) and keeps them in ``history``."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("", encoding="utf-8")
        self.history: dict[int, dict[str, float]] = {}

    def write(self, step: int, data: dict[str, float]) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": int(step), "data": data}) + "\n")
        self.history.setdefault(int(step), {}).update(data)


def step_line(step: int, max_steps: int, data: dict[str, float]) -> str:
    """``step 3/60  reward 0.412  format 0.38  length 21.3  acc 0.06  maj 0.72  distinct 2.5`` (+ the held-out
    accuracy when evaluated: greedy, then mean@k and maj@k of the sampled evaluation): maj and distinct are the
    collapse monitors (majority ratio, distinct answers per prompt's group)."""

    def show(key: str, fmt: str) -> str:
        return format(data[key], fmt) if key in data else "-"

    line = (
        f"step {step:>{len(str(max_steps))}}/{max_steps}  reward {show('critic/score/mean', '6.3f')}  "
        f"format {show('diagnostics/format_rate', '.2f')}  length {show('response_length/mean', '5.1f')}  "
        f"acc {show('diagnostics/accuracy', '.2f')}  maj {show('collapse/majority_ratio', '.2f')}  "
        f"distinct {show('collapse/distinct_answers', '.1f')}"
    )
    held_out = [k for k in data if k.startswith("val-core/") and k.endswith("/acc/mean@1")]
    if held_out:
        line += f"  | held-out acc {data[held_out[0]]:.2f}"
    sampled = [match for k in sorted(data) if (match := _SAMPLED.match(k))]
    for match in sampled[:1]:
        line += f"  mean@{match['k']} {data[match.string]:.2f}"
        majority = f"{match['prefix']}/maj@{match['k']}/mean"
        if majority in data:
            line += f"  maj@{match['k']} {data[majority]:.2f}"
    return line
