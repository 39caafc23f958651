"""THE registry of sets: name -> data_source, size, default local source, supported Hub ids, selection.

Evaluation data_source names are the paper's benchmark names, so veRL's validation metrics read
``val-core/AIME2024/...``. Training sets use ``math`` (the release's own deepscaler_17k value, which
veRL's default reward also understands).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The release files this repository carries: each set's default local source.
from data_prep.carried import carried_path


@dataclass(frozen=True)
class HubSpec:
    """A Hub dataset: repo id, the configs to concatenate (None = default), and the split."""

    repo: str
    configs: tuple[str | None, ...] = (None,)
    split: str = "train"

    def __str__(self) -> str:
        configs = ",".join(c for c in self.configs if c)
        return self.repo + (f":{configs}" if configs else "") + f"@{self.split}"


@dataclass(frozen=True)
class SetSpec:
    """One set.

    ``size``: rows the output must have. ``raw_rows``: rows a raw (unprocessed) source must have,
    where that is fixed. ``selection``: None (every row), ``index`` (deepscaler_17k's shipped row
    list) or ``fingerprint`` (math_train's shipped problem hashes). ``hub[0]`` is the default Hub id.
    """

    name: str
    data_source: str
    split: str
    size: int
    local: Path | None
    hub: tuple[HubSpec, ...]
    selection: str | None = None
    raw_rows: int | None = None

    @property
    def is_eval(self) -> bool:
        return self.split == "test"


def _raw(name: str) -> Path:
    return carried_path(f"raw/{name}")


def _processed(name: str) -> Path:
    return carried_path(f"datasets/{name}")


SETS: dict[str, SetSpec] = {
    s.name: s
    for s in (
        SetSpec(
            "deepscaler_17k",
            "math",
            "train",
            17_000,
            _processed("deepscaler_17k.parquet"),
            (HubSpec("agentica-org/DeepScaleR-Preview-Dataset"),),
            selection="index",
            raw_rows=40_315,
        ),
        SetSpec(
            "math_train",
            "math",
            "train",
            7_470,
            _processed("math_train.parquet"),
            (
                HubSpec("DigitalLearningGmbH/MATH-lighteval"),
                HubSpec(
                    "EleutherAI/hendrycks_math",
                    (
                        "algebra",
                        "counting_and_probability",
                        "geometry",
                        "intermediate_algebra",
                        "number_theory",
                        "prealgebra",
                        "precalculus",
                    ),
                ),
            ),
            selection="fingerprint",
            raw_rows=7_500,
        ),
        SetSpec(
            "aime2024",
            "AIME2024",
            "test",
            30,
            _raw("aime2024.json"),
            (HubSpec("HuggingFaceH4/aime_2024"), HubSpec("Maxwell-Jia/AIME_2024")),
        ),
        SetSpec(
            "aime2025",
            "AIME2025",
            "test",
            30,
            None,
            (
                HubSpec("math-ai/aime25", split="test"),
                HubSpec("yentinglin/aime_2025"),
                HubSpec("opencompass/AIME2025", ("AIME2025-I", "AIME2025-II"), "test"),
            ),
        ),
        SetSpec("amc2023", "AMC2023", "test", 83, _raw("amc2023.json"), (HubSpec("AI-MO/aimo-validation-amc"),)),
        SetSpec(
            "math500", "MATH500", "test", 500, _raw("math500.json"), (HubSpec("HuggingFaceH4/MATH-500", split="test"),)
        ),
        SetSpec(
            "minerva", "Minerva", "test", 272, _raw("minerva.json"), (HubSpec("math-ai/minervamath", split="test"),)
        ),
        SetSpec(
            "olympiadbench",
            "OlympiadBench",
            "test",
            675,
            _raw("olympiad_bench.json"),
            (HubSpec("Hothan/OlympiadBench", ("OE_TO_maths_en_COMP",)),),
        ),
    )
}
TRAIN_SETS = tuple(n for n, s in SETS.items() if not s.is_eval)
EVAL_SETS = tuple(n for n, s in SETS.items() if s.is_eval)


def hub_spec(spec: SetSpec, repo: str, config: str | None, split: str | None) -> HubSpec:
    """The HubSpec for ``repo`` as this set knows it, with an explicit config/split overriding."""
    known = next((h for h in spec.hub if h.repo.lower() == repo.lower()), None)
    configs = (config,) if config else (known.configs if known else (None,))
    return HubSpec(repo, configs, split or (known.split if known else "train"))
