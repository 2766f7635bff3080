"""Reaching a store's Milvus: its URI forms, the client connection, Milvus Lite's lock, errors.

Connecting is the one place a token is presented (`MilvusTarget.token`); nothing records it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ragcli.errors import ModelError, StoreLockedError, UsageError
from ragcli.vectors.factory import VECTOR_FORMS

SCHEME = "milvus://"
SCHEMES = (SCHEME, "http://", "https://")  # vectors/factory.py picks Milvus for these
# The same connect timeout as the LLM and embedding servers' (llm/server.py).
CONNECT_TIMEOUT_S: float = 10.0


@dataclass(frozen=True)
class MilvusTarget:
    """Where a store's vectors are: the manifest's URI, its collection and a token."""

    uri: str  # milvus:///abs/path.db (Lite), milvus://host:port, http(s)://host:port
    collection: str
    token: str | None = None
    connect_timeout_s: float = CONNECT_TIMEOUT_S


def lite_path(uri: str) -> str | None:
    """Return the Milvus Lite path a URI names, or None for a server's URI."""
    if not uri.startswith(SCHEME):
        return None
    rest = uri[len(SCHEME) :]
    if rest.startswith(("/", ".", "~")) or rest.endswith(".db"):
        return rest
    return None


def canonical_uri(uri: str) -> str:
    """Return the URI a new store records: a Lite path made absolute; UsageError if malformed."""
    path = lite_path(uri)
    if path is not None:
        return SCHEME + str(Path(path).expanduser().resolve())
    if uri.startswith(SCHEMES) and uri.split("://", 1)[1].strip("/"):
        _check_address(uri)
        return uri.rstrip("/")
    raise UsageError(f"unknown vector store {uri!r}", FORMS_HINT)


FORMS_HINT = f"use {VECTOR_FORMS}"


def _check_address(uri: str) -> None:
    """Refuse a server address pymilvus could not even parse (a port that is no number)."""
    try:
        address = urlsplit(client_uri(uri))
        address.port  # noqa: B018 - parsing it is the check
    except ValueError as exc:
        raise UsageError(f"malformed vector store address {uri!r}: {exc}", FORMS_HINT) from None
    if not address.hostname:
        raise UsageError(f"vector store address {uri!r} names no host", FORMS_HINT)


def client_uri(uri: str) -> str:
    """The URI pymilvus takes: a Lite path, or an http(s) address."""
    path = lite_path(uri)
    if path is not None:
        return path
    if uri.startswith(SCHEME):
        return "http://" + uri[len(SCHEME) :]
    return uri


def _quiet_loggers() -> None:
    """pymilvus and milvus_lite log every failure with a traceback before raising: mute them."""
    for name in ("pymilvus", "milvus_lite"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def connect(target: MilvusTarget) -> Any:
    """Return a pymilvus client for the target, counted as a user of its Lite path."""
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise ModelError(
            f"the store keeps its vectors in {target.uri}, but pymilvus is not installed",
            "pip install 'ragcli[milvus]'",
        ) from exc
    _quiet_loggers()  # after the import, which configures pymilvus's logging
    path = lite_path(target.uri)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    with mapped_errors(target, connecting=True):
        client = MilvusClient(
            uri=client_uri(target.uri),
            token=target.token or "",
            timeout=target.connect_timeout_s,
        )
    if path is not None:
        _lite_users[path] = _lite_users.get(path, 0) + 1
    return client


# Open MilvusIndex objects per Milvus Lite path in this process. Lite runs in-process and
# holds its directory's lock until its server is stopped, not when a client closes: the
# last index closed stops it, so a long-lived process does not lock others out.
_lite_users: dict[str, int] = {}


def release_lite(target: MilvusTarget) -> None:
    """Count a client of the target closed; stop Milvus Lite there when it was the last."""
    path = lite_path(target.uri)
    if path is None or path not in _lite_users:
        return
    _lite_users[path] -= 1
    if _lite_users[path] > 0:
        return
    del _lite_users[path]
    with contextlib.suppress(Exception):
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(path)


@contextlib.contextmanager
def mapped_errors(target: MilvusTarget, connecting: bool = False) -> Iterator[None]:
    """Turn pymilvus and gRPC failures into one-line ModelErrors (a busy Lite: StoreLockedError)."""
    from pymilvus.exceptions import MilvusException

    try:
        yield
    except MilvusException as exc:
        # Probed only before this process opened it: its own hold would look like another's.
        if connecting and _lite_locked(target):
            raise StoreLockedError(
                f"vector store {target.uri} is busy: another process has it open",
                "Milvus Lite allows one process at a time; wait for it to finish",
            ) from None
        message = " ".join(str(getattr(exc, "message", "") or exc).split())
        raise ModelError(
            f"vector store {target.uri} failed: {message}",
            "check that the Milvus server is up and reachable (and RAG_MILVUS_TOKEN)",
        ) from None
    except (OSError, RuntimeError) as exc:  # gRPC transport failures surface as these
        raise ModelError(f"vector store {target.uri} failed: {exc}") from None
    except ValueError as exc:  # an address pymilvus cannot parse
        if not connecting:
            raise
        raise ModelError(f"vector store {target.uri} cannot be reached: {exc}") from None


def _lite_locked(target: MilvusTarget) -> bool:
    """Whether another process holds the Milvus Lite data directory's lock."""
    path = lite_path(target.uri)
    if path is None:
        return False
    try:
        descriptor = os.open(Path(path) / "LOCK", os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
    return False
