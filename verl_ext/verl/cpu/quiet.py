"""Silence veRL's warnings about optional training engines that a CPU run neither has nor needs.

``verl.workers.engine`` tries to import each of its optional engines (TorchTitan, VeOmni, Automodel,
MindSpeed, Megatron) and warns ``"<name> engine is not available: ModuleNotFoundError(...)"`` for each one
missing, in every process that imports it: about 40 alarming lines in one ``run_grpo.sh scale=cpu`` run,
which uses veRL's FSDP engine only. :func:`silence_absent_engines` ignores exactly those warnings in the
calling process (the CPU backend calls it in the driver and in every Ray worker, before veRL imports
its engines); an engine that is installed but fails to import (any other ImportError) still warns.
"""

from __future__ import annotations

import warnings

ABSENT_ENGINE_WARNING = r"\w+ engine is not available: ModuleNotFoundError"
EXPLANATION = (
    "veRL warns in every process that its optional training engines (Megatron, MindSpeed, TorchTitan, VeOmni, "
    "Automodel) are not installed: expected on a CPU, which uses veRL's FSDP engine only; those warnings are silenced"
)


def silence_absent_engines() -> None:
    """Ignore veRL's "<engine> engine is not available: ModuleNotFoundError" warnings in this process."""
    warnings.filterwarnings("ignore", message=ABSENT_ENGINE_WARNING, category=UserWarning)
