"""The correctness child is bounded by its own CPU time, not by the wall clock (issue 10, item 4), and a call may
bring its own bound; one pool of children per process for each reward module (a forked process gets its own,
whatever its parent's threads held); a dead idle child is replaced, not reported; the format check's bounded-path
child starts when an answer first needs it."""

from __future__ import annotations

import json
import os
import signal
import time

import psutil
import pytest

from verl_ext.rewards import correctness, equivalence
from verl_ext.rewards import format as format_module
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


def test_a_call_may_bring_its_own_cpu_bound():
    caller = IsolatedCaller("builtins:pow", timeout_s=600.0, max_children=1)  # a bound no test could wait for
    try:
        result = caller.call(10, 10**9, timeout_s=1.0)
    finally:
        caller.close()
    assert result.status == "timeout" and "1.0 s of CPU" in result.message


# --- one pool per process for the reward modules (isolation.shared_caller) ------------------------

POOL_USERS = {
    "correctness": lambda: correctness._caller(correctness.DEFAULT_TIMEOUT_S),
    "equivalence": equivalence._caller,
    "format": format_module.bounded_caller,
}


def _in_a_forked_process(probe) -> dict:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the forked process: report, then leave without running pytest's exit handlers
        try:
            os.close(read_fd)
            os.write(write_fd, json.dumps(probe()).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reader:
        reply = reader.read()
    os.waitpid(pid, 0)
    return json.loads(reply)


@pytest.mark.parametrize("user", sorted(POOL_USERS))
def test_a_forked_process_gets_its_own_pool_of_children(user):
    pool = POOL_USERS[user]
    parents = pool()  # made before the fork: the forked process inherits it (no child is started here)

    def probe() -> dict:
        mine = pool()
        return {"parents_pool": mine is parents, "kept": pool() is mine}

    seen = _in_a_forked_process(probe)
    assert seen == {"parents_pool": False, "kept": True}
    assert pool() is parents  # the parent keeps its own


def test_a_fork_taken_while_another_thread_holds_the_pool_lock_still_gets_its_pool():
    import threading

    from verl_ext.rewards import isolation

    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with isolation._shared_lock:
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(10)
    try:

        def probe() -> dict:
            signal.alarm(10)  # a child stuck on its copy of the held lock ends here, and the parent reads no reply
            return {"pool": type(POOL_USERS["correctness"]()).__name__}

        assert _in_a_forked_process(probe) == {"pool": "IsolatedCaller"}
    finally:
        release.set()
        thread.join()


# --- an idle child that died is replaced by a fresh start ------------------------------------------


def _children_running(target: str) -> list[int]:
    """Process ids of this process's live children started for ``target``."""
    pids = []
    for process in psutil.Process().children():
        try:
            if target in process.cmdline() and process.status() != psutil.STATUS_ZOMBIE:
                pids.append(process.pid)
        except psutil.Error:
            pass
    return pids


def _wait_until_ended(pid: int) -> None:
    """Until the child ``pid`` has exited (a zombie: its parent, the caller, has not reaped it yet)."""
    try:
        process = psutil.Process(pid)
        while process.status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.01)
    except psutil.NoSuchProcess:
        pass


@pytest.mark.parametrize("when", ["pre-started, before it reported ready", "idle after a call"])
def test_a_killed_idle_child_is_replaced_by_a_fresh_one(when):
    target = "os:getpid"  # answers with the serving child's pid
    caller = IsolatedCaller(target, timeout_s=1.0, max_children=1)
    try:
        if when.startswith("pre-started"):
            caller.prestart()
        else:
            caller.call()
        [killed] = _children_running(target)
        os.kill(killed, signal.SIGKILL)  # as the OOM killer would
        _wait_until_ended(killed)
        result = caller.call()
        [replacement] = _children_running(target)
    finally:
        caller.close()
    assert result.status == "ok" and result.value == replacement != killed


# --- the format check's bounded path: its child starts on first need, not at warm-up ---------------


def test_the_format_checks_bounded_child_starts_with_the_first_answer_that_needs_it(monkeypatch):
    monkeypatch.setattr(format_module, "_warm", False)  # this process's warm-up and pools, as if new
    monkeypatch.setattr(format_module, "_callers", {})
    target = f"{format_module.__name__}:build_in_this_process"
    before = set(_children_running(target))  # other pools' children (none is ours)
    try:
        format_module.warm_up()
        after_warm_up = set(_children_running(target)) - before
        plain = format_module.check_format("so \\boxed{\\frac{1}{2}}")  # a fraction: built in this process
        after_plain = set(_children_running(target)) - before
        bounded = format_module.check_format("so \\boxed{\\sin(1)}")  # a function call: built in the child
        after_bounded = set(_children_running(target)) - before
    finally:
        for caller in format_module._callers.values():
            caller.close()
    assert (after_warm_up, after_plain) == (set(), set())
    assert len(after_bounded) == 1
    assert plain.well_formed and bounded.well_formed and not bounded.budget_exceeded
