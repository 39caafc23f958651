"""The demo's metric log: TRL's per-step logs renamed to veRL's names, written as veRL's file-logger JSONL.

One line per step, ``{"step": N, "data": {"metric/name": value, ...}}`` (what ``verl-ext table`` and
``verl-ext plot`` read). Step 0 holds the evaluation before training, as in veRL. Renames:

    reward                    -> critic/score/mean       (mean reward of the step's rollouts)
    completions/mean_length   -> response_length/mean    (tokens, EOS included)
    completions/clipped_ratio -> response_length/clip_ratio
    loss, grad_norm, learning_rate, entropy, kl, step_time -> actor/..., timing_s/step
    diagnostics/*             -> unchanged (from ``verl_ext.integrations.trl``)
    anything else             -> trl/<name>
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

RENAMES = {
    "reward": "critic/score/mean",
    "reward_std": "critic/score/std",
    "completions/mean_length": "response_length/mean",
    "completions/max_length": "response_length/max",
    "completions/min_length": "response_length/min",
    "completions/clipped_ratio": "response_length/clip_ratio",
    "loss": "actor/pg_loss",
    "grad_norm": "actor/grad_norm",
    "learning_rate": "actor/lr",
    "entropy": "actor/entropy",
    "kl": "actor/kl_loss",
    "step_time": "timing_s/step",
}
_SKIP = {"epoch", "total_flos", "train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss"}


def rename_trl_logs(logs: dict[str, Any]) -> dict[str, float]:
    """TRL's log dict -> veRL-named numeric metrics (non-numbers, NaN and bookkeeping keys dropped)."""
    data: dict[str, float] = {}
    for key, value in logs.items():
        if key in _SKIP or isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            continue
        if key.startswith("diagnostics/"):
            name = key
        else:
            name = RENAMES.get(key, f"trl/{key}")
        data[name] = float(value)
    return data


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


def make_callback(writer: MetricLogWriter, max_steps: int, evaluate: Callable[[Any, int], dict[str, float]], eval_every: int, progress: bool):  # noqa: ANN201
    """A transformers ``TrainerCallback``: ``evaluate(model, step)`` every ``eval_every`` steps and at the last one,
    writes each step's line, and shows a progress bar with a one-line summary per step."""
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class DemoCallback(TrainerCallback):
        def __init__(self) -> None:
            self.bar = None
            self.pending: dict[str, float] = {}

        def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
            if progress:
                self.bar = tqdm(total=max_steps, desc="GRPO", dynamic_ncols=True)

        def on_step_end(self, args, state, control, model=None, **kwargs):  # noqa: ANN001, ANN201
            step = state.global_step
            if model is not None and (step == max_steps or (eval_every > 0 and step % eval_every == 0)):
                self.pending = evaluate(model, step)

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN201
            data = rename_trl_logs(logs or {})
            if not data or "critic/score/mean" not in data:
                return
            data.update(self.pending)
            self.pending = {}
            writer.write(state.global_step, data)
            if self.bar is not None:
                self.bar.update(state.global_step - self.bar.n)
                self.bar.write(step_line(state.global_step, max_steps, data))

        def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
            if self.bar is not None:
                self.bar.close()

    return DemoCallback()


def step_line(step: int, max_steps: int, data: dict[str, float]) -> str:
    """``step 3/60  reward 0.412  format 0.38  length 21.3  acc 0.06`` (+ the held-out accuracy when evaluated)."""

    def show(key: str, fmt: str) -> str:
        return format(data[key], fmt) if key in data else "-"

    line = (
        f"step {step:>{len(str(max_steps))}}/{max_steps}  reward {show('critic/score/mean', '6.3f')}  "
        f"format {show('diagnostics/format_rate', '.2f')}  length {show('response_length/mean', '5.1f')}  "
        f"acc {show('diagnostics/accuracy', '.2f')}"
    )
    held_out = [k for k in data if k.startswith("val-core/") and k.endswith("/acc/mean@1")]
    if held_out:
        line += f"  | held-out acc {data[held_out[0]]:.2f}"
    return line
