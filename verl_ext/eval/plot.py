"""The paper's curves (``verl-ext plot``): one figure, one line per run.

Panels: validation accuracy of each benchmark (the metric ``table`` uses), the mean response length
of the training rollouts (``response_length/mean``) and, when any run logged it, the validation
format rate (``val-*/<bench>/format/mean@N``, averaged over the benchmarks logged at that step).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from verl_ext.eval.table import accuracy_metrics, validation_metrics
from verl_ext.io.logs import MetricLog

RESPONSE_LENGTH = "response_length/mean"


def short_labels(names: Sequence[str]) -> list[str]:
    """Run names without the ``-``-separated parts that all of them share (the full name when nothing is left)."""
    parts = [name.split("-") for name in names]
    if len(names) < 2:
        return list(names)
    common = set(parts[0]).intersection(*map(set, parts[1:]))
    labels = ["-".join(p for p in split if p not in common) or name for split, name in zip(parts, names)]
    return labels if len(set(labels)) == len(labels) else list(names)


def _format_series(log: MetricLog, max_step: int | None) -> list[tuple[int, float]]:
    names = validation_metrics(log, "format")
    points = []
    for step, values in log.steps.items():
        if max_step is not None and step > max_step:
            continue
        found = [values[name] for name in names.values() if name in values]
        if found:
            points.append((step, sum(found) / len(found)))
    return points


def _clip(points: list[tuple[int, float]], max_step: int | None) -> list[tuple[int, float]]:
    return [(s, v) for s, v in points if max_step is None or s <= max_step]


@dataclass(frozen=True)
class Panel:
    """One subplot: ``series[i]`` holds the ``(step, value)`` points of run i (empty when it logged none)."""

    title: str
    ylabel: str
    series: list[list[tuple[int, float]]]


def build_panels(logs: Sequence[MetricLog], benchmarks: Sequence[str] | None = None, max_step: int | None = None) -> list[Panel]:
    """The panels of the figure: each benchmark's accuracy, response length, format rate (when logged)."""
    if not logs:
        raise ValueError("no logs")
    benchmarks = list(benchmarks) if benchmarks else sorted(set().union(*(accuracy_metrics(log) for log in logs)))
    panels = []
    for bench in benchmarks:
        series = []
        for log in logs:
            name = accuracy_metrics(log).get(bench)
            series.append(_clip(log.series(name), max_step) if name else [])
        if not any(series):
            raise ValueError(f"no run logged a validation accuracy for {bench}")
        panels.append(Panel(f"{bench}: validation accuracy", "accuracy", series))
    lengths = [_clip(log.series(RESPONSE_LENGTH), max_step) for log in logs]
    if any(lengths):
        panels.append(Panel("mean response length (training rollouts)", "tokens", lengths))
    formats = [_format_series(log, max_step) for log in logs]
    if any(formats):
        panels.append(Panel("format rate (validation, mean over benchmarks)", "rate", formats))
    if not panels:
        raise ValueError("the logs hold none of the plotted metrics (validation accuracy, response_length/mean, format)")
    return panels


def plot_runs(
    logs: Sequence[MetricLog],
    output: str | Path,
    benchmarks: Sequence[str] | None = None,
    max_step: int | None = None,
    title: str | None = None,
) -> Path:
    """Draw the curves of ``logs`` into the image ``output`` (format from its suffix, e.g. .png)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = build_panels(logs, benchmarks, max_step)
    cols = 2 if len(panels) in (2, 4) else min(3, len(panels))
    rows = -(-len(panels) // cols)
    spare = rows * cols > len(panels)  # an empty cell holds the legend
    fig, axes = plt.subplots(rows, cols, figsize=(5.4 * cols, 3.9 * rows + (0 if spare else 0.9)), squeeze=False)
    labels = short_labels([log.name for log in logs])
    colors = plt.get_cmap("tab10").colors
    handles: dict[int, object] = {}
    for index, panel in enumerate(panels):
        ax = axes[index // cols][index % cols]
        for run, points in enumerate(panel.series):
            if not points:
                continue
            steps, values = zip(*points)
            sparse = len(points) <= 40  # validation every few steps: show the points
            (line,) = ax.plot(
                steps, values, color=colors[run % len(colors)], linestyle=("-", "--", ":", "-.")[run // len(colors) % 4],
                marker="o" if sparse else None, markersize=3, linewidth=1.6 if sparse else 1.2, label=labels[run],
            )
            handles.setdefault(run, line)
        ax.set_title(panel.title, fontsize=11)
        ax.set_xlabel("training step")
        ax.set_ylabel(panel.ylabel)
        ax.grid(True, alpha=0.3)
    for index in range(len(panels), rows * cols):
        axes[index // cols][index % cols].axis("off")
    shown = [(handles[run], labels[run]) for run in sorted(handles)]
    if spare:
        legend_ax = axes[len(panels) // cols][len(panels) % cols]
        legend_ax.legend([h for h, _ in shown], [l for _, l in shown], loc="center", frameon=False, fontsize=10, title="run")
        bottom = 0.0
    else:
        fig.legend([h for h, _ in shown], [l for _, l in shown], loc="lower center", ncol=min(4, len(shown)), frameon=False, fontsize=10)
        bottom = (0.25 + 0.28 * -(-len(shown) // 4)) / fig.get_figheight()
    if title:
        fig.suptitle(title, fontsize=13)
    fig.tight_layout(rect=(0, bottom, 1, 0.96 if title else 1))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=130)
    plt.close(fig)
    return output
