"""The OpenAI-compatible server backend: a fake server in-process (llama.cpp's: engines/)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ragcli.errors import ModelError, UsageError
from ragcli.llm.server import OpenAICompatibleLLM, ServerOptions
from ragcli.records import GenerationSettings, Prompt
from ragcli.settings import as_flag

CHAT = Prompt(messages=(("system", "Be brief."), ("user", "Hi?")), stop=("\n\n", "END"))
TEXT = Prompt(text="Once upon a time")
SETTINGS = GenerationSettings(max_tokens=7, temperature=0.25)


def server_options(url: str, **changes: Any) -> ServerOptions:
    """Options for a server at url, with what `rag ask` passes by default."""
    default = {"model": None, "api_key": None, "api": "chat", "context_tokens": 4096}
    return ServerOptions(url=url, **{**default, **changes})


@dataclass
class Seen:
    """One request the fake server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    """What the fake server answers to a POST; `write` takes over the body when given."""

    status: int = 200
    content_type: str = "text/event-stream"
    body: bytes = b""
    delay_s: float = 0.0
    write: Callable[[BaseHTTPRequestHandler], None] | None = None


@dataclass
class FakeServer:
    """A tiny OpenAI-style server: GET /v1/models lists `models`, POSTs get `reply`.

    `listing`, when given, answers GET /v1/models instead.
    """

    url: str = ""
    models: list[str] = field(default_factory=lambda: ["fake-model"])
    reply: Reply = field(default_factory=Reply)
    listing: Reply | None = None
    seen: list[Seen] = field(default_factory=list)

    @property
    def posts(self) -> list[Seen]:
        """The POST requests received so far."""
        return [request for request in self.seen if request.method == "POST"]


def sse(*events: dict[str, Any] | str) -> bytes:
    """Return an SSE body: one `data:` event per item, JSON-encoding dicts."""
    parts = [f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events]
    return "".join(parts).encode("utf-8")


def chat_chunk(content: str | None) -> dict[str, Any]:
    """Return one streamed chat completion chunk."""
    delta = {} if content is None else {"content": content}
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}


def text_chunk(text: str) -> dict[str, Any]:
    """Return one streamed text completion chunk."""
    return {"object": "text_completion", "choices": [{"index": 0, "text": text}]}


