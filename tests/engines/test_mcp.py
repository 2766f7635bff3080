"""`rag mcp`: the real server process, driven by the MCP SDK's own stdio client."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult

ROOT = Path(__file__).resolve().parents[2]
FAKE_EMBEDDER = "fake:64"
# The extractive fake answers with the first sentence of the first passage: an LLM whose
# answers are known, without loading a model (the e2e test below runs the bundled one).
FAKE_LLM = "fake:"
CALL_TIMEOUT_S = 120

Scenario = Callable[[ClientSession], Awaitable[Any]]


def rag(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m ragcli ARGS` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "ragcli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
    )


def serve(store: Path | str, scenario: Scenario, **env: str) -> Any:
    """Start `rag mcp --store STORE` as the SDK's stdio client does, run scenario, stop it."""

    async def run() -> Any:
        server = StdioServerParameters(
            command=sys.executable,
            args=["-m", "ragcli", "mcp", "--store", str(store)],
            env={**os.environ, "HF_HUB_OFFLINE": "1", "RAG_MODEL": FAKE_LLM, **env},
            cwd=ROOT,
        )
        async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
            await asyncio.wait_for(session.initialize(), CALL_TIMEOUT_S)
            return await scenario(session)

    return asyncio.run(run())


async def call(session: ClientSession, tool: str, **arguments: Any) -> CallToolResult:
    return await asyncio.wait_for(session.call_tool(tool, arguments), CALL_TIMEOUT_S)


def ok(result: CallToolResult) -> dict[str, Any]:
    """The structured result of a successful call, which its text block repeats as JSON."""
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    assert result.is_error and result.structured_content is None
    return result.content[0].text  # type: ignore[union-attr]


def cli_error(done: subprocess.CompletedProcess[str]) -> str:
    """The one-line message a failed command printed, without its `rag: error: ` prefix."""
    assert done.returncode != 0 and done.stderr.startswith("rag: error: "), done.stderr
    return done.stderr.removeprefix("rag: error: ").strip()


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docs")
    (folder / "zebra.md").write_text(
        "# Zebras\n\nZebras have black and white stripes.\nNo two zebras share a pattern.\n"
    )
    (folder / "volcano.txt").write_text("Volcanoes erupt molten lava from the mantle.\n")
    (folder / "tea.md").write_text("# Tea\n\nGreen tea is steamed soon after picking.\n")
    return folder


