"""veRL 0.9.1 and TRL >= 1.16 in one environment.

veRL's ``apply_monkey_patch`` (every FSDP worker, at model build) does ``from trl import
AutoModelForCausalLMWithValueHead`` whenever ``is_trl_available()``, i.e. whenever TRL is importable at
all. TRL 1.16 no longer ships that class (neither in ``trl`` nor in ``trl.experimental.ppo``), so with the
``[trl]`` extra installed veRL's workers crash at start. veRL only ever uses TRL for that class (its
state_dict patch and value-head model loading), so :func:`apply` narrows veRL's ``is_trl_available`` to
"TRL is importable *and* provides ``AutoModelForCausalLMWithValueHead``". Applied by the verl-ext plugin,
i.e. on ``import verl`` in the driver and in every Ray worker, before veRL's model code binds the name.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys

VALUE_HEAD_CLASS = "AutoModelForCausalLMWithValueHead"
VALUE_HEAD_MODULES = ("trl.experimental.ppo", "trl")
# veRL modules that bind ``is_trl_available`` by name (``from verl.utils.import_utils import ...``).
BINDING_MODULES = ("verl.models.transformers.monkey_patch", "verl.utils.model")


def trl_has_value_head() -> bool:
    """Whether the installed TRL provides ``AutoModelForCausalLMWithValueHead`` where veRL looks for it."""
    if importlib.util.find_spec("trl") is None:
        return False
    for module_name in VALUE_HEAD_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, VALUE_HEAD_CLASS):
            return True
    return False


def apply() -> None:
    """Replace veRL's ``is_trl_available`` by the narrowed check (idempotent, lazy: TRL is imported on first use)."""
    import verl.utils.import_utils as import_utils

    current = import_utils.is_trl_available
    if getattr(current, "verl_ext_trl_compat", False):
        return

    @functools.cache
    def is_trl_available() -> bool:
        return trl_has_value_head()

    is_trl_available.verl_ext_trl_compat = True
    import_utils.is_trl_available = is_trl_available
    for module_name in BINDING_MODULES:
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, "is_trl_available"):
            module.is_trl_available = is_trl_available
