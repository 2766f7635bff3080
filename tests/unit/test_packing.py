"""ragcli.answering.packing: duplicates, merging, ranking, numbering, budget, cutting, format."""

from __future__ import annotations

import math
import random

from ragcli.answering.packing import format_passage, pack_passages, separate_passages
from ragcli.records import Chunk, Hit, Passage

DOC = """# Bees
Honey bees live in colonies. A colony can hold up to 60,000 bees.
The queen lays eggs all summer long.

## Dances
Workers tell others where flowers are with a waggle dance!
The angle of the dance shows the direction (relative to the sun.)
Scouts "vote" on new nest sites. Is the vote ever close?
Swarms leave the old hive in spring
and settle on a branch nearby."""


def words(text: str) -> int:
    """Count whitespace-separated words: the test tokenizer."""
    return len(text.split())


def cost(passage: Passage) -> int:
    """Count what a passage takes of the budget."""
    return words(format_passage(passage)) + 1


def span(first: str, last: str, doc: str = DOC, path: str = "bees.md", heading: str = "") -> Chunk:
    """Slice the chunk of doc from the first occurrence of `first` to the end of `last`."""
    start = doc.index(first)
    end = doc.index(last, start) + len(last)
    return Chunk(
        text=doc[start:end],
        path=path,
        page=None,
        start_line=doc.count("\n", 0, start) + 1,
        end_line=doc.count("\n", 0, end) + 1,
        start_char=start,
        end_char=end,
        heading=heading,
    )


def hit(chunk: Chunk, score: float = 1.0) -> Hit:
    """Wrap a chunk as a hit."""
    return Hit(chunk=chunk, score=score)


def test_empty_hits_or_budget_give_nothing() -> None:
    one = hit(span("Honey", "bees."))
    assert pack_passages([], words, 100) == ()
    assert pack_passages([one], words, 0) == ()
    assert pack_passages([one], words, -5) == ()


def test_duplicates_dropped() -> None:
    first = hit(span("Honey", "summer long."), 0.9)
    same_chunk = hit(span("Honey", "summer long."), 0.8)
    other_doc = "Intro\n" + first.chunk.text.replace("\n", "   \n  ")
    copy_elsewhere = hit(span("Honey", "summer long.", doc=other_doc, path="copy.md"), 0.7)
    passages = pack_passages([first, same_chunk, copy_elsewhere], words, 100)
    assert len(passages) == 1
    assert passages[0].path == "bees.md"
    assert passages[0].hits == (first,)


def test_overlapping_chunks_merge_into_document_text() -> None:
    a = span("Honey", "summer long.", heading="Bees")
    b = span("The queen", "waggle dance!", heading="Bees > Dances")
    best, second = hit(b, 0.9), hit(a, 0.5)
    (passage,) = pack_passages([best, second], words, 300)  # cap 100: no cut
    assert passage.text == DOC[a.start_char : b.end_char]
    assert (passage.start_line, passage.end_line) == (2, 6)
    assert passage.heading == "Bees"
    assert passage.hits == (best, second)
    assert passage.number == 1


def test_chain_of_overlaps_merges_transitively() -> None:
    a = span("Honey", "bees.\nThe")
    b = span("The queen", "## Dances")
    c = span("Dances", "waggle dance!")
    (passage,) = pack_passages([hit(c), hit(a), hit(b)], words, 300)
    assert passage.text == DOC[a.start_char : c.end_char]
    assert (passage.start_line, passage.end_line) == (2, 6)


def test_touching_chunks_merge() -> None:
    line2 = span("Honey", "60,000 bees.")
    line3 = span("The queen", "summer long.")
    (passage,) = pack_passages([hit(line3), hit(line2)], words, 100)
    assert passage.text == DOC[line2.start_char : line3.end_char]
    assert passage.text == (
        "Honey bees live in colonies. A colony can hold up to 60,000 bees.\n"
        "The queen lays eggs all summer long."
    )
    assert (passage.start_line, passage.end_line) == (2, 3)


def test_gap_of_unknown_whitespace_joined_with_line_break() -> None:
    first = span("Honey", "colonies.")
    second = span("A colony", "60,000 bees.")
    (passage,) = pack_passages([hit(first), hit(second)], words, 100)
    assert passage.text == "Honey bees live in colonies.\nA colony can hold up to 60,000 bees."


