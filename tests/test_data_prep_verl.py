"""The written files load in veRL's own RLHFDataset (CPU, a tiny tokenizer built here, no downloads)."""

from pathlib import Path

import pytest

from data_prep.prepare import prepare
from data_prep.templates import TEMPLATES

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No downloads, and nothing left in the environment of the tests that run after these on the worker."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


EVAL = ("aime2024", "amc2023", "math500", "minerva", "olympiadbench")
TRAIN = ("deepscaler_17k", "math_train")


def tiny_tokenizer():
    """A word-level tokenizer (every word unknown but one token) with a simple chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel(vocab={"[UNK]": 0, "[PAD]": 1, "[EOS]": 2}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]")
    tok.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|> {% endif %}"
    )
    return tok


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("verl")
    return {name: str(prepare(name, out)[0]) for name in EVAL + TRAIN}


def _dataset(paths, tmp_path, max_samples=-1, **config):
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    cfg = {
        "max_prompt_length": 100_000,
        "filter_overlong_prompts": True,
        "filter_overlong_prompts_workers": 1,
        "cache_dir": str(tmp_path / "cache"),
        **config,
    }
    return RLHFDataset(list(paths), tiny_tokenizer(), OmegaConf.create(cfg), max_samples=max_samples)


def test_all_eval_files_load_together_as_one_validation_set(files, tmp_path):
    ds = _dataset([files[n] for n in EVAL], tmp_path)
    assert len(ds) == 30 + 83 + 500 + 272 + 675
    item = ds[0]
    assert item["data_source"] == "AIME2024"
    assert item["raw_prompt"] == TEMPLATES["qwen_boxed"](item["raw_prompt"][1]["content"])
    assert item["reward_model"] == {"ground_truth": "204", "style": "rule"}
    assert item["index"] == 0 and item["extra_info"]["split"] == "test"
    assert {ds.dataframe[i]["data_source"] for i in (0, 30, 113, 613, 885)} == {
        "AIME2024",
        "AMC2023",
        "MATH500",
        "Minerva",
        "OlympiadBench",
    }


def test_training_and_eval_files_share_one_schema_and_collate(files, tmp_path):
    from verl.utils.dataset.rl_dataset import collate_fn

    ds = _dataset(list(files.values()), tmp_path, max_samples=500, shuffle=True, seed=0)
    assert len(ds) == 500
    batch = collate_fn([ds[i] for i in range(8)])
    assert batch["dummy_tensor"].shape == (8, 1)
    assert all(gt["ground_truth"] for gt in batch["reward_model"])
    assert set(batch["data_source"]) <= {"math", "AIME2024", "AMC2023", "MATH500", "Minerva", "OlympiadBench"}