@pytest.fixture(scope="module")
def store(docs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three documents ingested and indexed with the fake embedder."""
    path = tmp_path_factory.mktemp("mcp") / "store"
    done = rag("ingest", str(docs), "--store", str(path), "--embed-model", FAKE_EMBEDDER)
    assert done.returncode == 0, done.stderr
    return path


def test_lists_the_four_tools_with_input_and_output_schemas(store: Path) -> None:
    async def scenario(session: ClientSession) -> None:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert sorted(tools) == ["ask", "search", "sources", "status"]
        for tool in tools.values():
            assert tool.description and tool.input_schema["type"] == "object"
            assert tool.output_schema is not None and tool.output_schema["type"] == "object"
        search = tools["search"].input_schema
        assert search["required"] == ["query"]
        assert search["properties"]["k"]["minimum"] == 1 and search["properties"]["k"]["default"]
        assert search["properties"]["mode"]["enum"] == ["hybrid", "dense", "keyword"]
        assert tools["ask"].input_schema["required"] == ["question"]
        answer = tools["ask"].output_schema
        assert {"answer", "answerable", "evidence", "sources"} <= set(answer["properties"])
        hit = tools["search"].output_schema["$defs"]["HitJson"]["properties"]
        assert {"path", "start_line", "end_line", "score", "text"} <= set(hit)

    serve(store, scenario)


@pytest.mark.parametrize("mode", ["hybrid", "keyword"])
def test_search_gives_the_hits_of_rag_search_json(store: Path, docs: Path, mode: str) -> None:
    async def scenario(session: ClientSession) -> dict[str, Any]:
        return ok(await call(session, "search", query="zebra stripes", k=2, mode=mode))

    found = serve(store, scenario)
    cli = rag("search", "zebra stripes", "-k", "2", "--mode", mode, "--json", "--store", str(store))
    assert cli.returncode == 0, cli.stderr
    assert found["hits"] == [json.loads(line) for line in cli.stdout.splitlines()]
    assert found["query"] == "zebra stripes" and found["mode"] == mode
    assert found["hits"][0]["path"] == str(docs / "zebra.md")


def test_sources_and_status_give_what_their_commands_print(store: Path) -> None:
    async def scenario(session: ClientSession) -> tuple[dict[str, Any], dict[str, Any]]:
        return ok(await call(session, "sources")), ok(await call(session, "status"))

    sources, status = serve(store, scenario)
    listed = rag("sources", "--json", "--store", str(store))
    assert sources == {"documents": json.loads(listed.stdout)}
    assert len(sources["documents"]) == 3
    counted = rag("status", "--json", "--store", str(store), env={"RAG_MODEL": FAKE_LLM})
    assert status == json.loads(counted.stdout)
    assert status["documents"] == 3 and status["embedder"] == FAKE_EMBEDDER


def test_ask_answers_with_its_evidence_and_sources(store: Path, docs: Path) -> None:
    async def scenario(session: ClientSession) -> list[dict[str, Any]]:
        first = ok(await call(session, "ask", question="What colour are zebra stripes?"))
        second = ok(await call(session, "ask", question="What do volcanoes erupt?"))
        return [first, second]

    zebra, volcano = serve(store, scenario)
    assert zebra["answerable"] is True and zebra["answer"].startswith("Zebras have black")
    assert zebra["sources"][0]["path"] == str(docs / "zebra.md")
    assert zebra["evidence"]["path"] == str(docs / "zebra.md")
    assert volcano["answerable"] is True and "lava" in volcano["answer"]


def test_bad_arguments_are_tool_errors_and_the_server_goes_on(store: Path) -> None:
    async def scenario(session: ClientSession) -> list[CallToolResult]:
        return [
            await call(session, "search", query="zebra", k=-1),
            await call(session, "search", query="zebra", k="many"),
            await call(session, "search", query="zebra", mode="fuzzy"),
            await call(session, "search", query="   "),
            await call(session, "ask", question=""),
            await call(session, "search", query="zebra", k=1),
        ]

    *failed, last = serve(store, scenario)
    assert error_text(failed[0]) == "k must be a whole number from 1 to 10,000, not -1"
    assert "k" in error_text(failed[1]) and "integer" in error_text(failed[1])
    assert error_text(failed[2]) == "mode must be one of hybrid, dense, keyword, not 'fuzzy'"
    assert error_text(failed[3]) == cli_error(rag("search", "   ", "--store", str(store)))
    assert error_text(failed[4]) == cli_error(rag("ask", "", "--store", str(store)))
    assert len(ok(last)["hits"]) == 1


def test_a_name_that_is_not_utf8_is_escaped_as_json_output_escapes_it(tmp_path: Path) -> None:
    """Lone surrogates cannot be encoded: once they took the server down at the first reply."""
    docs = tmp_path / "docs"
    docs.mkdir()
    with open(os.path.join(os.fsencode(docs), b"caf\xe9 zebra.md"), "wb") as named:
        named.write(b"# Zebras\n\nZebras have black and white stripes.\n")
    store = tmp_path / "store"
    done = rag("ingest", str(docs), "--store", str(store), "--embed-model", FAKE_EMBEDDER)
    assert done.returncode == 0, done.stderr

    async def scenario(session: ClientSession) -> list[dict[str, Any]]:
        return [
            ok(await call(session, "sources")),
            ok(await call(session, "search", query="zebra stripes", k=1)),
            ok(await call(session, "ask", question="What do zebras have?")),
            ok(await call(session, "status")),
        ]

    sources, found, answer, status = serve(store, scenario)
    shown = f"{docs}/caf\\xe9 zebra.md"  # the byte as the text output shows it, unquoted
    assert [d["path"] for d in sources["documents"]] == [shown]
    assert found["hits"][0]["path"] == shown and answer["sources"][0]["path"] == shown
    assert status["documents"] == 1
    listed = rag("sources", "--json", "--store", str(store))
    assert sources == {"documents": json.loads(listed.stdout)}
    searched = rag("search", "zebra stripes", "-k", "1", "--json", "--store", str(store))
    assert found["hits"] == [json.loads(line) for line in searched.stdout.splitlines()]


def test_missing_store_is_each_calls_error_until_it_is_ingested(docs: Path, tmp_path: Path) -> None:
    missing = tmp_path / "store"
    said = cli_error(rag("search", "zebra", "--store", str(missing)))
    assert said.startswith(f"no store at {missing}")

    async def scenario(session: ClientSession) -> list[CallToolResult]:
        results = [
            await call(session, tool, **arguments)
            for tool, arguments in [
                ("search", {"query": "zebra"}),
                ("ask", {"question": "What do zebras have?"}),
                ("sources", {}),
                ("status", {}),
            ]
        ]
        done = rag("ingest", str(docs), "--store", str(missing), "--embed-model", FAKE_EMBEDDER)
        assert done.returncode == 0, done.stderr
        return [*results, await call(session, "search", query="zebra", k=1)]

    *failed, found = serve(missing, scenario)
    assert [error_text(result) for result in failed] == [said] * 4
    assert ok(found)["hits"][0]["path"] == str(docs / "zebra.md")


def test_each_call_sees_the_store_as_rag_ingest_left_it(docs: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    done = rag("ingest", str(docs), "--store", str(store), "--embed-model", FAKE_EMBEDDER)
    assert done.returncode == 0, done.stderr
    added = tmp_path / "more" / "comet.md"
    added.parent.mkdir()
    added.write_text("# Comets\n\nA comet grows a tail of gas near the sun.\n")

    async def scenario(session: ClientSession) -> list[dict[str, Any]]:
        before = ok(await call(session, "search", query="comet tail", k=1, mode="dense"))
        await call(session, "ask", question="What grows near the sun?")  # the LLM loads
        # --no-wait: the server holds no writer lock, so the ingest never waits for it.
        done = rag("ingest", str(added.parent), "--store", str(store), "--no-wait")
        assert done.returncode == 0, done.stderr
        after = ok(await call(session, "search", query="comet tail", k=1, mode="dense"))
        answer = ok(await call(session, "ask", question="What grows near the sun?"))
        sources = ok(await call(session, "sources"))
        return [before, after, answer, sources]

    before, after, answer, sources = serve(store, scenario)
    assert before["hits"][0]["path"] != str(added)
    assert after["hits"][0]["path"] == str(added)
    assert answer["sources"][0]["path"] == str(added)
    assert len(sources["documents"]) == 4


def test_a_reopened_retriever_is_the_same_until_the_store_changes(
    docs: Path, tmp_path: Path
) -> None:
    from ragcli.retrieval.retriever import RetrievalSettings, Retriever

    store = tmp_path / "store"
    done = rag("ingest", str(docs), "--store", str(store), "--embed-model", FAKE_EMBEDDER)
    assert done.returncode == 0, done.stderr
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "comet.md").write_text("Comets grow tails.\n")
    retriever = Retriever((store,), RetrievalSettings("hybrid"), None)
    embedder = retriever.embedder
    try:
        assert retriever.reopened() is retriever
        done = rag("ingest", str(tmp_path / "more"), "--store", str(store), "--no-wait")
        assert done.returncode == 0, done.stderr
        fresh = retriever.reopened()
    except BaseException:
        retriever.close()
        raise
    with fresh:
        assert fresh is not retriever and fresh.embedder is embedder is not None
        assert fresh.retrieve("comet tails", 1, "keyword")[0].chunk.path.endswith("comet.md")
        assert fresh.reopened() is fresh


def test_help_does_not_import_the_mcp_sdk() -> None:
    probe = (
        "import sys\nfrom ragcli.cli import main\n"
        "for args in (['--help'], ['mcp', '--help']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'mcp_types')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.stdout.strip().endswith("[]"), done.stdout
    assert "rag mcp" in done.stdout


@pytest.mark.e2e
def test_bundled_models_answer_the_grok_question_over_mcp(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The real embedder and llama.cpp in the server process: nothing they print reaches
    the protocol stream (the client would fail to parse it), and they answer from the doc."""
    store = tmp_path_factory.mktemp("e2e-mcp") / "store"
    done = rag("ingest", "sample_docs", "--store", str(store))
    assert done.returncode == 0, done.stderr

    async def scenario(session: ClientSession) -> list[dict[str, Any]]:
        question = "How many parameters does Grok-0 have?"
        first = ok(await call(session, "ask", question=question))
        declined = ok(await call(session, "ask", question="What is the capital of Australia?"))
        hits = ok(await call(session, "search", query="Grok-0 parameters", k=3))
        return [first, declined, hits]

    answer, declined, hits = serve(store, scenario, RAG_MODEL="")
    # The structure and the retrieval, not the model's wording (tests/e2e/test_e2e.py has that).
    assert answer["answerable"] is True and answer["answer"].strip()
    assert answer["sources"][0]["path"].endswith("grok-announcement.md")
    assert any("33 billion" in source["text"] for source in answer["sources"])
    assert {"grounded", "evidence", "strategy"} <= set(answer)
    assert declined["answerable"] is False and declined["evidence"] is None
    assert hits["hits"][0]["path"].endswith("grok-announcement.md")
