"""Measure follow-up questions: play conversations over squad-a turn by turn, per kind of turn.

Reads bench/conversations/squad_a.jsonl (see its README.md), checks it against the articles,
ingests ../shared/data/squad-a/docs into a store (kept with --store, so a re-run embeds
nothing) and plays each conversation in order. For each turn and each variant (a way to turn
the conversation so far and the new question into a query; today's is the question alone)
it searches the top 3 and counts the turn found when a hit's chunk overlaps the gold
paragraph. Prints one table: for each variant and kind of turn (first, pronoun, ellipsis,
switch, and the follow-ups: pronoun and ellipsis together) the turns, the share whose gold
paragraph is in the top 3 and the share whose top 3 hold a gold answer's text. With
--answers it also asks each turn with the real bundled LLM and adds SQuAD EM and F1 (slow).
--check only validates the set and prints its counts.
Run: python bench/followup_bench.py [--data DIR] [--store DIR] [--answers] [--limit N] [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ragcli.answering import prompts  # noqa: E402
from ragcli.evaluation.metrics import answer_f1, exact_match  # noqa: E402
from ragcli.library import Library  # noqa: E402
from ragcli.records import Hit  # noqa: E402
from ragcli.records import Turn as ConversationTurn  # noqa: E402
from ragcli.retrieval import followup  # noqa: E402
from ragcli.settings import defaults  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "squad-a"
CONVERSATIONS = ROOT / "bench" / "conversations" / "squad_a.jsonl"
KINDS = ("first", "pronoun", "ellipsis", "switch")
# The turns that only make sense with the earlier ones; a switch names its subject.
FOLLOW_UPS = ("pronoun", "ellipsis")
TOP_K = 3


@dataclass(frozen=True)
class Turn:
    """One question of a conversation, with its gold paragraph and answers."""

    question: str
    kind: str
    article: str
    paragraph: int
    answers: tuple[str, ...]


@dataclass(frozen=True)
class Conversation:
    """A conversation: its id and its turns, in the order they are asked."""

    id: str
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class Exchange:
    """A turn already played: what was asked, and the answer given ("" without --answers)."""

    question: str
    answer: str


# A follow-up resolution by rewriting: the conversation so far and the new question -> the
# query to search and ask (a string, as Library.search and Library.ask take).
Resolve = Callable[[Sequence[Exchange], str], str]


def question_alone(history: Sequence[Exchange], question: str) -> str:
    """Each question searched on its own (before issue 24)."""
    return question


def with_previous_question(history: Sequence[Exchange], question: str) -> str:
    """The naive rewrite: the previous question's text put before the new one."""
    return f"{history[-1].question} {question}" if history else question


@dataclass(frozen=True)
class Variant:
    """A way to search a turn: a rewrite of the question, or the library's own history path.

    With `resolve`, the rewritten query is searched (and asked) alone; without, the question
    is searched and asked with the earlier turns as `history=`, the carried words counted
    `weight` times as much as the question's and `last_answer_words` of the last answer
    shown in the prompt (None: the library's defaults; 0 shows no last turn).
    """

    resolve: Resolve | None = None
    weight: float | None = None
    last_answer_words: int | None = None

    def search(self, library: Library, history: Sequence[Exchange], question: str) -> list[Hit]:
        """The top hits for a turn."""
        if self.resolve is not None:
            return library.search(self.resolve(history, question), k=TOP_K).hits
        with self.weighted():
            return library.search(question, k=TOP_K, history=turns(history)).hits

    def ask(self, library: Library, history: Sequence[Exchange], question: str) -> str:
        """The answer's text for a turn."""
        if self.resolve is not None:
            return library.ask(self.resolve(history, question)).text
        with self.weighted():
            return library.ask(question, history=turns(history)).text

    @contextmanager
    def weighted(self) -> Iterator[None]:
        """Have the library use this variant's weight and last answer words, meanwhile."""
        defaults = followup.CARRIED_WEIGHT, prompts.LAST_ANSWER_WORDS
        if self.weight is not None:
            followup.CARRIED_WEIGHT = self.weight
        if self.last_answer_words is not None:
            prompts.LAST_ANSWER_WORDS = self.last_answer_words
        try:
            yield
        finally:
            followup.CARRIED_WEIGHT, prompts.LAST_ANSWER_WORDS = defaults


def turns(history: Sequence[Exchange]) -> list[ConversationTurn]:
    """The exchanges so far as the library's conversation turns."""
    return [ConversationTurn(e.question, e.answer) for e in history]


