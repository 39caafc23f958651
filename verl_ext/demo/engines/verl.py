"""The veRL engine (``--engine verl``): GRPO through veRL 0.9.1's own trainer (``main_ppo``) on the CPU.

The same student, problems, reward and outputs as the TRL engine; what it does with a ``TrainingJob``:

1. the student is saved to ``<out>/verl/student`` with a chat template that renders a prompt as its bare text,
   so veRL's prompts are the demo's ``Problem: ...\\nSolution:`` token for token;
2. the train and held-out problems are written as veRL parquet (``prompt``, ``data_source`` = ``DEMO``,
   ``reward_model.ground_truth``, ``extra_info``) to ``<out>/verl/{train,test}.parquet``;
3. the recipe's launcher runs it, as a user runs the recipe: ``REWARD=<reward> MODEL_PATH=<student>
   bash recipe/format_length/run_grpo.sh scale=cpu`` (veRL's ``main_ppo``, the recipe's config, verl-ext's CPU
   backend) with the demo's files and GRPO settings as trailing Hydra overrides: data, steps, prompts x samples,
   max tokens, temperature, learning rate, seed, KL coefficient (a low-variance KL loss to the warmed-up model,
   as TRL's ``beta``; none when it is 0); no entropy term; a Hugging Face checkpoint every ``eval_every`` steps
   and at the last one; no veRL validation (the held-out evaluation is the demo's own, below); veRL's dump of
   each step's rollouts (``<out>/verl/rollouts/<step>.jsonl``: prompt, completion, the reward it trained on).
   Every reward preset runs: group-level and log-probability rewards through the recipe's group stage
   (``verl_ext.verl.group_stage``). The launch's own Ray instance is killed afterwards whatever happened
   (``verl_ext.verl.cpu.launcher``, the helpers the ``scale=cpu`` tests and benchmark use too);
4. each saved checkpoint is evaluated on the held-out problems (the job's ``evaluate``), and every step is
   recorded: veRL's own per-step metrics (its file logger, ``<out>/verl/logs/format_length/<experiment>.jsonl``)
   with those evaluations merged in.

What differs from TRL: veRL's GRPO loss is the recipe's (``verl02_micro_token_mean``, clip 0.2), TRL's is
its own; sampling goes through the CPU backend's transformers rollout. Needs a source checkout (the
recipe's script and config live in ``recipe/``, not in the wheel).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from verl_ext.demo.config import DemoConfig
from verl_ext.demo.engines.base import TrainingJob, due_for_evaluation
from verl_ext.demo.evaluate import DATA_SOURCE
from verl_ext.demo.metrics_log import step_line
from verl_ext.demo.problems import Problem
from verl_ext.demo.student import load_model
from verl_ext.demo.warmup import prompt_text
from verl_ext.verl.cpu import launcher

# Renders [{"role": "user", "content": text}] as ``text``: veRL's prompt ids are the demo's plain prompt.
PLAIN_CHAT_TEMPLATE = "{% for message in messages %}{{ message['content'] }}{% endfor %}"
PROMPT_TOKENS = 128  # demo prompts take under 40 tokens; filtered above this (none is)
WORK_DIR = "verl"  # under the run's folder: veRL's inputs, output, log, rollouts and checkpoints
STEP_LINE = re.compile(r"\bstep:(\d+) - ")  # veRL console logger; Ray prefixes the worker
PLAIN_HYDRA_VALUE = re.compile(r"^[A-Za-z0-9_./-]+$")


def recipe_launcher() -> Path:
    """The recipe's ``run_grpo.sh`` of this checkout; ValueError when verl-ext is not installed from source."""
    if not launcher.LAUNCHER.is_file():
        raise ValueError(
            f"--engine verl needs the recipe in a source checkout ({launcher.LAUNCHER} is missing): "
            "install verl-ext with `pip install -e .` from a clone"
        )
    return launcher.LAUNCHER


def experiment_name(config: DemoConfig) -> str:
    """The run's EXPERIMENT: its checkpoint folder and log name under ``<out>/verl``."""
    return f"demo-{config.reward}-seed{config.seed}"


