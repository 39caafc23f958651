"""Run a function in child processes with a hard CPU-time and memory bound.

Some work cannot be bounded inside the process: math-verify's equivalence check can spend minutes
(and gigabytes) in one C-level big-integer operation on an answer like ``9^{9^{9^{9}}}``, and its own
timeouts rely on ``signal.alarm``, which only works in the main thread. ``IsolatedCaller`` keeps a
small pool of long-lived child processes. Each call is bounded by the child's own CPU time, not by the
wall clock, so a loaded machine never turns a slow right answer into a timeout: before each call the
child arms a CPU-time interval timer (``ITIMER_PROF``, user + system time of the child) for ``timeout_s``
with SIGPROF left at its default action, so the kernel ends the child when it overruns, even inside one
C-level operation and without any Python code running; its ``RLIMIT_CPU`` soft limit (CPU seconds used
plus ``timeout_s``, rounded up to the next whole second) stays as a second kernel bound (SIGXCPU).
Such a call is answered ``timeout``; a fresh child replaces the dead one on demand. The parent only keeps a
wall-clock backstop (``WALL_BACKSTOP_FACTOR`` times the bound) for a child that stops without using CPU. Each
child also runs under an address-space limit, so a runaway computation fails with MemoryError there instead of
exhausting the machine.
An idle child found dead, a pre-started one included, is replaced by a fresh one; a fresh child that
cannot be started (spawn error, EOF or no answer at start-up) raises ``WorkerStartError`` from ``call``:
that is a failure of the machinery, not of the answer. Safe to use from many threads.
``shared_caller`` keeps one pool per process, target and bound for the reward modules.

A call made of many steps (the answer clusters of a group: one parse per answer, one comparison per pair) can
bound each step inside the child (``cpu_step``: a ``StepTimeout`` at the next Python instruction once the step
has used its CPU seconds, the kernel's end of the child shortly after, for a step stuck in C) and report each
result as it is decided (``report_progress``): a call that ends badly still returns the results reported
before (``CallResult.progress``), so that the caller knows which step failed and can go on from there.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_STARTUP_SECONDS = 120.0
WALL_BACKSTOP_FACTOR = 30.0
CHILD_MODULE = "verl_ext.rewards.isolated_child"


STEP_GRACE_S = 0.5
"""CPU seconds a ``cpu_step`` may overrun before the kernel ends the child (a step stuck in one C operation)."""


class WorkerStartError(RuntimeError):
    """A child process could not be started or did not report ready."""


class StepTimeout(BaseException):
    """A ``cpu_step`` used up its CPU seconds. A BaseException, not an Exception: library code that turns every
    Exception into a verdict (math-verify's ``verify`` returns False) lets it through."""


@dataclass(frozen=True)
class CallResult:
    """``status`` is "ok" (``value`` holds the return value), "timeout" or "error" (``message`` says why).

    ``progress``: what the target reported (``report_progress``) before it returned or failed, in order."""

    status: str
    value: Any = None
    message: str = ""
    progress: tuple = ()


_REPLY_STATUSES = ("ok", "error")
_PROGRESS = "progress"
_connection = None
"""The child's connection to its parent while it serves calls (None in any other process, and during warm-up)."""
_step_running = False


def report_progress(item: Any) -> None:
    """Send ``item`` (picklable) to the parent now, ahead of the call's reply; does nothing outside a child's call."""
    if _connection is not None:
        _connection.send((_PROGRESS, item))


def _raise_step_timeout(signum, frame) -> None:
    if _step_running:  # a timer that fires after the step ended (as it is disarmed) is ignored
        raise StepTimeout("step past its CPU time")


@contextmanager
def cpu_step(seconds: float) -> Iterator[None]:
    """Bound a block of a child's call by ``seconds`` of the child's CPU time: past them, ``StepTimeout`` is raised
    at the next Python instruction (a CPU-time interval timer, ``ITIMER_VIRTUAL``); past ``seconds + STEP_GRACE_S``
    (a C-level operation that never returns to Python), the kernel ends the child (``ITIMER_PROF``, whose expiry
    is fatal there), which the parent's ``call`` answers "timeout". The call's own bound keeps running across the
    block (it is never extended); steps do not nest. Outside a child's call (in-process use, warm-up) the block is
    not bounded."""
    global _step_running
    if _connection is None:
        yield
        return
    if _step_running:
        raise RuntimeError("cpu_step blocks do not nest")
    call_left, _ = signal.getitimer(signal.ITIMER_PROF)
    hard = seconds + STEP_GRACE_S if call_left <= 0 else min(seconds + STEP_GRACE_S, call_left)
    started = time.process_time()
    signal.signal(signal.SIGVTALRM, _raise_step_timeout)
    _step_running = True
    signal.setitimer(signal.ITIMER_PROF, hard)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    finally:
        _step_running = False
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        used = time.process_time() - started
        signal.setitimer(signal.ITIMER_PROF, max(call_left - used, 1e-3) if call_left > 0 else 0)


def _resolve(target: str):
    module_name, _, function_name = target.partition(":")
    return getattr(importlib.import_module(module_name), function_name)


def _child_main(conn, target: str, memory_mb: int | None, warm_up_args: tuple | None = None) -> None:
    """The child's loop: receive argument tuples, send back ("ok", value) or ("error", message).

    ``warm_up_args``: one call made before the child reports ready, so that lazy imports and caches
    are not billed to the first real call's time budget."""
    import resource

    if memory_mb:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a CPU overrun ends the child: no core file
    signal.signal(signal.SIGPROF, signal.SIG_DFL)  # an expired CPU timer ends the child (kernel default)
    fn = _resolve(target)
    if warm_up_args is not None:
        try:
            fn(*warm_up_args)
        except Exception:
            pass
    try:
        conn.send(("ready", None))
    except BrokenPipeError:  # the parent is gone (it exited before needing this child)
        return
    global _connection
    _connection = conn  # report_progress and cpu_step act from here on (not during the warm-up)
    while True:
        try:
            args = conn.recv()
        except EOFError:
            return
        if args is None:
            return
        cpu_seconds, args = args
        _limit_cpu_time(cpu_seconds)
        signal.setitimer(signal.ITIMER_PROF, cpu_seconds)
        try:
            reply = ("ok", fn(*args))
        except BaseException as exc:  # report every failure to the parent, never die silently
            reply = ("error", f"{type(exc).__name__}: {exc}")
        signal.setitimer(signal.ITIMER_PROF, 0)
        try:
            conn.send(reply)
        except BrokenPipeError:
            return


def _limit_cpu_time(seconds: float) -> None:
    """Let the kernel end this process once it has used ``seconds`` more CPU time (whole seconds, rounded up)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


class _Duplex:
    """Two one-way pipes seen as one connection (send on one, receive and poll on the other)."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        from multiprocessing.connection import Connection

        self._reader = Connection(read_fd, readable=True, writable=False)
        self._writer = Connection(write_fd, readable=False, writable=True)
        self.recv, self.poll, self.send = self._reader.recv, self._reader.poll, self._writer.send

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


class _Child:
    """A fresh interpreter (``python -m verl_ext.rewards.isolated_child``): no fork, no re-run of __main__."""

    def __init__(self, target: str, memory_mb: int | None, warm_up_args: tuple | None) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        command = [sys.executable, "-m", CHILD_MODULE, target, str(to_child_r), str(from_child_w), str(memory_mb or 0)]
        if warm_up_args is not None:
            command.append(json.dumps(list(warm_up_args)))
        try:
            self.process = subprocess.Popen(command, pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL)
        except OSError as exc:
            for fd in (to_child_r, to_child_w, from_child_r, from_child_w):
                os.close(fd)
            raise WorkerStartError(f"cannot start the isolated worker for {target}: {exc}") from exc
        os.close(to_child_r)
        os.close(from_child_w)
        self.conn = _Duplex(from_child_r, to_child_w)
        self.target = target
        self.ready = False

    def wait_ready(self) -> None:
        """Block until the child reports ready (once); WorkerStartError if it does not."""
        if self.ready:
            return
        target = self.target
        try:
            if not self.conn.poll(_STARTUP_SECONDS):
                raise WorkerStartError(f"isolated worker for {target} did not start within {_STARTUP_SECONDS:.0f} s")
            status, _ = self.conn.recv()
            if status != "ready":
                raise WorkerStartError(f"isolated worker for {target} sent {status!r} instead of 'ready'")
        except (EOFError, OSError) as exc:
            self.kill()
            raise WorkerStartError(f"isolated worker for {target} died at start-up: {type(exc).__name__}") from exc
        except WorkerStartError:
            self.kill()
            raise
        self.ready = True

    def is_alive(self) -> bool:
        return self.process.poll() is None

    def ran_out_of_cpu(self) -> bool:
        """Whether the child was ended by its CPU timer (SIGPROF) or its RLIMIT_CPU (SIGXCPU)."""
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return False
        return code in (-signal.SIGPROF, -signal.SIGXCPU)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=5)
        self.conn.close()


