"""veRL's real reward loop (RewardLoopManager -> RewardLoopWorker Ray actors) on CPU, each manager
selected by the Hydra override ``reward.reward_manager.name=<preset>`` on veRL's own trainer config.

The managers exist in the Ray worker processes only because veRL loads the ``verl.plugins`` entry
point there: nothing in this test imports verl_ext.verl into the workers.
"""

from __future__ import annotations

import pytest
import ray
import torch
from hydra import compose, initialize_config_module
from transformers import AutoTokenizer
from verl import DataProto

from verl_ext.rewards import score_response

MAX_RESPONSE = 96
PROMPT_LEN = 8
# (response, ground truth): the correctness path must work inside the worker's executor threads,
# including the math-verify child process for non-integer answers.
SAMPLES = [
    ("So the answer is \\boxed{\\frac{1}{2}}.", "0.5"),
    ("We get \\boxed{204}", "204"),
    ("no box at all, just words", "7"),
    ("twice: \\boxed{3} and finally \\boxed{x^2 + 1 = 5}", "x^2+1=5"),
    ("x" * MAX_RESPONSE, "1"),  # truncated
]


def _batch(tokenizer) -> DataProto:
    rows = len(SAMPLES)
    prompts = torch.full((rows, PROMPT_LEN), tokenizer.pad_token_id, dtype=torch.long)
    responses = torch.full((rows, MAX_RESPONSE), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((rows, PROMPT_LEN + MAX_RESPONSE), dtype=torch.long)
    for i, (text, _) in enumerate(SAMPLES):
        prompt_ids = tokenizer.encode("Q: 1+1?")[-PROMPT_LEN:]
        prompts[i, -len(prompt_ids) :] = torch.tensor(prompt_ids)
        mask[i, PROMPT_LEN - len(prompt_ids) : PROMPT_LEN] = 1
        ids = tokenizer.encode(text)[:MAX_RESPONSE]
        responses[i, : len(ids)] = torch.tensor(ids)
        mask[i, PROMPT_LEN : PROMPT_LEN + len(ids)] = 1
    input_ids = torch.cat([prompts, responses], dim=1)
    import numpy as np

    return DataProto.from_dict(
        tensors={"prompts": prompts, "responses": responses, "attention_mask": mask, "input_ids": input_ids},
        non_tensors={
            "data_source": np.array(["TEST"] * rows, dtype=object),
            "reward_model": np.array([{"ground_truth": truth, "style": "rule"} for _, truth in SAMPLES], dtype=object),
        },
    )


def _config(preset: str, tokenizer_dir: str, extra: list[str] = ()):
    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        return compose(
            config_name="ppo_trainer",
            overrides=[
                f"reward.reward_manager.name={preset}",
                f"actor_rollout_ref.model.path={tokenizer_dir}",
                f"data.max_response_length={MAX_RESPONSE}",
                "reward.num_workers=1",
                *extra,
            ],
        )


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    yield
    ray.shutdown()


def _run(preset: str, tokenizer_dir, extra: list[str] = ()):
    from verl.experimental.reward_loop import RewardLoopManager

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    manager = RewardLoopManager(_config(preset, str(tokenizer_dir), list(extra)))
    try:
        out = manager.compute_rm_score(_batch(tokenizer))
    finally:
        for worker in manager.reward_loop_workers:
            ray.kill(worker)
    scores = out.batch["rm_scores"].sum(dim=-1).tolist()
    return scores, out.non_tensor_batch, out.meta_info["reward_extra_keys"]


@pytest.mark.parametrize("preset", ["format_length", "format", "length", "correctness"])
def test_reward_loop_scores_each_preset_like_the_pure_function(preset, local_ray, tiny_tokenizer_dir):
    scores, extra, keys = _run(preset, tiny_tokenizer_dir)
    expected_keys = {
        "format",
        "length_reward",
        "response_tokens",
        "truncated",
        "pred",
        "timed_out",
        "reward_error",
        "correct",
        "acc",
        "monitor_error",
    }
    assert set(keys) == expected_keys
    for i, (text, truth) in enumerate(SAMPLES):
        tokens = min(len(text), MAX_RESPONSE)
        want = score_response(
            preset, text, response_tokens=tokens, max_response_tokens=MAX_RESPONSE, ground_truth=truth
        )
        assert scores[i] == pytest.approx(want.score), (preset, text)
        assert extra["response_tokens"][i] == tokens
        assert extra["reward_error"][i] == 0.0
    # the correctness path really ran in the worker: 1/2 == 0.5 needs math-verify's child process
    assert list(extra["correct"]) == [1.0, 1.0, 0.0, 1.0, 0.0]
    assert list(extra["format"]) == [1.0, 1.0, 0.0, 1.0, 0.0]
    assert list(extra["truncated"]) == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert extra["pred"][0] == "\\frac{1}{2}"


def test_reward_kwargs_set_peak_and_length_budget(local_ray, tiny_tokenizer_dir):
    scores, extra, _ = _run(
        "length",
        tiny_tokenizer_dir,
        ["+reward.reward_kwargs.peak=0.25", "+reward.reward_kwargs.max_response_length=200"],
    )
    tokens = len(SAMPLES[1][0])
    want = score_response("length", SAMPLES[1][0], response_tokens=tokens, max_response_tokens=200, peak=0.25)
    assert scores[1] == pytest.approx(want.score)


def test_random_control_is_seedable_and_binary(local_ray, tiny_tokenizer_dir):
    first, _, _ = _run("random", tiny_tokenizer_dir, ["+reward.reward_kwargs.seed=3"])
    assert set(first) <= {0.0, 1.0}
