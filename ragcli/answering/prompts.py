"""Every prompt ragcli sends to a model. Measure any change with bench/prompt_eval.py."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ragcli.answering.packing import format_passage, pack_passages, passage_label
from ragcli.records import Hit, Passage, Prompt, Turn

NOT_FOUND = "The context does not say."
DEGENERATE = "(The model's answer broke down into repetition: no reliable answer.)"


@dataclass(frozen=True)
class PromptTemplate:
    """Instructions, worked examples and stop sequences for one way of prompting."""

    instructions: str
    shots: tuple[tuple[str, str, str], ...]
    stop: tuple[str, ...]
    best_last: bool = False


INSTRUCTIONS = (
    "Answer the question using only the numbered context passages. Give a short answer "
    "and cite the passage number in brackets. If the passages do not contain the answer, "
    f'write "{NOT_FOUND}"'
)

# Worked examples for base (completion) models. With the right passage given, these three
# lift the bundled 270M base model's answer F1 from 35 (instructions alone) to 47; the
# counting example matters: without it "how many" questions often degenerate into digit runs.
# Figures: bench/prompt_eval.py, table in docs/benchmarks.md.
SHOTS = (
    (
        "[1] (tower.txt)\nThe Eiffel Tower in Paris was completed in 1889. It is 330 metres "
        "tall and was the tallest man-made structure in the world for 41 years.",
        "How tall is the Eiffel Tower?",
        "330 metres [1].",
    ),
    (
        "[1] (bees.txt)\nHoney bees tell other bees where flowers are with a waggle dance. "
        "A colony can hold up to 60,000 bees.",
        "How many bees can a colony hold?",
        "Up to 60,000 bees [1].",
    ),
    (
        "[1] (bees.txt)\nHoney bees tell other bees where flowers are with a waggle dance. "
        "A colony can hold up to 60,000 bees.",
        "Who was the first person to keep bees in Europe?",
        NOT_FOUND,
    ),
)

# "\n[" stops a model that starts writing a passage of its own after the answer.
STOP = ("\nQuestion:", "\nContext:", "\n\n", "\n[")

# The best passage goes last, next to the question. With hybrid retrieval best-first and
# best-last score alike (F1 41.4 and 40.8), with dense best-last wins (35.6 against 31.8),
# and best-first loops on a flattened table ranked first ("How many parameters does
# Grok-0 have?"). Figures: bench/prompt_eval.py, table in docs/benchmarks.md.
DEFAULT_TEMPLATE = PromptTemplate(INSTRUCTIONS, SHOTS, STOP, best_last=True)


# One passage a prompt (the `sequence` strategy): the answer is a short phrase copied from
# the passage, on one line. The examples cover the kinds of question people ask (how much,
# who, when, what) and a passage in Spanish, so the model copies the passage's own words in
# its own language; the "does not say" example is the abstention the strategy scores.
SEQUENCE_INSTRUCTIONS = (
    "Answer the question with the shortest phrase from the passage that answers it, copied "
    f'word for word. If the passage does not answer it, write "{NOT_FOUND}"'
)
SEQUENCE_SHOTS = (
    (
        "tower.txt",
        "The Eiffel Tower in Paris was completed in 1889. It is 330 metres tall and was the "
        "tallest man-made structure in the world for 41 years.",
        "How tall is the Eiffel Tower?",
        "330 metres",
    ),
    (
        "history.md",
        "The printing press was invented around 1440 by Johannes Gutenberg, a goldsmith "
        "from Mainz. It spread to over 200 cities within fifty years.",
        "Who invented the printing press?",
        "Johannes Gutenberg",
    ),
    (
        "abejas.md",
        "Las abejas indican a otras abejas dónde están las flores con una danza. Una colmena "
        "puede albergar hasta 60.000 abejas.",
        "¿Cuántas abejas puede albergar una colmena?",
        "hasta 60.000 abejas",
    ),
    (
        "bees.txt",
        "Honey bees tell other bees where flowers are with a waggle dance. A colony can hold "
        "up to 60,000 bees.",
        "Who was the first person to keep bees in Europe?",
        NOT_FOUND,
    ),
)
SEQUENCE_STOP = ("\n",)


def sequence_prefix() -> str:
    """The fixed start of every one-passage prompt: instructions and worked examples."""
    shots = "".join(
        f"Passage ({label}): {text}\nQuestion: {q}\nAnswer: {a}\n\n"
        for label, text, q, a in SEQUENCE_SHOTS
    )
    return f"{SEQUENCE_INSTRUCTIONS}\n\n{shots}"


def single_passage_prompt(question: str, passage: Passage, chat: bool = False) -> Prompt:
    """The prompt asking a question of one passage: completion text, or chat messages."""
    label = passage_label(passage)
    body = " ".join(passage.text.split())
    question = " ".join(question.split())
    if chat:
        user = f"Passage ({label}): {body}\n\nQuestion: {question}"
        return Prompt(messages=(("system", SEQUENCE_INSTRUCTIONS), ("user", user)))
    text = f"{sequence_prefix()}Passage ({label}): {body}\nQuestion: {question}\nAnswer:"
    return Prompt(text=text, stop=SEQUENCE_STOP)


# Words of the last answer a follow-up's prompt shows (0: no last turn is shown).
LAST_ANSWER_WORDS = 40


def with_last_turn(question: str, last: Turn) -> str:
    """A follow-up as the prompts show it: after the last exchange, in their Q/A form.

    Prompts end "Question: {question}\nAnswer:"; this question makes that "Question:
    {last question} Answer: {last answer} Question: {question}", so that "And on MMLU?"
    is read after what it follows. A last answer that declined is left out, and so is the
    whole last turn with LAST_ANSWER_WORDS 0.
    """
    words = last.answer_text.split()[:LAST_ANSWER_WORDS]
    if not words or last.answer_text.strip() in (NOT_FOUND, DEGENERATE):
        return question
    return f"{last.question} Answer: {' '.join(words)} Question: {question}"


@dataclass(frozen=True)
class PromptParts:
    """A built prompt and the numbered passages it holds."""

    prompt: Prompt
    passages: tuple[Passage, ...]
    context: str  # the passages exactly as the prompt shows them, in its order


def _context(template: PromptTemplate, passages: Sequence[str], chat: bool) -> str:
    # Only the completion prompt puts the best passage last; chat models get it first.
    ordered = reversed(passages) if template.best_last and not chat else passages
    return "\n".join(ordered)


def completion_prefix(template: PromptTemplate) -> str:
    """The fixed start of every completion prompt: instructions and worked examples.

    LLM backends evaluate it once and keep its state, so each question pays only for its
    passages and itself.
    """
    shots = "".join(
        f"Context:\n{context}\nQuestion: {q}\nAnswer: {a}\n\n" for context, q, a in template.shots
    )
    return f"{template.instructions}\n\n{shots}Context:\n"


def _completion(template: PromptTemplate, question: str, passages: Sequence[str]) -> str:
    context = _context(template, passages, chat=False)
    return f"{completion_prefix(template)}{context}\nQuestion: {question}\nAnswer:"


def _chat(
    template: PromptTemplate, question: str, passages: Sequence[str]
) -> tuple[tuple[str, str], ...]:
    context = _context(template, passages, chat=True)
    return (
        ("system", template.instructions),
        ("user", f"Context:\n{context}\n\nQuestion: {question}"),
    )


def build_prompt(
    question: str,
    hits: Sequence[Hit],
    count_tokens: Callable[[str], int],
    budget_tokens: int,
    chat: bool,
    template: PromptTemplate = DEFAULT_TEMPLATE,
) -> PromptParts:
    """Pack the best hits into numbered passages that fit the token budget, then the prompt."""
    question = " ".join(question.split())
    room = budget_tokens - count_tokens(_render(template, question, [], chat))
    passages = list(pack_passages(hits, count_tokens, room))
    texts = [format_passage(passage) for passage in passages]
    # Costs were counted block by block; the whole may tokenise a little differently.
    while texts and count_tokens(_render(template, question, texts, chat)) > budget_tokens:
        passages.pop()
        texts.pop()
    context = _context(template, texts, chat)
    if chat:
        messages = _chat(template, question, texts)
        return PromptParts(Prompt(messages=messages), tuple(passages), context)
    text = _completion(template, question, texts)
    return PromptParts(Prompt(text=text, stop=template.stop), tuple(passages), context)


def _render(template: PromptTemplate, question: str, passages: Sequence[str], chat: bool) -> str:
    if chat:
        return "\n".join(content for _, content in _chat(template, question, passages))
    return _completion(template, question, passages)