def handler_for(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    """Build the request handler class serving `server`'s state."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._record(None)
            if self.path != "/v1/models":
                self._send(404, "application/json", b'{"detail":"Not Found"}')
                return
            if server.listing is not None:
                self._answer(server.listing)
                return
            data = [{"id": name, "object": "model"} for name in server.models]
            self._send(200, "application/json", json.dumps({"data": data}).encode())

        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length", "0"))
            self._record(json.loads(self.rfile.read(size)))
            self._answer(server.reply)

        def _answer(self, reply: Reply) -> None:
            time.sleep(reply.delay_s)
            try:
                if reply.write is not None:
                    reply.write(self)
                else:
                    self._send(reply.status, reply.content_type, reply.body)
            except OSError:
                pass  # the client gave up (a timeout test): nothing to answer

        def _record(self, body: Any) -> None:
            headers = {key.lower(): value for key, value in self.headers.items()}
            server.seen.append(Seen(self.command, self.path, headers, body))

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    """A FakeServer listening on 127.0.0.1 in a background thread; its url ends in /v1."""
    state = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def connect(fake: FakeServer, **options: Any) -> OpenAICompatibleLLM:
    """Return the backend pointed at the fake server."""
    return OpenAICompatibleLLM(server_options(url=fake.url, **options))


def failure(llm: OpenAICompatibleLLM, prompt: Prompt = CHAT) -> ModelError:
    """Return the ModelError streaming the prompt raises."""
    with pytest.raises(ModelError) as raised:
        list(llm.stream(prompt, SETTINGS))
    return raised.value


def test_chat_stream_yields_the_deltas_and_sends_an_openai_request(fake: FakeServer) -> None:
    fake.reply.body = b": ping\n\nevent: message\n" + sse(
        {"choices": [{"index": 0, "delta": {"role": "assistant"}}]},
        chat_chunk("Hel"),
        chat_chunk(""),
        chat_chunk(None),
        chat_chunk("lo"),
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"total_tokens": 3}},
        "[DONE]",
        chat_chunk("after done"),
    )
    llm = connect(fake)
    assert list(llm.stream(CHAT, SETTINGS)) == ["Hel", "lo"]
    (post,) = fake.posts
    assert post.path == "/v1/chat/completions"
    assert post.headers["content-type"] == "application/json"
    assert post.body == {
        "model": "fake-model",
        "max_tokens": 7,
        "temperature": 0.25,
        "stream": True,
        "stop": ["\n\n", "END"],
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi?"},
        ],
    }


def test_completion_stream_yields_the_text_and_sends_the_prompt(fake: FakeServer) -> None:
    fake.reply.body = sse(text_chunk(" there"), text_chunk(""), text_chunk(" was")).replace(
        b"\n\n", b"\r\n\r\n"
    )
    llm = connect(fake, api="completion", model="mine")
    assert list(llm.stream(TEXT, SETTINGS)) == [" there", " was"]
    (post,) = fake.posts
    assert post.path == "/v1/completions"
    assert post.body == {
        "model": "mine",
        "max_tokens": 7,
        "temperature": 0.25,
        "stream": True,
        "prompt": "Once upon a time",
    }


def test_an_event_split_over_several_data_lines_is_joined(fake: FakeServer) -> None:
    fake.reply.body = b'data: {"choices":\ndata: [{"text": "joined"}]}\n\n'
    assert list(connect(fake, api="completion").stream(TEXT, SETTINGS)) == ["joined"]


def test_chat_api_sends_a_text_prompt_as_one_user_message(fake: FakeServer) -> None:
    fake.reply.body = sse(chat_chunk("ok"))
    list(connect(fake).stream(TEXT, SETTINGS))
    assert fake.posts[0].body["messages"] == [{"role": "user", "content": "Once upon a time"}]


def test_completion_api_joins_chat_messages_with_blank_lines(fake: FakeServer) -> None:
    fake.reply.body = sse(text_chunk("ok"))
    list(connect(fake, api="completion").stream(CHAT, SETTINGS))
    assert fake.posts[0].body["prompt"] == "Be brief.\n\nHi?"
    assert fake.posts[0].body["stop"] == ["\n\n", "END"]


def test_model_is_resolved_from_the_models_listing(fake: FakeServer) -> None:
    fake.models = ["first", "second"]
    llm = OpenAICompatibleLLM(server_options(url=fake.url + "/", context_tokens=2048))
    assert llm.model == "first"
    assert llm.spec == f"first at {fake.url}"
    assert llm.context_tokens == 2048
    assert llm.has_chat_template
    assert not connect(fake, api="completion").has_chat_template
    assert [(r.method, r.path) for r in fake.seen] == [("GET", "/v1/models")] * 2


def test_credentials_in_the_url_stay_out_of_the_spec(fake: FakeServer) -> None:
    llm = OpenAICompatibleLLM(server_options(url=fake.url.replace("//", "//user:pw@")))
    assert llm.spec == f"fake-model at {fake.url}"


def test_a_model_the_server_does_not_list_is_still_used(fake: FakeServer) -> None:
    llm = connect(fake, model="unlisted")
    assert llm.spec == f"unlisted at {fake.url}"


def test_a_server_listing_no_models_needs_a_model_name(fake: FakeServer) -> None:
    fake.models = []
    with pytest.raises(ModelError, match="lists no models") as raised:
        connect(fake)
    assert raised.value.hint == "name the model with llm_model"  # the setting, by name
    assert "--llm-model" in raised.value.spelled(as_flag)  # as the CLI says it
    assert connect(fake, model="named").model == "named"


def test_api_key_is_sent_as_a_bearer_token(fake: FakeServer) -> None:
    fake.reply.body = sse(chat_chunk("ok"))
    list(connect(fake, api_key="sekrit").stream(CHAT, SETTINGS))
    assert [r.headers.get("authorization") for r in fake.seen] == ["Bearer sekrit"] * 2


def test_no_authorization_header_without_an_api_key(fake: FakeServer) -> None:
    fake.reply.body = sse(chat_chunk("ok"))
    list(connect(fake).stream(CHAT, SETTINGS))
    assert all("authorization" not in r.headers for r in fake.seen)


@pytest.mark.parametrize(
    ("api", "reply", "prompt"),
    [
        ("chat", {"choices": [{"message": {"role": "assistant", "content": "whole"}}]}, CHAT),
        ("completion", {"choices": [{"text": "whole"}]}, TEXT),
    ],
)
def test_a_plain_json_reply_is_yielded_once(
    fake: FakeServer, api: str, reply: dict[str, Any], prompt: Prompt
) -> None:
    fake.reply = Reply(
        content_type="application/json; charset=utf-8", body=json.dumps(reply).encode()
    )
    assert list(connect(fake, api=api).stream(prompt, SETTINGS)) == ["whole"]


def test_http_error_status_carries_the_servers_message(fake: FakeServer) -> None:
    fake.reply = Reply(500, "application/json", b'{"error": {"message": "boom", "code": 500}}')
    error = failure(connect(fake))
    assert "HTTP 500" in error.message and "boom" in error.message
    assert error.exit_code == 5


def test_http_401_hints_at_the_api_key_variable(fake: FakeServer) -> None:
    fake.reply = Reply(401, "application/json", b'{"detail": "Invalid API key"}')
    error = failure(connect(fake, api_key="wrong"))
    assert "HTTP 401: Invalid API key" in error.message
    assert "llm_api_key" in error.hint and "RAG_LLM_API_KEY" in error.spelled(as_flag)


def test_a_wrong_base_url_fails_at_construction_with_http_404(fake: FakeServer) -> None:
    with pytest.raises(ModelError, match="HTTP 404") as raised:
        OpenAICompatibleLLM(server_options(url=fake.url.removesuffix("/v1")))
    assert "/v1" in raised.value.hint


@pytest.mark.parametrize(
    ("content_type", "body", "detail"),
    [
        ("application/json", b"<html>oops</html>", "not JSON"),
        ("application/json", b'{"result": "no choices"}', "no 'choices'"),
        ("text/plain", b"hello, I am not a stream\n", "no data events"),
        ("text/event-stream", b"data: not json\n\n", "not JSON"),
        ("text/event-stream", b'data: {"choices": [{"delta": "flat"}]}\n\n', "unexpected choice"),
        ("text/event-stream", b"", "empty"),
    ],
)
def test_a_reply_that_is_not_openai_compatible_is_a_model_error(
    fake: FakeServer, content_type: str, body: bytes, detail: str
) -> None:
    fake.reply = Reply(content_type=content_type, body=body)
    error = failure(connect(fake))
    assert "not OpenAI-compatible" in error.message and detail in error.message


def test_an_error_event_mid_stream_is_a_model_error(fake: FakeServer) -> None:
    fake.reply.body = sse(chat_chunk("partial"), {"error": {"message": "context overflow"}})
    pieces: list[str] = []
    with pytest.raises(ModelError, match="reported an error: context overflow"):
        pieces.extend(connect(fake).stream(CHAT, SETTINGS))
    assert pieces == ["partial"]


def test_a_server_slower_than_the_timeout_is_a_model_error(fake: FakeServer) -> None:
    fake.reply = Reply(body=sse(chat_chunk("late")), delay_s=1.0)
    started = time.monotonic()
    error = failure(connect(fake, timeout_s=0.3))
    assert "did not answer within 0.3 s" in error.message
    assert time.monotonic() - started < 0.9


def test_a_stream_that_stalls_is_a_model_error(fake: FakeServer) -> None:
    def stall(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        handler.wfile.write(sse(chat_chunk("first")))
        handler.wfile.flush()
        time.sleep(1.0)

    fake.reply = Reply(write=stall)
    pieces: list[str] = []
    with pytest.raises(ModelError, match="did not answer within 0.3 s"):
        pieces.extend(connect(fake, timeout_s=0.3).stream(CHAT, SETTINGS))
    assert pieces == ["first"]


def test_stopping_early_closes_the_connection(fake: FakeServer) -> None:
    closed = threading.Event()

    def trickle(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        try:
            for _ in range(200):
                handler.wfile.write(sse(chat_chunk("more")))
                handler.wfile.flush()
                time.sleep(0.01)
        except OSError:
            closed.set()

    fake.reply = Reply(write=trickle)
    pieces = connect(fake).stream(CHAT, SETTINGS)
    assert next(pieces) == "more"
    pieces.close()  # type: ignore[attr-defined]
    assert closed.wait(1.5)


def test_nothing_listening_is_a_model_error_at_construction() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ModelError, match="cannot reach the LLM server at") as raised:
        OpenAICompatibleLLM(server_options(url=f"http://127.0.0.1:{port}/v1"))
    assert raised.value.hint == "start the server or check llm_url"
    assert raised.value.spelled(as_flag).endswith("(start the server or check --llm-url)")


def test_an_unknown_host_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="cannot reach"):
        OpenAICompatibleLLM(server_options(url="http://no-such-host.invalid/v1"))


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/v1", "127.0.0.1:8000/v1", "", "http://", "http://127.0.0.1:99999/v1"]
)
def test_a_malformed_url_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError, match="must start with http:// or https://"):
        OpenAICompatibleLLM(server_options(url=url))


def test_an_unknown_api_is_a_usage_error(fake: FakeServer) -> None:
    with pytest.raises(UsageError, match="chat, completion"):
        connect(fake, api="embeddings")


def test_error_messages_are_one_short_line(fake: FakeServer) -> None:
    fake.reply = Reply(502, "text/html", b"<html>\n<body>\n" + b"Bad gateway\n" * 100)
    error = failure(connect(fake))
    assert "HTTP 502: <html> <body> Bad gateway" in error.message
    assert "\n" not in str(error) and len(error.message) < 300


def test_token_count_is_a_conservative_byte_estimate(fake: FakeServer) -> None:
    llm = connect(fake)
    assert [llm.count_tokens(t) for t in ("", "abc", "abcd", "é", "日本")] == [0, 1, 2, 1, 2]


def free_port() -> int:
    """Return a TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rag(*args: str) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_CONFIG_HOME": str(root / "tests")}
    return subprocess.run(
        [sys.executable, "-m", "ragcli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
        env=env,
    )


def test_a_server_that_streams_forever_meets_the_overall_deadline(fake: FakeServer) -> None:
    def forever(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        try:
            while True:  # well inside the per-read timeout, never done
                handler.wfile.write(b": keep-alive\n\n" + sse(chat_chunk("\x1b[2J more")))
                handler.wfile.flush()
                time.sleep(0.01)
        except OSError:
            pass

    fake.reply = Reply(write=forever)
    pieces: list[str] = []
    with pytest.raises(ModelError, match="still sending after 0.5 s"):
        pieces.extend(connect(fake, timeout_s=0.3, answer_timeout_s=0.5).stream(CHAT, SETTINGS))
    assert pieces  # what came before the deadline was passed on


def test_an_endless_line_is_refused_not_held(fake: FakeServer) -> None:
    def endless(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        try:
            handler.wfile.write(b"data: ")
            for _ in range(10 * 1024):  # 10 MiB without a newline
                handler.wfile.write(b"x" * 1024)
        except OSError:
            pass

    fake.reply = Reply(write=endless)
    with pytest.raises(ModelError, match="longer than 8 MiB"):
        list(connect(fake).stream(CHAT, SETTINGS))


@pytest.mark.parametrize("kind", ["text/event-stream", "application/json"])
def test_a_server_that_trickles_one_line_meets_the_overall_deadline(
    fake: FakeServer, kind: str
) -> None:
    def trickle(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", kind)
        handler.end_headers()
        try:
            for _ in range(100):  # one byte at a time, well inside the per-read timeout
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass

    fake.reply = Reply(write=trickle)
    started = time.monotonic()
    with pytest.raises(ModelError, match="still sending after 0.5 s"):
        list(connect(fake, timeout_s=1.0, answer_timeout_s=0.5).stream(CHAT, SETTINGS))
    assert time.monotonic() - started < 5  # a hang guard, not a timing claim


# --- every read is capped; no credential is repeated -------------------------------------


def huge_listing(handler: BaseHTTPRequestHandler) -> None:
    """A valid GET /models reply padded to 40 MiB, streamed: well over the 8 MiB cap."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.end_headers()
    handler.wfile.write(b'{"data": [{"id": "fake-model", "object": "model"}], "padding": "')
    block = b"x" * 2**20
    for _ in range(40):
        handler.wfile.write(block)
    handler.wfile.write(b'"}')


HUGE_LISTING = Reply(write=huge_listing)
KEY = "sk-SECRET-0123456789abcdef"


@pytest.fixture
def fake_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A small store embedded with the fake embedder: `ask` needs one to reach the LLM."""
    from tests.conftest import run_rag

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "cats.md").write_text("# Cats\n\nKittens sleep on a warm rug by the fire.")
    store = str(tmp_path / "store")
    code, _, err = run_rag(
        capsys, "ingest", str(docs), "--store", store, "--embed-model", "fake:16"
    )
    assert code == 0, err
    return store


def test_a_models_listing_over_the_cap_is_refused_not_read_whole(fake: FakeServer) -> None:
    fake.listing = HUGE_LISTING
    with pytest.raises(ModelError, match="longer than 8 MiB") as raised:
        connect(fake)
    assert "not OpenAI-compatible" in raised.value.message and "\n" not in str(raised.value)


def test_ask_with_a_models_listing_over_the_cap_is_exit_5_in_one_line(
    fake: FakeServer, fake_store: str
) -> None:
    fake.listing = HUGE_LISTING
    started = time.monotonic()
    done = rag("ask", "Where do kittens sleep?", "--store", fake_store, "--llm-url", fake.url)
    assert done.returncode == 5, done.stderr
    assert done.stdout == "" and done.stderr.count("\n") == 1
    assert f"the LLM server at {fake.url} sent a reply that is not OpenAI-compatible" in done.stderr
    assert "longer than 8 MiB" in done.stderr
    assert time.monotonic() - started < 60  # a hang guard, not a timing claim


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (401, "application/json", json.dumps({"error": {"message": f"Incorrect API key {KEY}"}})),
        (401, "text/plain", f"invalid key {KEY}"),
        (500, "text/plain", "x" * 185 + f" {KEY}"),  # where the cut to one line would fall
        (502, "text/html", f"<pre>Authorization: Bearer {KEY}</pre>"),
        (200, "application/json", json.dumps({"error": f"key {KEY} has no quota"})),
        (200, "application/json", json.dumps({"result": KEY})),
        (200, "application/json", f"<html>{KEY}"),
        (200, "text/event-stream", "data: " + json.dumps({"error": {"message": KEY}}) + "\n\n"),
        (200, "text/event-stream", f"event: {KEY}\n\n"),
    ],
)
def test_an_api_key_the_server_echoes_is_redacted(
    fake: FakeServer, status: int, content_type: str, body: str
) -> None:
    fake.reply = Reply(status, content_type, body.encode())
    error = failure(connect(fake, api_key=KEY))
    assert "SECRET" not in str(error) and "[redacted]" in str(error)


def test_url_credentials_and_authorization_values_are_redacted(fake: FakeServer) -> None:
    url = fake.url.replace("//", "//alice:pa55word@")
    echo = f"{url} refused Authorization: Basic YWxpY2U6cGE1NXdvcmQ= (pa55word)"
    fake.reply = Reply(500, "text/plain", echo.encode())
    error = str(failure(OpenAICompatibleLLM(server_options(url=url))))
    assert "pa55word" not in error and "YWxpY2U6" not in error
    where = fake.url.removeprefix("http://")
    assert (
        f"HTTP 500: http://[redacted]@{where} refused Authorization: [redacted] ([redacted])"
        in error
    )


def test_a_malformed_url_keeps_its_credentials_out_of_the_error() -> None:
    with pytest.raises(UsageError) as raised:
        OpenAICompatibleLLM(server_options(url="ftp://alice:pa55word@127.0.0.1/v1"))
    assert "ftp://[redacted]@127.0.0.1/v1" in str(raised.value)
    assert "pa55word" not in str(raised.value)


def test_a_listed_model_name_holding_the_key_is_redacted_in_the_spec(fake: FakeServer) -> None:
    fake.models = [f"model-for-{KEY}"]
    llm = connect(fake, api_key=KEY)
    assert llm.model == f"model-for-{KEY}"  # sent as listed
    assert llm.spec == f"model-for-[redacted] at {fake.url}"


def test_ask_keeps_an_echoed_key_off_stderr(
    fake: FakeServer,
    fake_store: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.conftest import run_rag

    monkeypatch.setenv("RAG_LLM_API_KEY", KEY)
    echo = json.dumps({"error": {"message": f"Invalid API key: {KEY}"}})
    fake.listing = Reply(401, "application/json", echo.encode())
    question = "Where do kittens sleep?"
    args = ("--store", fake_store, "--llm-url", fake.url, "-v")
    code, out, err = run_rag(capsys, "ask", question, *args)
    assert code == 5 and out == "" and err.count("\n") == 1
    assert "SECRET" not in err and "HTTP 401: Invalid API key: [redacted]" in err
    assert fake.seen[-1].headers["authorization"] == f"Bearer {KEY}"
