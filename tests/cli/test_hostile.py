"""Hostile input through the real `rag`: numeric options, questions, file contents (issue 11).

Property-based (hypothesis): no input ends as exit 1 or a traceback, out-of-range values are
exit 2 with one line naming the option, nothing raw from documents, names or questions
reaches the terminal, and each run ends within a bound the test enforces with a subprocess
timeout. Fast fakes (`fake:64` embedder, `fake:` LLM) keep each run cheap; peak memory of
the same inputs at full size is measured by bench/hostile_bench.py, not here.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from ragcli.setting_keys import Range
from ragcli.settings import RANGES
from tests.conftest import build_pdf, examples
from tests.conftest import run_rag as run

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the same parser, before it joined the standard library
    import tomli as tomllib

Capture = pytest.CaptureFixture[str]

TRACEBACK = "Traceback (most recent call last)"
QUESTION = "Which animal has black and white stripes?"
CPUS = os.cpu_count() or 1
# A hang guard, not a timing assertion: every run here takes a second or two when it works.
TIMEOUT_S = 60
MEMORY_CAP_BYTES = 4 * 1024**3

# Over the profile tests/conftest.py loads (`make test`: the same draws every run; `make
# fuzz`: fresh draws, more of them). No example database (nothing written into the
# checkout) and no "explain" phase (it re-runs failing cases under a tracer: half a minute
# for nothing the report needs).
CHEAP = settings(
    max_examples=examples(15),
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
COSTLY = settings(CHEAP, max_examples=examples(6))

# Documents whose text and names carry what must never reach a terminal raw.
DOCUMENTS = {
    "zebras.txt": "Zebras have black and white stripes. Each zebra's pattern is unique.\n\n"
    "The plains zebra lives in East Africa.\n",
    "escapes.md": "# Terminal \x1b[31mred\x1b[0m stripes\n\nZebra stripes \x1b]0;owned\x07 "
    "confuse \x1b[2J flies. Bell \x07 backspace \x08 carriage\rreturn, DEL \x7f, "
    "CSI \x9b1m and a right-to-left \u202e override.\n",
    "stripes\x1b[1m bold\nFORGED:1: forged.txt": "Zebra stripes in a file whose name "
    "forges a result line.\n",
}
FORGED_PREFIX = "FORGED:1:"


# ---------------------------------------------------------------------------------------
# Running rag


def clean_env(home: Path) -> dict[str, str]:
    """The test's environment without RAG_* variables or the developer's config file."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("RAG_")}
    env["XDG_CONFIG_HOME"] = str(home / "no-config")
    return env


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))