VARIANTS: dict[str, Variant] = {
    "each question alone": Variant(question_alone),
    "previous question + question": Variant(with_previous_question),
    "history, carried x0.3": Variant(weight=0.3),
    f"history, carried x{followup.CARRIED_WEIGHT} (the library's)": Variant(),
    "history, carried x0.7": Variant(weight=0.7),
    "history, carried x1.0": Variant(weight=1.0),
    "history, no last turn in the prompt": Variant(last_answer_words=0),
}


def read_conversations(path: Path) -> list[Conversation]:
    """The conversations of a JSONL file, one object a line."""
    conversations = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            turns = tuple(
                Turn(t["question"], t["kind"], t["article"], t["paragraph"], tuple(t["answers"]))
                for t in item["turns"]
            )
            conversations.append(Conversation(item["id"], turns))
    return conversations


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """The [start, end) character span of each block of an article; block 0 is the title.

    Blocks are what `text.split("\\n\\n")` gives; the file's final newline is not part of
    the last block.
    """
    spans, start = [], 0
    for block in text.split("\n\n"):
        spans.append((start, start + len(block.rstrip("\n"))))
        start += len(block) + 2
    return spans


@dataclass(frozen=True)
class Article:
    """An article's text and the character spans of its blocks (`paragraph_spans`)."""

    text: str
    spans: list[tuple[int, int]]

    def paragraph(self, index: int) -> str:
        """The text of a block: 1 is the first paragraph."""
        start, end = self.spans[index]
        return self.text[start:end]


