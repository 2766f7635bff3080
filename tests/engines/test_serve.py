"""`rag serve`: a real server process on a loopback port, driven by the official `openai` client."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.unit.test_server import free_port

ROOT = Path(__file__).resolve().parents[2]
FAKE_EMBEDDER = "fake:64"
# The extractive fake answers with the first sentence of the first passage: known answers,
# no model to load (the e2e test at the end runs the bundled one).
FAKE_LLM = "fake:"
QUESTION = "What do zebras have?"


def rag(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m ragcli ARGS` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "ragcli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
    )


@dataclass
class Server:
    """A running `rag serve` process and its base URL (`.../v1`)."""

    process: subprocess.Popen[str]
    url: str
    log: Path

    @property
    def root(self) -> str:
        return self.url.removesuffix("/v1")

    def client(self, key: str = "unused") -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key=key, max_retries=0, timeout=120)


@contextlib.contextmanager
def serving(store: Path, log_dir: Path, *args: str, **env: str) -> Iterator[Server]:
    """Start `rag serve --store STORE ARGS` on a free loopback port; stop it at the end."""
    port = free_port()
    log = log_dir / f"serve-{port}.log"
    command = [sys.executable, "-m", "ragcli", "serve", "--store", str(store)]
    command += ["--port", str(port), *args]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "RAG_MODEL": FAKE_LLM, **env}
    with log.open("w") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=environment
        )
    server = Server(process, f"http://127.0.0.1:{port}/v1", log)
    try:
        wait_until_up(server)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"rag serve exited {server.process.returncode}:\n{server.log.read_text()}")
        try:
            with urllib.request.urlopen(f"{server.root}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"rag serve did not start in 120 s:\n{server.log.read_text()}")


def request(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """Send a request; return status, headers and the JSON body (the body must be JSON)."""
    sent = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(sent, timeout=120) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as failed:
        return failed.code, dict(failed.headers), json.loads(failed.read())


def post(url: str, document: Any, **headers: str) -> tuple[int, dict[str, str], Any]:
    return request(url, json.dumps(document).encode(), headers)


def assert_error(document: Any) -> str:
    """The message of an OpenAI-style error body, after checking its shape."""
    assert set(document) == {"error"}, document
    assert {"message", "type", "code"} <= set(document["error"])
    message = document["error"]["message"]
    assert isinstance(message, str) and "\n" not in message and "Traceback" not in message
    return message


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three short documents ingested and indexed with the fake embedder."""
    docs = tmp_path_factory.mktemp("docs")
    (docs / "zebra.md").write_text(
        "# Zebras\n\nZebras have black and white stripes.\nNo two zebras share a pattern.\n"
    )
    (docs / "volcano.txt").write_text("Volcanoes erupt molten lava from the mantle.\n")
    (docs / "tea.md").write_text("# Tea\n\nGreen tea is steamed soon after picking.\n")
    path = tmp_path_factory.mktemp("serve") / "store"
    done = rag("ingest", str(docs), "--store", str(path), "--embed-model", FAKE_EMBEDDER)
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture(scope="module")
def server(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving(store, tmp_path_factory.mktemp("logs")) as running:
        yield running


def test_answers_with_the_evidence_and_sources_in_the_text_and_under_ragcli(
    server: Server, store: Path
) -> None:
    completion = server.client().chat.completions.create(
        model="anything", messages=[{"role": "user", "content": QUESTION}]
    )
    assert completion.object == "chat.completion" and completion.model == "store"
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    content = choice.message.content or ""
    # The text `rag ask` prints: the answer, its quoted evidence, the numbered sources.
    asked = rag("ask", QUESTION, "--store", str(store), RAG_MODEL=FAKE_LLM)
    assert asked.returncode == 0, asked.stderr
    assert content == asked.stdout
    assert content.startswith("Zebras have black and white stripes")
    assert "\nSources:\n  [1] " in content and "zebra.md" in content
    support = completion.ragcli  # type: ignore[attr-defined]
    asked_json = json.loads(
        rag("ask", QUESTION, "--store", str(store), "--json", RAG_MODEL=FAKE_LLM).stdout
    )
    assert support == asked_json
    assert support["grounded"] is True and support["sources"][0]["path"].endswith("zebra.md")


def test_streams_chunks_as_openai_does_with_ragcli_in_the_last(server: Server) -> None:
    client = server.client()
    messages: Any = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": QUESTION},
    ]
    chunks = list(client.chat.completions.create(model="store", messages=messages, stream=True))
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk.id for chunk in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    whole = client.chat.completions.create(model="store", messages=messages)
    assert streamed == whole.choices[0].message.content
    assert [chunk.choices[0].finish_reason for chunk in chunks][-1] == "stop"
    assert chunks[-1].ragcli == whole.ragcli  # type: ignore[attr-defined]
    assert all(not hasattr(chunk, "ragcli") for chunk in chunks[:-1])