def hydra_value(value: str) -> str:
    """``value`` as a Hydra override value: bare when plain, else single-quoted (ValueError for a single quote in
    it)."""
    if PLAIN_HYDRA_VALUE.match(value):
        return value
    if "'" in value:
        raise ValueError(f"a path given to veRL's Hydra config cannot contain a single quote: {value}")
    return f"'{value}'"


def problem_rows(problems: list[Problem], split: str) -> list[dict[str, Any]]:
    """veRL dataset rows of demo problems: the plain prompt as one user message, the answer as ground truth."""
    return [
        {
            "data_source": DATA_SOURCE,
            "prompt": [{"role": "user", "content": prompt_text(problem)}],
            "ability": "arithmetic",
            "reward_model": {"ground_truth": problem.answer, "style": "rule"},
            "extra_info": {"index": index, "split": split, "id": str(problem.id)},
        }
        for index, problem in enumerate(problems)
    ]


def write_parquet(rows: list[dict[str, Any]], path: Path) -> Path:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path, index=False)
    return path


def save_student(model, tokenizer, directory: Path) -> Path:
    """The student as an HF model folder veRL loads, with ``PLAIN_CHAT_TEMPLATE``."""
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.chat_template = PLAIN_CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)
    return directory


def eval_steps(steps: int, eval_every: int) -> list[int]:
    """Steps whose checkpoint is evaluated: every ``eval_every`` and the last (``base.due_for_evaluation``)."""
    return [step for step in range(1, steps + 1) if due_for_evaluation(step, steps, eval_every)]


def trainer_overrides(config: DemoConfig, work: Path, ray_dir: Path) -> list[str]:
    """run_grpo.sh's trailing Hydra overrides: ``scale=cpu`` and the demo's GRPO settings in veRL's keys (the data
    files replace the recipe's; reward, model, experiment and folders come from the environment, ``launch_env``)."""
    save_every = config.eval_every if 0 < config.eval_every < config.steps else config.steps
    return [
        "scale=cpu",
        f"reward.reward_kwargs.peak={config.peak}",
        f"data.train_files={hydra_value(str(work / 'train.parquet'))}",
        f"data.val_files=[{hydra_value(str(work / 'test.parquet'))}]",
        "data.train_max_samples=-1",
        "data.val_max_samples=-1",
        f"data.train_batch_size={config.prompts_per_step}",
        f"data.max_prompt_length={PROMPT_TOKENS}",
        f"data.max_response_length={config.max_completion_length}",
        f"data.seed={config.seed}",
        f"actor_rollout_ref.rollout.n={config.num_generations}",
        f"actor_rollout_ref.rollout.temperature={config.temperature}",
        f"actor_rollout_ref.rollout.seed={config.seed}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={config.prompts_per_step}",
        f"actor_rollout_ref.actor.optim.lr={config.learning_rate}",
        f"actor_rollout_ref.actor.data_loader_seed={config.seed}",
        # As the TRL engine: a KL loss only with kl_coef > 0 (TRL's beta, estimator k3 = veRL's low_var_kl), no
        # entropy bonus.
        f"actor_rollout_ref.actor.use_kl_loss={str(config.kl_coef > 0).lower()}",
        f"actor_rollout_ref.actor.kl_loss_coef={config.kl_coef}",
        "actor_rollout_ref.actor.kl_loss_type=low_var_kl",
        "actor_rollout_ref.actor.entropy_coeff=0.0",
        "actor_rollout_ref.actor.checkpoint.save_contents=[model,hf_model]",
        f"trainer.total_training_steps={config.steps}",
        f"trainer.save_freq={save_every}",
        "trainer.max_actor_ckpt_to_keep=null",
        "trainer.val_before_train=false",
        "trainer.test_freq=-1",
        "trainer.resume_mode=disable",
        f"trainer.rollout_data_dir={hydra_value(str(work / 'rollouts'))}",
        # the dump also carries each rollout's per-token statistics and advantages (what the actor trained on)
        "+trainer.v1.sampler.sampler_kwargs.dump_token_statistics=true",
        "trainer.logger=[console,file]",
        f"+ray_kwargs.ray_init._temp_dir={hydra_value(str(ray_dir))}",
    ]


