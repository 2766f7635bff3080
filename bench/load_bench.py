"""Load benchmark: cold and batch `ask` and `search`, idle and beside a competing CPU-bound process.

Prints one Markdown table (rows: measure x variant; columns: each condition's median, its
ratio to idle, and CPU seconds). Conditions: `idle`; `burner` (one `python -c 'while True:
pass'`); `ingest` (a second `rag ingest` of a generated corpus, restarted in a loop so it runs
through the whole measurement). Every figure comes from fresh `rag` processes.

Run: python bench/load_bench.py [--runs 5] [--budget-min 3] [--conditions idle,burner,ingest]
     [--quick] [--variant default: --variant t1:RAG_THREADS=1] [--json out.json]
A variant adds environment variables to the measured `rag` processes only, never to the
competitor; variants are interleaved run by run so they are compared side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core_bench import QUESTIONS, RAG, ROOT, make_corpus  # noqa: E402

CONDITIONS = ("idle", "burner", "ingest")
MIN_RUNS = 2  # a condition always gets this many runs, whatever its time budget
SETTLE_S = 2.0  # a fresh competing ingest is past its imports and embedding by then
BURNER = [sys.executable, "-c", "while True: pass"]
# Restarts `rag ingest` into a fresh store each round, so the competitor never runs out of work.
INGEST_LOOP = """
import shutil, subprocess, sys
from pathlib import Path
corpus, scratch, *rag = sys.argv[1:]
round_number = 0
while True:
    store = Path(scratch) / f"store{round_number}"
    done = subprocess.run([*rag, "ingest", corpus, "--store", str(store), "-q"],
                          stdout=subprocess.DEVNULL)
    if done.returncode:
        sys.exit(f"competing rag ingest exited {done.returncode}")
    shutil.rmtree(store)
    round_number += 1
"""
MEASURES = {  # key: (row label, whether a CPU figure belongs to it)
    "ask_first": ("cold `rag ask`: first answer byte", False),
    "ask_cold": ("cold `rag ask`: whole process", True),
    "ask_batch": ("batch `rag ask` (stdin): per question", True),
    "search_cold": ("cold `rag search`: whole process", True),
    "search_batch": ("batch `rag search` (stdin): per query", True),
}


@dataclass(frozen=True)
class Variant:
    """A name and the extra environment of the measured `rag` processes."""

    name: str
    env: dict[str, str]


@dataclass(frozen=True)
class Sample:
    """One measured process: first stdout byte, whole wall time, CPU seconds (user+sys)."""

    first_byte_s: float
    wall_s: float
    cpu_s: float


@dataclass(frozen=True)
class Plan:
    """What to run: store, questions, sizes, and the competitor's corpus."""

    store: Path
    questions: list[str]
    batch_questions: int
    runs: int
    budget_s: float
    corpus: Path
    scratch: Path


def note(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


def parse_variant(text: str) -> Variant:
    """Read NAME:ENV=VAL[,ENV=VAL...] (NAME: alone adds nothing)."""
    name, sep, rest = text.partition(":")
    if not name or not sep:
        raise argparse.ArgumentTypeError(f"expected NAME:ENV=VAL[,ENV=VAL...], got {text!r}")
    env = {}
    for pair in filter(None, rest.split(",")):
        key, eq, value = pair.partition("=")
        if not key or not eq:
            raise argparse.ArgumentTypeError(f"expected ENV=VAL in {text!r}, got {pair!r}")
        env[key] = value
    return Variant(name, env)


def run_rag(args: list[str], extra_env: dict[str, str], stdin: str | None = None) -> Sample:
    """Run `rag ARGS` in a fresh process; abort with its stderr unless it exits 0."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(
            [*RAG, *args],
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            cwd=ROOT,
            env={**os.environ, **extra_env},
        )
        assert process.stdout is not None
        if process.stdin is not None:  # a few lines: they fit in the pipe's buffer
            process.stdin.write(stdin.encode() if stdin else b"")
            process.stdin.close()
        process.stdout.read(1)
        first = time.perf_counter() - started
        process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            detail = errors.read().decode(errors="replace").strip()
            raise SystemExit(f"rag {' '.join(args)} exited {process.returncode}:\n{detail}")
    return Sample(first, wall, usage.ru_utime + usage.ru_stime)


@contextmanager
def competitor(condition: str, plan: Plan) -> Iterator[subprocess.Popen[bytes] | None]:
    """Run the condition's competing process for the duration; always kill its group after."""
    if condition == "idle":
        yield None
        return
    command = (
        BURNER
        if condition == "burner"
        else [sys.executable, "-c", INGEST_LOOP, str(plan.corpus), str(plan.scratch), *RAG]
    )
    with tempfile.TemporaryFile() as errors:
        # Its own session: killpg reaches the loop and its `rag ingest` child together.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            cwd=ROOT,
            start_new_session=True,
        )
        try:
            time.sleep(SETTLE_S)
            check_alive(process, errors)
            yield process
            check_alive(process, errors)
        finally:
            stop_group(process)


