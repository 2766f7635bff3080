"""The surfaces of issue 25 for bench/hostile_bench.py: watch, MCP, servers, Ray, stores, OCR.

Each case is a function of a Runner, as in bench/hostile_cases.py. Long-running commands
(`rag ingest --watch`, `rag mcp`) are driven from a thread while they run (files changed
under a watch, JSON-RPC lines to the MCP server), then ended as a user would end them.
The last column says whether what was stored before the case is still there.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from pathlib import Path
from typing import Any

from hostile_cases import NOTES, holds
from hostile_run import EMBED, RAG, Case, Outcome, Runner, Skipped, serving, sql, stored

Process = subprocess.Popen[bytes]
MB = 1024 * 1024
# How long a watch is given to see a change and sync it (a change lands in under a second).
SETTLE_S = 4.0
REPLY_S = 60.0


# ---------------------------------------------------------------------------------------
# Watch


def watched(runner: Runner) -> tuple[Path, Path]:
    """A store holding `other/o.md` and `sibling/s.md`, and a folder `notes` to watch."""
    runner.fake_store({"o.md": "Otters float, OTTERMARK.\n"}, folder="other")
    runner.fake_store({"s.md": "Seals bark, SEALMARK.\n"}, folder="sibling")
    notes = runner.folder / "notes"
    notes.mkdir()
    (notes / "n.md").write_text("Newts swim, NEWTMARK.\n")
    return notes, runner.folder / "other"


def started(process: Process) -> None:
    """Wait for a quiet watch's first line on stdout: the first sync is done, it watches."""
    assert process.stdout is not None
    process.stdout.readline()


def stop(process: Process) -> None:
    """Ctrl-C, as a user stops a watch."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)


def watch_then(change: Callable[[Path], None]) -> Callable[[Runner], Outcome]:
    """Watch `notes` (-q), make CHANGE in it, let it settle, stop; is everything still stored?"""

    def run(runner: Runner) -> Outcome:
        notes, _ = watched(runner)

        def drive(process: Process) -> None:
            started(process)
            change(notes)
            time.sleep(SETTLE_S)
            stop(process)

        done = runner.drive("ingest", str(notes), "--watch", "-q", *EMBED, drive=drive)
        kept = all(holds(runner, word) for word in ("OTTERMARK", "SEALMARK", "NEWTMARK"))
        return runner.outcome(done.exit, f"{stored(runner.store)}; all 3 kept: {kept}")

    return run


def links(*pairs: tuple[str, str]) -> Callable[[Path], None]:
    def make(notes: Path) -> None:
        for name, target in pairs:
            (notes / name).symlink_to(target)

    return make


def replaced(pause_s: float) -> Callable[[Runner], Outcome]:
    """The watched folder deleted, a pause, made again with a new file: one behaviour."""

    def run(runner: Runner) -> Outcome:
        notes, _ = watched(runner)

        def drive(process: Process) -> None:
            started(process)
            shutil.rmtree(notes)
            time.sleep(pause_s)
            notes.mkdir()
            (notes / "b.md").write_text("Made again, BMARK.\n")
            time.sleep(SETTLE_S)
            stop(process)

        done = runner.drive("ingest", str(notes), "--watch", "-q", *EMBED, drive=drive)
        kept = holds(runner, "NEWTMARK")
        return runner.outcome(done.exit, f"{stored(runner.store)}; n.md kept: {kept}")

    return run


def store_above(runner: Runner) -> Outcome:
    """The watched folder inside the store's folder."""
    runner.fake_store(NOTES)
    notes = runner.store / "notes"
    notes.mkdir()
    (notes / "a.md").write_text("A note.\n")
    done = runner.rag("ingest", str(notes), "--watch", *EMBED, timeout_s=30)
    return runner.outcome(done.exit, stored(runner.store))


# ---------------------------------------------------------------------------------------
# MCP


class Client:
    """A bare JSON-RPC client of `rag mcp` over its stdin and stdout (one message a line)."""

    def __init__(self, process: Process) -> None:
        self.process = process
        self.replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.replies.put(json.loads(line))
            except ValueError:
                self.replies.put({"unparsable": line[:200].decode("utf-8", "replace")})

    def send(self, message: dict[str, Any] | bytes) -> None:
        assert self.process.stdin is not None
        data = message if isinstance(message, bytes) else json.dumps(message).encode() + b"\n"
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def call(self, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """Send a request; its reply, or None when none came within REPLY_S."""
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        return self.reply(self.next_id)

    def reply(self, wanted: int) -> dict[str, Any] | None:
        deadline = time.monotonic() + REPLY_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.replies.get(timeout=left)
            except queue.Empty:
                return None
            if message.get("id") == wanted or "unparsable" in message:
                return message
        return None

    def start(self) -> None:
        self.call(  # the reply is awaited, not judged: the cases judge the tools
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "hostile-bench", "version": "0"},
            },
        )
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def tool(self, name: str, arguments: dict[str, Any]) -> str:
        """Call a tool: `ok`, `tool error`, `rpc error`, `no reply` or `server gone`."""
        try:
            reply = self.call("tools/call", {"name": name, "arguments": arguments})
        except OSError:
            return "server gone"
        if reply is None:
            return "no reply"
        if "error" in reply or "unparsable" in reply:
            return "rpc error"
        return "tool error" if reply["result"].get("isError") else "ok"

    def leave(self) -> None:
        """Close stdin: the client is gone."""
        assert self.process.stdin is not None
        with suppress(OSError):  # the server went first
            self.process.stdin.close()