MAX_POOL_SIZE = 4


def default_pool_size() -> int:
    """Children of a pool unless told otherwise (and threads worth feeding one): ``min(MAX_POOL_SIZE, cores)``."""
    return min(MAX_POOL_SIZE, os.cpu_count() or 1)


class IsolatedCaller:
    """Call ``target`` ("module:function", importable in a fresh interpreter) in child processes."""

    def __init__(
        self,
        target: str,
        timeout_s: float,
        memory_mb: int | None = 2048,
        max_children: int | None = None,
        warm_up_args: tuple | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.target = target
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.warm_up_args = warm_up_args
        size = max_children or default_pool_size()
        self._slots = threading.BoundedSemaphore(size)
        self._idle: queue.SimpleQueue[_Child] = queue.SimpleQueue()

    def prestart(self) -> None:
        """Launch one child now without waiting for it (it imports and warms up while the caller works);
        the first ``call`` waits for it to be ready. Raises WorkerStartError when it cannot be spawned."""
        self._idle.put(_Child(self.target, self.memory_mb, self.warm_up_args))

    def _replace(self) -> None:
        """Launch a replacement for a child that died, so that it warms up before the next call."""
        try:
            self.prestart()
        except WorkerStartError:
            pass  # the next call tries again and reports it

    def _take_child(self) -> _Child:
        """An idle child, once it is ready and alive; else a fresh one. An idle child that died or never
        reported ready (a pre-started child killed by the OOM killer, say) is replaced, not reported:
        only a fresh child that cannot start raises WorkerStartError."""
        try:
            child = self._idle.get_nowait()
        except queue.Empty:
            child = None
        if child is not None:
            try:
                child.wait_ready()  # at once for a child that already reported ready
            except WorkerStartError:
                pass  # wait_ready ended it
            else:
                if child.is_alive():
                    return child
                child.kill()
        child = _Child(self.target, self.memory_mb, self.warm_up_args)
        child.wait_ready()
        return child

    def call(self, *args: Any, timeout_s: float | None = None) -> CallResult:
        """Run ``target(*args)`` in a child, under ``timeout_s`` CPU seconds (default: the caller's ``timeout_s``);
        never raises for the target's own failures. A reply outside the protocol (``report_progress`` items, then
        ("ok", value) or ("error", message)) ends the child and is answered "error".

        Raises WorkerStartError when no child can be started (the caller decides what that means)."""
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        with self._slots:
            child = self._take_child()
            backstop = max(WALL_BACKSTOP_FACTOR * timeout_s, 10.0)
            deadline = time.monotonic() + backstop
            progress: list[Any] = []

            def ended(status: str, message: str) -> CallResult:
                child.kill()
                self._replace()
                return CallResult(status, message=message, progress=tuple(progress))

            try:
                child.conn.send((timeout_s, args))
                while True:
                    if not child.conn.poll(max(deadline - time.monotonic(), 0.0)):
                        return ended("timeout", f"no answer within {backstop:.0f} s of wall time")
                    reply = child.conn.recv()
                    if not (isinstance(reply, tuple) and len(reply) == 2):
                        return ended("error", f"malformed reply: not a (status, value) pair: {type(reply).__name__}")
                    status, value = reply
                    if status != _PROGRESS:
                        break
                    progress.append(value)
            except (EOFError, OSError) as exc:
                if child.ran_out_of_cpu():
                    return ended("timeout", f"more than {timeout_s} s of CPU time")
                return ended("error", f"worker died: {type(exc).__name__}: {exc}")
            except Exception as exc:  # a reply that cannot be unpickled: the child is not trusted any more
                return ended("error", f"malformed reply: {type(exc).__name__}: {exc}")
            if status not in _REPLY_STATUSES:
                return ended("error", f"malformed reply: unknown status {status!r}")
            self._idle.put(child)
            if status == "ok":
                return CallResult("ok", value=value, progress=tuple(progress))
            return CallResult("error", message=str(value), progress=tuple(progress))

    def close(self) -> None:
        """Stop every idle child (busy ones stop when their call ends and the pool is gone)."""
        while True:
            try:
                child = self._idle.get_nowait()
            except queue.Empty:
                return
            child.kill()


_shared_lock = threading.Lock()


def _fresh_lock_in_forked_child() -> None:
    """A forked process starts with a free ``_shared_lock``: a fork taken while another thread held it would
    otherwise leave the child's copy locked for ever."""
    global _shared_lock
    _shared_lock = threading.Lock()


os.register_at_fork(after_in_child=_fresh_lock_in_forked_child)


def shared_caller(pools: dict, target: str, timeout_s: float, warm_up_args: tuple | None = None) -> IsolatedCaller:
    """This process's pool of children for ``target`` under ``timeout_s`` (default size, children started
    on demand), made on first use and kept in ``pools``, the calling module's dict (so that a test can set
    one module's pools aside).

    Keyed by process id as well: a forked process inherits ``pools`` but must not use its parent's
    children (both processes would share their pipes and read each other's answers): it gets its own."""
    key = (os.getpid(), target, timeout_s)
    with _shared_lock:
        if key not in pools:
            pools[key] = IsolatedCaller(target, timeout_s=timeout_s, warm_up_args=warm_up_args)
        return pools[key]


def child_entry(argv: list[str]) -> None:
    """``python -m verl_ext.rewards.isolated_child TARGET READ_FD WRITE_FD MEMORY_MB [WARM_UP_JSON]``."""
    target, read_fd, write_fd, memory_mb = argv[:4]
    warm_up = tuple(json.loads(argv[4])) if len(argv) > 4 else None
    _child_main(_Duplex(int(read_fd), int(write_fd)), target, int(memory_mb) or None, warm_up)
