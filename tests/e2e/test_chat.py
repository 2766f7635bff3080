"""`rag chat` in a real pseudo-terminal with the real bundled models on sample_docs."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pexpect
import pytest

from tests.e2e.test_e2e import rag

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e
PROMPT = "> "
HNSW = "What is HNSW?"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """sample_docs ingested and indexed with the bundled MiniLM embedder."""
    path = str(tmp_path_factory.mktemp("chat-e2e") / "store")
    done = rag("ingest", "sample_docs", "--store", path)
    assert done.returncode == 0, done.stderr
    return path


def test_questions_answered_and_ctrl_c_leaves_the_model_sane(store: str) -> None:
    alone = rag("ask", HNSW, "--store", store)
    assert alone.returncode == 0, alone.stderr
    child = pexpect.spawn(
        sys.executable,
        ["-m", "ragcli", "chat", "--store", store],
        cwd=str(ROOT),
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TERM": "xterm"},
        encoding="utf-8",
        dimensions=(50, 250),
        timeout=300,
    )
    child.expect_exact(PROMPT)
    child.sendline("How many parameters does Grok-0 have?")
    child.expect_exact("33 billion")
    child.expect_exact("Sources:")
    child.expect_exact(PROMPT)

    child.sendline(HNSW)
    time.sleep(0.5)  # into the answer: retrieval, or the model reading a passage
    child.sendintr()
    child.expect_exact("rag: answer stopped")
    child.expect_exact(PROMPT)

    # After the interruption the model answers as a fresh process does.
    child.sendline("/new")
    child.expect_exact(PROMPT)
    child.sendline(HNSW)
    child.expect_exact(f"{HNSW}\r\n")
    child.expect_exact("\r\n")
    assert child.before.strip() == alone.stdout.splitlines()[0].strip()
    child.expect_exact("Sources:")
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