def mcp(script: Callable[[Client], str]) -> Callable[[Runner], Outcome]:
    """Serve a store of NOTES (plus a file named in invalid UTF-8) to SCRIPT; then leave."""

    def run(runner: Runner) -> Outcome:
        docs = runner.folder / "docs"
        docs.mkdir()
        (docs / os.fsdecode(b"caf\xe9-notes.txt")).write_text("Cafe notes, zebras, MARKCAFE.\n")
        runner.fake_store(NOTES)
        said: list[str] = []

        def drive(process: Process) -> None:
            client = Client(process)
            client.start()
            said.append(script(client))
            client.leave()

        done = runner.drive("mcp", drive=drive)
        return runner.outcome(done.exit, f"{stored(runner.store)}; {said[0] if said else '-'}")

    return run


def bad_name(client: Client) -> str:
    listed = client.tool("sources", {})
    found = client.tool("search", {"query": "zebras cafe", "k": 5})
    return f"sources: {listed}, search: {found}"


def invalid_request(client: Client) -> str:
    wrong = client.tool("search", {"query": 5, "k": "many"})
    after = client.tool("status", {})
    return f"invalid arguments: {wrong}; then status: {after}"


def client_leaves(client: Client) -> str:
    client.next_id += 1
    client.send(
        {
            "jsonrpc": "2.0",
            "id": client.next_id,
            "method": "tools/call",
            "params": {"name": "search", "arguments": {"query": "zebras"}},
        }
    )
    return "left during a search"


def long_line(size_mb: int) -> Callable[[Client], str]:
    def script(client: Client) -> str:
        block = b"x" * MB
        try:
            for _ in range(size_mb):
                client.send(block)
            client.send(b"\n")
        except OSError:
            return f"server gone during a {size_mb} MB line"
        return f"{size_mb} MB line, then status: {client.tool('status', {})}"

    return script


# ---------------------------------------------------------------------------------------
# Servers and Ray

HOSTILE_SERVER = r"""
import http.server, json, sys
mode = sys.argv[1]
class Hostile(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if mode == "huge-listing":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"data": [{"id": "m", "pad": "')
            try:
                for _ in range(1024):
                    self.wfile.write(b"x" * (1 << 20))
                self.wfile.write(b'"}]}')
            except OSError:
                pass
            return
        if mode == "echo-key":
            return self.refuse()
        self.answer({"object": "list", "data": [{"id": "m", "object": "model"}]})
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if mode == "echo-key":
            return self.refuse()
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"index": i, "embedding": [1e300] * 8} for i in range(len(inputs))]
        self.answer({"object": "list", "data": data, "model": "m"})
    def refuse(self):
        text = json.dumps({"error": f"bad key: {self.headers.get('Authorization')}"}).encode()
        self.send_response(401)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)
    def answer(self, reply):
        text = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
print(server.server_address[1], flush=True)
server.serve_forever()
"""
SECRET_KEY = "sk-HOSTILEBENCHSECRET0123456789"


def hostile_server(mode: str) -> AbstractContextManager[int]:
    """A child process serving MODE's hostile replies on a loopback port."""
    return serving(HOSTILE_SERVER, mode)


def embed_server(mode: str) -> Callable[[Runner], Outcome]:
    """`rag ingest --embed-url` against a hostile embedding server, into a new store."""

    def run(runner: Runner) -> Outcome:
        docs = runner.folder / "docs"
        docs.mkdir()
        for name, text in NOTES.items():
            (docs / name).write_text(text)
        with hostile_server(mode) as port:
            done = runner.rag(
                "ingest",
                str(docs),
                "--embed-url",
                f"http://127.0.0.1:{port}/v1",
                env={"RAG_EMBED_API_KEY": SECRET_KEY},
            )
        leaked = SECRET_KEY in done.outcome.first_error_line
        return runner.outcome(done.exit, f"{stored(runner.store)}; key on stderr: {leaked}")

    return run