def test_different_pages_or_files_not_merged() -> None:
    page1 = Chunk("Intro to bees.", "guide.pdf", 1, 1, 1, 0, 14)
    page2 = Chunk("More on bees.", "guide.pdf", 2, 2, 2, 14, 27)
    passages = pack_passages([hit(page1), hit(page2)], words, 100)
    assert [(p.page, p.text) for p in passages] == [(1, "Intro to bees."), (2, "More on bees.")]

    here = span("Honey", "summer long.")
    there = span("The queen", "waggle dance!", path="copy.md")
    passages = pack_passages([hit(here), hit(there)], words, 100)
    assert [(p.path, p.start_line, p.end_line) for p in passages] == [
        ("bees.md", 2, 3),
        ("copy.md", 3, 6),
    ]


def test_non_adjacent_chunks_stay_separate_and_keep_rank_order() -> None:
    early = span("Honey", "60,000 bees.")
    late = span("Workers", "waggle dance!")
    passages = pack_passages([hit(late), hit(early)], words, 100)
    assert [p.text for p in passages] == [late.text, early.text]
    assert [p.number for p in passages] == [1, 2]


def test_merged_passage_ranks_at_best_member_and_numbering() -> None:
    top = hit(span("Scouts", "close?"), 0.9)
    b = hit(span("The queen", "waggle dance!"), 0.8)
    other = hit(span("Honey", "colonies.", path="other.md"), 0.7)
    a = hit(span("Honey", "summer long."), 0.6)
    passages = pack_passages([top, b, other, a], words, 200)
    assert [p.number for p in passages] == [1, 2, 3]
    assert [p.hits for p in passages] == [(top,), (b, a), (other,)]
    assert passages[1].text == DOC[a.chunk.start_char : b.chunk.end_char]
    assert passages[1].score == 0.8


def test_budget_respected_for_random_budgets() -> None:
    lines = [line for line in DOC.splitlines() if line]
    chunks = [span(line, line) for line in lines]
    chunks += [span(first, second) for first, second in zip(lines, lines[1:], strict=False)]
    chunks += [span(line, line, path="notes.md") for line in lines[:4]]
    normalised_doc = " ".join(DOC.split())
    rng = random.Random(7)
    for _ in range(300):
        hits = [hit(c) for c in rng.sample(chunks, rng.randint(1, len(chunks)))]
        budget = rng.randint(1, 120)
        passages = pack_passages(hits, words, budget, min_passage_tokens=rng.randint(1, 20))
        assert sum(cost(p) for p in passages) <= budget
        assert [p.number for p in passages] == list(range(1, len(passages) + 1))
        for passage in passages:
            assert passage.text
            assert " ".join(passage.text.split()) in normalised_doc


def test_cut_ends_at_sentence_boundary_and_updates_end_line() -> None:
    chunk = span("Workers", "nearby.", heading="Dances")  # lines 6-10, 46 words
    # Header "[1] (bees.md, Dances)" is 3 words, plus the joining newline.
    (passage,) = pack_passages([hit(chunk)], words, 30, min_passage_tokens=30)
    assert passage.text == DOC[chunk.start_char : DOC.index("sun.)") + len("sun.)")]
    assert (passage.start_line, passage.end_line) == (6, 7)
    assert cost(passage) == 26

    (passage,) = pack_passages([hit(chunk)], words, 36, min_passage_tokens=36)
    assert passage.text.endswith('\nScouts "vote" on new nest sites.')
    assert (passage.start_line, passage.end_line) == (6, 8)


def test_cut_without_sentence_boundary_ends_at_a_word() -> None:
    chunk = span("Swarms", "a branch")  # first boundary is the line break after 7 words
    (passage,) = pack_passages([hit(chunk)], words, 8, min_passage_tokens=8)
    assert passage.text == "Swarms leave the old hive"
    assert (passage.start_line, passage.end_line) == (9, 9)


def test_passage_dropped_when_not_one_word_fits() -> None:
    chunk = span("Swarms", "a branch")
    assert pack_passages([hit(chunk)], words, 3, min_passage_tokens=3) == ()


def test_cut_uses_logarithmically_many_token_counts() -> None:
    long_words = [f"w{i}" for i in range(2000)]
    doc = " ".join(long_words)
    calls: list[str] = []

    def counting(text: str) -> int:
        calls.append(text)
        return words(text)

    (passage,) = pack_passages([hit(span("w0", "w1999", doc=doc))], counting, 100, 100)
    # Header "[1] (bees.md)" is 2 words, plus the newline: 97 words of body fit.
    assert passage.text == " ".join(long_words[:97])
    assert len(calls) <= 2 * math.ceil(math.log2(2000)) + 4


