"""`rag mcp`: the store's search, ask, sources and status as Model Context Protocol tools.

With mcp_stdio, the one module that imports the official MCP SDK (`mcp`, the ragcli[mcp]
extra); the command imports it only when `rag mcp` runs. Tools call the library (ragcli/library.py)
and return the documents `--json` prints, declared as output schemas
(ragcli/output/schemas.py) and escaped as `--json` escapes them (output.json_safe). A
RagError becomes a tool error result (isError) whose text is the CLI's one-line message;
the server goes on serving. The transport (mcp_stdio) owns stdout while it serves: it
points fd 1 at stderr, so nothing else a library prints (llama.cpp included) can reach
the protocol stream.
"""

# No `from __future__ import annotations`: the SDK reads the tools' annotations as objects,
# and they name values of build_server (the resolved defaults and ranges).
import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from ragcli import __version__, output
from ragcli.errors import RagError
from ragcli.library import Library
from ragcli.mcp_stdio import stdio_streams
from ragcli.output.schemas import AnswerJson, SearchJson, SourcesJson, StatusJson
from ragcli.retrieval.modes import RETRIEVAL_MODES
from ragcli.settings import KEYS, as_flag

INSTRUCTIONS = (
    "Search and question a local ragcli store of documents. `search` finds the chunks that "
    "match a query (path, lines, score, text), no LLM; `ask` answers a question with a local "
    "model from those chunks and cites its sources, or says it is not answerable from them; "
    "`sources` lists the stored documents; `status` counts what the store holds."
)
_READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)


class _Worker:
    """Runs every call on one thread, one at a time.

    SQLite connections and llama.cpp contexts stay on the thread that made them, and the
    protocol's event loop stays free (pings, cancellations) while a model works.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-mcp")

    async def call(self, work: Callable[[], dict[str, Any]]) -> CallToolResult:
        """Run work; its document as a structured result, or its failure as a tool error."""
        try:
            document = output.json_safe(await asyncio.wrap_future(self._pool.submit(work)))
        except RagError as exc:
            return _tool_error(exc.spelled(as_flag))
        except Exception as exc:  # a bug: said in one line, as the CLI does; the server lives
            return _tool_error(f"internal error: {type(exc).__name__}: {exc}")
        text = json.dumps(document, ensure_ascii=False)
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=document
        )

    def close(self, library: Library) -> None:
        """Release the store on the thread that opened it, then stop the thread."""
        self._pool.submit(library.close).result()
        self._pool.shutdown()


def _tool_error(message: str) -> CallToolResult:
    text = output.one_line(message)  # the line the CLI prints, escaped as it escapes it
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def build_server(library: Library, worker: _Worker) -> MCPServer[Any]:
    """The MCP server with the four tools over one library."""
    server: MCPServer[Any] = MCPServer(
        "ragcli", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING"
    )
    search_k = library.settings.search_k
    k_range = KEYS["search_k"].range
    assert k_range is not None
    k_bounds = {"minimum": int(k_range.low), "maximum": int(k_range.high)}
    default_mode = library.settings.mode

    # Ranges and choices are in the schemas and checked by ragcli's settings (not by
    # pydantic), so a bad value gets the CLI's one-line message.
    @server.tool(annotations=_READ_ONLY)
    async def search(
        query: Annotated[str, Field(description="What to look for.")],
        k: Annotated[int, Field(description="How many hits.", json_schema_extra=k_bounds)] = (
            search_k
        ),
        mode: Annotated[
            str,
            Field(
                description="keyword (BM25) and dense (embeddings) fused, or just one.",
                json_schema_extra={"enum": list(RETRIEVAL_MODES)},
            ),
        ] = default_mode,
    ) -> Annotated[CallToolResult, SearchJson]:
        """Find the chunks of the stored documents that match a query, best first, no LLM.

        Each hit has the file path, its page (PDFs), line numbers, scores and text.
        """

        def work() -> dict[str, Any]:
            found = library.search(query, k, mode)
            hits = [output.hit_json(h, found.query, r, mode) for r, h in enumerate(found.hits, 1)]
            return {"query": found.query, "mode": mode, "hits": hits}

        return await worker.call(work)

    @server.tool(annotations=_READ_ONLY)
    async def ask(
        question: Annotated[str, Field(description="A question about the stored documents.")],
    ) -> Annotated[CallToolResult, AnswerJson]:
        """Answer a question from the stored documents with a local model, citing sources.

        `answerable` is false when nothing relevant was found (the answer then says so);
        `evidence` is the passage sentence that supports the answer; `sources` are the
        numbered passages the model read, `cited` when the answer cites them.
        """
        return await worker.call(lambda: output.answer_json(library.ask(question)))

    @server.tool(annotations=_READ_ONLY)
    async def sources() -> Annotated[CallToolResult, SourcesJson]:
        """List the stored documents: path, kind, size, sha256, chunks, ingestion time."""
        return await worker.call(
            lambda: {"documents": [output.document_json(d) for d in library.sources()]}
        )

    @server.tool(annotations=_READ_ONLY)
    async def status() -> Annotated[CallToolResult, StatusJson]:
        """Count what the store holds: documents, chunks, vectors, index, models."""
        return await worker.call(
            lambda: output.status_json(library.status(), library.settings.model)
        )

    return server


def serve(library: Library) -> None:
    """Serve the library's tools over stdio until the client closes the connection."""
    worker = _Worker()
    try:
        anyio.run(_serve_stdio, build_server(library, worker))
    finally:
        worker.close(library)


async def _serve_stdio(server: MCPServer[Any]) -> None:
    """What MCPServer.run("stdio") does, over ragcli's bounded transport (mcp_stdio)."""
    lowlevel = server._lowlevel_server  # the SDK offers no public way to pick the transport
    async with stdio_streams() as (read_stream, write_stream):
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