def ray_at_http(runner: Runner) -> Outcome:
    """`rag ingest --ray-address` pointing at an HTTP server, not Ray."""
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        raise Skipped("needs ragcli[ray]") from exc
    docs = runner.folder / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("A note.\n")
    with hostile_server("listing") as port:
        done = runner.rag("ingest", str(docs), "--ray-address", f"127.0.0.1:{port}", *EMBED)
    return runner.outcome(done.exit, stored(runner.store))


# ---------------------------------------------------------------------------------------
# Stores


def manifest_damaged(how: str) -> Callable[[Runner], Outcome]:
    """The manifest damaged (a value that is not JSON, or every row deleted); then doctor."""

    def run(runner: Runner) -> Outcome:
        runner.fake_store(NOTES)
        if how == "not-json":
            sql(runner.store, "UPDATE manifest SET value = '{not json' WHERE key = 'dimension'")
        else:
            sql(runner.store, "DELETE FROM manifest")
        searched = runner.rag("search", "zebras")
        checked = runner.rag("doctor", "--check")
        repaired = runner.rag("doctor")
        after = runner.rag("search", "zebras")
        exits = f"search {searched.exit}, doctor --check {checked.exit}, doctor {repaired.exit}"
        return runner.outcome(f"{exits}, search {after.exit}", stored(runner.store))

    return run


def index_not_a_file(kind: str) -> Callable[[Runner], Outcome]:
    """index.faiss replaced by a FIFO or a link to /dev/zero; then search and doctor."""

    def run(runner: Runner) -> Outcome:
        runner.fake_store(NOTES)
        index = runner.store / "index.faiss"
        index.unlink()
        if kind == "fifo":
            os.mkfifo(index)
        else:
            index.symlink_to("/dev/zero")
        searched = runner.rag("search", "zebras", timeout_s=30)
        checked = runner.rag("doctor", "--check", timeout_s=30)
        exits = f"search {searched.exit}, doctor --check {checked.exit}"
        return runner.outcome(exits, stored(runner.store))

    return run


def store_name_newline(runner: Runner) -> Outcome:
    """A named store whose name holds a newline and a forged row; then `rag stores`."""
    data = runner.folder / "data"
    name = "real\nforged  9  9  fake-64  1 KB  notes"
    runner.fake_store(NOTES, store=data / "ragcli" / name)
    done = runner.rag("stores", env={"XDG_DATA_HOME": str(data)}, no_store=True)
    lines = done.stdout.decode("utf-8", "replace").splitlines()
    forged = any(line.lstrip().startswith("forged") for line in lines)
    return runner.outcome(done.exit, f"{len(lines)} lines out; forged row: {forged}")


def one_letter_questions(count: int) -> Callable[[Runner], Outcome]:
    """COUNT one-character questions to `ask -` on six short notes (bundled models)."""

    def run(runner: Runner) -> Outcome:
        docs = runner.folder / "docs"
        docs.mkdir()
        for n, text in enumerate(SHORT_NOTES):
            (docs / f"note{n}.md").write_text(text + "\n")
        subprocess.run(
            [*RAG, "ingest", str(docs), "--store", str(runner.store), "-q"],
            cwd=runner.folder,
            check=True,
            capture_output=True,
        )
        letters = "abcdefghijklmnopqrstuvwxyz?!.,"
        questions = "".join(f"{letters[n % len(letters)]}\n" for n in range(count))
        done = runner.rag("ask", "-", "--json", stdin=questions.encode())
        replies = len(done.stdout.splitlines())
        rate = replies / done.outcome.wall_s if done.outcome.wall_s else 0.0
        return runner.outcome(done.exit, f"{replies:,} replies, {rate:,.1f} questions/s")

    return run


SHORT_NOTES = (
    "I am a note: a to-do list for a Monday.",
    "A is for apple, b is for bee.",
    "Buy milk, eggs and a loaf of bread.",
    "Call Ana at 5 about the trip to Lisbon.",
    "The meeting moved to room B, floor 2.",
    "Remember: x marks the spot on the map.",
)


# ---------------------------------------------------------------------------------------
# OCR


def ocr_file(make: Callable[[Path], Path]) -> Callable[[Runner], Outcome]:
    """Ingest one image file with OCR on (real Tesseract)."""

    def run(runner: Runner) -> Outcome:
        if shutil.which("tesseract") is None:
            raise Skipped("needs Tesseract (make ocr)")
        path = make(runner.folder)
        done = runner.rag("ingest", str(path), "--no-index", *EMBED)
        return runner.outcome(done.exit, stored(runner.store))

    return run


