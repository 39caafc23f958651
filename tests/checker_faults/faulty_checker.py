"""A checker target for tests/test_rewards_checker_failures.py, imported by checker children only (this folder is
put on their PYTHONPATH): the real ``cluster_keys_in_process``, but for keys that say how to fail."""

from __future__ import annotations

import hashlib
import os
import signal
import time

from verl_ext.rewards import equivalence, isolation


def _raises() -> None:
    raise ValueError("an injected failure")


def _spins() -> None:
    while True:  # Python code: the step's CPU timer interrupts it
        pass


FAIL_ON_PARSE = {
    "boom-raises": _raises,
    "boom-memory": lambda: bytearray(64 * 1024**3),  # past the child's address-space limit: MemoryError
    "boom-killed": lambda: os.kill(os.getpid(), signal.SIGKILL),
    "boom-exits": lambda: os._exit(3),
    "boom-spins": _spins,
    "boom-stuck-in-c": lambda: hashlib.pbkdf2_hmac("sha256", b"x", b"y", 10**9),  # minutes without Python code
    "boom-off-protocol": lambda: isolation._connection.send("not a (status, value) pair"),
}


def parse(key: str):
    if key in FAIL_ON_PARSE:
        FAIL_ON_PARSE[key]()
    return equivalence.parse_key(key)


def slow_same(a, b) -> bool:
    started = time.process_time()
    while time.process_time() - started < 0.6:
        pass
    return equivalence.equivalent(a, b)


def target(keys, *args):
    if isolation._connection is None:  # the warm-up: as the real checker
        return equivalence.cluster_keys_in_process(keys, *args)
    if "boom-garbage" in keys:
        return "no clusters at all"
    if "boom-garbage-progress" in keys:
        isolation.report_progress(("checked", 7, 0.0))  # cluster 7 of none
    if "boom-every-call" in keys:
        os.kill(os.getpid(), signal.SIGKILL)
    same = slow_same if "slow" in keys else equivalence.equivalent
    return equivalence.cluster_keys_in_process(keys, *args, parse=parse, same=same)