def test_stream_ends_with_done(server: Server) -> None:
    body = {"messages": [{"role": "user", "content": QUESTION}], "stream": True}
    sent = urllib.request.Request(f"{server.url}/chat/completions", json.dumps(body).encode())
    with urllib.request.urlopen(sent, timeout=120) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = response.read().decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(event.startswith("data: {") for event in events[:-2])


def test_earlier_turns_are_read_from_the_messages(server: Server) -> None:
    client = server.client()
    first = client.chat.completions.create(
        model="store", messages=[{"role": "user", "content": QUESTION}]
    )
    follow_up = "What else do they have?"
    conversation: Any = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": [{"type": "text", "text": follow_up}]},
    ]
    reply = client.chat.completions.create(model="store", messages=conversation)
    support = reply.ragcli  # type: ignore[attr-defined]
    assert support["question"] == follow_up
    # "they" are the zebras of the turn before; asked alone, the question finds lava.
    assert support["sources"][0]["path"].endswith("zebra.md")
    alone = client.chat.completions.create(
        model="store", messages=[{"role": "user", "content": follow_up}]
    )
    assert alone.ragcli["sources"][0]["path"].endswith("volcano.txt")  # type: ignore[attr-defined]


def test_models_lists_the_store(server: Server) -> None:
    models = server.client().models.list()
    assert [model.id for model in models.data] == ["store"]
    assert models.data[0].owned_by == "ragcli"


def test_health_answers_ok(server: Server) -> None:
    status, _, document = request(f"{server.root}/health")
    assert status == 200 and document == {"status": "ok"}


def test_search_gives_what_rag_search_json_gives(server: Server, store: Path) -> None:
    status, _, found = post(f"{server.url}/search", {"query": "zebra stripes", "k": 2})
    assert status == 200 and found["query"] == "zebra stripes" and found["mode"] == "hybrid"
    listed = rag("search", "zebra stripes", "--store", str(store), "--json", "-k", "2")
    assert found["hits"] == [json.loads(line) for line in listed.stdout.splitlines()]
    status, _, keyword = post(f"{server.url}/search", {"query": "lava", "mode": "keyword"})
    assert status == 200 and keyword["mode"] == "keyword"
    assert keyword["hits"][0]["path"].endswith("volcano.txt")


@pytest.mark.parametrize(
    ("path", "body", "said"),
    [
        ("/chat/completions", b"{not json", "the body is not JSON text"),
        ("/chat/completions", b"[1, 2]", "the body must be a JSON object"),
        ("/chat/completions", b"{}", "`messages` must be a non-empty array"),
        ("/chat/completions", b'{"messages": [{"role": "user", "content": 5}]}', "content"),
        ("/chat/completions", b'{"messages": [{"role": "bot", "content": "hi"}]}', "role"),
        ("/chat/completions", b'{"messages": [{"role": "assistant", "content": "x"}]}', "last"),
        ("/chat/completions", b'{"messages": [{"role": "user", "content": " "}]}', "empty"),
        (
            "/chat/completions",
            b'{"stream": "yes", "messages": [{"role": "user", "content": "hi"}]}',
            "stream",
        ),
        ("/chat/completions", b"\xff\xfe", "the body is not JSON text"),
        ("/chat/completions", b"[" * 100_000, "the body is not JSON text"),
        ("/search", b'{"query": 3}', "`query` must be a string"),
        ("/search", b'{"query": "x", "k": true}', "`k` must be a whole number"),
        ("/search", b'{"query": "x", "k": 0}', "k must be a whole number from 1 to 10,000, not 0"),
        ("/search", b'{"query": "x", "mode": "fuzzy"}', "mode must be one of"),
    ],
)
def test_a_bad_body_is_a_400_with_a_json_error(
    server: Server, path: str, body: bytes, said: str
) -> None:
    status, headers, document = request(server.url + path, body)
    assert status == 400 and headers["content-type"] == "application/json"
    assert said in assert_error(document)


