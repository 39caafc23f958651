"""A time bound for pure-Python work that runs in any thread (no ``signal.alarm``).

``call_with_deadline`` installs a per-thread trace hook (Python function calls only: no line,
return or C-call events, to keep the overhead low) that checks the calling thread's CPU time
(``time.thread_time``: other threads and a loaded machine do not eat the budget, so verdicts stay
stable under load) on every function call and aborts the work with ``DeadlineExceeded`` once the budget is spent. The exception
derives from BaseException so that library code with a broad ``except Exception`` cannot swallow it.
Long single C-level operations (a huge integer power, say) are not interruptible: callers must
reject such inputs before calling (see ``format.py``), or run the work in a child process
(``isolation.py``).
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TypeVar

T = TypeVar("T")


class DeadlineExceeded(BaseException):
    """Raised inside the bounded call when its time budget is spent."""


def _inside_import(frame) -> bool:  # noqa: ANN001 - a frame object
    """An import must never be cut short: it would leave a half-initialised module behind."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def call_with_deadline(fn: Callable[[], T], seconds: float, max_calls: int | None = None) -> T:
    """Return ``fn()``, or raise DeadlineExceeded once it has used ``seconds`` of this thread's CPU time
    or made more than ``max_calls`` Python function calls (a deterministic budget: the same input
    stops at the same point on any machine, under any load)."""
    clock = time.thread_time
    deadline = clock() + seconds
    calls = 0
    limit = max_calls if max_calls is not None else -1

    def hook(frame, event, arg):  # noqa: ANN001 - signature fixed by sys.settrace
        nonlocal calls
        calls += 1
        if (calls == limit or clock() > deadline) and not _inside_import(frame):
            raise DeadlineExceeded(f"exceeded {max_calls} calls or {seconds:.3f} s")
        return None  # no per-line tracing inside the frame

    previous = sys.gettrace()
    sys.settrace(hook)
    try:
        return fn()
    finally:
        sys.settrace(previous)
