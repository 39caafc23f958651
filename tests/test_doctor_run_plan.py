"""What the doctor checks a node against: the run's figures as run_grpo.sh resolves them (overrides, then the
launcher's environment, then the scale file, then the main config), the model's size from its config.json, and
the all-reduce the --nccl check runs (its mechanism on CPU processes with gloo)."""

from __future__ import annotations

from pathlib import Path

import pytest

from verl_ext.nccl_check import all_reduce
from verl_ext.run_plan import RECIPE_CONFIG, ModelSize, RunPlanError, checkpoint_bytes, model_size, read_plan

REPO = Path(__file__).resolve().parents[1]


def test_the_paper_and_smoke_scales_figures_are_the_recipes() -> None:
    """The README's: the paper run is Qwen2.5-Math-7B on one 8-GPU node, vLLM at 0.7, the last two checkpoints
    kept, 16384 tokens per micro-batch; the smoke run is Qwen2.5-0.5B on one GPU, vLLM at 0.4, one checkpoint."""
    paper = read_plan([], {})
    assert (paper.model, paper.nnodes, paper.gpus_per_node, paper.gpu_memory_utilization) == (
        "Qwen/Qwen2.5-Math-7B",
        1,
        8,
        0.7,
    )
    assert (paper.checkpoints_kept, paper.tokens_per_gpu, paper.ckpt_dir) == (2, 16384, REPO / "checkpoints")
    smoke = read_plan(["scale=smoke"], {})
    assert (smoke.model, smoke.gpus_per_node, smoke.gpu_memory_utilization, smoke.checkpoints_kept) == (
        "Qwen/Qwen2.5-0.5B",
        1,
        0.4,
        1,
    )


def test_an_override_beats_the_environment_which_beats_the_scale_file(tmp_path: Path) -> None:
    environ = {"GPUS_PER_NODE": "4", "MODEL_PATH": "/models/m", "CKPT_DIR": "ck"}
    plan = read_plan(["scale=smoke", "actor_rollout_ref.rollout.gpu_memory_utilization=0.5"], environ, cwd=tmp_path)
    assert (plan.gpus_per_node, plan.model, plan.gpu_memory_utilization) == (4, "/models/m", 0.5)
    assert plan.ckpt_dir == tmp_path / "ck", "a relative CKPT_DIR is under the launch folder, as run_grpo.sh's"
    assert read_plan(["trainer.n_gpus_per_node=2"], environ).gpus_per_node == 2


@pytest.mark.parametrize(
    ("overrides", "environ", "message"),
    [
        (["scale=tiny"], {}, "unknown scale 'tiny'"),
        ([], {"GPUS_PER_NODE": "eight"}, "trainer.n_gpus_per_node = 'eight' (GPUS_PER_NODE in the environment)"),
        (["actor_rollout_ref.actor.fsdp_config.param_offload=maybe"], {}, "param_offload = 'maybe'"),
        (["trainer.save_freq=[1"], {}, "cannot parse the overrides"),
    ],
)
def test_a_bad_setting_is_an_error_naming_it(overrides: list[str], environ: dict, message: str) -> None:
    with pytest.raises(RunPlanError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        read_plan(overrides, environ)


def test_with_every_checkpoint_kept_the_disk_holds_each_save() -> None:
    plan = read_plan(["trainer.max_actor_ckpt_to_keep=null"], {})
    assert plan.checkpoints_on_disk == 5  # steps 20, 40, 60, 80, 100
    size = ModelSize(parameters=10**9, vocab_size=1, hidden_size=1, layers=1)
    assert checkpoint_bytes(plan, size) == 5 * 12 * 10**9  # fp32 shards 4 B + Adam m, v 8 B per parameter


def test_the_model_size_comes_from_its_config() -> None:
    config = {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "vocab_size": 100,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "tie_word_embeddings": True,
    }
    # by hand: embeddings 100 x 16 = 1600 (the head tied to them); per layer q 16x16+16, k and v 16x8+8 each (one
    # KV head of 8), o 16x16, MLP 3 x 16 x 32, two norms of 16: 2368; two layers 4736; final norm 16
    assert model_size(config) == ModelSize(parameters=1600 + 4736 + 16, vocab_size=100, hidden_size=16, layers=2)


def test_the_all_reduce_sums_every_ranks_tensor() -> None:
    """The --nccl check's mechanism (spawned ranks, rendezvous, sum and timing) on CPU processes with gloo."""
    result = all_reduce(2, backend="gloo", mib=1)
    assert (result["correct"], result["expected"], result["got"], result["mib"]) == (True, 3.0, [3.0], 1)
    assert result["seconds"] > 0 and result["busbw_gbps"] > 0


def test_the_recipe_config_folder_is_this_checkouts() -> None:
    assert RECIPE_CONFIG == REPO / "recipe" / "format_length" / "config"


def test_the_model_probe_reads_a_local_folder_and_says_what_is_missing(tmp_path: Path) -> None:
    from verl_ext.doctor_probes import ModelUnavailable, model_config

    with pytest.raises(ModelUnavailable, match="not a model directory"):
        model_config(str(tmp_path), {})
    (tmp_path / "config.json").write_text('{"model_type": "qwen2", "vocab_size": 100}')
    assert model_config(str(tmp_path), {}) == ({"model_type": "qwen2", "vocab_size": 100}, "a local directory")


def test_the_model_probe_offline_names_the_missing_cache_entry() -> None:
    from verl_ext.doctor_probes import ModelUnavailable, model_config

    with pytest.raises(ModelUnavailable, match="not in the Hugging Face cache and HF_HUB_OFFLINE is set") as caught:
        model_config("Org/not-cached-model", {"HF_HUB_OFFLINE": "1"})
    assert "--local-dir DIR" in caught.value.fix