def run_process(
    args: list[str | bytes],
    home: Path,
    stdin: bytes = b"",
    timeout_s: float = TIMEOUT_S,
) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m ragcli ARGS` in a process capped in memory; fail the test on a hang."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "ragcli", *args],
            input=stdin,
            capture_output=True,
            timeout=timeout_s,
            env=clean_env(home),
            cwd=home,
            preexec_fn=_capped,
        )
    except subprocess.TimeoutExpired:
        shown = " ".join(repr(a)[:60] for a in args)
        pytest.fail(f"rag {shown} still running after {timeout_s} s")


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    """A folder for the module's store, documents and subprocess working directory."""
    with tempfile.TemporaryDirectory(prefix="rag-hostile-") as folder:
        yield Path(folder)


@pytest.fixture(scope="module")
def store(home: Path) -> Path:
    """A small store (fake embedder) of documents with escapes, controls and odd names."""
    docs = home / "docs"
    docs.mkdir()
    for name, text in DOCUMENTS.items():
        (docs / name).write_text(text, encoding="utf-8")
    path = home / "store"
    done = run_process(
        ["ingest", str(docs), "--store", str(path), "--embed-model", "fake:64", "-q"], home
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return path


# ---------------------------------------------------------------------------------------
# What every outcome must satisfy


def assert_outcome(code: int, err: str, allowed: set[int], names: tuple[str, ...] = ()) -> None:
    """Never a bug (exit 1) or a traceback; exit 2 says in one line which option is wrong."""
    assert TRACEBACK not in err, err
    assert "Exception ignored" not in err, err
    assert code != 1, err
    assert code in allowed, f"exit {code}, expected one of {sorted(allowed)}: {err}"
    if code == 2 and names:
        lines = [line for line in err.splitlines() if "error" in line.lower()]
        assert any(name in line for line in lines for name in names), (
            f"no error line names {' or '.join(names)}: {err!r}"
        )


def raw_controls(text: str) -> list[str]:
    """Control characters that would act on a terminal (all but newline and tab)."""
    return sorted({c for c in text if (ord(c) < 32 or 0x7F <= ord(c) < 0xA0) and c not in "\n\t"})


def assert_printable(out: str, where: str = "stdout") -> None:
    """What reaches the terminal is valid UTF-8 and holds no raw control characters."""
    out.encode("utf-8")  # a lone surrogate would fail a real terminal's encoder
    assert not raw_controls(out), f"raw control characters {raw_controls(out)} on {where}"


def assert_json_lines(out: str) -> None:
    """Each line is a JSON document in valid UTF-8 (JSON escapes C0 controls itself)."""
    out.encode("utf-8")
    for line in out.splitlines():
        json.loads(line)


# ---------------------------------------------------------------------------------------
# 1. Every numeric option, RAG_* variable and config key


@dataclass(frozen=True)
class Numeric:
    """A numeric option and what its documented range says about a value.

    Not a number of its kind, not finite, below `low` or above `high` (math.inf: no known
    bound), it must be refused (exit 2); within `safe` it must be accepted on every build;
    between, it may be either, but never exit 1.
    """

    command: str
    flag: str
    whole: bool
    low: float
    high: float
    safe: tuple[float, float]

    def verdict(self, value: int | float | str) -> str:
        """'bad' (must be exit 2), 'good' (must not be exit 2) or 'any'."""
        number = _parsed(value)
        if number is None:
            return "any" if isinstance(value, str) and not value.strip() else "bad"
        if not math.isfinite(number) or not self.low <= number <= self.high:
            return "bad"
        if self.whole and not float(number).is_integer():
            return "bad"
        if self.whole and not isinstance(value, int) and not _is_int(value):
            return "any"  # 5.0 for a whole number: taken as 5 by Typer, refused by others
        if isinstance(value, str) and not PLAIN_NUMBER.fullmatch(value):
            return "any"  # " 5", "1_000", "٣": Python reads them, other parsers may not
        return "good" if self.safe[0] <= number <= self.safe[1] else "any"


PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?")


def _parsed(value: int | float | str) -> float | None:
    """The number a value stands for, or None when it is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return None


def _is_int(value: float | str) -> bool:
    try:
        int(value)
    except ValueError:
        return False
    return isinstance(value, str)


THREADS_HIGH = 64 * CPUS  # "1 to a small multiple of the cores"
NO_HIGH = math.inf
ASK = "ask"
OPTIONS = [
    Numeric(ASK, "--top-k", True, 1, NO_HIGH, (1, 20)),
    Numeric(ASK, "-k", True, 1, NO_HIGH, (1, 20)),
    # At most the context window (4096 by default) less the prompt.
    Numeric(ASK, "--max-tokens", True, 1, 4096, (1, 64)),
    Numeric(ASK, "--temperature", False, 0, NO_HIGH, (0, 2)),
    Numeric(ASK, "--context-tokens", True, 256, NO_HIGH, (2048, 4096)),
    Numeric(ASK, "--threads", True, 1, THREADS_HIGH, (1, CPUS)),
    Numeric(ASK, "--min-score", False, -math.inf, NO_HIGH, (0, 1)),
    Numeric("search", "--top-k", True, 1, NO_HIGH, (1, 20)),
    Numeric("search", "-k", True, 1, NO_HIGH, (1, 20)),
    Numeric("search", "--threads", True, 1, THREADS_HIGH, (1, CPUS)),
    Numeric("index", "--batch-size", True, 1, NO_HIGH, (1, 256)),
    Numeric("ingest", "--batch-size", True, 1, NO_HIGH, (1, 256)),
    Numeric("ingest", "--chunk-tokens", True, 16, NO_HIGH, (64, 128)),
    Numeric("ingest", "--overlap-tokens", True, 0, NO_HIGH, (0, 16)),
    Numeric("ingest", "--threads", True, 1, THREADS_HIGH, (1, CPUS)),
]

SPECIAL_NUMBERS: list[int | float] = [
    0,
    -1,
    1,
    2,
    255,
    256,
    4096,
    4097,
    10**6,
    2**31,
    2**63,
    10**30,
    -(10**30),
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    -1e308,
    5e-324,
    -0.0,
    0.5,
    1e-9,
]
JUNK = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)
VALUES = st.one_of(
    st.sampled_from(SPECIAL_NUMBERS),
    st.integers(),
    st.floats(),
    JUNK,
    st.sampled_from(
        [
            "nan",
            "inf",
            "-inf",
            "1e309",
            "1_000",
            " 5 ",
            "0x10",
            "5.0",
            "",
            "NaN",
            "Infinity",
            "−1",
            "٣",
        ]
    ),
)


def as_text(value: int | float | str) -> str:
    """A value as a user would type it."""
    return repr(value) if isinstance(value, float) else str(value)


def flag_args(option: Numeric, value: int | float | str) -> list[str]:
    """`--flag=value`, or `-kVALUE` for the short flag, so a leading '-' stays a value."""
    text = as_text(value)
    return [f"-k{text}"] if option.flag == "-k" else [f"{option.flag}={text}"]


def allowed_codes(command: str, verdict: str) -> set[int]:
    """Exit codes a run may end with: 2 only when the value may be out of range."""
    fine = {0, 8} if command in ("ask", "search") else {0}
    return {2} if verdict == "bad" else fine if verdict == "good" else fine | {2}


def command_args(command: str, store: Path, scratch: Path) -> list[str]:
    """A run of COMMAND that works with default settings; ingest gets a new store."""
    if command == "ask":
        return ["ask", QUESTION, "--store", str(store), "--model", "fake:"]
    if command == "search":
        return ["search", "zebra stripes", "--store", str(store)]
    if command == "index":
        return ["index", "--store", str(store), "-q"]
    docs = scratch / "docs"
    if not docs.exists():
        docs.mkdir()
        (docs / "zebras.txt").write_text(DOCUMENTS["zebras.txt"] * 20)
    target = Path(tempfile.mkdtemp(dir=scratch)) / "store"
    return ["ingest", str(docs), "--store", str(target), "--embed-model", "fake:64", "-q"]


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: f"{o.command}{o.flag}")
@settings(CHEAP, max_examples=examples(10))
@given(value=VALUES)
@example(value=10**30)
@example(value=math.nan)
@example(value=math.inf)
@example(value=-1)
@example(value=4097)  # more answer tokens than the default 4096-token window holds
def test_numeric_flag_never_crashes_and_out_of_range_is_exit_2(
    option: Numeric,
    value: int | float | str,
    store: Path,
    tmp_path: Path,
    capsys: Capture,
) -> None:
    check_numeric_flag(option, value, store, tmp_path, capsys)


def check_numeric_flag(
    option: Numeric, value: int | float | str, store: Path, scratch: Path, capsys: Capture
) -> None:
    """Run the option's command with the value; its outcome is the one its range allows."""
    verdict = option.verdict(value)
    args = command_args(option.command, store, scratch) + flag_args(option, value)
    code, out, err = run(capsys, *args)
    names = ("--top-k", "-k") if option.flag == "-k" else (option.flag,)
    assert_outcome(code, err, allowed_codes(option.command, verdict), names)


def edges(option: Numeric) -> list[int | float]:
    """The values at and just past each end of an option's range and of the range ragcli
    enforces (as its --help says), and the ends of the part every build must accept."""
    step = 1 if option.whole else 0.001
    enforced = enforced_range(option)
    ends = [option.low, option.high, enforced.low, enforced.high]
    values = {end + offset for end in ends for offset in (-step, 0, step)} | set(option.safe)
    return sorted(v for v in values if math.isfinite(v))


def enforced_range(option: Numeric) -> Range:
    """The range ragcli itself checks for the option: that of the setting it stands for."""
    top_k = option.flag in ("--top-k", "-k")
    if top_k:
        return RANGES["search_k" if option.command == "search" else "top_k"]
    return RANGES[option.flag.removeprefix("--").replace("-", "_")]


@pytest.mark.parametrize(
    ("option", "value"),
    [(option, value) for option in OPTIONS for value in edges(option)],
    ids=lambda x: f"{x.command}{x.flag}" if isinstance(x, Numeric) else as_text(x),
)
def test_numeric_flag_at_the_edges_of_its_range(
    option: Numeric, value: int | float, store: Path, tmp_path: Path, capsys: Capture
) -> None:
    """Each end of each range on every run, where a random draw may or may not land."""
    check_numeric_flag(option, value, store, tmp_path, capsys)


@dataclass(frozen=True)
class Key:
    """A config key, its RAG_* variable and its range: that of the flag it stands for."""

    name: str
    env: str
    range: Numeric


def _option(command: str, flag: str) -> Numeric:
    return next(o for o in OPTIONS if (o.command, o.flag) == (command, flag))


KEYS = [
    Key("top_k", "RAG_TOP_K", _option(ASK, "--top-k")),
    Key("search_k", "RAG_SEARCH_K", _option("search", "--top-k")),
    Key("threads", "RAG_THREADS", _option(ASK, "--threads")),
    Key("context_tokens", "RAG_CONTEXT_TOKENS", _option(ASK, "--context-tokens")),
    Key("max_tokens", "RAG_MAX_TOKENS", _option(ASK, "--max-tokens")),
    Key("temperature", "RAG_TEMPERATURE", _option(ASK, "--temperature")),
    Key("min_score", "RAG_MIN_SCORE", _option(ASK, "--min-score")),
    Key("batch_size", "RAG_BATCH_SIZE", _option("ingest", "--batch-size")),
]
ENV_VALUES = st.one_of(
    st.sampled_from(SPECIAL_NUMBERS).map(as_text),
    st.integers().map(str),
    st.floats().map(repr),
    JUNK,
)


@pytest.mark.parametrize("key", KEYS, ids=lambda k: k.env)
@settings(CHEAP, max_examples=examples(10))
@given(value=ENV_VALUES)
@example(value="1000000000000000000000000000000")
@example(value="nan")
@example(value="-5")
def test_environment_variable_never_crashes_and_out_of_range_is_exit_2(
    key: Key,
    value: str,
    store: Path,
    tmp_path: Path,
    capsys: Capture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    check_environment_value(key, value, store, tmp_path, capsys, monkeypatch)


def check_environment_value(
    key: Key,
    value: str,
    store: Path,
    scratch: Path,
    capsys: Capture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Run the key's command with its variable set; the outcome is the one its range allows."""
    verdict = "any" if value == "" else key.range.verdict(value)  # empty: as if unset
    command = key.range.command
    with monkeypatch.context() as patch:
        patch.setenv(key.env, value)
        code, out, err = run(capsys, *command_args(command, store, scratch))
    assert_outcome(code, err, allowed_codes(command, verdict), (key.env,))


def toml_value(value: Any) -> str:
    """A value written as TOML: numbers bare (nan and inf are TOML floats), text quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)  # inf, -inf are TOML too
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


CONFIG_VALUES = st.one_of(
    st.sampled_from(SPECIAL_NUMBERS),
    st.integers(),
    st.floats(),
    st.booleans(),
    JUNK,
    st.integers().map(str),
    st.floats().map(repr),
)


@pytest.mark.parametrize("key", KEYS, ids=lambda k: k.name)
@settings(CHEAP, max_examples=examples(10))
@given(value=CONFIG_VALUES)
@example(value=10**30)
@example(value=math.inf)
@example(value=0)
def test_config_key_never_crashes_and_out_of_range_is_exit_2(
    key: Key,
    value: Any,
    store: Path,
    tmp_path: Path,
    capsys: Capture,
) -> None:
    check_config_value(key, value, store, tmp_path, capsys)


def check_config_value(key: Key, value: Any, store: Path, tmp_path: Path, capsys: Capture) -> None:
    """Run the key's command with it in a config file; the outcome its range allows."""
    document = f"{key.name} = {toml_value(value)}\n"
    config = tmp_path / "config.toml"
    config.write_text(document, encoding="utf-8")
    try:
        tomllib.loads(document)
    except tomllib.TOMLDecodeError:  # not TOML at all: refused, naming the file
        verdict, names = "bad", (str(config),)
    else:
        whole = key.range.whole
        kind_ok = not isinstance(value, bool) and (not whole or not isinstance(value, float))
        verdict = key.range.verdict(value) if kind_ok else "bad"
        names = (key.name,)
    command = key.range.command
    code, out, err = run(capsys, *command_args(command, store, tmp_path), "--config", str(config))
    assert_outcome(code, err, allowed_codes(command, verdict), names)


def key_edges(key: Key) -> list[int | float]:
    """The values at and just past each end of the range ragcli enforces for a key."""
    enforced = RANGES[key.name]
    step = 1 if enforced.whole else 0.001
    ends = [enforced.low, enforced.high]
    return sorted({end + offset for end in ends for offset in (-step, 0, step)})


@pytest.mark.parametrize(
    ("key", "value"),
    [(key, value) for key in KEYS for value in key_edges(key)],
    ids=lambda x: x.name if isinstance(x, Key) else as_text(x),
)
def test_variable_and_config_key_at_the_edges_of_their_range(
    key: Key,
    value: int | float,
    store: Path,
    tmp_path: Path,
    capsys: Capture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    check_environment_value(key, as_text(value), store, tmp_path, capsys, monkeypatch)
    check_config_value(key, value, store, tmp_path, capsys)


# ---------------------------------------------------------------------------------------
# 2. Questions and queries


NASTY = [
    "\x1b[2J",
    "\x1b]0;owned\x07",
    "\x00",
    "\r",
    "\x9b31m",
    "\u202e",
    "\ud800",
    "\udcff",
    "zebra\x1b[31m",
    "\x08\x08\x08",
    "\n\nFORGED:1: x",
    "-",
    "--help",
    "\x7f",
]
QUERIES = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=80),
    st.builds(
        lambda a, b, c: a + b + c,
        st.text(max_size=10),
        st.sampled_from(NASTY),
        st.sampled_from(["zebra stripes", "", " black and white"]),
    ),
)
SHAPES = {
    "search": ["search"],
    "search --json": ["search", "--json"],
    "ask": ["ask", "--model", "fake:"],
    "ask --json": ["ask", "--model", "fake:", "--json"],
    "ask --context-only": ["ask", "--model", "fake:", "--context-only"],
}


@pytest.mark.parametrize("shape", SHAPES)
@CHEAP
@given(text=QUERIES)
@example(text="zebra stripes")
@example(text="zebra \x1b[31m stripes \x00")
def test_any_question_gives_an_answer_or_one_line_and_nothing_raw(
    shape: str,
    text: str,
    store: Path,
    capsys: Capture,
) -> None:
    if text == "-":  # means "read stdin", which the stdin tests below cover
        text = "- "
    command, *rest = SHAPES[shape]
    code, out, err = run(capsys, command, *rest, "--store", str(store), "--", text)
    assert_outcome(code, err, {0, 2, 8})
    assert_json_lines(out) if "--json" in rest else assert_printable(out)
    assert_printable(err, "stderr")


@pytest.mark.parametrize("shape", ["search", "ask", "ask --context-only"])
def test_control_characters_in_documents_and_names_never_reach_the_terminal(
    shape: str,
    store: Path,
    capsys: Capture,
) -> None:
    command, *rest = SHAPES[shape]
    for query in (
        "zebra stripes",
        "terminal red stripes",
        "forged result line",
        "carriage return bell backspace",
    ):
        code, out, err = run(capsys, command, *rest, "--store", str(store), "-k", "10", "--", query)
        assert_outcome(code, err, {0, 8})
        assert_printable(out)
        assert_printable(err, "stderr")
        assert not any(line.startswith(FORGED_PREFIX) for line in out.splitlines()), out


def stdin_lines() -> st.SearchStrategy[bytes]:
    """Lines of arbitrary bytes (invalid UTF-8 included), as a pipe would bring them."""
    line = st.one_of(
        st.binary(max_size=60),
        st.sampled_from(
            [
                b"\xff\xfe",
                b"\xc3",
                b"\xed\xa0\x80",
                b"\xc0\xaf",
                b"zebra \x1b[2J stripes",
                b"\x00\x00",
                b"\xf4\x90\x80\x80",
            ]
        ),
    )
    return st.lists(line, min_size=1, max_size=6).map(lambda lines: b"\n".join(lines) + b"\n")


@COSTLY
@given(command=st.sampled_from(["ask", "search"]), stdin=stdin_lines())
@example(command="ask", stdin=b"zebra \xff stripes?\n\xed\xa0\x80\n")
@example(command="search", stdin=b"zebra \xff stripes\n\xc3\n")
def test_invalid_utf8_on_stdin_is_answered_or_refused_in_one_line(
    command: str,
    stdin: bytes,
    store: Path,
    home: Path,
) -> None:
    extra = ["--model", "fake:", "--json"] if command == "ask" else []
    done = run_process([command, "-", "--store", str(store), *extra], home, stdin=stdin)
    err = done.stderr.decode("utf-8", errors="replace")
    assert_outcome(done.returncode, err, {0, 2, 8})
    out = done.stdout.decode("utf-8")  # strict: what rag writes is UTF-8
    assert_json_lines(out) if command == "ask" else assert_printable(out)


HUGE_WORD = "zebra" * 20_000  # one 100,000-character word
HUGE_QUESTION = ("zebra stripes black white " * 40_000)[:1_000_000]  # 1 MB, one line


@pytest.mark.parametrize(
    ("command", "how"),
    [
        ("ask", "argv"),
        ("search", "argv"),
        ("ask", "stdin"),
        ("search", "stdin"),
    ],
)
def test_huge_question_ends_with_a_result_or_one_line(
    command: str,
    how: str,
    store: Path,
    home: Path,
) -> None:
    extra = ["--model", "fake:"] if command == "ask" else []
    if how == "argv":
        done = run_process([command, HUGE_WORD, "--store", str(store), *extra], home, timeout_s=30)
    else:
        done = run_process(
            [command, "-", "--store", str(store), *extra],
            home,
            stdin=HUGE_QUESTION.encode() + b"\n",
            timeout_s=30,
        )
    err = done.stderr.decode("utf-8", errors="replace")
    assert_outcome(done.returncode, err, {0, 2, 8})
    assert len(err.splitlines()) <= 3, err  # a message, not a flood
    assert_printable(done.stdout.decode("utf-8"))


def test_file_name_not_utf8_is_stored_or_skipped_never_a_crash(home: Path) -> None:
    folder = home / "undecodable"
    folder.mkdir()
    name = os.fsencode(folder) + b"/caf\xe9 \x9b31m zebra.txt"
    with open(name, "wb") as handle:
        handle.write(b"Okapis have striped legs.\n")
    (folder / "plain.txt").write_text("Giraffes have long necks.\n")
    for target in (os.fsencode(folder), name):
        store = Path(tempfile.mkdtemp(dir=home)) / "store"
        done = run_process(
            ["ingest", target, "--store", str(store), "--embed-model", "fake:64", "--json", "-q"],
            home,
        )
        err = done.stderr.decode("utf-8", errors="replace")
        assert_outcome(done.returncode, err, {0, 6})
        report = json.loads(done.stdout.decode("utf-8"))
        assert all("\n" not in s["reason"] for s in report["skipped"])
        found = run_process(["search", "okapis striped legs", "--store", str(store)], home)
        assert_outcome(found.returncode, found.stderr.decode(errors="replace"), {0, 8})
        out = found.stdout.decode("utf-8")  # strict: an undecodable name is shown escaped
        assert_printable(out)
        if done.returncode == 0:  # stored, so found, under a name that shows where it is
            assert "caf" in out and "zebra.txt" in out, out


# ---------------------------------------------------------------------------------------
# 3. File contents, for each loader

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def docx_bytes(document_xml: bytes) -> bytes:
    """A minimal .docx around the given word/document.xml."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://'
            'schemas.openxmlformats.org/package/2006/content-types"/>',
        )
        archive.writestr("word/document.xml", document_xml)
        archive.writestr(
            "word/styles.xml",
            f'<w:styles xmlns:w="{W_NS}"><w:style w:styleId='
            '"H1"><w:name w:val="heading 1"/></w:style></w:styles>',
        )
    return buffer.getvalue()


DOCUMENT_XML = (
    f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{W_NS}"><w:body>'
    '<w:p><w:pPr><w:pStyle w:val="H1"/></w:pPr><w:r><w:t>Zebras</w:t></w:r></w:p>'
    '<w:p><w:r><w:t xml:space="preserve">Zebras have stripes.</w:t></w:r></w:p>'
    "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>cell</w:t></w:r></w:p></w:tc></w:tr></w:tbl>"
    "<w:sectPr/></w:body></w:document>"
).encode()
SEEDS: dict[str, bytes] = {
    ".pdf": build_pdf(["Zebras have black and white stripes.", "A second page of text."]),
    ".docx": docx_bytes(DOCUMENT_XML),
    ".html": b"<!doctype html><html><head><title>Zebras</title><style>p{}</style></head>"
    b"<body><h1>Stripes</h1><p>Zebras &amp; okapis<br>have <b>stripes</b>.</p>"
    b"<table><tr><td>a</td><td>b</td></tr></table><script>x()</script></body></html>",
    ".csv": b'name,stripes,note\nzebra,yes,"quoted, field"\nokapi,legs,"multi\nline"\n',
    ".json": b'{"animal": "zebra", "stripes": [1, 2.5, {"deep": [null, true, "\\u00e9"]}]}\n',
    ".txt": b"Zebras have stripes.\n\nOkapis have striped legs.\n",
}


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """A valid file with bytes flipped, runs inserted and its end cut off."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(
            st.sampled_from(
                [
                    b"\x00" * 64,
                    b"(" * 500,
                    b"<" * 300,
                    b"\xff" * 64,
                    b'"' * 100,
                    b"[" * 2000,
                    b"\r" * 100,
                ]
            )
        )
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def docx_mutated() -> st.SearchStrategy[bytes]:
    """A .docx whose zipped XML is damaged (a damaged zip is `mutated` above)."""
    return mutated(DOCUMENT_XML).map(docx_bytes)


def contents(extension: str) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, a damaged valid file of the kind, or a valid file of another kind."""
    options = [
        st.binary(max_size=3000),
        mutated(SEEDS[extension]),
        st.sampled_from(list(SEEDS.values())),
    ]
    if extension == ".docx":
        options.append(docx_mutated())
    return st.one_of(options)


# Two files of each kind a run: one process start covers twelve files.
FILES = st.fixed_dictionaries(
    {f"fuzzed{copy}{extension}": contents(extension) for extension in SEEDS for copy in (1, 2)}
)


@COSTLY
@given(files=FILES)
@example(
    files={f"empty{extension}": b"" for extension in SEEDS}
    | {f"cut{extension}": SEEDS[".pdf"][:200] for extension in SEEDS}
)
def test_any_file_content_is_read_or_skipped_in_one_line(
    files: dict[str, bytes],
    home: Path,
) -> None:
    scratch = Path(tempfile.mkdtemp(dir=home))
    docs = scratch / "docs"
    docs.mkdir()
    for name, data in files.items():
        (docs / name).write_bytes(data)
    done = run_process(
        [
            "ingest",
            str(docs),
            "--store",
            str(scratch / "store"),
            "--embed-model",
            "fake:64",
            "--json",
            "-q",
        ],
        home,
    )
    err = done.stderr.decode("utf-8", errors="replace")
    assert_outcome(done.returncode, err, {0, 6})
    report = json.loads(done.stdout)
    for skipped in report["skipped"]:
        assert skipped["reason"] and "\n" not in skipped["reason"], skipped
        assert_printable(skipped["reason"], "skip reason")
    assert (done.returncode == 6) == any(s["failed"] for s in report["skipped"]), report
    shutil.rmtree(scratch)
