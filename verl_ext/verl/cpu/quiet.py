"""Warnings a CPU run gets about veRL's, torch's and Ray's own choices, silenced in every process of the run, and
the one note the launcher prints about them instead (``EXPLANATION``).

:func:`silence_known_warnings` (the CPU backend calls it in the driver and in every Ray worker, as the verl-ext
plugin loads, before veRL imports its engines) ignores exactly these, each a choice of the library that warns,
none a problem of the run:

* ``"<name> engine is not available: ModuleNotFoundError(...)"``: ``verl.workers.engine`` tries each optional
  training engine (TorchTitan, VeOmni, Automodel, MindSpeed, Megatron) and warns for each one not installed, in
  every process (about 40 lines a run); a CPU run uses veRL's FSDP engine only. An engine that is installed but
  fails to import (any other ImportError) still warns.
* ``"Disabled critic as algorithm.adv_estimator != gae"`` (three times a run): GRPO has no critic, by design.
* ``"Function 'verl.utils.import_utils.load_extern_type' is deprecated"``: veRL 0.9.1 loads the recipe's custom
  sampler (``trainer.v1.sampler.custom_sampler``) through its own deprecated helper.
* ``"'set_vital' is deprecated"``: torchdata's StatefulDataLoader, which veRL uses, calls a removed torch function.
* Ray's ``"Using blocking ray.get inside async actor"``: veRL's own async actors call ``ray.get``; Ray's switch
  ``RAY_WARN_BLOCKING_GET_INSIDE_ASYNC=0`` (read at each call) turns the notice off.

veRL's INFO line "Platform override from VERL_PLATFORM: cpu" (in every process: the launcher's own setting echoed
back) is dropped by raising that one logger to WARNING, unless ``VERL_LOGGING_LEVEL`` asks for veRL's logging.

Ray's notice that it enabled token authentication is not shown because the launcher's supervisor sets the mode
explicitly (``verl_ext.verl.cpu.supervise``); ``--cfg job`` names a platform so that veRL does not probe for an
accelerator (``run_grpo.sh``).
"""

from __future__ import annotations

import logging
import os
import warnings

ABSENT_ENGINE_WARNING = r"\w+ engine is not available: ModuleNotFoundError"
# (message regex, category) of each silenced warning; the regex matches the start of the message.
KNOWN_WARNINGS = (
    (ABSENT_ENGINE_WARNING, UserWarning),
    (r"Disabled critic as algorithm\.adv_estimator != gae", UserWarning),
    (r"Warning: Function 'verl\.utils\.import_utils\.load_extern_type' is deprecated", FutureWarning),
    (r"'set_vital' is deprecated", UserWarning),
)
RAY_BLOCKING_GET_SWITCH = "RAY_WARN_BLOCKING_GET_INSIDE_ASYNC"
PLATFORM_LOGGER = "verl.plugin.platform.platform_manager"
EXPLANATION = (
    "veRL's, torch's and Ray's warnings about their own choices are silenced in every process of a CPU run: veRL's "
    "optional training engines not installed (Megatron, MindSpeed, TorchTitan, VeOmni, Automodel; a CPU run uses "
    "FSDP), 'Disabled critic' (GRPO has none), load_extern_type and torch's set_vital deprecated (veRL's and "
    "torchdata's calls), Ray's blocking ray.get inside veRL's async actors and its token-authentication notice "
    "(the run's local Ray instance gets its own token)"
)


def silence_absent_engines() -> None:
    """Ignore veRL's "<engine> engine is not available: ModuleNotFoundError" warnings in this process."""
    warnings.filterwarnings("ignore", message=ABSENT_ENGINE_WARNING, category=UserWarning)


def silence_known_warnings() -> None:
    """Ignore every warning of ``KNOWN_WARNINGS`` in this process, and Ray's blocking-get notice."""
    for message, category in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    os.environ.setdefault(RAY_BLOCKING_GET_SWITCH, "0")


def quiet_platform_override() -> None:
    """veRL's platform manager logs at WARNING or above only (after its module set its level from
    ``VERL_LOGGING_LEVEL``, default INFO); nothing changes when the user set ``VERL_LOGGING_LEVEL``."""
    if "VERL_LOGGING_LEVEL" not in os.environ:
        logging.getLogger(PLATFORM_LOGGER).setLevel(logging.WARNING)
