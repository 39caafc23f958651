"""Every command the README gives writes where it says, and only where git ignores: after it, `git status` in the
clone shows nothing. The paths are the commands' own (their defaults, as the code computes them); git itself says
whether each is ignored. The launches themselves are checked for this by hand (see the test docstrings) and by the
e2e tests for their temporary folders."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipe" / "format_length"

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs git and a git checkout"
)


def ignored(path: Path | str) -> bool:
    """git's verdict in the clone: ``path`` (relative to the clone, or absolute inside it) is ignored."""
    relative = Path(path).relative_to(REPO) if Path(path).is_absolute() else Path(path)
    done = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", str(relative)], check=False, timeout=60)
    assert done.returncode in (0, 1), f"git check-ignore failed on {relative}"
    return done.returncode == 0


def test_the_cpu_recipe_without_the_launcher_writes_under_checkpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """README: `VERL_PLATFORM=cpu python -m verl.trainer.main_ppo --config-dir recipe/format_length/config
    --config-name format_length_grpo scale=cpu ...` from the clone. Its checkpoints, Hydra's record and veRL's
    file log (VERL_FILE_LOGGER_ROOT from the scale's Ray env; veRL's FileLogger writes <root>/<project>/<exp>.jsonl)
    land under checkpoints/, which git ignores (it once wrote format_length/cpu-tiny-qwen2.jsonl in the clone)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(RECIPE / "config"), version_base=None):
        cfg = compose("format_length_grpo", overrides=["scale=cpu"], return_hydra_config=True)
    trainer = cfg.trainer
    root = cfg.ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_ROOT
    metrics = Path(root) / trainer.project_name / f"{trainer.experiment_name}.jsonl"
    assert metrics == Path("checkpoints/logs/format_length/cpu-tiny-qwen2.jsonl")
    checkpoints = Path(OmegaConf.select(cfg, "trainer.default_local_dir"))
    hydra_record = Path(OmegaConf.select(cfg, "hydra.run.dir")) / ".hydra" / "config.yaml"
    for path in (metrics, checkpoints / "global_step_2" / "actor" / "x.pt", hydra_record):
        assert not path.is_absolute() and ignored(path), path


def test_verls_file_logger_honours_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """veRL 0.9.1's own FileLogger, given VERL_FILE_LOGGER_ROOT as the scale sets it, where the run starts."""
    from verl.utils.tracking import FileLogger

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VERL_FILE_LOGGER_PATH", raising=False)
    monkeypatch.setenv("VERL_FILE_LOGGER_ROOT", "checkpoints/logs")
    logger = FileLogger("format_length", "cpu-tiny-qwen2")
    logger.log({"x": 1.0}, step=1)
    logger.finish()
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()] == [
        "checkpoints/logs/format_length/cpu-tiny-qwen2.jsonl"
    ]


