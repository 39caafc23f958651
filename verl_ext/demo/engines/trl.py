"""The TRL engine (``--engine trl``, the default): GRPO through TRL's ``GRPOTrainer`` in this process.

No vLLM, CPU, float32 (TRL's default bf16 autocast is emulated on most CPUs: 7x slower steps). The reward is the
chosen preset through ``verl_ext.integrations.trl``: the very ``score_response`` the veRL managers call; group-level
presets score each prompt's ``num_generations`` completions together (``score_group``), and log-probability presets
get the sampled tokens' log-probs from one forward pass of the policy (``integrations/trl_logprobs.py``: TRL passes
reward functions none). A
``TrainerCallback`` evaluates the held-out problems every ``eval_every`` steps and at the last one, and records
each step's logs under veRL's names (``rename_trl_logs``):

    reward                    -> critic/score/mean       (mean reward of the step's rollouts)
    completions/mean_length   -> response_length/mean    (tokens, EOS included)
    completions/clipped_ratio -> response_length/clip_ratio
    loss, grad_norm, learning_rate, entropy, kl, step_time -> actor/..., timing_s/step
    diagnostics/*, collapse/*, proxy/* -> unchanged (from ``verl_ext.integrations.trl``: for every reward)
    anything else             -> trl/<name>
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from verl_ext.collapse import PREFIX as COLLAPSE_PREFIX
from verl_ext.demo.config import DemoConfig
from verl_ext.demo.engines.base import TrainingJob, due_for_evaluation
from verl_ext.demo.metrics_log import step_line
from verl_ext.demo.warmup import prompt_text
from verl_ext.diagnostics import PREFIX as DIAGNOSTICS_PREFIX
from verl_ext.eval.proxy import PREFIX as PROXY_PREFIX

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
TRL_BOOKKEEPING = {
    "epoch",
    "total_flos",
    "train_runtime",
    "train_samples_per_second",
    "train_steps_per_second",
    "train_loss",
}
TRAINER_DIR = "trainer"  # TRL's output folder under the run's: left empty (nothing is checkpointed) and removed


def rename_trl_logs(logs: dict[str, Any]) -> dict[str, float]:
    """TRL's log dict -> veRL-named numeric metrics (non-numbers, NaN and bookkeeping keys dropped)."""
    data: dict[str, float] = {}
    for key, value in logs.items():
        if (
            key in TRL_BOOKKEEPING
            or isinstance(value, bool)
            or not isinstance(value, (int, float))
            or math.isnan(value)
        ):
            continue
        if key.startswith((DIAGNOSTICS_PREFIX, COLLAPSE_PREFIX, PROXY_PREFIX)):
            name = key
        else:
            name = RENAMES.get(key, f"trl/{key}")
        data[name] = float(value)
    return data


def make_callback(
    record: Callable[[int, dict[str, float]], None],
    max_steps: int,
    evaluate: Callable[[Any, int], dict[str, float]],
    eval_every: int,
    progress: bool,
):
    """A transformers ``TrainerCallback``: ``evaluate(model, step)`` every ``eval_every`` steps and at the last one,
    ``record(step, metrics)`` for each step's line, and a progress bar with a one-line summary per step."""
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class DemoCallback(TrainerCallback):
        def __init__(self) -> None:
            self.bar = None
            self.pending: dict[str, float] = {}

        def on_train_begin(self, args, state, control, **kwargs):
            if progress:
                self.bar = tqdm(total=max_steps, desc="GRPO", dynamic_ncols=True)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            step = state.global_step
            if model is not None and due_for_evaluation(step, max_steps, eval_every):
                self.pending = evaluate(model, step)

        def on_log(self, args, state, control, logs=None, **kwargs):
            data = rename_trl_logs(logs or {})
            if not data or "critic/score/mean" not in data:
                return
            data.update(self.pending)
            self.pending = {}
            record(state.global_step, data)
            if self.bar is not None:
                self.bar.update(state.global_step - self.bar.n)
                self.bar.write(step_line(state.global_step, max_steps, data))

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.close()

    return DemoCallback()


def demo_reward(config: DemoConfig, args: Any, tokenizer: Any):
    """The TRL reward function of ``config.reward`` (any preset): sample-level and group-level presets through
    ``verl_ext.integrations.trl`` (groups: each prompt's ``num_generations`` consecutive completions);
    token-level presets wrapped in ``WithPolicyLogprobs`` (the per-token statistics they read, under the policy
    that sampled the completions, at the sampling temperature; bind the trainer's model before training)."""
    from verl_ext.integrations.trl import reward_func
    from verl_ext.integrations.trl_logprobs import WithPolicyLogprobs

    reward = reward_func(config.reward, args, peak=config.peak, seed=config.seed)
    if reward.spec.is_token:
        return WithPolicyLogprobs(reward, tokenizer, temperature=config.temperature)
    return reward


class TRLEngine:
    name = "trl"
    label = "TRL"
    summary = "TRL's GRPOTrainer, in this process"

    def check(self, config: DemoConfig) -> None:
        """Nothing beyond ``config.checked``: TRL is a dependency of the demo."""

    def train(self, job: TrainingJob) -> float:
        """``GRPOTrainer`` on ``job.train`` for ``config.steps`` steps: ``prompts_per_step`` x ``num_generations`` per
        step, constant learning rate, TRL's ``beta`` = ``kl_coef``, seeded by ``config.seed``."""
        from datasets import Dataset
        from transformers import PrinterCallback, ProgressCallback
        from trl import GRPOConfig, GRPOTrainer

        from verl_ext.integrations.trl_logprobs import WithPolicyLogprobs

        config = job.config
        trainer_dir = config.out_dir() / TRAINER_DIR
        args = GRPOConfig(
            output_dir=str(trainer_dir),
            max_steps=config.steps,
            per_device_train_batch_size=config.prompts_per_step * config.num_generations,
            gradient_accumulation_steps=1,
            num_generations=config.num_generations,
            max_completion_length=config.max_completion_length,
            temperature=config.temperature,
            learning_rate=config.learning_rate,
            lr_scheduler_type="constant",
            warmup_steps=0,
            beta=config.kl_coef,
            logging_steps=1,
            save_strategy="no",
            report_to=[],
            use_cpu=True,
            bf16=False,  # TRL defaults to bf16 autocast, emulated (slow) on most CPUs: the tiny model trains in float32
            seed=config.seed,
            data_seed=config.seed,
            disable_tqdm=True,
            log_completions=False,
            dataloader_num_workers=0,
            remove_unused_columns=False,
        )
        dataset = Dataset.from_list([{"prompt": prompt_text(p), "ground_truth": p.answer} for p in job.train])
        reward = demo_reward(config, args, job.tokenizer)
        trainer = GRPOTrainer(
            model=job.model,
            reward_funcs=reward,
            args=args,
            train_dataset=dataset,
            processing_class=job.tokenizer,
            callbacks=[make_callback(job.record, config.steps, job.evaluate, config.eval_every, config.progress)],
        )
        if isinstance(reward, WithPolicyLogprobs):
            reward.bind(trainer.model)
        for noisy in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(noisy)
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
        try:
            trainer_dir.rmdir()
        except OSError:
            pass
        return seconds
