"""Search hits: the `path:line: snippet` line of `rag search` and its JSON."""

from __future__ import annotations

from typing import Any

from ragcli.output.console import display_name, display_path, rounded
from ragcli.records import Hit


def hit_json(hit: Hit, query: str, rank: int, mode: str) -> dict[str, Any]:
    """One `rag search` result as it appears in --json output (keys are a stable contract)."""
    chunk = hit.chunk
    line, _ = snippet(hit, query)
    scores = {"dense": rounded(hit.dense), "keyword": rounded(hit.keyword)}
    if mode == "hybrid":
        scores["hybrid"] = rounded(hit.score)
    return {
        "query": query,
        "rank": rank,
        "store": hit.store,
        "path": chunk.path,
        "page": chunk.page,
        "line": line,
        "start_line": chunk.start_line,
        "end_line": chunk.end_line,
        "heading": chunk.heading,
        "score": rounded(hit.score),
        "scores": scores,
        "text": chunk.text,
        "ocr": chunk.ocr,
    }


def format_hit(hit: Hit, query: str, show_store: bool = False) -> str:
    """One `rag search` result as `path:line: snippet`, the format of `grep -n` and editors.

    Across several stores the store's name leads the snippet, `path:line: [store] ...`,
    so editors still jump to the line.
    """
    line, text = snippet(hit, query)
    store = f"[{display_name(hit.store)}] " if show_store else ""
    where = [f"page {hit.chunk.page}"] if hit.chunk.page is not None else []
    where += ["OCR"] if hit.chunk.ocr else []
    mark = f"[{', '.join(where)}] " if where else ""
    return f"{display_path(hit.chunk.path)}:{line}: {store}{mark}{text}\n"


_SNIPPET_CHARS = 160


def snippet(hit: Hit, query: str) -> tuple[int, str]:
    """Return the chunk's line that best shows the match (its line number and text)."""
    from ragcli.retrieval.keywords import query_terms

    terms = query_terms(query)
    lines = hit.chunk.text.split("\n")
    best, best_count = 0, -1
    for offset, text in enumerate(lines):
        lowered = text.lower()
        count = sum(term in lowered for term in terms) if text.strip() else -1
        if count > best_count:
            best, best_count = offset, count
    return hit.chunk.start_line + best, _window(" ".join(lines[best].split()), terms)


def _window(text: str, terms: list[str]) -> str:
    """Cut a long line to about _SNIPPET_CHARS around its first query term, at spaces."""
    if len(text) <= _SNIPPET_CHARS:
        return text
    lowered = text.lower()
    found = [p for p in (lowered.find(term) for term in terms) if p >= 0]
    start = max(0, min(found, default=0) - _SNIPPET_CHARS // 4)
    if start:
        start = text.find(" ", start) + 1 or start
    piece = text[start : start + _SNIPPET_CHARS]
    if start + _SNIPPET_CHARS < len(text):
        piece = piece.rsplit(" ", 1)[0] + " …"
    return ("… " if start else "") + piece
