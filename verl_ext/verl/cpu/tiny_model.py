"""The tiny local Qwen2 of the ``scale=cpu`` recipe: verl-ext's tiny-model builder (``verl_ext.models.tiny``, as the
demo's students), a chat template, a longer context.

``python -m verl_ext.verl.cpu.tiny_model`` prints the directory (built once, cached like the demo's
model under ``$VERL_EXT_CACHE``); nothing is downloaded. The tokenizer is the demo's byte-level BPE
(trained on the demo's bundled problems: any text encodes, long texts take many tokens; the one import of
the demo here, lazy: the corpus is part of the cache key, so cached models stay valid); the chat
template is the minimal ``<role>: <content>`` one veRL needs to turn the recipe's chat prompts into ids.
"""

from __future__ import annotations

import sys
from pathlib import Path

from verl_ext.models.cache import entry_lock
from verl_ext.models.tiny import TinySpec, tiny_model_dir

# Real math prompts run to a few hundred byte-level tokens: a longer context than the demo's.
CPU_RECIPE_SPEC = TinySpec(max_position_embeddings=1024)
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def saved_chat_template(directory: Path) -> str | None:
    """The chat template a saved tokenizer carries, read from its files as transformers writes them
    (``chat_template.jinja``, or the ``chat_template`` field of ``tokenizer_config.json``); None without one."""
    import json

    jinja = directory / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    try:
        return json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8")).get("chat_template")
    except (OSError, ValueError):
        return None


def recipe_model_dir(root: Path | None = None) -> Path:
    """The cached model directory, with the chat template set (built when missing). A cached model whose files hold
    the template is returned without loading transformers (a launch calls this every time)."""
    from verl_ext.demo.problems import load_problems
    from verl_ext.demo.warmup import tokenizer_corpus

    directory = tiny_model_dir(tokenizer_corpus(load_problems()), CPU_RECIPE_SPEC, root)
    if saved_chat_template(directory) == CHAT_TEMPLATE:
        return directory
    with entry_lock(directory):  # one process writes the template; another asking meanwhile waits, then reads it
        if saved_chat_template(directory) != CHAT_TEMPLATE:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(directory)
            tokenizer.chat_template = CHAT_TEMPLATE
            tokenizer.save_pretrained(directory)
    return directory


def main() -> int:
    """Print the model's folder, nothing else: the launcher reads it, and transformers' progress bar of the first
    build ("Writing model shards") would only be noise on the user's terminal."""
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # read by transformers when it is imported
    print(recipe_model_dir())
    return 0


if __name__ == "__main__":
    sys.exit(main())