def check_alive(process: subprocess.Popen[bytes], errors: IO[bytes]) -> None:
    """Abort if the competitor ended: the figures would not be measured under load."""
    if process.poll() is not None:
        errors.seek(0)
        detail = errors.read().decode(errors="replace").strip()
        raise SystemExit(f"competitor exited {process.returncode}:\n{detail}")


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the competitor's process group and wait until none of it still runs."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while group_alive(process.pid):
        if time.monotonic() > deadline:
            raise SystemExit(f"competitor process group {process.pid} is still running")
        time.sleep(0.05)


def group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies, whose parent is gone, do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def measure_run(plan: Plan, variant: Variant, run: int) -> dict[str, Sample]:
    """One run of every measure for one variant, each in fresh `rag` processes."""
    store = ["--store", str(plan.store)]
    question = plan.questions[run % len(plan.questions)]
    batch = [plan.questions[(run + i) % len(plan.questions)] for i in range(plan.batch_questions)]
    cold = run_rag(["ask", question, *store], variant.env)
    asks = run_rag(["ask", "-", *store], variant.env, stdin="\n".join(batch) + "\n")
    search = run_rag(["search", question, *store], variant.env)
    searches = run_rag(["search", "-", *store], variant.env, stdin="\n".join(plan.questions) + "\n")
    per_ask, per_query = len(batch), len(plan.questions)
    return {
        "ask_first": Sample(cold.first_byte_s, cold.first_byte_s, cold.cpu_s),
        "ask_cold": cold,
        "ask_batch": Sample(asks.first_byte_s, asks.wall_s / per_ask, asks.cpu_s / per_ask),
        "search_cold": search,
        "search_batch": Sample(
            searches.first_byte_s, searches.wall_s / per_query, searches.cpu_s / per_query
        ),
    }


Results = dict[str, dict[str, dict[str, list[Sample]]]]  # condition -> variant -> measure


def measure_condition(
    condition: str, plan: Plan, variants: list[Variant]
) -> dict[str, dict[str, list[Sample]]]:
    """Run every variant, interleaved run by run, under one condition: variant -> measure."""
    results: dict[str, dict[str, list[Sample]]] = {}
    started = time.monotonic()
    with competitor(condition, plan) as process:
        for run in range(plan.runs):
            if run >= MIN_RUNS and time.monotonic() - started > plan.budget_s:
                note(f"[{condition}] time budget used after {run} runs")
                break
            for variant in variants:
                samples = measure_run(plan, variant, run)
                if process is not None and process.poll() is not None:
                    raise SystemExit(f"the {condition} competitor ended during the run")
                for key, sample in samples.items():
                    results.setdefault(variant.name, {}).setdefault(key, []).append(sample)
                note(
                    f"[{condition}] run {run + 1}/{plan.runs} {variant.name}: cold ask "
                    f"{samples['ask_cold'].wall_s:.2f} s ({samples['ask_cold'].cpu_s:.1f} "
                    f"CPU s), batch ask {samples['ask_batch'].wall_s:.2f} s/question, "
                    f"cold search {samples['search_cold'].wall_s:.2f} s"
                )
    return results


def prepare(scratch: Path, args: argparse.Namespace) -> Plan:
    """Ingest sample_docs, warm the model caches, keep the questions it answers."""
    store = scratch / "sample"
    note("ingesting sample_docs and warming the model caches")
    run_rag(["ingest", str(ROOT / "sample_docs"), "--store", str(store), "-q"], {})
    done = subprocess.run(
        [*RAG, "ask", "-", "--json", "--store", str(store)],
        input="\n".join(QUESTIONS) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise SystemExit(f"warm-up rag ask exited {done.returncode}:\n{done.stderr.strip()}")
    # A declined question ends a single `ask` with exit 8 before the model runs: not comparable.
    answered = [
        answer["question"]
        for line in done.stdout.splitlines()
        if (answer := json.loads(line))["answerable"]
    ]
    questions = answered[: args.questions]
    if not questions:
        raise SystemExit("no warm-up question was answered on sample_docs")
    corpus = scratch / "competitor-corpus"
    if "ingest" in args.conditions:
        make_corpus(corpus, args.competitor_files)
    return Plan(
        store,
        questions,
        min(args.batch, len(questions)),
        args.runs,
        args.budget_min * 60,
        corpus,
        scratch / "competitor",
    )


def median(samples: list[Sample], cpu: bool) -> float:
    """Median wall (or CPU) seconds of the samples."""
    return statistics.median(s.cpu_s if cpu else s.wall_s for s in samples)


def seconds(value: float) -> str:
    """Seconds as `1.23 s`, or `45 ms` under one second."""
    return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.0f} ms"


