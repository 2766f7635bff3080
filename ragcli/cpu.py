"""How many CPU threads to compute with: the cores this process may use, minus busy ones.

Thread pools that spin while they wait (llama.cpp's OpenMP team, onnxruntime's intra-op
pool) are fastest on an idle machine and worst on a busy one: when another process holds a
core, a team of as many threads as cores waits at every barrier for the thread that is not
running, and burns the cycles the others need. So unless the user fixed a thread count, the
count follows what is free when work starts: the cores this process may run on (its CPU
affinity, so `taskset` and container limits count) minus the tasks of other processes that
are running now.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

# Samples of the run queue taken to judge how busy the machine is, and the pause between
# them: a median over a few milliseconds ignores a task that only passes through.
_SAMPLES = 5
_PAUSE_S = 0.002


def usable_cores() -> int:
    """Return how many CPUs this process may run on (its affinity mask when known)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def busy_elsewhere(proc: Path = Path("/proc")) -> int | None:
    """Return how many tasks of other processes are running now, None where unknown.

    The kernel's count of runnable tasks (`procs_running` in /proc/stat) minus this
    process's own running threads, as the median of a few samples.
    """
    counts = []
    for sample in range(_SAMPLES):
        if sample:
            time.sleep(_PAUSE_S)
        running = _procs_running(proc / "stat")
        if running is None:
            return None
        counts.append(max(0, running - _own_running(proc / "self" / "task")))
    return int(statistics.median_low(counts))


def _procs_running(stat: Path) -> int | None:
    try:
        with stat.open("rb") as lines:
            for line in lines:
                if line.startswith(b"procs_running "):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _own_running(tasks: Path) -> int:
    """Count this process's threads in state R (one at least: the one asking)."""
    running = 0
    try:
        for task in tasks.iterdir():
            try:
                stat = (task / "stat").read_bytes()
            except OSError:
                continue  # the thread ended meanwhile
            # The name in parentheses may hold spaces and ')': the state follows the last ')'.
            state = stat.rfind(b")") + 2
            if stat[state : state + 1] == b"R":
                running += 1
    except OSError:
        return 1
    return max(1, running)


def free_threads(requested: int | None = None) -> int:
    """Return the thread count to compute with: the requested one, else the free cores.

    With nothing else running this is every usable core; each other running task takes one
    away, down to one thread.
    """
    if requested:
        return requested
    cores = usable_cores()
    busy = busy_elsewhere()
    if busy is None:
        return cores
    return max(1, min(cores, cores - busy))


# The niceness bulk embedding runs at: an interactive `ask` or `search` (or anything else the
# user runs) then gets about nine tenths of a core the two share, while on an idle machine
# the embedding runs exactly as fast.
BACKGROUND_NICE = 10


def run_in_background() -> None:
    """Lower this thread's CPU priority to BACKGROUND_NICE (never raise it).

    On Linux the niceness belongs to the thread, and threads started afterwards by it (the
    thread pools of onnxruntime, torch and FAISS) inherit it, so call this before the pools
    start. A process cannot raise its priority again without privileges: only bulk work
    that ends the process (ingest, index) calls it.
    """
    try:
        current = os.getpriority(os.PRIO_PROCESS, 0)
        if current < BACKGROUND_NICE:
            os.setpriority(os.PRIO_PROCESS, 0, BACKGROUND_NICE)
    except (AttributeError, OSError):
        pass  # no priorities here, or not allowed: embedding runs as before
