"""`verl-ext plot`: the paper's curves as one readable PNG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verl_ext.cli import main
from verl_ext.eval.plot import build_panels, draw_figure, plot_runs, short_labels
from verl_ext.io import read_metric_log

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _paper_logs(release_dir: Path) -> list[Path]:
    logs = sorted((release_dir / "logs").glob("*.json"))
    return [p for p in logs if not p.stem.endswith("a_g_f_l")]  # the six runs of the paper's table


def test_plot_cli_writes_a_png_with_a_panel_per_benchmark_reward_and_length(release_dir, tmp_path, capsys):
    out = tmp_path / "fig" / "curves.png"
    assert main(["plot", *map(str, _paper_logs(release_dir)), "-o", str(out), "--title", "paper runs"]) == 0
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    import matplotlib.image

    height, width = matplotlib.image.imread(out).shape[:2]
    assert width >= 1500 and height >= 800  # 3 x 2 panels at 130 dpi: legible
    assert f"wrote {out}" in capsys.readouterr().err


def test_release_logs_give_accuracy_reward_and_length_panels(release_dir):
    logs = [read_metric_log(p) for p in _paper_logs(release_dir)]
    panels = build_panels(logs, max_step=100)
    assert [p.title for p in panels] == [
        "AIME2024: validation accuracy",
        "AMC2023: validation accuracy",
        "MATH500: validation accuracy",
        "mean reward (training rollouts)",
        "mean response length (training rollouts)",
    ]
    assert all(len(p.series) == 6 and all(p.series) for p in panels)
    # the release logs validate every 5 steps (0..100) and log training metrics at steps 1..100
    assert len(panels[0].series[0]) == 21 and len(panels[3].series[0]) == 100 and len(panels[4].series[0]) == 100


def _demo_like_log(tmp_path: Path) -> Path:
    """A log as `verl-ext demo` writes it: training reward and format rate every step, held-out accuracy at 0, 2, 4."""
    lines = [{"step": 0, "data": {"val-core/DEMO/acc/mean@1": 0.0, "val-aux/DEMO/format/mean@1": 0.3}}]
    for step in range(1, 5):
        data = {
            "critic/score/mean": 0.2 * step,
            "diagnostics/format_rate": 0.1 * step,
            "response_length/mean": 20.0 + step,
        }
        if step % 2 == 0:
            data.update({"val-core/DEMO/acc/mean@1": 0.004 * step, "val-aux/DEMO/format/mean@1": 0.3 + 0.1 * step})
        lines.append({"step": step, "data": data})
    path = tmp_path / "demo.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_training_reward_and_format_rate_get_panels_of_their_own(tmp_path):
    panels = build_panels([read_metric_log(_demo_like_log(tmp_path))])
    by_title = {p.title: p.series[0] for p in panels}
    assert list(by_title) == [
        "DEMO: validation accuracy",
        "mean reward (training rollouts)",
        "format rate (training rollouts)",
        "mean response length (training rollouts)",
        "format rate (validation, DEMO)",  # one benchmark: no "mean over benchmarks"
    ]
    assert by_title["mean reward (training rollouts)"] == [(1, 0.2), (2, 0.4), (3, pytest.approx(0.6)), (4, 0.8)]
    assert by_title["format rate (training rollouts)"] == [(1, 0.1), (2, 0.2), (3, pytest.approx(0.3)), (4, 0.4)]


def test_accuracy_and_rates_are_drawn_on_a_fixed_zero_to_one_axis(tmp_path):
    import matplotlib.pyplot as plt

    fig = draw_figure([read_metric_log(_demo_like_log(tmp_path))])
    try:
        limits = {ax.get_title(): ax.get_ylim() for ax in fig.axes if ax.get_title()}
    finally:
        plt.close(fig)
    for title in ("DEMO: validation accuracy", "format rate (training rollouts)", "format rate (validation, DEMO)"):
        low, high = limits[title]
        assert -0.05 <= low <= 0.0 and 1.0 <= high <= 1.05, (
            title,
            low,
            high,
        )  # accuracy 0 .. 0.016 must not fill the axis
    low, high = limits["mean response length (training rollouts)"]
    assert low == 0.0 and 24.0 <= high <= 25.0  # lengths 21-24 tokens from 0: noise does not fill the axis
    low, high = limits["mean reward (training rollouts)"]
    assert 0.1 < low and high < 1.0  # the reward keeps an automatic range


def test_format_rate_panel_appears_when_logged(tmp_path):
    entries = [
        (
            0,
            {
                "val-core/A/reward/mean@1": 0.1,
                "val-aux/A/correct/mean@1": 0.2,
                "val-aux/A/format/mean@1": 0.6,
                "val-aux/B/correct/mean@1": 0.3,
                "val-aux/B/format/mean@1": 0.8,
            },
        ),
        (1, {"response_length/mean": 700.0}),
        (
            5,
            {
                "val-aux/A/correct/mean@1": 0.3,
                "val-aux/A/format/mean@1": 0.9,
                "val-aux/B/correct/mean@1": 0.4,
                "val-aux/B/format/mean@1": 1.0,
            },
        ),
    ]
    path = tmp_path / "run.jsonl"
    path.write_text("".join(json.dumps({"step": s, "data": d}) + "\n" for s, d in entries), encoding="utf-8")
    panels = build_panels([read_metric_log(path)])
    assert [p.title for p in panels][-1] == "format rate (validation, mean over 2 benchmarks)"
    assert panels[-1].series[0] == [(0, pytest.approx(0.7)), (5, pytest.approx(0.95))]
    assert panels[0].series[0] == [(0, 0.2), (5, 0.3)]  # accuracy from `correct`, not the label-free reward
    assert plot_runs([read_metric_log(path)], tmp_path / "f.png").read_bytes()[:8] == PNG_SIGNATURE


def test_logs_without_plottable_metrics_are_an_error(tmp_path, capsys):
    path = tmp_path / "run.jsonl"
    path.write_text('{"step": 1, "data": {"actor/lr": 1e-6}}\n', encoding="utf-8")
    assert main(["plot", str(path), "-o", str(tmp_path / "f.png")]) == 2
    assert "none of the plotted metrics" in capsys.readouterr().err
    assert not (tmp_path / "f.png").exists()


@pytest.mark.parametrize(
    "names, labels",
    [
        (
            [
                "grpo-deepscaler_17k-7b_math-r_a_g_f",
                "grpo-math-7b_math-r_f_a",
                "grpo-math-7b_math-r_f_l_v3_token5_a-v3",
            ],
            ["deepscaler_17k-r_a_g_f", "math-r_f_a", "math-r_f_l_v3_token5_a-v3"],
        ),
        (["only-one"], ["only-one"]),
        (["same-a", "same-a"], ["same-a", "same-a"]),  # nothing distinguishes them: keep full names
    ],
)
def test_legend_labels_drop_shared_name_parts(names, labels):
    assert short_labels(names) == labels
