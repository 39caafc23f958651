"""`verl-ext plot`'s figure read back from the matplotlib objects (not pixels): run labels, one hue per reward and a
line style per train set, a title; the demo's boxed and latent accuracy; axes that do not inflate noise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib.colors import rgb_to_hsv, to_rgb

from verl_ext.eval.plot import draw_figure
from verl_ext.io import read_metric_log

RELEASE = "grpo-{}-7b_math-bs_128-3k-zs_qwen-r_{}"
# The release README's reward codes and run names.
RELEASE_LABELS = {
    RELEASE.format("deepscaler_17k", "a_g_f"): "correctness (DeepScaleR-17k)",
    RELEASE.format("deepscaler_17k", "a_g_f_l"): "correctness + linear length (DeepScaleR-17k; abandoned at step 55)",
    RELEASE.format("deepscaler_17k", "f_a"): "format (DeepScaleR-17k)",
    RELEASE.format("deepscaler_17k", "f_l_v3_token5_a-v3"): "format + length (DeepScaleR-17k)",
    RELEASE.format("math", "a_g_f"): "correctness (MATH)",
    RELEASE.format("math", "f_a"): "format (MATH)",
    RELEASE.format("math", "f_l_v3_token5_a-v3"): "format + length (MATH)",
}


@pytest.fixture()
def figure():
    """``figure(logs, **kwargs)``: the drawn figure, closed after the test."""
    import matplotlib.pyplot as plt

    drawn = []

    def draw(logs, **kwargs):
        drawn.append(draw_figure(logs, **kwargs))
        return drawn[-1]

    yield draw
    for fig in drawn:
        plt.close(fig)


def _panel(fig, title_start: str):
    (ax,) = [ax for ax in fig.axes if ax.get_title().startswith(title_start)]
    return ax


def _lines(ax) -> dict[str, object]:
    return {line.get_label(): line for line in ax.get_lines()}


def _hue(color) -> float:
    return float(rgb_to_hsv(to_rgb(color))[0])


def test_release_runs_get_readable_labels_a_hue_per_reward_and_a_line_style_per_train_set(release_dir, figure):
    logs = [read_metric_log(p) for p in sorted((release_dir / "logs").glob("*.json"))]
    fig = figure(logs)
    ax = _panel(fig, "AIME2024")
    lines = _lines(ax)
    assert set(lines) == set(RELEASE_LABELS.values())  # no latent accuracy logged: no dashed "(latent)" line either
    assert ax.get_title() == "AIME2024: validation accuracy" and ax.get_legend() is None
    style = {label: (to_rgb(line.get_color()), line.get_linestyle()) for label, line in lines.items()}
    rewards = {label.split(" (")[0] for label in style}
    colour_of = {reward: {style[label][0] for label in style if label.startswith(reward + " (")} for reward in rewards}
    assert all(len(colours) == 1 for colours in colour_of.values()), colour_of  # one hue per reward, both train sets
    assert len({next(iter(c)) for c in colour_of.values()}) == 4  # four rewards, four colours
    dash_of = {
        train: {style[label][1] for label in style if f"({train}" in label} for train in ("DeepScaleR-17k", "MATH")
    }
    assert all(len(d) == 1 for d in dash_of.values()) and dash_of["DeepScaleR-17k"] != dash_of["MATH"], dash_of
    # the plotted series is the log's: correctness on DeepScaleR-17k, AIME2024 at step 85 (the paper's table: 0.267)
    line = lines["correctness (DeepScaleR-17k)"]
    points = dict(zip(line.get_xdata(), line.get_ydata()))
    assert points[85] == pytest.approx(0.267, abs=5e-4) and len(points) == 21
    assert fig._suptitle is not None and "colour: reward" in fig._suptitle.get_text()
    assert "line style: train set" in fig._suptitle.get_text()


def _log(path: Path, entries: list[tuple[int, dict]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"step": s, "data": d}) + "\n" for s, d in entries), encoding="utf-8")
    return path


def test_two_runs_of_one_reward_and_train_set_get_two_shades_of_its_hue(tmp_path, figure):
    name = RELEASE.format("math", "f_a")
    entries = [(0, {"val/test_score/AIME2024": 0.1}), (5, {"val/test_score/AIME2024": 0.2})]
    logs = [read_metric_log(_log(tmp_path / run / f"{name}.jsonl", entries)) for run in ("first", "second")]
    first, second = [line.get_color() for line in _panel(figure(logs), "AIME2024").get_lines()]
    assert to_rgb(first) != to_rgb(second)
    assert _hue(first) == pytest.approx(_hue(second), abs=0.02)


def test_a_given_name_labels_the_line_which_keeps_its_rewards_colour(tmp_path, figure):
    entries = [(0, {"val/test_score/AIME2024": 0.1})]
    named = read_metric_log(_log(tmp_path / f"{RELEASE.format('math', 'f_a')}.jsonl", entries), name="format only")
    default = read_metric_log(_log(tmp_path / "other" / f"{RELEASE.format('deepscaler_17k', 'f_a')}.jsonl", entries))
    lines = _lines(_panel(figure([named, default]), "AIME2024"))
    assert set(lines) == {"format only", "format (DeepScaleR-17k)"}
    assert to_rgb(lines["format only"].get_color()) == to_rgb(lines["format (DeepScaleR-17k)"].get_color())


def _demo_log(tmp_path: Path) -> Path:
    """Two steps as `verl-ext demo` logs them (verl_ext/demo/metrics_log.py): held-out boxed and latent accuracy at
    steps 0 and 2, training reward, format rate and length (21-24 tokens) at steps 1 and 2."""
    held_out = {
        0: {
            "val-core/DEMO/acc/mean@1": 0.0,
            "val-aux/DEMO/latent_acc/mean@1": 0.85,
            "val-aux/DEMO/format/mean@1": 0.02,
        },
        2: {
            "val-core/DEMO/acc/mean@1": 0.83,
            "val-aux/DEMO/latent_acc/mean@1": 0.86,
            "val-aux/DEMO/format/mean@1": 0.97,
        },
    }
    training = {
        1: {"critic/score/mean": 0.1, "diagnostics/format_rate": 0.2, "response_length/mean": 24.0},
        2: {"critic/score/mean": 0.3, "diagnostics/format_rate": 0.6, "response_length/mean": 21.0},
    }
    return _log(
        tmp_path / "format_length-seed0.jsonl", [(s, {**held_out.get(s, {}), **training.get(s, {})}) for s in (0, 1, 2)]
    )


def test_the_demo_figure_draws_boxed_accuracy_solid_and_latent_accuracy_dashed(tmp_path, figure):
    fig = figure([read_metric_log(_demo_log(tmp_path))])
    ax = _panel(fig, "DEMO:")
    assert "boxed" in ax.get_title() and "latent" in ax.get_title()
    lines = ax.get_lines()
    boxed = [line for line in lines if line.get_linestyle() == "-"]
    latent = [line for line in lines if line.get_linestyle() == "--"]
    assert [(list(line.get_xdata()), list(line.get_ydata())) for line in boxed] == [([0, 2], [0.0, 0.83])]
    assert [(list(line.get_xdata()), list(line.get_ydata())) for line in latent] == [([0, 2], [0.85, 0.86])]
    assert to_rgb(boxed[0].get_color()) == to_rgb(latent[0].get_color())  # one run, one colour
    key = [text.get_text() for text in ax.get_legend().get_texts()]
    assert any("boxed" in t for t in key) and any("latent" in t for t in key)


def test_the_demo_figure_names_its_one_benchmark_starts_lengths_at_zero_and_counts_whole_steps(tmp_path, figure):
    fig = figure([read_metric_log(_demo_log(tmp_path))])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert not any("mean over" in t for t in titles), titles
    assert "format rate (validation, DEMO)" in titles
    low, high = _panel(fig, "mean response length").get_ylim()
    assert low == 0.0 and 24.0 <= high <= 26.0  # 21-24 tokens drawn from 0: the change looks its size
    for ax in fig.axes:
        if ax.get_title():
            ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            assert ticks and all(float(t).is_integer() for t in ticks), (ax.get_title(), ticks)
    assert fig._suptitle.get_text() == "training curves: format_length-seed0"
