"""Thread counts that follow the free cores (ragcli/cpu.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from ragcli import cpu
from ragcli.options import llm_options
from ragcli.settings import defaults


def fake_proc(root: Path, procs_running: int, own_states: list[str]) -> Path:
    """A /proc with a run-queue count and this process's threads in the given states."""
    (root / "stat").write_text(f"cpu  1 2 3 4\nprocs_running {procs_running}\nprocs_blocked 0\n")
    for number, state in enumerate(own_states, start=1):
        task = root / "self" / "task" / str(number)
        task.mkdir(parents=True)
        # A thread name with a space and a parenthesis: the state follows the last ')'.
        task.joinpath("stat").write_text(f"{number} (py thr) x) {state} 1 1 1 0 -1\n")
    return root


def test_other_running_tasks_are_counted(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, procs_running=4, own_states=["R", "S", "R", "S"])
    assert cpu.busy_elsewhere(proc) == 2


def test_this_process_counts_itself_at_least_once(tmp_path: Path) -> None:
    # A sample may catch the reading thread between states; it still ran the read.
    proc = fake_proc(tmp_path, procs_running=1, own_states=["S"])
    assert cpu.busy_elsewhere(proc) == 0


def test_unknown_without_proc(tmp_path: Path) -> None:
    assert cpu.busy_elsewhere(tmp_path / "missing") is None


def test_garbled_stat_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "stat").write_text("procs_running lots\n")
    assert cpu.busy_elsewhere(tmp_path) is None


def test_requested_threads_are_kept() -> None:
    assert cpu.free_threads(3) == 3


def test_usable_cores_follow_the_affinity_mask() -> None:
    cores = cpu.usable_cores()
    assert 1 <= cores <= (os.cpu_count() or 1)
    if hasattr(os, "sched_getaffinity"):
        assert cores == len(os.sched_getaffinity(0))


@pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="needs Linux /proc")
def test_a_running_burner_takes_a_core_away() -> None:
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert cpu.busy_elsewhere() >= 1
        assert cpu.free_threads() <= max(1, cpu.usable_cores() - 1)
    finally:
        burner.kill()
        burner.wait()


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="needs thread priorities")
def test_background_priority_is_inherited_by_threads_started_later() -> None:
    import threading

    seen: dict[str, int] = {}

    def lowered() -> None:
        cpu.run_in_background()
        seen["self"] = os.getpriority(os.PRIO_PROCESS, 0)
        child = threading.Thread(
            target=lambda: seen.update(child=os.getpriority(os.PRIO_PROCESS, 0))
        )
        child.start()
        child.join()
        cpu.run_in_background()  # a second call never lowers it further
        seen["again"] = os.getpriority(os.PRIO_PROCESS, 0)

    before = os.getpriority(os.PRIO_PROCESS, 0)
    worker = threading.Thread(target=lowered)
    worker.start()
    worker.join()
    expected = max(before, cpu.BACKGROUND_NICE)
    assert seen == {"self": expected, "child": expected, "again": expected}
    assert os.getpriority(os.PRIO_PROCESS, 0) == before  # other threads keep theirs


@pytest.fixture()
def burner() -> object:
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.3)
    yield process
    process.kill()
    process.wait()


def _llama_threads(llm: object) -> tuple[int, int]:
    import llama_cpp

    context = llm._llama._ctx.ctx  # type: ignore[attr-defined]
    return llama_cpp.llama_n_threads(context), llama_cpp.llama_n_threads_batch(context)


@pytest.mark.e2e
@pytest.mark.skipif(
    cpu.usable_cores() < 2 or not Path("/proc/stat").is_file(),
    reason="needs 2 cores and Linux /proc",
)
def test_the_model_leaves_a_busy_core_alone_unless_threads_are_fixed(burner: object) -> None:
    from ragcli.bundled import bundled_llm_path
    from ragcli.llm.llama_cpp import LlamaCppLLM
    from ragcli.locations import model_cache_dir

    gguf = bundled_llm_path(model_cache_dir())
    free = LlamaCppLLM("bundled", gguf, replace(llm_options(defaults()), context_tokens=1024))
    threads, batch = _llama_threads(free)
    assert threads == batch <= cpu.usable_cores() - 1
    fixed = LlamaCppLLM(
        "bundled",
        gguf,
        replace(llm_options(defaults()), context_tokens=1024, threads=2),
    )
    fixed._fitted_at = 0.0  # a refit would be due now: a fixed count never follows
    fixed._fit_threads()
    assert _llama_threads(fixed) == (2, 2)
