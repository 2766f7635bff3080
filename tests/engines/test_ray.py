"""`--ray`: embedding on a real local Ray runtime, with the real bundled embedder.

One runtime serves the in-process tests of this module (start ~4 s, ~0.8 GB); the commands
use it as it is. The tests that check the command's own start and shutdown run it in a
fresh process, which starts and stops its own runtime.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

from ragcli.store import Store
from tests.conftest import Capture, run_rag

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_docs"
DIMENSION = 384
# Small batches, so that 57 chunks make several batches and two workers both get some.
BATCH = "8"

# Runs `rag ARGS` and reports on stderr, as a last JSON line, its exit code and whether
# ray was imported; RAG_BLOCK_RAY=1 makes `import ray` fail as if Ray were not installed.
WRAPPER = """
import json, os, sys
if os.environ.get("RAG_BLOCK_RAY"):
    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name == "ray" or name.startswith("ray."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, Blocker())
from ragcli.cli import main
try:
    main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
print(json.dumps({"code": code, "ray": "ray" in sys.modules}), file=sys.stderr)
"""


def rag_process(*args: str, block_ray: bool = False) -> subprocess.Popen[str]:
    """Start `rag ARGS` in a fresh process through WRAPPER."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env.pop("RAG_BLOCK_RAY", None)
    if block_ray:
        env["RAG_BLOCK_RAY"] = "1"
    return subprocess.Popen(
        [sys.executable, "-c", WRAPPER, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def finish(process: subprocess.Popen[str]) -> tuple[dict[str, Any], str, list[str]]:
    """Wait for a WRAPPER run; return its report, stdout and the other stderr lines."""
    out, err = process.communicate(timeout=600)
    lines = err.strip().splitlines()
    return json.loads(lines[-1]), out, lines[:-1]


def vectors(store: Path) -> dict[int, np.ndarray]:
    """Every embedded chunk's vector, by chunk id."""
    with Store.open(store) as opened:
        return {
            int(chunk_id): row
            for ids, matrix in opened.iter_embedded_vectors(DIMENSION)
            for chunk_id, row in zip(ids, matrix, strict=True)
        }


@pytest.fixture(scope="module")
def ray_runtime() -> Iterator[Any]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def chunked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sample_docs chunked into a store, nothing embedded yet."""
    store = tmp_path_factory.mktemp("ray") / "chunked"
    report, _, lines = finish(
        rag_process("ingest", str(SAMPLE), "--store", str(store), "--no-index", "-q")
    )
    assert report["code"] == 0, lines
    return store


@pytest.fixture(scope="module")
def default_vectors(chunked: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Any]:
    """The vectors of the default path (in this process, no Ray) with the same batches."""
    store = tmp_path_factory.mktemp("ray") / "default"
    shutil.copytree(chunked, store)
    report, _, lines = finish(rag_process("index", "--store", str(store), "--batch-size", BATCH))
    assert report == {"code": 0, "ray": False}, lines
    found = vectors(store)
    assert len(found) > 2 * int(BATCH)  # several batches: both workers get some
    return found


def copy_of(store: Path, tmp_path: Path) -> Path:
    target = tmp_path / "store"
    shutil.copytree(store, target)
    return target


@pytest.mark.parametrize("workers", [1, 2])
def test_ray_embeds_the_same_vectors_as_the_default_path(
    workers: int,
    ray_runtime: Any,
    chunked: Path,
    default_vectors: dict[int, np.ndarray],
    tmp_path: Path,
    capsys: Capture,
) -> None:
    store = copy_of(chunked, tmp_path)
    args = ("--store", str(store), "--batch-size", BATCH, "--json")
    code, out, err = run_rag(capsys, "index", *args, "--ray", "--ray-workers", str(workers))
    assert code == 0, err
    assert f"embedding on a local Ray runtime with {workers} workers" in err
    assert json.loads(out)["embedded"] == len(default_vectors)
    found = vectors(store)
    assert found.keys() == default_vectors.keys()
    cosines = [float(found[key] @ default_vectors[key]) for key in found]
    # The int8 model's vectors depend on what shares a batch (0.985 otherwise): equal
    # vectors mean Ray embedded exactly the batches the default path forms.
    assert min(cosines) >= 0.9999


def test_ingest_with_ray_then_search_and_ask(
    ray_runtime: Any, tmp_path: Path, capsys: Capture
) -> None:
    store = str(tmp_path / "store")
    code, out, err = run_rag(capsys, "ingest", str(SAMPLE), "--store", store, "--ray", "--json")
    assert code == 0, err
    assert "embedding on a local Ray runtime with 2 workers" in err
    # Dense only: the keyword index alone would find these without any vector.
    question = "How many parameters does Grok-0 have?"
    dense = ("--store", store, "--mode", "dense", "--json")
    code, out, err = run_rag(capsys, "search", question, *dense)
    assert code == 0, err
    assert json.loads(out.splitlines()[0])["path"].endswith("grok-announcement.md")
    code, out, err = run_rag(capsys, "ask", question, *dense, "--model", "fake:")
    assert code == 0, err
    assert json.loads(out)["sources"][0]["path"].endswith("grok-announcement.md")


def test_a_rerun_after_embedding_is_a_no_op_that_starts_no_ray(
    chunked: Path, default_vectors: dict[int, np.ndarray], tmp_path: Path
) -> None:
    store = copy_of(chunked, tmp_path)
    report, _, lines = finish(rag_process("index", "--store", str(store), "--batch-size", BATCH))
    assert report["code"] == 0, lines
    report, out, lines = finish(rag_process("index", "--store", str(store), "--ray", "--json"))
    assert report == {"code": 0, "ray": False}, lines
    assert json.loads(out)["embedded"] == 0


@pytest.mark.parametrize("command", ["ingest", "index"])
def test_without_ray_installed_it_is_one_line_and_exit_5_before_any_work(
    command: str, chunked: Path, tmp_path: Path
) -> None:
    store = copy_of(chunked, tmp_path) if command == "index" else tmp_path / "new"
    paths = [str(SAMPLE)] if command == "ingest" else []
    report, out, lines = finish(
        rag_process(command, *paths, "--store", str(store), "--ray", block_ray=True)
    )
    assert report == {"code": 5, "ray": False}
    assert lines == [
        "rag: error: --ray needs Ray, which is not installed (pip install 'ragcli[ray]')"
    ]
    assert out == ""
    if command == "ingest":
        assert not store.exists()
    else:
        assert vectors(store) == {}


def test_an_unreachable_address_is_one_line_and_exit_5(chunked: Path, tmp_path: Path) -> None:
    store = copy_of(chunked, tmp_path)
    for address in ("ray://127.0.0.1:1", "127.0.0.1:1"):
        report, _, lines = finish(
            rag_process("index", "--store", str(store), "--ray-address", address)
        )
        assert report["code"] == 5
        assert len(lines) == 1 and lines[0].startswith(f"rag: error: cannot reach Ray at {address}")
    assert vectors(store) == {}


@pytest.fixture
def web_server() -> Iterator[int]:
    """A plain HTTP server on a loopback port: a listener, but not Ray's."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


def test_an_address_where_something_else_listens_is_one_line_and_exit_5(
    chunked: Path, tmp_path: Path, web_server: int
) -> None:
    store = copy_of(chunked, tmp_path)
    for address in (f"ray://127.0.0.1:{web_server}", f"127.0.0.1:{web_server}"):
        started = time.monotonic()
        report, _, lines = finish(
            rag_process("index", "--store", str(store), "--ray-address", address)
        )
        assert report["code"] == 5, lines
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"rag: error: cannot reach Ray at {address}: not a Ray cluster")
        assert "it answered '<!DOCTYPE HTML>' to a gRPC handshake" in lines[0]
        # Ray itself retried past 110 s; the probe answers at once (a hang guard).
        assert time.monotonic() - started < 60
    assert vectors(store) == {}


def test_the_probe_lets_a_real_ray_address_through(ray_runtime: Any) -> None:
    from ragcli.embedding.ray import _probe

    _probe(ray_runtime.get_runtime_context().gcs_address)


def test_an_address_that_is_not_one_is_a_usage_error(
    chunked: Path, tmp_path: Path, capsys: Capture
) -> None:
    code, _, err = run_rag(capsys, "index", "--store", str(chunked), "--ray-address", "docs/")
    assert code == 2
    assert "--ray-address must be local, auto, ray://HOST:PORT or HOST:PORT" in err


def test_the_command_leaves_no_ray_process_behind(chunked: Path, tmp_path: Path) -> None:
    store = copy_of(chunked, tmp_path)
    process = rag_process("index", "--store", str(store), "--ray", "--batch-size", BATCH)
    seen: dict[int, tuple[str, float]] = {}

    def watch() -> None:
        parent = psutil.Process(process.pid)
        while process.poll() is None:
            try:
                for child in parent.children(recursive=True):
                    seen[child.pid] = (child.name(), child.create_time())
            except psutil.Error:
                pass
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    report, _, lines = finish(process)
    watcher.join()
    assert report["code"] == 0, lines
    assert any("raylet" in name or "gcs_server" in name for name, _ in seen.values()), seen
    deadline = time.monotonic() + 30
    while alive := [pid for pid, (_, born) in seen.items() if _alive(pid, born)]:
        assert time.monotonic() < deadline, f"left behind: {[seen[pid] for pid in alive]}"
        time.sleep(0.5)
    assert len(vectors(store)) > 0


def _alive(pid: int, born: float) -> bool:
    """Whether the process seen is still running (not a later process with its pid)."""
    try:
        process = psutil.Process(pid)
        return process.create_time() == born and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.mark.parametrize("args", [("--help",), ("index", "--help"), ("ingest", "--help")])
def test_help_does_not_import_ray(args: tuple[str, ...]) -> None:
    # The default path's `rag index` imports no ray either: see default_vectors.
    report, out, _ = finish(rag_process(*args))
    assert report == {"code": 0, "ray": False}
    assert "Usage:" in out


def test_ray_with_an_embedding_server_is_a_usage_error(tmp_path: Path, capsys: Capture) -> None:
    store = tmp_path / "new"
    args = ("--store", str(store), "--ray", "--embed-url", "http://127.0.0.1:1/v1")
    code, _, err = run_rag(capsys, "ingest", str(SAMPLE), *args)
    assert code == 2
    assert "--ray and --embed-url exclude each other" in err
    assert not store.exists()
