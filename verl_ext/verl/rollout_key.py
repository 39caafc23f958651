"""veRL 0.9.1's rollout key, ``{prompt uid}_{session id}_{index}`` (the agent loop's key in TransferQueue, and the
``uid`` of each record of its generation dumps), read apart. Standard library only: offline readers use it too."""

from __future__ import annotations

import re

_ROLLOUT_KEY = re.compile(r"[^_]+_\d+_\d+")


def is_rollout_key(text: str) -> bool:
    """Whether ``text`` has the rollout key's form (a uid without ``_``, then two integers)."""
    return _ROLLOUT_KEY.fullmatch(text) is not None


def prompt_uid(key: str) -> str:
    """The prompt uid of a rollout key (veRL's own ``key.split("_")[0]``)."""
    return key.split("_")[0]


def session_and_index(key: str) -> tuple[int, int]:
    """(session id, index) of a rollout key; ValueError naming the key when it has not the form."""
    parts = key.rsplit("_", 2)
    try:
        return int(parts[1]), int(parts[2])
    except (IndexError, ValueError):
        raise ValueError(f"rollout key {key!r} is not '{{uid}}_{{session_id}}_{{index}}'") from None