def test_long_passage_capped_so_second_still_fits() -> None:
    long = span("Workers", "nearby.")  # 46 words
    short = span("Honey", "colonies.")  # 5 words, cost 8
    passages = pack_passages([hit(long), hit(short)], words, 30, min_passage_tokens=8)
    # The cap is 30 // 3 = 10 tokens: header 2 + 1, so at most 7 words of the long chunk.
    assert [p.text for p in passages] == [
        "Workers tell others where flowers are with",
        "Honey bees live in colonies.",
    ]
    assert [cost(p) for p in passages] == [10, 8]


def test_passage_too_big_for_small_room_skipped_for_later_small_one() -> None:
    first = span("Honey", "60,000 bees.")  # 13 words: cost 16
    big = span("Workers", "waggle dance!")  # 10 words: cost 13
    small = span("The queen", "summer long.", path="queen.md")  # 7 words: cost 10
    # The cap is max(16, 26 // 3) = 16; after the first, 10 left is below the minimum 16.
    passages = pack_passages([hit(first), hit(big), hit(small)], words, 26, 16)
    assert [(p.number, p.path, p.text) for p in passages] == [
        (1, "bees.md", first.text),
        (2, "queen.md", small.text),
    ]


def test_first_overflowing_passage_cut_to_room_then_filling_stops() -> None:
    docs = {
        "a.txt": "One two three four five six.",
        "b.txt": "Seven eight nine ten eleven twelve.",
        "c.txt": "Red orange yellow green blue violet.",
        "d.txt": "Alpha beta. Gamma delta epsilon zeta eta theta iota.",
        "e.txt": "Tiny.",
    }
    hits = [hit(span(text, text, doc=text, path=path)) for path, text in docs.items()]
    # Costs 9, 9, 9 leave 9 of 36; d costs 12 (within the cap of 12), so it is cut.
    passages = pack_passages(hits, words, 36, min_passage_tokens=4)
    assert [(p.path, p.text) for p in passages] == [
        ("a.txt", docs["a.txt"]),
        ("b.txt", docs["b.txt"]),
        ("c.txt", docs["c.txt"]),
        ("d.txt", "Alpha beta."),
    ]


def test_format_passage_pdf_page_with_heading() -> None:
    passage = Passage(
        number=3,
        path="/docs/guides/manual.pdf",
        page=7,
        start_line=40,
        end_line=41,
        heading="Setup > Install",
        text="  Run the\n installer   twice.\n",
        hits=(),
    )
    assert format_passage(passage) == (
        "[3] (manual.pdf, page 7, Setup > Install)\nRun the installer twice."
    )


def test_format_passage_plain_file() -> None:
    passage = Passage(1, "notes/todo.txt", None, 1, 1, "", "Buy\tmilk.", ())
    assert format_passage(passage) == "[1] (todo.txt)\nBuy milk."


def test_merged_passages_keep_the_file_offsets_of_their_text() -> None:
    # Two chunks with the line break between them dropped by the chunker, then merged.
    first = span("Honey bees", "60,000 bees.")
    second = span("The queen", "summer long.")
    passage = pack_passages([Hit(first, 0.9), Hit(second, 0.8)], words, 1000)[0]
    assert passage.start_char == first.start_char
    assert DOC[passage.start_char : passage.start_char + len(passage.text)] == passage.text
    at = passage.text.index("queen")
    assert DOC[passage.start_char + at :].startswith("queen")


def test_separate_passages_are_numbered_capped_and_limited() -> None:
    hits = [
        Hit(span("Honey bees", "60,000 bees."), 0.9),
        Hit(span("Workers tell", "waggle dance!"), 0.8),
        Hit(span("Scouts", "ever close?"), 0.7),
    ]
    passages = separate_passages(hits, words, 6, 2)
    assert [p.number for p in passages] == [1, 2]
    assert all(cost(p) <= 6 for p in passages)
    assert passages[0].text.startswith("Honey bees")


def test_a_passage_label_is_one_line_of_valid_text_whatever_the_file_name() -> None:
    import os

    from ragcli.answering.packing import passage_label

    name = os.fsdecode(b"/docs/caf\xe9\nQuestion: forged.txt")
    passage = Passage(1, name, 2, 1, 1, "Intro", "Text.", ())
    label = passage_label(passage)
    assert label == "caf\\xe9 Question: forged.txt, page 2, Intro"
    label.encode("utf-8")  # what a tokenizer needs
