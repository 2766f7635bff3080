"""Answers of `rag ask`: text with support and sources, JSON, NDJSON stream events, context."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ragcli.output.console import display_name, display_path, note, print_json, write
from ragcli.records import (
    Answer,
    AnswerDone,
    AnswerSources,
    AnswerToken,
    Evidence,
    Passage,
    StreamEvent,
)

if TYPE_CHECKING:
    from ragcli.answering.prompts import PromptParts


def answer_json(answer: Answer) -> dict[str, Any]:
    """An answer as it appears in --json output."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "answerable": answer.answerable,
        "grounded": answer.grounded,
        "evidence": None if answer.evidence is None else evidence_json(answer.evidence),
        "strategy": answer.strategy,
        "sources": _sources_json(answer.passages, answer.cited),
    }


def _sources_json(passages: tuple[Passage, ...], cited: frozenset[int]) -> list[dict[str, Any]]:
    return [source_json(p, p.number in cited) for p in passages]


def source_json(passage: Passage, cited: bool) -> dict[str, Any]:
    """A source of an answer as it appears in --json output (keys are a stable contract)."""
    return {
        "number": passage.number,
        "store": passage.store,
        "path": passage.path,
        "page": passage.page,
        "start_line": passage.start_line,
        "end_line": passage.end_line,
        "heading": passage.heading,
        "score": round(passage.score, 4),
        "cited": cited,
        "text": passage.text,
        "ocr": passage.ocr,
    }


def evidence_json(evidence: Evidence) -> dict[str, Any]:
    """The passage sentence that supports an answer, as it appears in --json output."""
    return {
        "passage": evidence.passage,
        "path": evidence.path,
        "page": evidence.page,
        "line": evidence.line,
        "sentence": evidence.sentence,
        "start_char": evidence.start_char,
        "end_char": evidence.end_char,
    }


def event_json(event: StreamEvent) -> dict[str, Any]:
    """One `ask --stream-json` event as its NDJSON line holds it (keys are a stable contract)."""
    if isinstance(event, AnswerToken):
        return {"type": "token", "text": event.text}
    if isinstance(event, AnswerSources):
        sources = _sources_json(event.passages, event.cited)
        return {"type": "sources", "question": event.question, "sources": sources}
    document = answer_json(event.answer)
    return {"type": "done", **{k: v for k, v in document.items() if k != "sources"}}


def context_json(question: str, context: str, passages: tuple[Passage, ...]) -> dict[str, Any]:
    """What `ask --context-only --json` prints: the context and its sources."""
    return {
        "question": question,
        "context": context,
        "sources": [source_json(p, False) for p in passages],
    }


def format_support(answer: Answer) -> str:
    """The lines under an answer: its quoted evidence, or a warning that nothing supports it."""
    if not answer.answerable:
        return ""
    if answer.evidence is not None:
        evidence = answer.evidence
        where = f"{display_path(evidence.path)}:{evidence.line}"
        if evidence.page is not None:
            where += f" [page {evidence.page}]"
        return f'  "{evidence.sentence}" [{evidence.passage}] ({where})\n'
    if not answer.grounded:
        return (
            "  (!) not found in the passages: names or numbers in this answer may be "
            "invented; --strict declines such answers\n"
        )
    return ""


def format_sources(
    passages: tuple[Passage, ...], cited: frozenset[int], show_store: bool = False
) -> str:
    """The human list of sources printed after an answer, numbered as the prompt had them.

    Across several stores each source ends with the name of its store.
    """
    if not passages:
        return ""
    lines = ["", "Sources:"]
    for passage in passages:
        where = display_path(passage.path)
        if passage.page is not None:
            where += f", page {passage.page}"
        if passage.ocr:
            where += " (OCR)"
        span = (
            f"line {passage.start_line}"
            if passage.start_line == passage.end_line
            else (f"lines {passage.start_line}-{passage.end_line}")
        )
        store = f", store {display_name(passage.store)}" if show_store else ""
        mark = " (cited)" if passage.number in cited else ""
        lines.append(f"  [{passage.number}] {where}, {span}{store}{mark}")
    return "\n".join(lines) + "\n"


class AnswerRenderer(Protocol):
    """Prints one answer in one style: the text as it comes (if it can), then the rest."""

    on_text: Callable[[str], None] | None

    def begin(self, question: str) -> None:
        """Print what comes before the answer."""

    def end(self, question: str, answer: Answer) -> None:
        """Print what comes after the answer's text: support and sources."""


class TextAnswer:
    """The answer as it is generated, its support and numbered sources; `Q:` lines in batches."""

    def __init__(self, heading: bool, show_store: bool = False) -> None:
        self.heading = heading
        self.show_store = show_store
        self.on_text: Callable[[str], None] | None = write

    def begin(self, question: str) -> None:
        if self.heading:
            write(f"Q: {question}\n")

    def end(self, question: str, answer: Answer) -> None:
        sources = format_sources(answer.passages, answer.cited, self.show_store)
        write("\n" + format_support(answer) + sources)


class JsonAnswer:
    """One JSON document per answer, printed when it is complete."""

    on_text: Callable[[str], None] | None = None

    def begin(self, question: str) -> None:
        pass

    def end(self, question: str, answer: Answer) -> None:
        print_json(answer_json(answer))


class StreamAnswer:
    """NDJSON events: a token event per piece of text, then sources, then done."""

    def __init__(self) -> None:
        self.on_text: Callable[[str], None] | None = self._token

    def _token(self, text: str) -> None:
        print_json(event_json(AnswerToken(text)))

    def begin(self, question: str) -> None:
        pass

    def end(self, question: str, answer: Answer) -> None:
        print_json(event_json(AnswerSources(question, answer.passages, answer.cited)))
        print_json(event_json(AnswerDone(answer)))


def answer_renderer(style: str, heading: bool, show_store: bool = False) -> AnswerRenderer:
    """Pick how answers are printed: "text", "json" or "stream" (NDJSON events)."""
    if style == "json":
        return JsonAnswer()
    if style == "stream":
        return StreamAnswer()
    return TextAnswer(heading, show_store)


def print_context(question: str, parts: PromptParts, as_json: bool) -> None:
    """Print what `ask --context-only` found: the packed context, as text or JSON."""
    if as_json:
        print_json(context_json(question, parts.context, parts.passages))
    elif parts.passages:
        write(parts.context + "\n")
    else:
        note(f"nothing relevant found for: {question}")
