"""The correctness child is bounded by its own CPU time, not by the wall clock (issue 10, item 4)."""

from __future__ import annotations

import time

from verl_ext.rewards.isolation import IsolatedCaller


def test_waiting_without_cpu_is_not_a_timeout():
    # 2.5 s of wall time but no CPU time: a loaded machine looks like this to the child
    caller = IsolatedCaller("time:sleep", timeout_s=1.0, max_children=1)
    try:
        result = caller.call(2.5)
    finally:
        caller.close()
    assert result.status == "ok"


def test_cpu_overrun_inside_one_c_operation_is_a_timeout():
    caller = IsolatedCaller("builtins:pow", timeout_s=1.0, max_children=1)
    start = time.monotonic()
    try:
        result = caller.call(10, 10**9)  # one C-level big-integer power: minutes of CPU
        assert caller.call(2, 10).value == 1024  # a fresh child replaces the one the kernel ended
    finally:
        caller.close()
    assert result.status == "timeout" and "CPU" in result.message
    assert time.monotonic() - start < 60
