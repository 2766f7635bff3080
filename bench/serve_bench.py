"""Serve benchmark: `rag serve` on loopback, answering concurrent chat completion requests.

Prints one Markdown table: for 1, 4 and 16 concurrent clients, requests per second and the
p50/p95 latency of a fixed number of requests, with the extractive fake LLM (the server, the
queue and retrieval: tests/fakes.py) and with the bundled model; the server's RSS at start
and after 1,000 requests (fake LLM); and an overload run (--queue-size 1, 32 clients at
once) counting 200s and 429s and checking that the server is still up. The store is
sample_docs, ingested with the bundled embedder. Every client sends its next request when
its previous one is answered (a 429 counts as an answer: the overload run measures refusal).

Run: python bench/serve_bench.py [--fake-requests 200] [--real-requests 16]
     [--memory-requests 1000] [--no-real]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
RAG = [sys.executable, "-m", "ragcli"]
QUESTIONS = [
    json.loads(line)["question"]
    for line in (ROOT / "bench" / "qa_sample_docs.jsonl").read_text().splitlines()
    if line.strip()
]
LEVELS = (1, 4, 16)
OVERLOAD_CLIENTS = 32


@dataclass
class Run:
    """What one batch of requests gave: each latency and status, and the wall time."""

    latencies_s: list[float]
    statuses: list[int]
    wall_s: float

    def quantile(self, share: float) -> float:
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(store: Path, model: str, queue_size: int) -> Iterator[tuple[str, int]]:
    """`rag serve` on a free port; yield its base URL and pid; SIGTERM it at the end."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAGCLI_TEST_PLUGINS": "tests.fakes"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    command = [*RAG, "serve", "--store", str(store), "--port", str(port)]
    command += ["--queue-size", str(queue_size)]
    if model:
        command += ["--model", model]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                sys.exit(f"rag serve exited {process.returncode}: {process.stderr.read()}")  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("rag serve did not start in 180 s")
                time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        code = process.wait(120)
        if code != 0:
            sys.exit(f"rag serve exited {code} on SIGTERM")


def ask(url: str, question: str) -> int:
    """One non-streamed chat completion; its HTTP status."""
    body = {"model": "store", "messages": [{"role": "user", "content": question}]}
    sent = urllib.request.Request(f"{url}/v1/chat/completions", json.dumps(body).encode())
    try:
        with urllib.request.urlopen(sent, timeout=600) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as failed:
        failed.read()
        return int(failed.code)


def load(url: str, clients: int, requests: int) -> Run:
    """`requests` requests from `clients` clients at once, each asking again when answered."""
    latencies: list[float] = []
    statuses: list[int] = []
    counter = iter(range(requests))
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                number = next(counter, None)
            if number is None:
                return
            started = time.perf_counter()
            status = ask(url, QUESTIONS[number % len(QUESTIONS)])
            with lock:
                latencies.append(time.perf_counter() - started)
                statuses.append(status)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Run(latencies, statuses, time.perf_counter() - started)


def throughput_rows(store: Path, model: str, label: str, requests: int) -> list[str]:
    rows = []
    with serving(store, model, queue_size=max(LEVELS)) as (url, _):
        ask(url, QUESTIONS[0])  # models load before the server listens; this warms caches
        for clients in LEVELS:
            run = load(url, clients, requests)
            failed = sum(status != 200 for status in run.statuses)
            rows.append(
                f"| {label} | {clients} | {requests} | {requests / run.wall_s:.2f} "
                f"| {run.quantile(0.5) * 1000:.0f} ms | {run.quantile(0.95) * 1000:.0f} ms "
                f"| {failed} |"
            )
    return rows


def memory_row(store: Path, requests: int) -> str:
    with serving(store, "fake:", queue_size=max(LEVELS)) as (url, pid):
        server = psutil.Process(pid)
        ask(url, QUESTIONS[0])
        start = server.memory_info().rss
        halfway = 0
        for half in range(2):
            load(url, 4, requests // 2)
            if half == 0:
                halfway = server.memory_info().rss
        end = server.memory_info().rss
    mib = 1 << 20
    return (
        f"| RSS of the server (fake LLM, 4 clients) | {start / mib:.0f} MiB at start, "
        f"{halfway / mib:.0f} MiB after {requests // 2:,} requests, {end / mib:.0f} MiB after "
        f"{requests:,} |"
    )


def overload_row(store: Path, model: str) -> str:
    with serving(store, model, queue_size=1) as (url, pid):
        run = load(url, OVERLOAD_CLIENTS, OVERLOAD_CLIENTS)
        alive = psutil.pid_exists(pid)
        after = ask(url, QUESTIONS[0])
    ok = run.statuses.count(200)
    refused = run.statuses.count(429)
    other = len(run.statuses) - ok - refused
    return (
        f"| overload: {OVERLOAD_CLIENTS} clients at once, --queue-size 1 ({model or 'bundled'}) "
        f"| {ok} answered (200), {refused} refused (429), {other} other; server "
        f"{'up' if alive else 'DOWN'}, next request {after} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fake-requests", type=int, default=200)
    parser.add_argument("--real-requests", type=int, default=16)
    parser.add_argument("--memory-requests", type=int, default=1000)
    parser.add_argument("--no-real", action="store_true", help="skip the bundled model")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        store = Path(scratch) / "store"
        done = subprocess.run(
            [*RAG, "ingest", "sample_docs", "--store", str(store), "-q"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            check=False,
        )
        if done.returncode:
            sys.exit(f"rag ingest exited {done.returncode}")
        rows = throughput_rows(store, "fake:", "fake (extractive, no model)", args.fake_requests)
        if not args.no_real:
            rows += throughput_rows(store, "", "bundled Gemma 3 270M", args.real_requests)
        memory = memory_row(store, args.memory_requests)
        overload = overload_row(store, "fake:slow:200")
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_1 = os.getloadavg()[0]
    print(
        f"serve_bench {when}, {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average at the end {load_1:.2f}\n"
    )
    print("| LLM | clients | requests | requests/s | p50 | p95 | failed |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\n| measure | value |\n|---|---|")
    print(memory)
    print(overload)


if __name__ == "__main__":
    main()
