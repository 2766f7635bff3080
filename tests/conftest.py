"""Shared helpers: running `rag` in-process, small real PDFs built with fpdf2."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import fpdf
import pytest
from hypothesis import settings

# Milvus Lite's client loads gRPC into this process; a test that forks a child with
# preexec_fn then runs gRPC's fork handlers in the child, which can abort it (SIGABRT,
# "epoll_wait error: Bad file descriptor") before it execs. ragcli never forks that way.
os.environ["GRPC_ENABLE_FORK_SUPPORT"] = "false"

# The test doubles (`fake:` embedders and LLMs) register with the factories when imported:
# here for this process, and through RAGCLI_TEST_PLUGINS (and PYTHONPATH) for every `rag`
# process a test starts, which runs no conftest (ragcli/plugins.py).
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from tests.fakes import share_with_subprocesses  # noqa: E402 - registers the fakes

share_with_subprocesses()

MakePdf = Callable[..., bytes]
Capture = pytest.CaptureFixture[str]

# Property tests: `make test` draws the same examples on every run (derandomize), so a
# random draw never decides whether a change lands; `make fuzz` (HYPOTHESIS_PROFILE=fuzz)
# searches wider, with fresh draws each run and FUZZ_FACTOR times the examples.
FUZZ_FACTOR = 10
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.register_profile("fuzz", derandomize=False, database=None, deadline=None, print_blob=True)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


# Each test's tier is the folder it lives in, and a marker of that name: `make test-fast` runs
# `-m "(unit or cli) and not e2e"`, so a test that needs the real models keeps its `e2e` mark
# in whichever tier its module sits.
TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "cli", "engines", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its tier; a test outside the tier folders is a usage error."""
    for item in items:
        if not item.path.is_relative_to(TESTS):
            continue
        tier = item.path.relative_to(TESTS).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(
                f"{item.path.relative_to(TESTS.parent)} is in no tier: move it into "
                + ", ".join(f"tests/{name}/" for name in TIERS)
            )
        item.add_marker(tier)


@pytest.fixture
def no_umask() -> Iterator[None]:
    """Run with umask 000, as a careless shell or service would."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def examples(count: int) -> int:
    """How many examples a property test draws: count in `make test`, more in `make fuzz`."""
    return count * FUZZ_FACTOR if PROFILE == "fuzz" else count


def run_rag(capsys: Capture, *args: str) -> tuple[int, str, str]:
    """Run `rag ARGS` in-process; return exit code, stdout, stderr."""
    from ragcli.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(list(args))
    captured = capsys.readouterr()
    return int(stopped.value.code or 0), captured.out, captured.err


def build_pdf(
    pages: list[str], owner_password: str = "", user_password: str | None = None
) -> bytes:
    """Return a PDF with one page per text; encrypted when an owner password is given."""
    pdf = fpdf.FPDF(format="A4")
    if owner_password:
        pdf.set_encryption(owner_password=owner_password, user_password=user_password)
    for text in pages:
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


@pytest.fixture
def make_pdf() -> MakePdf:
    """Factory: make_pdf(["page one text", ...], owner_password=..., user_password=...)."""
    return build_pdf


@pytest.fixture(autouse=True)
def no_user_settings(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep the developer's config file, stores and RAG_* variables out of every test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.getbasetemp() / "no-config"))
    # The default store and named stores live in the data directory: never the user's.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.getbasetemp() / "data"))
    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)