def test_an_overlong_question_gets_the_cli_message(server: Server) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        server.client().chat.completions.create(
            model="store", messages=[{"role": "user", "content": "why " * 1500}]
        )
    assert "at most 4,000 are read" in refused.value.message


def test_an_unknown_route_or_method_is_a_json_error(server: Server) -> None:
    status, _, document = request(f"{server.url}/embeddings", b"{}")
    assert status == 404 and "Not Found" in assert_error(document)
    status, _, document = request(f"{server.url}/chat/completions")
    assert status == 405 and assert_error(document)


def test_an_oversize_body_is_a_413(server: Server) -> None:
    huge = {"messages": [{"role": "user", "content": "x" * (2 << 20)}]}
    with pytest.raises(openai.APIStatusError) as refused:
        server.client().chat.completions.create(model="store", messages=huge["messages"])
    assert refused.value.status_code == 413
    assert "larger than 1,048,576 bytes" in refused.value.message
    # Sent in chunks with no length declared: counted as it comes, refused all the same.
    blocks = iter([b'{"messages": [{"role": "user", "content": "', b"y" * (3 << 20), b'"}]}'])
    status, _, document = request(f"{server.url}/chat/completions", blocks)  # type: ignore[arg-type]
    assert status == 413 and "larger than" in assert_error(document)
    assert request(f"{server.root}/health")[0] == 200