def test_the_cpu_recipe_through_the_launcher_writes_under_checkpoints(launcher_env: dict, tmp_path: Path) -> None:
    """README: `bash recipe/format_length/run_grpo.sh scale=cpu` (and `run_grpo.sh` at any scale): checkpoints,
    Hydra's record, the metrics log and the run's log under <clone>/checkpoints/ (CKPT_DIR's default), as the
    launcher's dry run names them. (A real launch leaves `git status` clean: checked by hand, and its temporary files
    by the e2e tests.)"""
    model = tmp_path / "tiny-qwen2-0123456789abcdef"
    model.mkdir()
    (model / "config.json").write_text("{}", encoding="utf-8")
    names = ("CKPT_DIR", "LOG_DIR", "EXPERIMENT", "VERL_FILE_LOGGER_PATH", "DATA_DIR", "MODEL_PATH", "REWARD")
    env = {k: v for k, v in launcher_env.items() if k not in names}
    env.update({"DRY_RUN": "1", "CHECK_VERL": "0", "MODEL_PATH": str(model), "TMPDIR": str(tmp_path)})
    done = subprocess.run(
        ["bash", str(RECIPE / "run_grpo.sh"), "scale=cpu"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    words = [shlex.split(line)[0] for line in done.stdout.splitlines()]
    settings = dict(word.split("=", 1) for word in words if "=" in word and not word.startswith("--"))
    metrics = Path(settings["+ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH"])
    checkpoints = Path(settings["trainer.default_local_dir"])
    assert checkpoints.is_relative_to(REPO / "checkpoints") and metrics.is_relative_to(REPO / "checkpoints")
    for path in (metrics, metrics.with_suffix(".log"), metrics.with_suffix(".png"), checkpoints / "hydra" / "x"):
        assert ignored(path), path


def test_the_demo_leaves_git_status_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """README: `verl-ext demo` (here with a tiny warm-up and one step: the same outputs, in the same places), run in
    a git repository that holds the clone's .gitignore: nothing for `git status` to show."""
    from verl_ext.cli import main

    repo = tmp_path / "clone"
    repo.mkdir()
    shutil.copy(REPO / ".gitignore", repo / ".gitignore")
    subprocess.run(["git", "init", "-q", str(repo)], check=True, timeout=60)
    subprocess.run(["git", "-C", str(repo), "add", ".gitignore"], check=True, timeout=60)
    monkeypatch.chdir(repo)
    monkeypatch.setenv("VERL_EXT_CACHE", str(tmp_path / "cache"))
    argv = ["demo", "--steps", "1", "--warmup-steps", "2", "--num-generations", "2", "--prompts-per-step", "2"]
    argv += ["--max-completion-length", "8", "--eval-every", "1", "--quiet"]
    assert main(argv) == 0
    assert (repo / "verl-ext-demo" / "format_length-seed0" / "summary.json").is_file()
    status = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert status.stdout.splitlines() == ["A  .gitignore"]


@pytest.mark.parametrize(
    ("command", "writes"),
    [
        # the README's test commands: pytest's cache (without -p no:cacheprovider) and bytecode
        ("python -m pytest --import-mode=importlib tests ...", ".pytest_cache/v/cache/lastfailed"),
        ("python -m pytest --import-mode=importlib tests ...", "tests/__pycache__/test_x.cpython-311.pyc"),
        ("python -m pytest --import-mode=importlib tests ...", "verl_ext/__pycache__/cli.cpython-311.pyc"),
        # data preparation's default output folder and the carried release files, decompressed
        ("python data_prep/prepare.py deepscaler_17k", "data/deepscaler_17k.parquet"),
        ("python -m data_prep.carried --materialise release", "release/logs/x.json"),
        # the demo's measurements at their default folder, and their figure beside them
        ("python -m verl_ext.demo.measure --runs capable/format_length --seeds 0", "verl-ext-demo/measure/x.md"),
        (
            "verl-ext plot verl-ext-demo/measure/mean-*.jsonl -o verl-ext-demo/measure/rewards.png",
            "verl-ext-demo/measure/rewards.png",
        ),
        # the command-line walk-through writes beside the release files it reads
        ("verl-ext plot release/logs/*.json -o release/curves.png", "release/curves.png"),
        (
            "verl-ext score release/outputs/*/*/*.json -o release/scored.jsonl --reward correctness",
            "release/scored.jsonl",
        ),
        # a checkpoint's evaluation under the checkpoints folder
        ("examples/eval_checkpoint.sh --model CKPT --out checkpoints/eval/ckpt", "checkpoints/eval/ckpt/x.json"),
        ("pip install -e .", "verl_ext.egg-info/PKG-INFO"),
    ],
)
def test_a_readme_commands_default_output_is_ignored(command: str, writes: str) -> None:
    assert ignored(writes), f"{command} writes {writes}, which git does not ignore"


def test_the_defaults_named_above_are_the_commands_own() -> None:
    """The folders of the table above, read from the code, so that the table cannot drift from it."""
    from data_prep import prepare
    from verl_ext.demo.config import DemoConfig

    assert DemoConfig().out_dir() == Path("verl-ext-demo/format_length-seed0")
    assert Path(prepare.DEFAULT_OUT) == Path("data")


def test_the_suites_temporary_files_go_to_a_folder_of_the_session() -> None:
    """The suite's own temporary files (Ray's session folders of in-process tests, veRL's checkpoint locks, torch's
    folders) and its model cache go to one folder of the session (conftest's pytest_configure, a new folder each
    session), removed at its end; pytest's own tmp_path folders stay where pytest keeps them (it keeps the last three
    sessions')."""
    import tempfile

    from verl_ext.models.cache import cache_root

    temp = Path(os.environ["TMPDIR"])
    assert temp.name.startswith("vxt.") and Path(tempfile.gettempdir()) == temp
    assert not Path(os.environ.get("PYTEST_XDIST_WORKER", "") or ".").is_relative_to(temp)
    assert cache_root() == temp / "models"  # the models the tests share are built in this session