def read_articles(docs: Path) -> dict[str, Article]:
    """Every article of the folder by its title as in the file name (no .txt)."""
    articles = {}
    for path in sorted(docs.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        articles[path.stem] = Article(text, paragraph_spans(text))
    return articles


def problems(conversations: list[Conversation], articles: dict[str, Article]) -> list[str]:
    """Everything wrong with the set: unknown kinds, articles, paragraphs, answers not found."""
    found = []
    ids = Counter(c.id for c in conversations)
    found += [f"{id_}: id used {n} times" for id_, n in ids.items() if n > 1]
    for conversation in conversations:
        kinds = [turn.kind for turn in conversation.turns]
        if kinds[:1] != ["first"] or kinds.count("first") != 1:
            found.append(f"{conversation.id}: the first turn, and only it, must be 'first'")
        if sum(kind in FOLLOW_UPS for kind in kinds) < 2:
            found.append(f"{conversation.id}: fewer than 2 follow-ups")
        for number, turn in enumerate(conversation.turns, 1):
            found += turn_problems(f"{conversation.id} turn {number}", turn, articles)
    return found


def turn_problems(where: str, turn: Turn, articles: dict[str, Article]) -> list[str]:
    """What is wrong with one turn, if anything."""
    if turn.kind not in KINDS:
        return [f"{where}: unknown kind {turn.kind!r}"]
    article = articles.get(turn.article)
    if article is None:
        return [f"{where}: no article {turn.article!r}"]
    if not 1 <= turn.paragraph < len(article.spans):
        return [f"{where}: {turn.article} has no paragraph {turn.paragraph}"]
    if not turn.question.strip() or not turn.answers:
        return [f"{where}: empty question or no answers"]
    text = article.paragraph(turn.paragraph)
    return [f"{where}: {a!r} not in its paragraph" for a in turn.answers if a not in text]


def describe(conversations: list[Conversation]) -> str:
    """The set's counts: conversations, articles, turns by kind."""
    turns = [turn for c in conversations for turn in c.turns]
    kinds = Counter(turn.kind for turn in turns)
    switching = sum(any(t.kind == "switch" for t in c.turns) for c in conversations)
    return (
        f"{len(conversations)} conversations over {len({t.article for t in turns})} articles, "
        f"{len(turns)} turns: " + ", ".join(f"{kinds[kind]} {kind}" for kind in KINDS) + "; "
        f"{switching} conversations with a switch"
    )


def gold_found(hits: list[Hit], turn: Turn, article: Article) -> bool:
    """Whether a hit's chunk overlaps the turn's gold paragraph."""
    start, end = article.spans[turn.paragraph]
    return any(
        Path(hit.chunk.path).stem == turn.article
        and hit.chunk.start_char < end
        and hit.chunk.end_char > start
        for hit in hits
    )


def answer_found(hits: list[Hit], turn: Turn) -> bool:
    """Whether a gold answer's text is in a hit's chunk (anywhere: any article counts)."""
    return any(answer in hit.chunk.text for hit in hits for answer in turn.answers)


@dataclass
class Scores:
    """Sums over the turns of one kind, for one variant."""

    turns: int = 0
    gold: int = 0
    answer: int = 0
    em: float = 0.0
    f1: float = 0.0

    def add(self, other: Scores) -> None:
        """Count another turn's (or kind's) scores in."""
        self.turns += other.turns
        self.gold += other.gold
        self.answer += other.answer
        self.em += other.em
        self.f1 += other.f1


def play(
    library: Library,
    conversation: Conversation,
    variant: Variant,
    articles: dict[str, Article],
    answers: bool,
) -> list[tuple[str, Scores]]:
    """Play one conversation turn by turn; return each turn's kind and scores."""
    history: list[Exchange] = []
    scored = []
    for turn in conversation.turns:
        hits = variant.search(library, history, turn.question)
        scores = Scores(1, gold_found(hits, turn, articles[turn.article]), answer_found(hits, turn))
        given = ""
        if answers:
            given = variant.ask(library, history, turn.question)
            scores.em = exact_match(given, turn.answers)
            scores.f1 = answer_f1(given, turn.answers)
        history.append(Exchange(turn.question, given))
        scored.append((turn.kind, scores))
    return scored


def measure(
    library: Library,
    conversations: list[Conversation],
    variant: Variant,
    articles: dict[str, Article],
    answers: bool,
) -> dict[str, Scores]:
    """Scores by kind of turn, and for the follow-ups together, over every conversation."""
    totals = {kind: Scores() for kind in (*KINDS, "follow-ups")}
    for conversation in conversations:
        for kind, scores in play(library, conversation, variant, articles, answers):
            totals[kind].add(scores)
            if kind in FOLLOW_UPS:
                totals["follow-ups"].add(scores)
    return totals


def print_table(rows: dict[str, dict[str, Scores]], answers: bool) -> None:
    """One Markdown table: a row per variant and kind of turn."""
    header = "| variant | kind | turns | gold paragraph in top 3 | answer text in top 3 |"
    rule = "|---|---|---|---|---|"
    if answers:
        header, rule = header + " EM | F1 |", rule + "---|---|"
    print(header)
    print(rule)
    for variant, totals in rows.items():
        for kind, scores in totals.items():
            n = max(1, scores.turns)
            line = (
                f"| {variant} | {kind} | {scores.turns} | {100 * scores.gold / n:.1f}% "
                f"| {100 * scores.answer / n:.1f}% |"
            )
            if answers:
                line += f" {100 * scores.em / n:.1f} | {100 * scores.f1 / n:.1f} |"
            print(line)


def build_store(docs: Path, store_dir: Path) -> None:
    """Ingest the articles with the default settings (unchanged files are skipped)."""
    with Library(replace(defaults(), store=store_dir, stores=(store_dir,))) as library:
        library.ingest([docs])


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the squad-a folder")
    parser.add_argument("--conversations", type=Path, default=CONVERSATIONS)
    parser.add_argument("--store", type=Path, default=None, help="keep the store here")
    parser.add_argument(
        "--variant",
        action="append",
        choices=list(VARIANTS),
        help="variant to measure (repeatable) [all]",
    )
    parser.add_argument("--answers", action="store_true", help="also ask each turn (slow)")
    parser.add_argument("--check", action="store_true", help="only validate the set")
    parser.add_argument(
        "--limit", type=int, default=None, help="play only the first N conversations [all]"
    )
    parser.add_argument(
        "--half",
        choices=("odd", "even"),
        default=None,
        help="play only the conversations of odd (c01, c03...) or even ids [all]",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    docs = args.data / "docs"
    articles = read_articles(docs)
    if not articles:
        sys.exit(f"no articles (*.txt) in {docs}: give the squad-a folder with --data")
    conversations = read_conversations(args.conversations)
    found = problems(conversations, articles)
    print("\n".join(found) or "the set is valid", file=sys.stderr)
    print(describe(conversations), file=sys.stderr)
    if found:
        sys.exit(1)
    if args.check:
        return
    if args.half:
        wanted = 1 if args.half == "odd" else 0
        conversations = [c for c in conversations if int(c.id.lstrip("c")) % 2 == wanted]
    conversations = conversations[: args.limit]
    rows: dict[str, dict[str, Scores]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        store_dir = args.store or Path(scratch) / "store"
        build_store(docs, store_dir)
        settings = replace(defaults(), store=store_dir, stores=(store_dir,))
        with Library(settings) as library:
            for name in args.variant or list(VARIANTS):
                rows[name] = measure(library, conversations, VARIANTS[name], articles, args.answers)
    print_table(rows, args.answers)


if __name__ == "__main__":
    main()
