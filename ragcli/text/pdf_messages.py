"""The messages between ragcli and its PDF worker: length-prefixed JSON, a descriptor alongside."""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

_HEADER = struct.Struct("!I")


def send_message(sock: socket.socket, message: dict[str, Any], fd: int | None = None) -> None:
    """Send one length-prefixed JSON object, with a file descriptor if given."""
    body = json.dumps(message).encode()
    data = _HEADER.pack(len(body)) + body
    if fd is not None:
        data = data[socket.send_fds(sock, [data], [fd]) :]
    sock.sendall(data)


def receive_message(sock: socket.socket, limit: int) -> tuple[dict[str, Any], list[int]]:
    """Receive one message and any descriptors sent with it; EOFError when the peer is gone."""
    first, fds = b"", list[int]()
    if hasattr(socket, "recv_fds"):
        first, fds, _, _ = socket.recv_fds(sock, _HEADER.size, 4)
    head = first + _receive_exactly(sock, _HEADER.size - len(first))
    (size,) = _HEADER.unpack(head)
    if size > limit:
        raise ValueError(f"message of {size} bytes")
    return json.loads(_receive_exactly(sock, size)), list(fds)


def _receive_exactly(sock: socket.socket, size: int) -> bytes:
    parts = []
    while size:
        part = sock.recv(min(size, 1 << 20))
        if not part:
            raise EOFError("peer closed the connection")
        parts.append(part)
        size -= len(part)
    return b"".join(parts)
