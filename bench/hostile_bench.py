"""Hostile-input benchmark: exit code, wall time, peak memory and what the store kept, per case.

Each input or fault of issue 11 runs in its own `rag` process (or a few, for the store
faults), under a timeout (killed at the deadline) and an address-space cap (RLIMIT_AS), so
that a case that grows without bound is stopped before the machine swaps. Prints one table.
Four groups: resource (this file), security and store (bench/hostile_cases.py), surfaces
(bench/hostile_surfaces.py: watch, MCP, servers, Ray, stores, OCR); the machinery is in
bench/hostile_run.py.

Run: python bench/hostile_bench.py [--group G] [--only CASE ...] [--cheap] [--slow]
     [--timeout 120] [--memory-gb 4] [--list]
Ingest cases run with --no-index (load, chunk and store; embedding is measured elsewhere);
ask and search cases use the bundled models on a store of sample_docs; security and store
cases use the fake backends (--embed-model fake:64, --model fake:) unless they need a model.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hostile_cases import SECURITY_CASES, STORE_CASES  # noqa: E402
from hostile_run import ROOT, Case, Outcome, Runner, Skipped, note, stored  # noqa: E402
from hostile_surfaces import SURFACE_CASES  # noqa: E402

MB = 1024 * 1024
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
QUESTION = "What does HNSW stand for?"


# ---------------------------------------------------------------------------------------
# Inputs


def words(count: int, seed: int = 7) -> list[str]:
    """COUNT words drawn from sample_docs' vocabulary, deterministically."""
    vocabulary = sorted(
        {
            word
            for path in (ROOT / "sample_docs").glob("*.md")
            for word in path.read_text(encoding="utf-8").split()
            if word.isalpha()
        }
    )
    rng = random.Random(seed)
    return rng.choices(vocabulary, k=count)


def one_line_file(folder: Path, size_mb: int) -> Path:
    """A text file of SIZE_MB megabytes of words and no line break."""
    path = folder / f"one-line-{size_mb}mb.txt"
    block = " ".join(words(200_000)).encode()
    with path.open("wb") as handle:
        left = size_mb * MB
        while left > 0:
            handle.write(block[:left])
            left -= len(block[:left])
    return path


def ingest(path: Path | str, *extra: str) -> list[str]:
    return ["ingest", str(path), "--no-index", *extra]


def one_line(size_mb: int) -> Callable[[Path], list[str]]:
    return lambda work: ingest(one_line_file(work, size_mb))


def million_words(work: Path) -> list[str]:
    path = work / "million-words.txt"
    path.write_text(" ".join(f"w{n % 97}" for n in range(1_000_000)) + "\n")
    return ingest(path)


def million_columns(work: Path) -> list[str]:
    path = work / "million-columns.csv"
    with path.open("w") as handle:
        handle.write(",".join(f"c{n}" for n in range(1_000_000)) + "\n")
        for row in range(2):
            handle.write(",".join(str(n % 10 + row) for n in range(1_000_000)) + "\n")
    return ingest(path)


