"""The tiny causal LM verl-ext builds locally (the demo's students, the recipe's ``scale=cpu`` model): a byte-level
BPE tokenizer and a Qwen2 model.

``tiny_model_dir(corpus)`` returns a directory holding a Hugging Face tokenizer and an untrained
Qwen2 model (about 0.34 M parameters, fixed initialisation) that ``AutoTokenizer`` /
``AutoModelForCausalLM.from_pretrained`` load like any other checkpoint. It is built once and cached
under ``$VERL_EXT_CACHE`` (default ``~/.cache/verl-ext``), keyed by the corpus and the spec below:
nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from verl_ext.models.cache import build_once, cache_root

EOS = "<|endoftext|>"
BUILD_VERSION = 1  # bump when the way the model or tokenizer is built changes


@dataclass(frozen=True)
class TinySpec:
    """Tokenizer and architecture of the tiny model (Qwen2, tied embeddings)."""

    vocab_size: int = 320
    hidden_size: int = 128
    intermediate_size: int = 256
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 256
    init_seed: int = 0


def build_tokenizer(corpus: Iterable[str], vocab_size: int):
    """Byte-level BPE trained on ``corpus``; digits are always single tokens; EOS doubles as padding.

    Byte-level: any text can be encoded (no unknown token), and decoding gives the text back.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(corpus), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS, pad_token=EOS, padding_side="left")


def build_model(spec: TinySpec, vocab_size: int, eos_token_id: int):
    """An untrained Qwen2 causal LM of ``spec``'s shape; weights drawn from ``spec.init_seed``."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=eos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=eos_token_id,
    )
    torch.manual_seed(spec.init_seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.pad_token_id = eos_token_id
    model.generation_config.eos_token_id = eos_token_id
    return model


def _key(corpus: list[str], spec: TinySpec) -> str:
    digest = hashlib.sha256(json.dumps([BUILD_VERSION, asdict(spec), corpus]).encode("utf-8"))
    return digest.hexdigest()[:16]


def tiny_model_dir(corpus: Iterable[str], spec: TinySpec = TinySpec(), root: Path | None = None) -> Path:
    """Directory of the cached tiny model for ``corpus`` and ``spec``, built once when missing (``build_once``)."""
    corpus = list(corpus)
    root = Path(root) if root is not None else cache_root()
    target = root / f"tiny-qwen2-{_key(corpus, spec)}"

    def build(folder: Path) -> None:
        tokenizer = build_tokenizer(corpus, spec.vocab_size)
        model = build_model(spec, len(tokenizer), tokenizer.eos_token_id)
        tokenizer.save_pretrained(folder)
        model.save_pretrained(folder)

    build_once(target, lambda entry: (entry / "config.json").exists() and (entry / "tokenizer.json").exists(), build)
    return target


def count_parameters(model) -> int:
    """Distinct parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
