"""Embedding on Ray Data: the only module that imports ray, and only when --ray is asked for.

The driver (the `rag` process) forms the batches exactly as the default path does and keeps
the store; Ray only turns texts into vectors. One Ray row is one pre-formed batch, so the
int8 model, whose vectors depend on what shares a batch, sees the same batches either way.
Workers build the embedder from its spec and the model cache directory: nothing heavy and
nothing pickled crosses the wire but texts and vectors.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ragcli.errors import ModelError

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ragcli.records import Chunk, RaySettings

INSTALL_HINT = "pip install 'ragcli[ray]'"
# Batches handed to Ray per round, per worker. A round is one Ray Data run: its texts are
# all that is in flight, so memory does not grow with the corpus, and each batch is
# committed as its vectors come back. Each round starts its actors (and loads the model)
# anew, so a round should be many batches per worker; the cap bounds a large cluster's round.
ROUND_BATCHES_PER_WORKER = 32
ROUND_BATCHES_MAX = 4096
# Seconds a connection to a cluster may take before the address counts as unreachable.
CONNECT_TIMEOUT_S = 30


@dataclass(frozen=True)
class WorkerEmbedder:
    """What a worker needs to build the document embedder the driver would use."""

    spec: str  # the store's embedder spec (bundled name, st:PATH or fake:...)
    cache_dir: str  # where the verified ONNX exports live (same path on every worker)
    int8: bool
    kind: str  # class name of the driver's document embedder, checked on each worker
    threads: int  # CPU threads per worker


def require_ray() -> None:
    """Fail early, before any work, when Ray is not installed; without importing it."""
    import importlib.util

    try:
        found = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ModelError("--ray needs Ray, which is not installed", INSTALL_HINT)


def import_ray() -> Any:
    """Import ray and ray.data, or say in one line how to install them."""
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data is what --ray runs on
    except ImportError as exc:
        raise ModelError("--ray needs Ray, which is not installed", INSTALL_HINT) from exc
    return ray


@contextmanager
def ray_runtime(settings: RaySettings) -> Iterator[RayEmbedding]:
    """Start a local Ray runtime or join a cluster; shut it down after, whatever happens.

    A runtime this process had already started (a test, a notebook) is used as it is and
    left running.
    """
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        _connect(ray, settings)
    try:
        workers = settings.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        yield RayEmbedding(ray, workers)
    finally:
        if started_here:
            ray.shutdown()


def _connect(ray: Any, settings: RaySettings) -> None:
    _quiet_ray()
    common: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": "ERROR",
    }
    address = settings.address
    try:
        if address == "local":
            cpus = max(settings.workers or 0, os.cpu_count() or 1)
            ray.init(address="local", num_cpus=cpus, **common)
            return
        _probe(address)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Ray's client warns before it raises
            # Workers import ragcli from their own install (the cluster's image).
            ray.init(address=address, **common)
    except ImportError as exc:  # ray:// needs the client extra (ray[client]/ray[default])
        raise ModelError(f"cannot join Ray at {address}: {exc}", INSTALL_HINT) from exc
    except (ConnectionError, TimeoutError, RuntimeError, ValueError, OSError) as exc:
        ray.shutdown()
        raise ModelError(
            f"cannot reach Ray at {address}: {_first_line(exc)}",
            "check the address (ray://HOST:10001, HOST:6379 or auto) and that the cluster runs",
        ) from exc


def _probe(address: str) -> None:
    """Fail within the connect timeout unless a gRPC server answers at HOST:PORT.

    Given an address where nothing answers, ray.init retries for minutes (GCS addresses)
    or 30 s (ray://); a plain TCP connect says "refused" at once. Given some other
    listener (a web server, a database), it retries for minutes too: both of Ray's
    addresses speak gRPC, so the HTTP/2 handshake tells them from anything else at once.
    """
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto": Ray finds the address itself and says so when it cannot
    with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S) as sock:
        sock.sendall(_HTTP2_PREFACE)
        reply = _read_at_least(sock, _FRAME_HEADER_BYTES)
    if not _speaks_grpc(reply):
        first = reply[:60].decode("ascii", errors="replace").splitlines()[0]
        raise ConnectionError(f"not a Ray cluster, it answered {first!r} to a gRPC handshake")


# An HTTP/2 client's connection preface and an empty SETTINGS frame (RFC 9113, 3.4).
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000")
_FRAME_HEADER_BYTES = 9
# The first byte of a TLS record (alert, handshake): a cluster with TLS, left to Ray.
_TLS_RECORDS = (0x15, 0x16)


def _read_at_least(sock: Any, size: int) -> bytes:
    """Read until `size` bytes came (or more, up to 64), or the peer closed; may time out."""
    data = b""
    while len(data) < size:
        chunk = sock.recv(64)
        if not chunk:
            break
        data += chunk
    return data


def _speaks_grpc(reply: bytes) -> bool:
    """Whether a reply to the HTTP/2 preface may come from a gRPC server.

    Its SETTINGS frame does; so may TLS (an alert) or silence then a close, which is how a
    cluster with TLS may take plain text: those are left to Ray to judge.
    """
    if not reply or reply[0] in _TLS_RECORDS:
        return True
    return len(reply) >= _FRAME_HEADER_BYTES and reply[3] == 0x04 and reply[5:9] == bytes(4)


def _quiet_ray() -> None:
    """Keep Ray's own logging off the user's stderr: errors reach them as one line from us."""
    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    for name in ("ray", "ray.data", "ray.util", "ray.air"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


class RayEmbedding:
    """A connected Ray runtime that embeds pre-formed batches with a pool of actors."""

    def __init__(self, ray: Any, workers: int) -> None:
        self._ray = ray
        self.workers = workers

    def embed(
        self, batches: Iterator[list[Chunk]], worker: WorkerEmbedder, batch_size: int
    ) -> Iterator[tuple[list[Chunk], NDArray[np.float32]]]:
        """Yield each batch with its vectors as soon as they come back, round by round."""
        per_round = min(ROUND_BATCHES_MAX, ROUND_BATCHES_PER_WORKER * self.workers)
        pending: list[list[Chunk]] = []
        for batch in batches:
            pending.append(batch)
            if len(pending) == per_round:
                yield from self._embed_round(pending, worker, batch_size)
                pending = []
        if pending:
            yield from self._embed_round(pending, worker, batch_size)

    def _embed_round(
        self, batches: list[list[Chunk]], worker: WorkerEmbedder, batch_size: int
    ) -> Iterator[tuple[list[Chunk], NDArray[np.float32]]]:
        import ray.data
        from ray.exceptions import RayError

        rows = [
            {"batch": number, "texts": [chunk.embed_text for chunk in batch]}
            for number, batch in enumerate(batches)
        ]
        with warnings.catch_warnings():
            # Ray's own deprecations (its context's old fields; max_restarts, which has no
            # named parameter yet but is how Ray's comments say to turn restarts off).
            warnings.simplefilter("ignore", DeprecationWarning)
            context = ray.data.DataContext.get_current()
            context.enable_progress_bars = False
            context.print_on_execution_start = False
            context.verbose_stats_logs = False
            dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
                _EmbedBatch,
                fn_constructor_kwargs={"worker": worker, "batch_size": batch_size},
                compute=ray.data.ActorPoolStrategy(size=min(self.workers, len(rows))),
                batch_size=1,  # one row is one batch already formed by the driver
                batch_format="pyarrow",
                num_cpus=worker.threads,
                zero_copy_batch=True,
                # A lost actor fails the run (a rerun resumes after the last committed
                # batch); restartable actors make Ray's core print a warning on stderr.
                max_restarts=0,
            )
        try:
            for row in dataset.iter_rows():
                chunks = batches[int(row["batch"])]
                vectors = np.frombuffer(row["vectors"], dtype="<f4").reshape(len(chunks), -1)
                yield chunks, vectors
        except (RayError, ray.data.exceptions.UserCodeException) as exc:
            raise ModelError(f"embedding on Ray failed: {_worker_error(exc)}") from exc


def _worker_error(exc: BaseException) -> str:
    """The worker's own error (a ModelError says what is missing there), in one line."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ModelError):
            return str(cause)
        cause = cause.__cause__
    return _first_line(exc)


class _EmbedBatch:
    """A Ray actor: builds the document embedder once, then embeds one batch per call."""

    def __init__(self, worker: WorkerEmbedder, batch_size: int) -> None:
        from pathlib import Path

        from ragcli.embedding.factory import make_document_embedder, make_embedder

        embedder = make_embedder(worker.spec, worker.threads)
        if worker.int8:
            embedder = make_document_embedder(embedder, Path(worker.cache_dir))
        if type(embedder).__name__ != worker.kind:
            # Different code would give different vectors (the int8 export missing here,
            # say): refuse instead of mixing them into one store.
            raise ModelError(
                f"Ray worker on {os.uname().nodename} builds a {type(embedder).__name__} "
                f"for {worker.spec}, not the driver's {worker.kind}",
                f"give workers ragcli and the model cache {worker.cache_dir}",
            )
        embedder.load()
        self.embedder = embedder
        self.batch_size = batch_size

    def __call__(self, table: Any) -> dict[str, Any]:
        texts: Sequence[str] = table.column("texts")[0].as_py()
        vectors = self.embedder.embed(texts, self.batch_size)
        blob = np.ascontiguousarray(vectors, dtype="<f4").tobytes()
        return {
            "batch": np.asarray(table.column("batch").to_pylist(), dtype=np.int64),
            "vectors": np.asarray([blob], dtype=object),
        }