def write_docx(
    path: Path,
    document: Callable[[zipfile.ZipFile], None],
    styles: Callable[[zipfile.ZipFile], None] | None = None,
) -> Path:
    """A .docx whose members are streamed in by the given writers (nothing held whole)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://'
            'schemas.openxmlformats.org/package/2006/content-types"/>',
        )
        document(archive)
        if styles is not None:
            styles(archive)
    return path


def streamed_member(
    name: str, head: str, repeated: bytes, total_bytes: int, tail: str
) -> Callable[[zipfile.ZipFile], None]:
    """Write member NAME: HEAD, then REPEATED up to TOTAL_BYTES, then TAIL."""

    def write(archive: zipfile.ZipFile) -> None:
        block = repeated * max(1, MB // len(repeated))
        with archive.open(name, "w", force_zip64=True) as member:
            member.write(head.encode())
            written = 0
            while written < total_bytes:
                member.write(block)
                written += len(block)
            member.write(tail.encode())

    return write


DOCUMENT_HEAD = f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{W_NS}"><w:body>'
DOCUMENT_TAIL = "<w:sectPr/></w:body></w:document>"
SMALL_BODY = "<w:p><w:r><w:t>Zebras have stripes.</w:t></w:r></w:p>"


def docx_one_text(work: Path) -> list[str]:
    """document.xml expands to 1 GB (one run of text) from about 1 MB zipped."""
    member = streamed_member(
        "word/document.xml",
        DOCUMENT_HEAD + "<w:p><w:r><w:t>",
        b"a",
        1024 * MB,
        "</w:t></w:r></w:p>" + DOCUMENT_TAIL,
    )
    return ingest(write_docx(work / "bomb-document.docx", member))


def docx_paragraphs(work: Path) -> list[str]:
    """1 GB of short paragraphs."""
    paragraph = b"<w:p><w:r><w:t>Zebras have black and white stripes.</w:t></w:r></w:p>"
    member = streamed_member(
        "word/document.xml", DOCUMENT_HEAD, paragraph, 1024 * MB, DOCUMENT_TAIL
    )
    return ingest(write_docx(work / "bomb-paragraphs.docx", member))


def docx_styles(work: Path) -> list[str]:
    """styles.xml expands to 400 MB; the document itself is one sentence."""

    def document(archive: zipfile.ZipFile) -> None:
        archive.writestr("word/document.xml", DOCUMENT_HEAD + SMALL_BODY + DOCUMENT_TAIL)

    style = b'<w:style w:styleId="S"><w:name w:val="heading 1"/></w:style>'
    styles = streamed_member(
        "word/styles.xml", f'<w:styles xmlns:w="{W_NS}">', style, 400 * MB, "</w:styles>"
    )
    return ingest(write_docx(work / "bomb-styles.docx", document, styles))


def fifo(work: Path) -> list[str]:
    path = work / "named-pipe.txt"
    os.mkfifo(path)
    return ingest(path)


def asked(*extra: str, question: str = QUESTION) -> Callable[[Path], list[str]]:
    return lambda work: ["ask", question, *extra]


def searched(*extra: str, query: str = QUESTION) -> Callable[[Path], list[str]]:
    return lambda work: ["search", query, *extra]


def single(prepare: Callable[[Path], list[str]], store: str = "own") -> Callable[[Runner], Outcome]:
    """A case of one `rag` command: PREPARE writes its input and returns the arguments.

    STORE "own" is a new store in the case's folder; "ask" the shared sample_docs store.
    """

    def run(runner: Runner) -> Outcome:
        target = runner.ask_store() if store == "ask" else runner.store
        done = runner.rag(*prepare(runner.folder), store=target)
        return runner.outcome(done.exit, stored(target))

    return run


LONG_WORD = "zebra" * 20_000  # one word of 100,000 characters

RESOURCE_CASES = [
    Case(
        "files-from-zero",
        "--files-from /dev/zero",
        single(lambda work: ["ingest", "--files-from", "/dev/zero", "--no-index"]),
    ),
    Case(
        "files-from-urandom",
        "--files-from /dev/urandom",
        single(lambda work: ["ingest", "--files-from", "/dev/urandom", "--no-index"]),
    ),
    Case("one-line-1mb", "text file, one line of 1 MB", single(one_line(1))),
    Case("one-line-5mb", "text file, one line of 5 MB", single(one_line(5))),
    Case("one-line-50mb", "text file, one line of 50 MB", single(one_line(50)), costly=True),
    Case("million-words", "one line of a million short words", single(million_words)),
    Case("million-columns", "CSV, a million columns, 3 rows", single(million_columns)),
    Case(
        "docx-bomb-text",
        "DOCX: document.xml -> 1 GB (one text run)",
        single(docx_one_text),
        costly=True,
    ),
    Case("docx-bomb-paragraphs", "DOCX: 1 GB of paragraphs", single(docx_paragraphs), costly=True),
    Case("docx-bomb-styles", "DOCX: styles.xml -> 400 MB", single(docx_styles), costly=True),
    Case("fifo", "a FIFO named on the command line", single(fifo)),
    Case(
        "ask-max-tokens",
        "ask --max-tokens 1000000",
        single(asked("--max-tokens", "1000000"), "ask"),
        costly=True,
    ),
    Case(
        "ask-threads",
        "ask --threads 10000",
        single(asked("--threads", "10000"), "ask"),
        costly=True,
    ),
    Case(
        "search-threads",
        "search --threads 10000",
        single(searched("--threads", "10000"), "ask"),
        costly=True,
    ),
    Case(
        "ask-temperature-inf",
        "ask --temperature inf",
        single(asked("--temperature", "inf"), "ask"),
        costly=True,
    ),
    Case(
        "ask-long-word",
        "ask, a one-word question of 100,000 characters",
        single(asked(question=LONG_WORD), "ask"),
        costly=True,
    ),
    Case(
        "search-long-word",
        "search, a one-word query of 100,000 characters",
        single(searched(query=LONG_WORD), "ask"),
    ),
]

CASES = RESOURCE_CASES + SECURITY_CASES + STORE_CASES + SURFACE_CASES
GROUPS = ("resource", "security", "store", "surfaces")


def run_case(case: Case, work: Path, timeout_s: float, memory_bytes: int, slow: bool) -> Outcome:
    """Run one case in its own folder; a case that cannot run here is a row saying why."""
    folder = work / case.name
    folder.mkdir()
    runner = Runner(work, folder, timeout_s, memory_bytes, slow)
    try:
        outcome = case.run(runner)
    except Skipped as reason:
        return Outcome("skipped", 0.0, 0.0, str(reason), "")
    # The scratch folder's path would fill the column's 100 characters.
    return replace(outcome, first_error_line=outcome.first_error_line.replace(str(folder), "…"))


def print_table(rows: list[tuple[Case, Outcome]], timeout_s: float, memory_gb: float) -> None:
    """A Markdown table of the outcomes, under a line naming the machine and the caps."""
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(
        f"ragcli hostile-input benchmark ({machine}; each command killed at {timeout_s:g} s, "
        f"address space capped at {memory_gb:g} GB; ingest cases with --no-index, so "
        "embedding is not measured; ask/search cases: bundled models, sample_docs store; "
        "security/store cases: fake backends; several commands: wall summed, RSS the "
        "largest; … in a message is the case's scratch folder)"
    )
    print()
    print("| case | input | exit | wall s | peak RSS MB | stderr, first line | store after |")
    print("|---|---|---|---|---|---|---|")
    for case, outcome in rows:
        message = outcome.first_error_line.replace("|", "\\|")
        message = message if len(message) <= 100 else message[:97] + "..."
        print(
            f"| {case.name} | {case.about} | {outcome.exit} | {outcome.wall_s:.1f} | "
            f"{outcome.peak_rss_mb:,.0f} | {message} | {outcome.stored} |"
        )


def main() -> None:
    names = [case.name for case in CASES]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        action="append",
        choices=names,
        metavar="CASE",
        help="run only this case (repeatable); --list shows them",
    )
    parser.add_argument(
        "--group", action="append", choices=GROUPS, help="run only this group of cases (repeatable)"
    )
    parser.add_argument(
        "--cheap",
        action="store_true",
        help="skip the gigabyte inputs, the bundled-model cases and the cases "
        "that hung before issue 11",
    )
    parser.add_argument(
        "--slow",
        action="store_true",
        help="also run the cases that need more than 600 s (an endless stream)",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a kill")
    parser.add_argument("--memory-gb", type=float, default=4.0, help="address-space cap")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args()
    if args.list:
        for case in CASES:
            print(
                f"{case.name:24} {case.group:9} {case.about}{'  (costly)' if case.costly else ''}"
            )
        return
    chosen = [
        case
        for case in CASES
        if (not args.only or case.name in args.only)
        and (not args.group or case.group in args.group)
        and not (args.cheap and case.costly)
    ]
    rows = []
    with tempfile.TemporaryDirectory(prefix="rag-hostile-bench-") as scratch:
        for case in chosen:
            note(f"{case.name}: {case.about}")
            outcome = run_case(
                case, Path(scratch), args.timeout, int(args.memory_gb * 1024**3), args.slow
            )
            rows.append((case, outcome))
    print_table(rows, args.timeout, args.memory_gb)


if __name__ == "__main__":
    main()
