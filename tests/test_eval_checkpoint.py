"""examples/eval_checkpoint.sh: argument handling (no GPU here), the veRL generation overrides, and the
CPU half (score + metrics of generations already on disk)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "examples" / "eval_checkpoint.sh"
GENERATE = REPO / "examples" / "generate_vllm.py"
MATH500_FL = "outputs/grpo-deepscaler_17k-7b_math-bs_128-3k-zs_qwen-r_f_l_v3_token5_a-v3/100/res_all_MATH500.json"
AIME_FL = "outputs/grpo-deepscaler_17k-7b_math-bs_128-3k-zs_qwen-r_f_l_v3_token5_a-v3/100/res_all_AIME2024.json"


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHON=sys.executable, VERL_EXT=f"{sys.executable} -m verl_ext.cli")


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, env=_env(), timeout=timeout, cwd=REPO
    )


def _commands(done: subprocess.CompletedProcess) -> list[list[str]]:
    assert done.returncode == 0, done.stderr
    return [shlex.split(line) for line in done.stdout.splitlines() if line.strip()]


def test_dry_run_plans_greedy_and_sampled_generation_then_scoring(tmp_path):
    commands = _commands(
        _run("--model", "/ckpt", "--out", str(tmp_path), "--dry-run", "--benchmarks", "aime2024 math500", "--k", "8")
    )
    assert len(commands) == 2 * (2 + 3)  # per mode: 2 generations, score, metrics (markdown), metrics (json)
    greedy, sample = commands[0], commands[5]
    assert greedy[:2] == [sys.executable, str(GENERATE)]
    assert greedy[greedy.index("--n") + 1] == "1" and greedy[greedy.index("--temperature") + 1] == "0"
    assert greedy[greedy.index("--out") + 1] == f"{tmp_path}/generations/greedy/aime2024.parquet"
    assert sample[sample.index("--n") + 1] == "8" and sample[sample.index("--temperature") + 1] == "0.6"
    assert sample[sample.index("--top-p") + 1] == "0.95"
    score = commands[2]
    assert score[3:5] == ["score", f"{tmp_path}/generations/greedy/aime2024.parquet"]
    assert score[score.index("--reward") + 1] == "correctness" and "--tokenizer" not in score
    assert commands[3][3:] == ["metrics", f"{tmp_path}/scored_greedy.jsonl", "-o", f"{tmp_path}/metrics_greedy.md"]


def test_verl_engine_counts_tokens_with_the_checkpoint_tokenizer(tmp_path):
    commands = _commands(
        _run(
            "--model",
            "/ckpt",
            "--out",
            str(tmp_path),
            "--dry-run",
            "--engine",
            "verl",
            "--modes",
            "sample",
            "--benchmarks",
            "amc2023",
        )
    )
    generate, score = commands[0], commands[1]
    assert generate[:3] == [sys.executable, "-m", "verl.trainer.main_generation_server"]
    assert (
        "actor_rollout_ref.rollout.n=16" in generate
        and "+data.output_path=" + f"{tmp_path}/generations/sample/amc2023.parquet" in generate
    )
    assert score[score.index("--tokenizer") + 1] == "/ckpt"


def test_verl_engine_overrides_compose_with_verls_generation_config(tmp_path):
    """Every override is a key of veRL 0.9.1's ppo_trainer config (main_generation_server's), or added with +."""
    import importlib.util

    hydra = pytest.importorskip("hydra")
    spec = importlib.util.find_spec("verl")  # the package's folder, without importing veRL (slow)
    assert spec is not None and spec.submodule_search_locations
    commands = _commands(
        _run(
            "--model",
            "/ckpt",
            "--out",
            str(tmp_path),
            "--dry-run",
            "--engine",
            "verl",
            "--modes",
            "greedy",
            "--benchmarks",
            "aime2024",
        )
    )
    overrides = commands[0][3:]
    config_dir = str(Path(list(spec.submodule_search_locations)[0]) / "trainer" / "config")
    with hydra.initialize_config_dir(config_dir=config_dir, version_base=None):
        cfg = hydra.compose("ppo_trainer", overrides=overrides)
    assert cfg.data.output_path == f"{tmp_path}/generations/greedy/aime2024.parquet"
    assert cfg.actor_rollout_ref.rollout.n == 1 and cfg.actor_rollout_ref.rollout.temperature == 0
    assert cfg.actor_rollout_ref.rollout.response_length == 3072  # follows data.max_response_length
    assert list(cfg.data.train_files) == ["data/aime2024.parquet"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["--model", "m"], ["--out is required"]),
        (["--out", "o"], ["--model is required"]),
        (["--model", "m", "--out", "o", "--k", "0"], ["--k must be a whole number >= 1, got '0'"]),
        (["--model", "m", "--out", "o", "--k", "four"], ["--k must be a whole number"]),
        (["--model", "m", "--out", "o", "--temperature", "hot"], ["--temperature must be a number"]),
        (["--model", "m", "--out", "o", "--temperature", "0"], ["sample mode needs --temperature > 0"]),
        (["--model", "m", "--out", "o", "--top-p", "1.5"], ["--top-p must lie in (0, 1]"]),
        (["--model", "m", "--out", "o", "--engine", "sglang"], ["--engine must be vllm or verl"]),
        (["--model", "m", "--out", "o", "--modes", "beam"], ["--modes takes greedy and/or sample"]),
        (["--model", "m", "--out", "o", "--workers", "-1"], ["--workers must be a whole number"]),
        (["--model", "m", "--out"], ["--out needs a value"]),
        (["--model", "m", "--out", "o", "--frobnicate"], ["unknown argument: --frobnicate"]),
        (["--model", "m", "--out", "o", "--data-dir", "/nonexistent"], ["no eval file /nonexistent/aime2024.parquet"]),
    ],
)
def test_bad_arguments_exit_2_with_the_reason(args, words):
    done = _run(*args)
    assert done.returncode == 2
    for word in words:
        assert word in done.stderr
    assert done.stdout == ""


def test_help_lists_every_option():
    done = _run("--help")
    assert done.returncode == 0
    for option in ("--model", "--out", "--k", "--engine vllm|verl", "--skip-generation", "--dry-run"):
        assert option in done.stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (["--model", "m", "--data", "x", "--out", "o", "--n", "4"], ["--temperature 0 (greedy)"]),
        (["--model", "m", "--data", "/nonexistent.parquet", "--out", "o"], ["no such file"]),
        (["--model", "m", "--data", "x", "--out", "o", "--n", "0"], ["--n must be >= 1"]),
    ],
)
def test_generate_vllm_checks_arguments_before_importing_vllm(tmp_path, args, words):
    data = tmp_path / "x"
    data.write_text("")
    args = [str(data) if a == "x" else a for a in args]
    done = subprocess.run([sys.executable, str(GENERATE), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    for word in words:
        assert word in done.stderr


def _generation_file(path: Path, items: list[dict], k: int) -> None:
    """What generate_vllm.py writes: the eval rows plus k responses per prompt (here: the release's greedy ones,
    repeated)."""
    rows = [
        {
            "data_source": item["data_source"],
            "prompt": [{"role": "user", "content": item["prompt"]}],
            "reward_model": {"ground_truth": item["ground_truth"], "style": "rule"},
            "responses": [item["response"]] * k,
            "response_token_lens": [int(item["response_token_len"])] * k,
            "finish_reasons": ["stop"] * k,
        }
        for item in items
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def test_skip_generation_scores_and_reports_generations_on_disk(release_dir, tmp_path):
    aime = json.loads((release_dir / AIME_FL).read_text(encoding="utf-8"))
    math500 = json.loads((release_dir / MATH500_FL).read_text(encoding="utf-8"))[:20]
    for mode, k in (("greedy", 1), ("sample", 2)):
        _generation_file(tmp_path / "generations" / mode / "aime2024.parquet", aime, k)
        _generation_file(tmp_path / "generations" / mode / "math500.parquet", math500, k)
    done = _run("--out", str(tmp_path), "--skip-generation", "--benchmarks", "aime2024 math500", "--workers", "1")
    assert done.returncode == 0, done.stderr
    greedy = json.loads((tmp_path / "metrics_greedy.json").read_text())["rows"]
    by_source = {row["data_source"]: row for row in greedy}
    assert by_source["AIME2024"]["accuracy"] == pytest.approx(sum(float(i["score"]) for i in aime) / 30)
    assert by_source["MATH500"]["problems"] == 20 and by_source["MATH500"]["k"] == 1
    sample = {row["data_source"]: row for row in json.loads((tmp_path / "metrics_sample.json").read_text())["rows"]}
    assert sample["AIME2024"]["k"] == 2 and sample["AIME2024"]["pass@k"] == pytest.approx(
        by_source["AIME2024"]["accuracy"]
    )
    assert "accuracy / mean@k" in (tmp_path / "metrics_sample.md").read_text()
    assert "== greedy" in done.stdout and "== sample" in done.stdout


def test_skip_generation_without_generations_names_the_missing_file(tmp_path):
    done = _run("--out", str(tmp_path), "--skip-generation", "--modes", "greedy")
    assert done.returncode == 2
    assert f"no generations {tmp_path}/generations/greedy/aime2024.parquet" in done.stderr