def launch_env(config: DemoConfig, work: Path, model_dir: Path) -> dict[str, str]:
    """run_grpo.sh's environment: REWARD, MODEL_PATH, EXPERIMENT, checkpoints and logs under ``work``, offline."""
    env = launcher.launcher_env(None, work, experiment_name(config), config.reward)
    return {**env, "MODEL_PATH": str(model_dir), "TRANSFORMERS_OFFLINE": "1"}


def launch_trainer(config: DemoConfig, work: Path, model_dir: Path, say) -> float:
    """Run the recipe (``run_grpo.sh scale=cpu``, veRL's ``main_ppo``); its output goes to ``<work>/run_grpo.log``.
    Returns the wall seconds. ChildProcessError (with the output's tail) when it fails; its Ray processes are
    killed in any case."""
    ray_dir = launcher.ray_temp_dir("vxdemo")
    command = ["bash", str(recipe_launcher()), *trainer_overrides(config, work, ray_dir)]
    env = launch_env(config, work, model_dir)
    output = work / "run_grpo.log"
    say(
        f"run_grpo.sh scale=cpu REWARD={config.reward} (veRL main_ppo: V1 sync trainer, FSDP2, CPU backend) "
        f"starting; its output: {output}"
    )
    started = time.perf_counter()
    try:
        with open(output, "w", encoding="utf-8") as log:
            process = subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
            )
            assert process.stdout is not None
            for line in process.stdout:
                log.write(line)
                match = STEP_LINE.search(line)
                if match:
                    say(
                        f"veRL step {match.group(1)}/{config.steps} done "
                        f"({time.perf_counter() - started:.0f} s since launch)"
                    )
            returncode = process.wait()
    finally:
        launcher.kill_ray_under(ray_dir)
        shutil.rmtree(ray_dir, ignore_errors=True)
    seconds = time.perf_counter() - started
    if returncode != 0:
        tail = output.read_text(encoding="utf-8", errors="replace")[-4000:]
        raise ChildProcessError(
            f"run_grpo.sh (veRL main_ppo) exited with {returncode} after {seconds:.0f} s; the end of {output}:\n{tail}"
        )
    return seconds


def checkpoint_model_dir(work: Path, experiment: str, step: int) -> Path:
    """The Hugging Face model veRL's checkpoint manager wrote at ``step`` (``save_contents`` with ``hf_model``)."""
    directory = launcher.checkpoint_dir(work, experiment) / f"global_step_{step}" / "actor" / "huggingface"
    if not any(directory.glob("*.safetensors")) and not any(directory.glob("*.bin")):
        raise FileNotFoundError(f"no Hugging Face weights in veRL's checkpoint of step {step}: {directory}")
    return directory


class VeRLEngine:
    name = "verl"
    label = "veRL"
    summary = (
        "veRL 0.9.1's own trainer (main_ppo on verl-ext's CPU backend, Ray start-up included: minutes; "
        "needs a source checkout)"
    )

    def check(self, config: DemoConfig) -> None:
        """ValueError when the recipe is not here (a wheel install)."""
        recipe_launcher()

    def train(self, job: TrainingJob) -> float:
        """Steps 1-4 of the module docstring; ChildProcessError when veRL's run fails. Returns the trainer's wall
        seconds (Ray start-up included)."""
        config = job.config
        work = config.out_dir() / WORK_DIR
        shutil.rmtree(work, ignore_errors=True)  # a rerun starts afresh (no resume from an earlier run's checkpoint)
        work.mkdir(parents=True)
        model_dir = save_student(job.model, job.tokenizer, work / "student")
        write_parquet(problem_rows(job.train, "train"), work / "train.parquet")
        write_parquet(problem_rows(job.held_out, "test"), work / "test.parquet")
        seconds = launch_trainer(config, work, model_dir, job.say)

        from verl_ext.io.logs import read_metric_log

        experiment = experiment_name(config)
        trained = read_metric_log(launcher.metrics_log(work, experiment)).steps
        evaluated = eval_steps(config.steps, config.eval_every)
        for step in sorted(set(trained) | set(evaluated)):
            if step < 1:
                continue
            data = dict(trained.get(step, {}))
            if step in evaluated:
                checkpoint, _ = load_model(checkpoint_model_dir(work, experiment, step))
                data.update(job.evaluate(checkpoint, step))
            job.record(step, data)
            job.say(step_line(step, config.steps, data))
        return seconds
