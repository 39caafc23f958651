"""CPU seconds of this process and its children: the benchmarks' CPU figures beside wall time.

    start = cpu_start()
    ...                           # the work, in this process and any children it starts
    cpu_seconds = cpu_end() - start

The clock is this process's CPU time (``time.process_time``), plus its live children's (recursively; to the
nanosecond from the scheduler, ``/proc/PID/task/*/schedstat``, where readable, else psutil's clock ticks of
10 ms), plus that of children that ended and were reaped (``os.times``, clock ticks). A child that ends
during an interval counts once reaped; one not yet reaped does not.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def _process_cpu(process) -> float:
    """Its CPU seconds from the scheduler where readable; psutil's figure otherwise (0 if it has ended)."""
    import psutil

    try:
        return (
            sum(
                int((task / "schedstat").read_text().split()[0]) for task in Path(f"/proc/{process.pid}/task").iterdir()
            )
            / 1e9
        )
    except (OSError, ValueError, IndexError):
        try:
            times = process.cpu_times()
        except psutil.Error:
            return 0.0
        return times.user + times.system


def _children_cpu() -> float:
    """CPU seconds of this process's children: live ones and reaped ones."""
    import psutil

    live = sum(_process_cpu(child) for child in psutil.Process().children(recursive=True))
    reaped = os.times()
    return live + reaped.children_user + reaped.children_system


def cpu_start() -> float:
    """The clock at the start of an interval: children read first, so that reading them is not billed to it."""
    children = _children_cpu()
    return time.process_time() + children


def cpu_end() -> float:
    """The clock at the end of an interval: this process read first."""
    own = time.process_time()
    return own + _children_cpu()
