"""Prompt building: token budget, numbering, completion versus chat, loop detection."""

from __future__ import annotations

from ragcli.answering.prompts import (
    DEFAULT_TEMPLATE,
    NOT_FOUND,
    build_prompt,
    format_passage,
)
from ragcli.records import Chunk, Hit


def hit(
    text: str, path: str = "/docs/a.md", page: int | None = None, score: float = 0.5, line: int = 1
) -> Hit:
    start = line * 1000  # far apart: separate chunks of one file, never merged
    chunk = Chunk(
        text=text,
        path=path,
        page=page,
        start_line=line,
        end_line=line,
        start_char=start,
        end_char=start + len(text),
        heading="Guide > Setup",
    )
    return Hit(chunk, score)


def words(text: str) -> int:
    return len(text.split())


def test_completion_prompt_has_examples_then_numbered_context_and_question() -> None:
    parts = build_prompt(
        "How tall?",
        [hit("First passage."), hit("Second passage.", line=9)],
        words,
        10_000,
        chat=False,
    )
    text = parts.prompt.text
    assert not parts.prompt.is_chat
    # The best passage sits last, next to the question; numbers still rank the passages.
    assert text.endswith(
        "Context:\n[2] (a.md, Guide > Setup)\nSecond passage.\n"
        "[1] (a.md, Guide > Setup)\nFirst passage.\nQuestion: How tall?\nAnswer:"
    )
    assert text.count("Question:") == len(DEFAULT_TEMPLATE.shots) + 1
    assert NOT_FOUND in text
    assert "\n[" in parts.prompt.stop and "\nQuestion:" in parts.prompt.stop


def test_passages_that_do_not_fit_the_budget_are_left_out() -> None:
    small, large = hit("short text"), hit("word " * 500, line=9)
    full = build_prompt("q?", [small], words, 10_000, chat=False)
    budget = words(full.prompt.text) + 20
    parts = build_prompt("q?", [large, small], words, budget, chat=False)
    assert [p.hits for p in parts.passages] == [(small,)]
    assert words(parts.prompt.text) <= budget
    assert "[1] (a.md, Guide > Setup)\nshort text" in parts.prompt.text
    assert parts.context == "[1] (a.md, Guide > Setup)\nshort text"


def test_context_is_exactly_the_passages_as_the_prompt_shows_them() -> None:
    hits = [hit("Best one.", line=1), hit("Second one.", line=5)]
    completion = build_prompt("q?", hits, words, 10_000, chat=False)
    assert f"Context:\n{completion.context}\nQuestion: q?" in completion.prompt.text
    assert completion.context.startswith("[2]")
    chat = build_prompt("q?", hits, words, 10_000, chat=True)
    assert f"Context:\n{chat.context}\n" in chat.prompt.messages[1][1]
    assert chat.context.startswith("[1]")


def test_the_whole_prompt_is_rechecked_against_the_budget() -> None:
    hits = [hit(f"passage number {n} here.", line=n) for n in range(1, 6)]
    full = build_prompt("q?", hits, words, 10_000, chat=False)
    for budget in range(words(full.prompt.text) - 30, words(full.prompt.text) + 1):
        parts = build_prompt("q?", hits, words, budget, chat=False)
        assert words(parts.prompt.text) <= budget
        assert [p.number for p in parts.passages] == list(range(1, len(parts.passages) + 1))


def test_chat_prompt_uses_messages_without_examples() -> None:
    parts = build_prompt("Why?", [hit("Because.", page=3)], words, 10_000, chat=True)
    roles = [role for role, _ in parts.prompt.messages]
    assert parts.prompt.is_chat and roles == ["system", "user"]
    assert "[1] (a.md, page 3, Guide > Setup)\nBecause." in parts.prompt.messages[1][1]
    assert "Eiffel" not in parts.prompt.messages[1][1]


def test_passage_text_is_flattened_to_one_line() -> None:
    parts = build_prompt("q?", [hit("line one\n\nline  two")], words, 10_000, chat=False)
    assert format_passage(parts.passages[0]).endswith("\nline one line two")
