"""The installed veRL checked against the internals a verl-ext component relies on, when it loads.

verl-ext touches public registries (platforms, rollout replicas, engines, trainers) and a few private names of
veRL 0.9.1. :func:`check_hooks` verifies the installed version and every one of a component's names up front, so
that a veRL upgrade that moved one fails at start-up with a message naming it and the supported version, never
mid-run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from packaging.version import Version

SUPPORTED_VERL = (Version("0.9.1"), Version("0.10"))  # [low, high)
SUPPORTED_TEXT = "veRL >=0.9.1,<0.10 (built and tested against 0.9.1)"

# (module or module.Class, attribute, check of the value, what verl-ext does with it)
Hook = tuple[str, str, Callable[[object], bool], str]


class UnsupportedVerlError(RuntimeError):
    """The installed veRL lacks an internal a verl-ext component needs."""


def is_dict(value: object) -> bool:
    return isinstance(value, dict)


def _resolve(path: str) -> object:
    """A module, or a class inside one (``package.module.Class``)."""
    try:
        return importlib.import_module(path)
    except ImportError:
        module_name, _, attribute = path.rpartition(".")
        if not module_name:
            raise
        return getattr(importlib.import_module(module_name), attribute)


def check_hooks(
    hooks: tuple[Hook, ...],
    component: str,
    supported: tuple[Version, Version] = SUPPORTED_VERL,
    supported_text: str = SUPPORTED_TEXT,
) -> None:
    """Raise :class:`UnsupportedVerlError` naming ``component`` and ``supported_text`` unless veRL's version lies in
    ``supported`` ([low, high)) and every hook in ``hooks`` resolves and passes its check."""
    import verl

    version = Version(getattr(verl, "__version__", "0"))
    low, high = supported
    if not low <= version < high:
        raise UnsupportedVerlError(f"{component} supports {supported_text}; veRL {version} is installed")
    problems = []
    for module_name, attribute, check, use in hooks:
        try:
            value = getattr(_resolve(module_name), attribute)
        except (ImportError, AttributeError) as error:
            problems.append(f"{module_name}.{attribute} ({use}): {type(error).__name__}: {error}")
            continue
        if not check(value):
            problems.append(f"{module_name}.{attribute} ({use}): unexpected {type(value).__name__}")
    if problems:
        raise UnsupportedVerlError(
            f"{component} supports {supported_text}; in the installed veRL {version} these internals moved: "
            + "; ".join(problems)
        )
