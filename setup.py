"""verl-ext: label-free RL rewards for math reasoning, as an extension of stock veRL 0.9."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = "0.1.0"

setup(
    name="verl-ext",
    version=VERSION,
    description="Surrogate rewards (format, length) for GRPO on math without ground truth: a veRL 0.9 plugin",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10,<3.13",
    # verl_ext.demo.data holds data only (no __init__.py): listed as a package of its own, as setuptools asks
    packages=[*find_packages(include=["verl_ext", "verl_ext.*"]), "verl_ext.demo.data"],
    include_package_data=True,
    package_data={"verl_ext.demo.data": ["*.jsonl", "*.md"]},
    install_requires=[
        "verl>=0.9.1,<0.10",
        # hydra (veRL) pins antlr4 4.9.x, and math-verify's LaTeX parser (latex2sympy2_extended) takes 4.9.3 to
        # 4.13.2: pinned here directly. Not through math-verify's `antlr4-9-3` extra: that extra asks for
        # latex2sympy2_extended[antlr4_9_3], a spelling pip 23.0 does not match (it warns and leaves antlr4 free).
        "math-verify>=0.8",
        "antlr4-python3-runtime==4.9.3",
        "sympy>=1.12",
        "pylatexenc>=2.10",
        "hydra-core>=1.3",
        "ray>=2.41",
        "pandas>=2.0",
        "pyarrow>=19.0",
        "tqdm",
        "psutil",  # the CPU backend (verl_ext/verl/cpu): host memory for veRL's device queries
        "matplotlib>=3.7",
        # veRL 0.9's V1 trainer (used by the recipe's diagnostics sampler) needs these from verl[verl-core]
        "TransferQueue>=0.1.10",
        "cachetools",
        "fastapi",
        "uvicorn",
    ],
    extras_require={
        # setuptools: tests/test_packaging.py builds with it; hypothesis: tests/test_format_fuzz.py;
        # pytest-xdist: the README's test command runs on every core (-n auto --dist loadgroup)
        "test": ["pytest>=8", "pytest-asyncio", "setuptools", "hypothesis", "pytest-xdist>=3.6"],
        "trl": ["trl>=1.16"],  # the demo's diagnostics use GRPOTrainer's log_metric hook
        # GPU nodes: the versions veRL 0.9.1 itself pins for its vLLM path (its `vllm` extra) and its
        # flash-attn build (its `flash-attn-cu130torch211` extra). pip ignores veRL's uv sources: install torch
        # from the cu130 index and flash-attn's prebuilt wheel first (recipe/format_length/README.md, "Set up a
        # GPU node"), then -e ".[gpu]" finds both satisfied.
        "gpu": [
            "verl[vllm]==0.9.1",
            "vllm==0.24.0",
            "torch==2.11.0",
            "transformers==5.9.0",
            "flash-attn==2.8.3",
        ],
    },
    entry_points={
        "verl.plugins": ["verl_ext = verl_ext.verl.plugin"],
        "console_scripts": ["verl-ext = verl_ext.cli:main"],
    },
)
