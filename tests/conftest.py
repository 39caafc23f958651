"""Shared fixtures: the paper's release files (carried in release_data/), and a tiny local tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "e2e: runs veRL's real trainer end to end on the CPU (two launches, 3-6 minutes on 2 cores; "
        "-m 'not e2e' skips it)",
    )


@pytest.fixture(scope="session")
def release_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The carried release files (release_data/), decompressed and checked against their SHA-256 manifest,
    in the release's own layout (``datasets/``, ``raw/``, ``logs/``, ``outputs/``, ``release/``)."""
    import sys

    sys.path.insert(0, str(REPO))
    from data_prep.carried import materialise

    return materialise(tmp_path_factory.mktemp("release"))


@pytest.fixture(scope="session")
def labelled_outputs(release_dir: Path) -> list[tuple[dict, dict]]:
    """(label, output) for each line of the release's ``reference_labels.jsonl``: its reward code's verdicts."""
    import json

    outputs, files = release_dir / "outputs", {}
    pairs = []
    for line in (outputs / "reference_labels.jsonl").read_text(encoding="utf-8").splitlines():
        label = json.loads(line)
        key = (label["run"], label["step"], label["bench"])
        if key not in files:
            (path,) = (outputs / label["run"] / str(label["step"])).glob(f"res*_{label['bench']}.json")
            files[key] = json.loads(path.read_text(encoding="utf-8"))
        pairs.append((label, files[key][label["idx"]]))
    return pairs


@pytest.fixture(scope="session")
def parse_expr_accepts():
    """The reference verdict: does sympy's own ``parse_expr`` (which evals) accept a normalised text?
    Only for fixed or generated math text in tests, never for live model output."""

    def accepts(text: str) -> bool:
        from sympy.parsing import sympy_parser

        from verl_ext.rewards.expression import inert_namespace

        transformations = sympy_parser.standard_transformations + (sympy_parser.implicit_multiplication_application,)
        try:
            sympy_parser.parse_expr(text.replace("^", "**"), dict(inert_namespace()), transformations)
        except Exception:
            return False
        return True

    return accepts


def build_tiny_tokenizer(directory: Path) -> Path:
    """A character-level fast tokenizer (printable ASCII + a few specials), saved in ``directory``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<eos>", "<unk>"]
    vocab = {token: i for i, token in enumerate(specials)}
    for code in range(32, 127):
        vocab.setdefault(chr(code), len(vocab))
    vocab.setdefault("\n", len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )
    fast.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    fast.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_tokenizer(tmp_path_factory.mktemp("tiny_tokenizer"))


@pytest.fixture(scope="session")
def launcher_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for recipe launcher subprocesses: PYTHON is this interpreter, and PATH finds no python or ray
    of any environment (decoys that fail loudly come first; this interpreter's bin directory is left out), so a
    test passes only if the launcher uses $PYTHON for everything."""
    import os
    import sys

    decoys = tmp_path_factory.mktemp("decoy_bin")
    for name in ("python", "python3", "ray"):
        decoy = decoys / name
        decoy.write_text(f"#!/bin/sh\necho 'decoy {name} on PATH: use $PYTHON' >&2\nexit 97\n")
        decoy.chmod(0o755)
    python_bin = os.path.dirname(sys.executable)
    kept = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and d != python_bin and "pyenv" not in d]
    return {**os.environ, "PATH": os.pathsep.join([str(decoys), *kept]), "PYTHON": sys.executable}
