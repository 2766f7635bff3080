"""`rag mcp`'s stdio transport: raw JSON-RPC lines to the real server process.

What the SDK's client never sends: lines that are not JSON or not JSON-RPC, a line of
tens of megabytes, a client that goes away. Each gets an answer or a quiet end.
"""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from ragcli.mcp_stdio import MAX_LINE_BYTES, TOO_LONG, split_lines

ROOT = Path(__file__).resolve().parents[2]
REPLY_TIMEOUT_S = 120
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def status_call(request_id: int) -> dict[str, Any]:
    """A tools/call of `status`: it needs no store, so any store path answers it."""
    params = {"name": "status", "arguments": {}}
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


class Server:
    """`rag mcp` as a child process, spoken to line by line."""

    def __init__(self, store: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ragcli", "mcp", "--store", str(store)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "RAG_MODEL": "fake:"},
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin = self.process.stdin
        self.stdout = self.process.stdout

    def send(self, line: bytes) -> None:
        self.stdin.write(line + b"\n")
        self.stdin.flush()

    def reply(self) -> dict[str, Any]:
        """The next line the server writes, as JSON; fails rather than waits forever."""
        ready, _, _ = select.select([self.stdout], [], [], REPLY_TIMEOUT_S)
        assert ready, "no reply"
        line = self.stdout.readline()
        assert line.endswith(b"\n"), line
        reply: dict[str, Any] = json.loads(line)
        return reply

    def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        self.send(json.dumps(message).encode())
        return self.reply()

    def start(self) -> None:
        assert self.ask(INITIALIZE)["id"] == 1
        self.send(json.dumps(INITIALIZED).encode())

    def finish(self) -> tuple[int, str]:
        """Close stdin as a client that leaves does: the exit code and stderr."""
        if not self.stdin.closed:
            self.stdin.close()
        code = self.process.wait(timeout=REPLY_TIMEOUT_S)
        assert self.process.stderr is not None
        return code, self.process.stderr.read().decode(errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def server(tmp_path: Path) -> Any:
    started = Server(tmp_path / "store")
    yield started
    started.kill()


def test_a_client_that_closes_stdin_ends_the_server_with_exit_0(server: Server) -> None:
    server.start()
    assert server.ask(status_call(2))["result"]["isError"] is True  # no store yet: said
    code, err = server.finish()
    assert code == 0, err
    assert "Traceback" not in err and "error" not in err


def test_a_client_that_leaves_before_its_reply_ends_the_server_with_exit_0(
    server: Server,
) -> None:
    server.start()
    server.stdout.close()  # gone: the reply to come has nowhere to go
    server.send(json.dumps(status_call(2)).encode())
    try:  # stdin is still open: the server has only the broken pipe to go by
        server.process.wait(timeout=30)
        on_its_own = True
    except subprocess.TimeoutExpired:
        on_its_own = False
    code, err = server.finish()
    assert code == 0, err
    assert "Traceback" not in err and "error" not in err
    assert on_its_own


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
def test_while_serving_fd_0_reads_dev_null_and_fd_1_writes_to_stderr(server: Server) -> None:
    """What llama.cpp or any library prints to fd 1 lands on stderr, not in the protocol."""
    server.start()
    fds = Path(f"/proc/{server.process.pid}/fd")
    assert os.readlink(fds / "0") == os.devnull
    assert os.readlink(fds / "1") == os.readlink(fds / "2")
    assert server.ask(status_call(2))["id"] == 2  # the protocol has its own copies
    assert server.finish()[0] == 0


@pytest.mark.parametrize(
    ("line", "code", "request_id"),
    [
        (b"this is not json", -32700, None),
        (b'{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": "oops"}', -32600, 7),
        (b'{"jsonrpc": "2.0", "id": "x", "method": 5}', -32600, "x"),
        (b"[1, 2, 3]", -32600, None),
        (b'{"jsonrpc": "2.0", "id": 8, "method": "\xff"}', -32601, 8),  # read as U+FFFD
    ],
)
def test_a_line_that_is_no_request_gets_an_error_reply(
    server: Server, line: bytes, code: int, request_id: Any
) -> None:
    server.start()
    server.send(line)
    reply = server.reply()
    assert reply["id"] == request_id and reply["error"]["code"] == code
    assert reply["error"]["message"]
    assert server.ask(status_call(9))["id"] == 9  # the server goes on
    assert server.finish()[0] == 0


def test_an_oversized_line_is_answered_and_dropped_with_memory_flat(server: Server) -> None:
    server.start()
    process = psutil.Process(server.process.pid)
    before = process.memory_info().rss
    block = b"x" * (1 << 20)
    peak = before
    for sent in range(64):  # 64 MiB without a newline: the SDK's reader held it all
        server.stdin.write(block)
        if sent % 8 == 7:
            server.stdin.flush()
            peak = max(peak, process.memory_info().rss)
    server.send(b"")  # the newline that ends it
    reply = server.reply()
    assert reply["id"] is None and reply["error"]["code"] == -32600
    assert f"{MAX_LINE_BYTES:,} bytes" in reply["error"]["message"]
    peak = max(peak, process.memory_info().rss)
    assert peak - before < 16 * (1 << 20), f"grew {(peak - before) >> 20} MiB"
    assert server.ask(status_call(3))["id"] == 3
    assert server.finish()[0] == 0


def reader(data: bytes, block: int) -> io.BytesIO:
    """A stream that gives data in reads of at most `block` bytes, as a pipe may."""

    class Pipe(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            return super().read(min(block, size if size and size > 0 else block))

    return Pipe(data)


@pytest.mark.parametrize("block", [1, 3, 7, 1 << 16])
def test_split_lines_gives_each_line_and_drops_each_long_one_once(block: int) -> None:
    limit = 5
    data = b"one\n\nfive5\nsix666\nmuch too long here\nlast"
    lines = list(split_lines(reader(data, block).read, limit))
    assert lines == [b"one", b"", b"five5", TOO_LONG, TOO_LONG, b"last"]


def test_split_lines_drops_a_long_line_before_its_end_comes() -> None:
    fed = 0

    def read(size: int) -> bytes:
        nonlocal fed
        fed += 1
        return b"y" * 100 if fed <= 1000 else (b"\nok\n" if fed == 1001 else b"")

    lines = split_lines(read, 250)
    assert next(lines) is TOO_LONG
    assert fed == 3  # said after 300 bytes, not after the 100,000 of the whole line
    assert list(lines) == [b"ok"]


def test_a_reply_that_cannot_be_encoded_becomes_an_error_for_its_id() -> None:
    from mcp.shared.message import SessionMessage
    from mcp.types import JSONRPCResponse

    from ragcli.mcp_stdio import encoded

    reply = JSONRPCResponse(jsonrpc="2.0", id=3, result={"path": "caf\udce9.md"})
    line = encoded(SessionMessage(reply))
    sent = json.loads(line.decode("utf-8"))  # strict UTF-8: nothing unencodable got out
    assert line.endswith(b"\n") and sent["id"] == 3 and sent["error"]["code"] == -32603
