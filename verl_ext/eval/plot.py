"""The paper's curves (``verl-ext plot``): one figure, one line per run.

Panels, each when any run logged it: validation accuracy of each benchmark (the metric ``table``
uses; where a run also logged a latent accuracy, ``val-*/<bench>/latent_acc/mean@N`` = the answer given
in any form, as the demo does, it is drawn dashed beside the boxed one), the mean reward of the training
rollouts (``critic/score/mean``), their format rate (``diagnostics/format_rate``), their mean response
length (``response_length/mean``), and the validation format rate (``val-*/<bench>/format/mean@N``,
averaged over the benchmarks logged at that step). Optionally (``python -m verl_ext.demo.measure``), the
accuracy panels shade a band per run (the min-max over seeds of a mean-over-seeds run) and draw a horizontal
reference line (the student's latent accuracy before training).
Accuracy and format rates are drawn on a fixed 0-1 axis (widened only if a value lies outside), the
response length from 0 tokens, so that noise of a few problems or tokens does not look like a trend.
Steps are whole numbers on the x axis.

Runs are labelled and styled by what their names say (``verl_ext.eval.run_names``): one hue per reward,
a line style per train set; a run not recognised gets a colour of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from verl_ext.eval.run_names import RunName, recognise
from verl_ext.eval.table import accuracy_metrics, run_label, validation_metrics
from verl_ext.io.logs import MetricLog
from verl_ext.io.output import check_output_path, prepare_output_path

RESPONSE_LENGTH = "response_length/mean"
TRAINING_REWARD = "critic/score/mean"
TRAINING_FORMAT_RATE = "diagnostics/format_rate"
UNIT_RANGE = (0.0, 1.0)
FROM_ZERO = (0.0, None)  # from 0, the top automatic
LATENT_ACCURACY = "latent_acc"
# One hue per reward (tab10's), then the hues no reward took, for other rewards and unrecognised runs.
REWARD_COLORS = {
    "correctness": "tab:blue",
    "format": "tab:orange",
    "format_length": "tab:green",
    "correctness_linear_length": "tab:purple",
    "length": "tab:olive",
    "random": "tab:gray",
}
SPARE_COLORS = ("tab:red", "tab:brown", "tab:pink", "tab:cyan")
# A line style per train set, in order of first appearance.
LINESTYLES = ("-", "--", ":", "-.")
# A line of at most this many points (validation every few steps) shows its points.
SPARSE_POINTS = 40


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
    # fixed axis range (None: matplotlib's automatic range; an upper bound of None: automatic top)
    ylim: tuple[float, float | None] | None = None
    # drawn dashed in the run's colour beside ``series`` (accuracy panels: the latent accuracy); None: no such line
    dashed: list[list[tuple[int, float]]] | None = None
    # a shaded band per run around ``series`` (``(step, low, high)`` points; accuracy panels, when given); None: none
    bands: list[list[tuple[int, float, float]]] | None = None
    # a horizontal reference line ``(label, value)`` (accuracy panels, when given)
    reference: tuple[str, float] | None = None


def build_panels(
    logs: Sequence[MetricLog],
    benchmarks: Sequence[str] | None = None,
    max_step: int | None = None,
    bands: Sequence[tuple[MetricLog, MetricLog] | None] | None = None,
    reference: tuple[str, float] | None = None,
) -> list[Panel]:
    """The panels of the figure: each benchmark's accuracy, training reward, training format rate, response
    length, validation format rate (each when logged).

    ``bands``: per run, ``(low, high)`` logs (e.g. the minimum and maximum over seeds of the run's mean log) whose
    accuracy is shaded around the run's accuracy line; ``reference``: ``(label, value)``, a horizontal line on the
    accuracy panels (e.g. what the model already knows)."""
    if not logs:
        raise ValueError("no logs")
    if bands is not None and len(bands) != len(logs):
        raise ValueError(f"{len(bands)} bands for {len(logs)} runs")
    benchmarks = list(benchmarks) if benchmarks else sorted(set().union(*(accuracy_metrics(log) for log in logs)))
    panels = []
    for bench in benchmarks:
        series, latent = [], []
        for log in logs:
            name = accuracy_metrics(log).get(bench)
            series.append(_clip(log.series(name), max_step) if name else [])
            latent_name = validation_metrics(log, LATENT_ACCURACY).get(bench)
            latent.append(_clip(log.series(latent_name), max_step) if latent_name else [])
        if not any(series):
            raise ValueError(f"no run logged a validation accuracy for {bench}")
        shaded = None if bands is None else [_band(pair, bench, max_step) for pair in bands]
        title = f"{bench}: boxed and latent accuracy (validation)" if any(latent) else f"{bench}: validation accuracy"
        panels.append(Panel(title, "accuracy", series, UNIT_RANGE, latent if any(latent) else None, shaded, reference))
    training = (
        (TRAINING_REWARD, "mean reward (training rollouts)", "reward", None),
        (TRAINING_FORMAT_RATE, "format rate (training rollouts)", "rate", UNIT_RANGE),
        (RESPONSE_LENGTH, "mean response length (training rollouts)", "tokens", FROM_ZERO),
    )
    for metric, title, ylabel, ylim in training:
        series = [_clip(log.series(metric), max_step) for log in logs]
        if any(series):
            panels.append(Panel(title, ylabel, series, ylim))
    formats = [_format_series(log, max_step) for log in logs]
    if any(formats):
        format_benchmarks = sorted(set().union(*(validation_metrics(log, "format") for log in logs)))
        where = (
            format_benchmarks[0] if len(format_benchmarks) == 1 else f"mean over {len(format_benchmarks)} benchmarks"
        )
        panels.append(Panel(f"format rate (validation, {where})", "rate", formats, UNIT_RANGE))
    if not panels:
        raise ValueError(
            f"the logs hold none of the plotted metrics (validation accuracy, {TRAINING_REWARD}, "
            f"{TRAINING_FORMAT_RATE}, {RESPONSE_LENGTH}, validation format)"
        )
    return panels


def _band(pair: tuple[MetricLog, MetricLog] | None, bench: str, max_step: int | None) -> list[tuple[int, float, float]]:
    """``(step, low, high)`` of ``bench``'s accuracy at the steps both logs of ``pair`` logged it (none without a
    pair)."""
    if pair is None:
        return []
    low_log, high_log = pair
    names = [accuracy_metrics(log).get(bench) for log in pair]
    if None in names:
        return []
    high = dict(_clip(high_log.series(names[1]), max_step))
    return [(step, value, high[step]) for step, value in _clip(low_log.series(names[0]), max_step) if step in high]


def _axis_range(panel: Panel) -> tuple[float, float] | None:
    """``panel.ylim`` with a small margin, widened to any value outside it (an open top: the largest value);
    None for an automatic range."""
    if panel.ylim is None:
        return None
    values = [v for points in [*panel.series, *(panel.dashed or [])] for _, v in points]
    values += [v for points in panel.bands or [] for _, low, high in points for v in (low, high)]
    values += [panel.reference[1]] if panel.reference else []
    bottom, top = panel.ylim
    low = min([bottom, *values])
    high = max([top, *values]) if top is not None else max(values, default=bottom)
    if high <= low:
        high = low + 1.0
    margin = 0.03 * (high - low)
    return (low - margin if top is not None else low), high + margin


@dataclass(frozen=True)
class RunStyle:
    """How one run is drawn: its legend label, colour and line style."""

    label: str
    color: str
    linestyle: str


def _shade(color: str, k: int) -> tuple[float, float, float]:
    """``color`` darkened (odd k) or lightened (even k) a step per k: the same hue for a repeated reward + train set."""
    from matplotlib.colors import to_rgb

    rgb = to_rgb(color)
    toward, amount = ((0.0, 0.0, 0.0), 0.3 * ((k + 1) // 2)) if k % 2 else ((1.0, 1.0, 1.0), 0.3 * (k // 2))
    amount = min(amount, 0.8)
    return tuple(c + (t - c) * amount for c, t in zip(rgb, toward))  # type: ignore[return-value]


def run_styles(logs: Sequence[MetricLog]) -> list[RunStyle]:
    """Label, colour and line style of each run: recognised runs (``run_names``) coloured by reward and styled by
    train set; others get the spare colours in turn. Runs that would look alike get shades of their hue."""
    runs: list[RunName | None] = [recognise(Path(log.path).stem) for log in logs]
    labels = [run_label(log) for log in logs]
    if not any(runs):
        labels = short_labels(labels)
    used = {REWARD_COLORS[r.reward_key] for r in runs if r and r.reward_key in REWARD_COLORS}
    free = [c for c in (*SPARE_COLORS, *REWARD_COLORS.values()) if c not in used]
    reward_colors: dict[str, str] = dict(REWARD_COLORS)
    train_styles: dict[str, str] = {}
    spare = 0
    styles, seen = [], {}
    for index, run in enumerate(runs):
        if run is None:
            color, linestyle = free[spare % len(free)], LINESTYLES[spare // len(free) % len(LINESTYLES)]
            spare += 1
        else:
            if run.reward_key not in reward_colors:
                reward_colors[run.reward_key] = free[spare % len(free)]
                spare += 1
            color = reward_colors[run.reward_key]
            linestyle = train_styles.setdefault(run.train_set, LINESTYLES[len(train_styles) % len(LINESTYLES)])
        repeat = seen.get((color, linestyle), 0)
        seen[(color, linestyle)] = repeat + 1
        styles.append(RunStyle(labels[index], color if not repeat else _shade(color, repeat), linestyle))
    return styles


def default_title(logs: Sequence[MetricLog]) -> str:
    """``training curves: <the run's label>``, or ``training curves of N runs`` (with the style key when the
    runs were recognised)."""
    if len(logs) == 1:
        return f"training curves: {run_label(logs[0])}"
    key = " (colour: reward, line style: train set)" if any(recognise(Path(log.path).stem) for log in logs) else ""
    return f"training curves of {len(logs)} runs{key}"


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


def _draw_line(
    ax,
    points: list[tuple[int, float]],
    color: str | tuple[float, float, float],
    linestyle: str,
    label: str,
    linewidth: float | None = None,
):
    """One run's ``(step, value)`` points on ``ax``, with markers when sparse; ``linewidth`` None: 1.6 when
    sparse, else 1.2. Returns the line."""
    steps, values = zip(*points)
    sparse = len(points) <= SPARSE_POINTS
    (line,) = ax.plot(
        steps,
        values,
        color=color,
        linestyle=linestyle,
        marker="o" if sparse else None,
        markersize=3,
        linewidth=linewidth or (1.6 if sparse else 1.2),
        label=label,
    )
    return line


def draw_figure(
    logs: Sequence[MetricLog],
    benchmarks: Sequence[str] | None = None,
    max_step: int | None = None,
    title: str | None = None,
    bands: Sequence[tuple[MetricLog, MetricLog] | None] | None = None,
    reference: tuple[str, float] | None = None,
):
    """The figure of ``logs``: one panel per ``build_panels`` entry, one line per run, a shared legend;
    ``title`` (default ``default_title``) above; ``bands`` shaded in each run's colour and ``reference`` dotted
    black on the accuracy panels (``build_panels``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    panels = build_panels(logs, benchmarks, max_step, bands, reference)
    cols = 2 if len(panels) in (2, 4) else min(3, len(panels))
    rows = -(-len(panels) // cols)
    spare = rows * cols > len(panels)  # an empty cell holds the legend
    fig, axes = plt.subplots(rows, cols, figsize=(5.4 * cols, 3.9 * rows + (0 if spare else 0.9)), squeeze=False)
    styles = run_styles(logs)
    labels = [style.label for style in styles]
    handles: dict[int, object] = {}
    for index, panel in enumerate(panels):
        ax = axes[index // cols][index % cols]
        for run, points in enumerate(panel.series):
            if points:
                linestyle = "-" if panel.dashed else styles[run].linestyle
                handles.setdefault(run, _draw_line(ax, points, styles[run].color, linestyle, labels[run]))
        for run, points in enumerate(panel.dashed or []):
            if points:
                _draw_line(ax, points, styles[run].color, "--", f"{labels[run]} (latent)", linewidth=1.4)
        for run, points in enumerate(panel.bands or []):
            if points:
                steps, lows, highs = zip(*points)
                ax.fill_between(
                    steps, lows, highs, color=styles[run].color, alpha=0.15, linewidth=0, label=f"{labels[run]} (band)"
                )
        reference_line = None
        if panel.reference is not None:
            reference_line = ax.axhline(
                panel.reference[1], color="black", linestyle=":", linewidth=1.4, label=panel.reference[0]
            )
        if panel.dashed or reference_line is not None:
            key = [Line2D([], [], color="0.3", linestyle="-", label="boxed: the answer in \\boxed{}")]
            if panel.dashed:
                key.append(Line2D([], [], color="0.3", linestyle="--", label="latent: the answer in any form"))
            if panel.bands and any(panel.bands):
                key.append(Patch(color="0.3", alpha=0.15, label="band: min-max over seeds"))
            if reference_line is not None:
                key.append(reference_line)
            ax.legend(handles=key, loc="best", fontsize=8, frameon=False)
        ax.set_title(panel.title, fontsize=11)
        ax.set_xlabel("training step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(panel.ylabel)
        ax.grid(True, alpha=0.3)
        if (ylim := _axis_range(panel)) is not None:
            ax.set_ylim(*ylim)
    for index in range(len(panels), rows * cols):
        axes[index // cols][index % cols].axis("off")
    shown = [(handles[run], labels[run]) for run in sorted(handles)]
    if spare:
        legend_ax = axes[len(panels) // cols][len(panels) % cols]
        legend_ax.legend(
            [handle for handle, _ in shown],
            [label for _, label in shown],
            loc="center",
            frameon=False,
            fontsize=10,
            title="run",
        )
        bottom = 0.0
    else:
        fig.legend(
            [handle for handle, _ in shown],
            [label for _, label in shown],
            loc="lower center",
            ncol=min(4, len(shown)),
            frameon=False,
            fontsize=10,
        )
        bottom = (0.25 + 0.28 * -(-len(shown) // 4)) / fig.get_figheight()
    fig.suptitle(title or default_title(logs), fontsize=13)
    fig.tight_layout(rect=(0, bottom, 1, 0.96))
    return fig


def plot_runs(
    logs: Sequence[MetricLog],
    output: str | Path,
    benchmarks: Sequence[str] | None = None,
    max_step: int | None = None,
    title: str | None = None,
    bands: Sequence[tuple[MetricLog, MetricLog] | None] | None = None,
    reference: tuple[str, float] | None = None,
) -> Path:
    """Draw the curves of ``logs`` into exactly the file ``output`` (format from ``image_format``); returns its path.

    ``output`` follows ``verl_ext.io.output``: missing folders are created; a directory or an input is refused.
    """
    output = check_output_path(output, [log.path for log in logs], example_name="curves.png")
    fmt = image_format(output)
    fig = draw_figure(logs, benchmarks, max_step, title, bands, reference)
    import matplotlib.pyplot as plt  # after draw_figure chose the Agg backend

    try:
        output = prepare_output_path(output)
        fig.savefig(output, format=fmt, dpi=130)  # an explicit format: matplotlib then adds no suffix
    finally:
        plt.close(fig)
    return output
