"""The paper's curves (``verl-ext plot``): one figure, one line per run.

Panels, each when any run logged it: validation accuracy of each benchmark (the metric ``table``
uses), the mean reward of the training rollouts (``critic/score/mean``), their format rate
(``diagnostics/format_rate``), their mean response length (``response_length/mean``), and the
validation format rate (``val-*/<bench>/format/mean@N``, averaged over the benchmarks logged at that step).
Accuracy and format rates are drawn on a fixed 0-1 axis (widened only if a value lies outside), so that
noise of a few problems does not look like a trend.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from verl_ext.eval.table import accuracy_metrics, validation_metrics
from verl_ext.io.logs import MetricLog
from verl_ext.io.output import check_output_path, prepare_output_path

RESPONSE_LENGTH = "response_length/mean"
TRAINING_REWARD = "critic/score/mean"
TRAINING_FORMAT_RATE = "diagnostics/format_rate"
UNIT_RANGE = (0.0, 1.0)


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
    ylim: tuple[float, float] | None = None  # fixed axis range (None: matplotlib's automatic range)


def build_panels(logs: Sequence[MetricLog], benchmarks: Sequence[str] | None = None, max_step: int | None = None) -> list[Panel]:
    """The panels of the figure: each benchmark's accuracy, training reward, training format rate, response
    length, validation format rate (each when logged)."""
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
        panels.append(Panel(f"{bench}: validation accuracy", "accuracy", series, UNIT_RANGE))
    training = (
        (TRAINING_REWARD, "mean reward (training rollouts)", "reward", None),
        (TRAINING_FORMAT_RATE, "format rate (training rollouts)", "rate", UNIT_RANGE),
        (RESPONSE_LENGTH, "mean response length (training rollouts)", "tokens", None),
    )
    for metric, title, ylabel, ylim in training:
        series = [_clip(log.series(metric), max_step) for log in logs]
        if any(series):
            panels.append(Panel(title, ylabel, series, ylim))
    formats = [_format_series(log, max_step) for log in logs]
    if any(formats):
        panels.append(Panel("format rate (validation, mean over benchmarks)", "rate", formats, UNIT_RANGE))
    if not panels:
        raise ValueError(
            f"the logs hold none of the plotted metrics (validation accuracy, {TRAINING_REWARD}, {TRAINING_FORMAT_RATE}, "
            f"{RESPONSE_LENGTH}, validation format)"
        )
    return panels


def _axis_range(panel: Panel) -> tuple[float, float] | None:
    """``panel.ylim`` with a small margin, widened to any value outside it; None for an automatic range."""
    if panel.ylim is None:
        return None
    values = [v for points in panel.series for _, v in points]
    low, high = min([panel.ylim[0], *values]), max([panel.ylim[1], *values])
    margin = 0.03 * (high - low)
    return low - margin, high + margin


def image_format(output: str | Path) -> str:
    """The image format of ``output``: its suffix (one matplotlib writes), or ``png`` without a suffix."""
    from matplotlib.figure import Figure

    suffix = Path(output).suffix.lower().lstrip(".")
    if not suffix:
        return "png"
    supported = Figure().canvas.get_supported_filetypes()
    if suffix not in supported:
        raise ValueError(f"-o {output}: unknown image format {suffix!r}: use one of .{', .'.join(sorted(supported))}")
    return suffix


def draw_figure(
    logs: Sequence[MetricLog],
    benchmarks: Sequence[str] | None = None,
    max_step: int | None = None,
    title: str | None = None,
):  # noqa: ANN201 - matplotlib.figure.Figure (imported lazily)
    """The figure of ``logs``: one panel per ``build_panels`` entry, one line per run, a shared legend."""
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
        if (ylim := _axis_range(panel)) is not None:
            ax.set_ylim(*ylim)
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
    return fig


def plot_runs(
    logs: Sequence[MetricLog],
    output: str | Path,
    benchmarks: Sequence[str] | None = None,
    max_step: int | None = None,
    title: str | None = None,
) -> Path:
    """Draw the curves of ``logs`` into exactly the file ``output`` (format from ``image_format``); returns its path.

    ``output`` follows ``verl_ext.io.output``: missing folders are created; a directory or an input is refused.
    """
    output = check_output_path(output, [log.path for log in logs], example_name="curves.png")
    fmt = image_format(output)
    fig = draw_figure(logs, benchmarks, max_step, title)
    import matplotlib.pyplot as plt  # after draw_figure chose the Agg backend

    try:
        output = prepare_output_path(output)
        fig.savefig(output, format=fmt, dpi=130)  # an explicit format: matplotlib then adds no suffix
    finally:
        plt.close(fig)
    return output
