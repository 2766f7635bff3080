"""End-to-end runs of the installed command with the real bundled models on sample_docs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e

DECLINED = re.compile(r"context does not say|not (in|found in) the (documents|context)", re.I)


def rag(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run `python -m ragcli ARGS` in a fresh process, with no network."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "ragcli", *args], input=stdin,
                          capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """sample_docs ingested and indexed with the bundled MiniLM embedder."""
    path = str(tmp_path_factory.mktemp("e2e") / "store")
    done = rag("ingest", "sample_docs", "--store", path)
    assert done.returncode == 0, done.stderr
    assert "ingested 6 new" in done.stdout
    return path


def test_grok_question_answered_from_the_grok_document(store: str) -> None:
    done = rag("ask", "How many parameters does Grok-0 have?", "--json", "--store", store)
    answer = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    assert "33 billion" in answer["answer"]
    assert answer["sources"][0]["path"].endswith("grok-announcement.md")
    assert any("33 billion" in s["text"] for s in answer["sources"])


def test_pdf_question_cites_a_pdf_page(store: str) -> None:
    done = rag("ask", "What does HNSW stand for?", "--json", "--store", store)
    answer = json.loads(done.stdout)
    assert "Hierarchical Navigable Small World" in answer["answer"]
    top = answer["sources"][0]
    assert top["path"].endswith("vector-search.pdf") and top["page"] >= 1


@pytest.mark.parametrize("question", [
    "What is the capital of Australia?",
    "Who won the football world cup in 2010?",
])
def test_unanswerable_question_is_declined(store: str, question: str) -> None:
    done = rag("ask", question, "--json", "--store", store)
    answer = json.loads(done.stdout)
    assert answer["answerable"] is False
    assert DECLINED.search(answer["answer"]), answer["answer"]
    assert done.returncode == 8


def test_streamed_text_answer_lists_sources(store: str) -> None:
    done = rag("ask", "What did Grok-1 score on MMLU?", "--store", store)
    assert done.returncode == 0, done.stderr
    answer, _, sources = done.stdout.partition("\nSources:\n")
    assert "73%" in answer
    assert "grok-announcement.md, line" in sources
    assert done.stderr == ""


def test_batch_of_three_questions_gives_three_json_lines(store: str) -> None:
    questions = (
        "How many parameters does Grok-0 have?\n"
        "What does HNSW stand for?\n"
        "What is the capital of Australia?\n"
    )
    done = rag("ask", "-", "--json", "--store", store, stdin=questions)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 0, done.stderr
    assert [a["question"] for a in lines] == questions.splitlines()
    assert "33 billion" in lines[0]["answer"]
    assert lines[2]["answerable"] is False


def test_status_reports_the_bundled_models(store: str) -> None:
    status = json.loads(rag("status", "--json", "--store", store).stdout)
    assert status["embedder"] == "all-MiniLM-L6-v2" and status["dimension"] == 384
    assert status["documents"] == 6 and status["chunks"] == status["indexed"]