def table(results: Results, conditions: list[str], variants: list[Variant]) -> list[str]:
    """The Markdown table: rows are measure x variant."""
    loaded = [c for c in conditions if c != "idle"]
    heads = ["measure", "variant", *(["idle"] if "idle" in conditions else [])]
    for condition in loaded:
        heads += [condition, *([f"{condition}/idle"] if "idle" in conditions else [])]
    heads += [f"CPU s {c}" for c in conditions]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for key, (label, has_cpu) in MEASURES.items():
        for variant in variants:
            walls = {c: median(results[c][variant.name][key], False) for c in conditions}
            cells = [label, variant.name]
            for condition in conditions:
                cells.append(seconds(walls[condition]))
                if condition != "idle" and "idle" in conditions:
                    cells.append(f"{walls[condition] / walls['idle']:.2f}x")
            for condition in conditions:
                cpu = median(results[condition][variant.name][key], True) if has_cpu else None
                cells.append(f"{cpu:.2f}" if cpu is not None else "")
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def options() -> argparse.Namespace:
    """Parse the command line; --quick shrinks every size for development."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=5, help="runs per condition at most (medians; see --budget-min)"
    )
    parser.add_argument(
        "--budget-min",
        type=float,
        default=3.0,
        help=f"no new run starts once a condition used this many minutes "
        f"(at least {MIN_RUNS} runs)",
    )
    parser.add_argument(
        "--conditions",
        default=",".join(CONDITIONS),
        help="comma-separated subset of idle,burner,ingest",
    )
    parser.add_argument(
        "--variant",
        action="append",
        type=parse_variant,
        default=[],
        help="NAME:ENV=VAL[,ENV=VAL...] for the measured processes; repeatable",
    )
    parser.add_argument(
        "--questions", type=int, default=8, help="questions in rotation and in the search batch"
    )
    parser.add_argument("--batch", type=int, default=2, help="questions in the batch ask")
    parser.add_argument(
        "--competitor-files",
        type=int,
        default=300,
        help="files of the competing ingest's generated corpus",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 runs, 2 questions, 60-file competitor corpus (development)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = parser.parse_args()
    args.conditions = [c for c in args.conditions.split(",") if c]
    if unknown := set(args.conditions) - set(CONDITIONS):
        parser.error(f"unknown conditions: {', '.join(sorted(unknown))}")
    if args.quick:
        args.runs, args.questions, args.batch, args.competitor_files = 2, 2, 2, 60
    args.variant = args.variant or [Variant("default", {})]
    if len({v.name for v in args.variant}) != len(args.variant):
        parser.error("variant names must differ")
    return args


def main() -> None:
    args = options()
    # `timeout` sends SIGTERM: turn it into an exit so the competitor is still killed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    load = os.getloadavg()
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    results: Results = {}
    with tempfile.TemporaryDirectory() as scratch:
        plan = prepare(Path(scratch), args)
        for condition in args.conditions:
            results[condition] = measure_condition(condition, plan, args.variant)
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, load average at start "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, Python {platform.python_version()}"
    )
    print(f"ragcli load benchmark, {started}: {machine}")
    done = ", ".join(
        f"{c} {len(results[c][args.variant[0].name]['ask_cold'])}" for c in args.conditions
    )
    print(
        f"runs (medians): {done}; cold ask/search rotate over "
        f"{len(plan.questions)} questions; batch ask {plan.batch_questions} questions, "
        f"batch search {len(plan.questions)} queries; competing ingest "
        f"{args.competitor_files} files\n"
    )
    print("\n".join(table(results, args.conditions, args.variant)))
    if args.json:
        raw = {
            "date": started,
            "machine": machine,
            "questions": plan.questions,
            "batch_questions": plan.batch_questions,
            "variants": {v.name: v.env for v in args.variant},
            "results": {
                c: {
                    v: {k: [vars(s) for s in samples] for k, samples in ms.items()}
                    for v, ms in vs.items()
                }
                for c, vs in results.items()
            },
        }
        args.json.write_text(json.dumps(raw, indent=1) + "\n")


if __name__ == "__main__":
    main()
