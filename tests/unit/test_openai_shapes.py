"""rag serve's reading of OpenAI chat requests: the question, the earlier turns, the checks."""

from __future__ import annotations

from typing import Any

import pytest

from ragcli.http_api.errors import HttpError
from ragcli.http_api.openai_shapes import read_chat_request, read_search_request
from ragcli.records import Turn

# What the server sends back: the answer, its evidence line, the numbered sources.
SAID = (
    "33 billion\n"
    '  "Grok-0 is a prototype language model with 33 billion parameters." [1] '
    "(sample_docs/grok-announcement.md:20)\n"
    "\nSources:\n  [1] sample_docs/grok-announcement.md, line 20 (cited)\n"
)

UNSUPPORTED = (
    "Elon Musk\n  (!) not found in the passages: names or numbers in this answer may be "
    "invented; --strict declines such answers\n\nSources:\n  [1] a.md, lines 1-2\n"
)


def user(text: Any) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(text: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def test_the_last_user_message_is_the_question_and_pairs_before_it_are_turns() -> None:
    messages = [
        {"role": "system", "content": "You are helpful."},
        user("How many parameters does Grok-0 have?"),
        assistant(SAID),
        user("And Grok-1?"),
        assistant(UNSUPPORTED),
        user([{"type": "text", "text": "Who made"}, {"type": "text", "text": "it?"}]),
    ]
    chat = read_chat_request({"model": "x", "messages": messages, "stream": True})
    assert chat.question == "Who made\nit?" and chat.stream
    assert chat.earlier == (
        Turn("How many parameters does Grok-0 have?", "33 billion"),
        Turn("And Grok-1?", "Elon Musk"),
    )


def test_an_answer_without_sources_and_a_user_message_without_reply() -> None:
    messages = [user("One?"), user("Two?"), assistant("Not said.\n"), user("Three?")]
    chat = read_chat_request({"messages": messages})
    assert chat.earlier == (Turn("One?"), Turn("Two?", "Not said.")) and not chat.stream


def test_a_declined_answer_loses_only_its_trailing_newline() -> None:
    chat = read_chat_request(
        {"messages": [user("a"), assistant("The context does not say.\n"), user("b")]}
    )
    assert chat.earlier == (Turn("a", "The context does not say."),)


@pytest.mark.parametrize(
    "body",
    [
        None,
        {"messages": []},
        {"messages": "hi"},
        {"messages": [user("hi")], "model": 3},
        {"messages": [user("hi")], "stream": 1},
        {"messages": [user([{"type": "image_url", "image_url": {"url": "x"}}])]},
        {"messages": [user([{"type": "text", "text": 5}])]},
        {"messages": [user("hi"), assistant("ho")]},
        {"messages": [{"role": "system", "content": "only"}]},
        {"messages": ["hi"]},
    ],
)
def test_a_request_of_another_shape_is_a_400(body: Any) -> None:
    with pytest.raises(HttpError) as refused:
        read_chat_request(body)
    assert refused.value.status == 400
    assert refused.value.document()["error"]["type"] == "invalid_request_error"


def test_search_takes_a_query_and_optional_k_and_mode() -> None:
    asked = read_search_request({"query": "zebras", "k": 3, "mode": "keyword"})
    assert (asked.query, asked.k, asked.mode) == ("zebras", 3, "keyword")
    assert read_search_request({"query": "zebras"}).k is None
    for body in ({"k": 3}, {"query": "z", "k": 2.5}, {"query": "z", "mode": 1}, []):
        with pytest.raises(HttpError):
            read_search_request(body)