def many_frames(folder: Path, count: int = 10_000) -> Path:
    """A TIFF of COUNT gray 64 x 16 frames sharing one strip of pixels, written directly.

    Pillow's writer takes minutes for 10,000 frames (quadratic); the IFDs are simple.
    """
    width, height = 64, 16
    pixels = bytes([255]) * (width * height)
    tags = 9
    ifd_bytes = 2 + tags * 12 + 4
    first_ifd = 8 + len(pixels)
    out = bytearray(b"II*\0" + struct.pack("<I", first_ifd) + pixels)
    for n in range(count):
        here = first_ifd + n * ifd_bytes
        following = here + ifd_bytes if n + 1 < count else 0
        entries = [
            (256, 3, 1, width),
            (257, 3, 1, height),
            (258, 3, 1, 8),
            (259, 3, 1, 1),
            (262, 3, 1, 1),
            (273, 4, 1, 8),
            (277, 3, 1, 1),
            (278, 3, 1, height),
            (279, 4, 1, len(pixels)),
        ]
        out += struct.pack("<H", tags)
        for tag, kind, number, value in entries:
            out += struct.pack("<HHII", tag, kind, number, value)
        out += struct.pack("<I", following)
    path = folder / "frames.tiff"
    path.write_bytes(bytes(out))
    return path


def huge_png(folder: Path) -> Path:
    """A 13000 x 13000 RGBA PNG, mostly blank (a few MB on disk, 676 MB decoded)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (13_000, 13_000), (255, 255, 255, 255))
    ImageDraw.Draw(image).text((100, 100), "A very large scanned page", fill=(0, 0, 0, 255))
    path = folder / "huge.png"
    image.save(path, optimize=False, compress_level=9)
    return path


SURFACE_CASES = [
    Case(
        "watch-link-root",
        "ln -s / notes/x under ingest notes --watch -q",
        watch_then(links(("x", "/"))),
        "surfaces",
    ),
    Case(
        "watch-links-out",
        "links to .., a sibling folder and a file outside, under a watch",
        watch_then(links(("up", ".."), ("sib", "../sibling"), ("y.md", "../other/o.md"))),
        "surfaces",
    ),
    Case(
        "watch-replaced",
        "watched folder: rm -rf, mkdir, a new file (no pause)",
        replaced(0.0),
        "surfaces",
    ),
    Case(
        "watch-replaced-pause",
        "watched folder: rm -rf, 2 s, mkdir, a new file",
        replaced(2.0),
        "surfaces",
    ),
    Case("watch-in-store", "watch a folder inside the store's folder", store_above, "surfaces"),
    Case(
        "mcp-invalid-utf8-name",
        "rag mcp: sources and a search hitting a name in invalid UTF-8",
        mcp(bad_name),
        "surfaces",
    ),
    Case(
        "mcp-invalid-request",
        "rag mcp: a tool call whose arguments fail validation",
        mcp(invalid_request),
        "surfaces",
    ),
    Case(
        "mcp-client-leaves", "rag mcp: the client leaves mid-call", mcp(client_leaves), "surfaces"
    ),
    Case(
        "mcp-300mb-line",
        "rag mcp: 300 MB on stdin with no newline, then a call",
        mcp(long_line(300)),
        "surfaces",
        costly=True,
    ),
    Case(
        "embed-listing-1gb",
        "embedding server: /v1/models streams 1 GB",
        embed_server("huge-listing"),
        "surfaces",
    ),
    Case(
        "embed-1e300",
        "embedding server: every value 1e300",
        embed_server("1e300"),
        "surfaces",
    ),
    Case(
        "embed-key-echoed",
        "embedding server: 401 echoing the API key",
        embed_server("echo-key"),
        "surfaces",
    ),
    Case("ray-address-http", "--ray-address at an HTTP server", ray_at_http, "surfaces"),
    Case(
        "manifest-not-json",
        "a manifest value that is not JSON; search, doctor",
        manifest_damaged("not-json"),
        "surfaces",
    ),
    Case(
        "manifest-emptied",
        "every manifest row deleted; search, doctor",
        manifest_damaged("emptied"),
        "surfaces",
    ),
    Case(
        "index-fifo", "index.faiss is a FIFO; search, doctor", index_not_a_file("fifo"), "surfaces"
    ),
    Case(
        "index-dev-zero",
        "index.faiss links to /dev/zero; search, doctor",
        index_not_a_file("zero"),
        "surfaces",
    ),
    Case(
        "store-name-newline",
        "rag stores, a store named with a newline and a forged row",
        store_name_newline,
        "surfaces",
    ),
    Case(
        "ask-one-letter-10000",
        "ask -, 10,000 one-character questions, 6 short notes (bundled models)",
        one_letter_questions(10_000),
        "surfaces",
        costly=True,
    ),
    Case(
        "ocr-tiff-10000-frames",
        "OCR: a TIFF of 10,000 frames",
        ocr_file(many_frames),
        "surfaces",
        costly=True,
    ),
    Case(
        "ocr-png-13000-rgba",
        "OCR: a 13000 x 13000 RGBA PNG",
        ocr_file(huge_png),
        "surfaces",
        costly=True,
    ),
]