@pytest.fixture(scope="module")
def keyed(store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that wants `Authorization: Bearer s3cret` (the key given in RAG_SERVE_KEY)."""
    with serving(store, tmp_path_factory.mktemp("logs"), RAG_SERVE_KEY="s3cret") as running:
        yield running


def test_a_wrong_or_missing_key_is_a_401(keyed: Server) -> None:
    with pytest.raises(openai.AuthenticationError) as refused:
        keyed.client("wrong").models.list()
    assert refused.value.status_code == 401
    for headers in ({}, {"Authorization": "s3cret"}, {"Authorization": "Basic s3cret"}):
        status, sent, document = request(f"{keyed.url}/models", headers=headers)
        assert status == 401 and sent["www-authenticate"] == "Bearer"
        assert assert_error(document) == "a valid API key is required"
    assert request(f"{keyed.root}/health")[0] == 200
    assert [model.id for model in keyed.client("s3cret").models.list().data] == ["store"]
    reply = keyed.client("s3cret").chat.completions.create(
        model="store", messages=[{"role": "user", "content": QUESTION}]
    )
    assert "Sources:" in (reply.choices[0].message.content or "")


def test_a_full_queue_is_a_429_with_retry_after(
    store: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # One answering, one waiting (--queue-size 1): of four at once, two are refused.
    logs = tmp_path_factory.mktemp("logs")
    with serving(store, logs, "--queue-size", "1", RAG_MODEL="fake:slow:700") as server:
        outcomes: list[tuple[int, dict[str, str], Any]] = []

        def ask() -> None:
            body = {"messages": [{"role": "user", "content": QUESTION}]}
            outcomes.append(post(f"{server.url}/chat/completions", body))

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        statuses = sorted(status for status, _, _ in outcomes)
        assert statuses == [200, 200, 429, 429]
        for status, headers, document in outcomes:
            if status == 429:
                assert int(headers["retry-after"]) >= 1
                assert document["error"]["type"] == "rate_limit_error"
            else:
                assert "Sources:" in document["choices"][0]["message"]["content"]
        assert server.process.poll() is None
        with pytest.raises(openai.RateLimitError):  # the official client sees it as such
            threads = [threading.Thread(target=ask) for _ in range(2)]
            for thread in threads:
                thread.start()
            time.sleep(0.3)
            server.client().chat.completions.create(
                model="store", messages=[{"role": "user", "content": QUESTION}]
            )
        for thread in threads:
            thread.join(120)


def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(
    store: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    logs = tmp_path_factory.mktemp("logs")
    with serving(store, logs, RAG_MODEL="fake:slow:700") as server:
        outcome: list[tuple[int, dict[str, str], Any]] = []
        body = {"messages": [{"role": "user", "content": QUESTION}]}
        asking = threading.Thread(
            target=lambda: outcome.append(post(f"{server.url}/chat/completions", body))
        )
        asking.start()
        time.sleep(0.5)  # the request is in flight: its answer takes seconds
        server.process.send_signal(signal.SIGTERM)
        asking.join(120)
        assert server.process.wait(60) == 0, server.log.read_text()
    status, _, document = outcome[0]
    assert status == 200 and "Sources:" in document["choices"][0]["message"]["content"]


def test_a_port_in_use_or_a_missing_store_is_said_at_start(
    store: Path, tmp_path: Path, server: Server
) -> None:
    port = server.url.rsplit(":", 1)[1].removesuffix("/v1")
    done = rag("serve", "--store", str(store), "--port", port, RAG_MODEL=FAKE_LLM)
    assert done.returncode == 2
    assert done.stderr.startswith(f"rag: error: cannot listen on 127.0.0.1:{port}: ")
    done = rag("serve", "--store", str(tmp_path / "none"), "--port", "1", RAG_MODEL=FAKE_LLM)
    assert done.returncode == 3 and "no store at" in done.stderr
    done = rag("serve", "--port", "0")
    assert done.returncode == 2 and "--port must be a whole number from 1 to 65,535" in done.stderr


def test_without_the_serve_extra_it_says_so_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "starlette.py").write_text("raise ImportError('not installed')\n")
    path = os.pathsep.join([str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")])
    done = rag("serve", PYTHONPATH=path)
    assert done.returncode == 5
    assert done.stderr == (
        "rag: error: rag serve needs Starlette and uvicorn, which are not installed "
        "(pip install 'ragcli[serve]')\n"
    )


@pytest.mark.e2e
def test_the_bundled_model_answers_the_grok_question_over_http(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    store = tmp_path_factory.mktemp("e2e-serve") / "store"
    done = rag("ingest", "sample_docs", "--store", str(store))
    assert done.returncode == 0, done.stderr
    # RAG_MODEL empty: the bundled Gemma 3 270M rather than the fake.
    with serving(store, tmp_path_factory.mktemp("logs"), RAG_MODEL="") as server:
        client = server.client()
        question = [{"role": "user", "content": "How many parameters does Grok-0 have?"}]
        completion = client.chat.completions.create(model="store", messages=question)
        first: Any = [{"role": "user", "content": "What did Grok-1 score on HumanEval?"}]
        said = client.chat.completions.create(model="store", messages=first)
        first += [
            {"role": "assistant", "content": said.choices[0].message.content},
            {"role": "user", "content": "And on MMLU?"},
        ]
        follow_up = client.chat.completions.create(model="store", messages=first)
    content = completion.choices[0].message.content or ""
    assert content.startswith("33 billion\n")
    assert "\nSources:\n  [1] sample_docs/grok-announcement.md" in content
    support = completion.ragcli  # type: ignore[attr-defined]
    assert support["answer"] == "33 billion" and support["grounded"] is True
    assert support["sources"][0]["path"].endswith("grok-announcement.md")
    # The follow-up is read in the light of the turn before it (issue 24's example): the
    # passage with Grok-1's MMLU score is found (the model's wording is the answering's).
    assert "63.2%" in said.ragcli["answer"]  # type: ignore[attr-defined]
    found = follow_up.ragcli["sources"]  # type: ignore[attr-defined]
    assert any("73% on MMLU" in source["text"] for source in found[:2])
