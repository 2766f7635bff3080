"""End-to-end runs of the installed command with the real bundled models on sample_docs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e

DECLINED = re.compile(r"context does not say|not (in|found in) the (documents|context)", re.I)


def rag(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run `python -m ragcli ARGS` in a fresh process, with no network."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ragcli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=env,
    )


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
    assert answer["answer"] == "33 billion" and answer["grounded"] is True
    assert answer["sources"][0]["path"].endswith("grok-announcement.md")
    assert any("33 billion" in s["text"] for s in answer["sources"])
    evidence = answer["evidence"]
    assert evidence["sentence"] == (
        "Grok-0 is a prototype language model with 33 billion parameters."
    )
    text = Path(evidence["path"]).read_text(encoding="utf-8")
    assert text[evidence["start_char"] : evidence["end_char"]] == "33 billion"
    assert evidence["sentence"] in text.splitlines()[evidence["line"] - 1]


def test_text_answer_is_short_then_quotes_its_sentence(store: str) -> None:
    done = rag("ask", "How many parameters does Grok-0 have?", "--store", store)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "33 billion"
    assert lines[1] == (
        '  "Grok-0 is a prototype language model with 33 billion parameters." '
        f"[{lines[1].split('[')[1].split(']')[0]}] "
        "(sample_docs/grok-announcement.md:19)"
    )


# llama.cpp's logits depend a little on how tokens are grouped into a batch (its kernels
# differ by batch size): the one-by-one search itself gives "33 billion" -3.49 with 2
# hypotheses and -3.51 with 4, depending on which neighbour it re-evaluated after.
COPY_LOGPROB_TOLERANCE = 0.25


def test_the_batched_copy_search_answers_as_the_one_by_one_search(store: str) -> None:
    from dataclasses import replace

    from ragcli.answering.prompts import NOT_FOUND, single_passage_prompt
    from ragcli.answering.sequence import SequenceStrategy
    from ragcli.llm.llama_cpp import LlamaCppLLM
    from ragcli.options import ask_options
    from ragcli.records import CopyFrom
    from ragcli.settings import defaults
    from ragcli.steps.ask import Asker

    question = "How many parameters does Grok-0 have?"
    options = ask_options(defaults())
    with Asker(replace(options, stores=(Path(store),))) as asker:
        strategy = asker.strategy
        assert isinstance(strategy, SequenceStrategy)
        assert isinstance(strategy.llm, LlamaCppLLM)
        passages = strategy.passages(question, asker.relevant(question))
        assert len(passages) >= 2
        for passage in passages:
            prompt = single_passage_prompt(question, passage, False)
            source = CopyFrom((passage.text,), (NOT_FOUND,))
            one_by_one = strategy.llm.copy(prompt, source, strategy.generation, batched=False)
            batched = strategy.llm.copy(prompt, source, strategy.generation)
            assert one_by_one is not None and batched is not None
            assert batched.text == one_by_one.text, passage.text
            assert batched.tokens == one_by_one.tokens
            assert batched.logprob == pytest.approx(one_by_one.logprob, abs=COPY_LOGPROB_TOLERANCE)


def test_packed_strategy_still_answers(store: str) -> None:
    done = rag(
        "ask",
        "How many parameters does Grok-0 have?",
        "--json",
        "--strategy",
        "packed",
        "--store",
        store,
    )
    answer = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    assert "33 billion" in answer["answer"] and answer["strategy"] == "packed"


SPANISH_DOCS = {
    "grok.md": (
        "# Anuncio de Grok\n\nGrok es un modelo de inteligencia artificial creado por xAI. "
        "Poco después de fundar xAI, entrenamos un prototipo de modelo de lenguaje llamado "
        "Grok-0. Grok-0 es un prototipo de modelo de lenguaje con 33 mil millones de "
        "parámetros. En las pruebas habituales, Grok-0 se acercó a LLaMA 2 (70B) usando la "
        "mitad de los recursos de entrenamiento.\n\n## Grok-1\n\nGrok-1 obtuvo un 63,2 % en "
        "la prueba de programación HumanEval y un 73 % en MMLU.\n"
    ),
    # A distractor: the 270M model once answered "13B" from a passage like this one.
    "llama.md": (
        "# Modelos LLaMA\n\nLLaMA es una familia de modelos de lenguaje publicada por Meta en "
        "2023. La primera versión se publicó en cuatro tamaños: 7B, 13B, 33B y 65B "
        "parámetros. El modelo de 13B superó a GPT-3 en la mayoría de las pruebas.\n"
    ),
}


@pytest.fixture(scope="module")
def spanish_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Two Spanish documents, ingested with the bundled models."""
    root = tmp_path_factory.mktemp("es")
    docs = root / "docs"
    docs.mkdir()
    for name, text in SPANISH_DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    done = rag("ingest", str(docs), "--store", str(root / "store"))
    assert done.returncode == 0, done.stderr
    return str(root / "store")


def test_spanish_question_on_a_spanish_document(spanish_store: str) -> None:
    done = rag("ask", "¿Cuántos parámetros tiene Grok-0?", "--json", "--store", spanish_store)
    answer = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    assert re.search(r"33 (mil millones|billion)", answer["answer"]), answer["answer"]
    assert answer["grounded"] is True
    assert "33 mil millones de parámetros" in answer["evidence"]["sentence"]
    assert answer["evidence"]["path"].endswith("grok.md")


def test_spanish_keywords_drop_function_words(spanish_store: str) -> None:
    done = rag(
        "search",
        "¿Cuántos parámetros tiene Grok-0?",
        "--mode",
        "keyword",
        "--json",
        "--store",
        spanish_store,
    )
    first = json.loads(done.stdout.splitlines()[0])
    assert first["path"].endswith("grok.md")


def test_pdf_question_cites_a_pdf_page(store: str) -> None:
    done = rag("ask", "What does HNSW stand for?", "--json", "--store", store)
    answer = json.loads(done.stdout)
    assert "Hierarchical Navigable Small World" in answer["answer"]
    top = answer["sources"][0]
    assert top["path"].endswith("vector-search.pdf") and top["page"] >= 1


@pytest.mark.parametrize("question", ["What does HNSW stand for?", "¿Qué significa HNSW?"])
def test_an_acronym_is_spelled_out_whatever_the_language_of_the_question(
    store: str, question: str
) -> None:
    # Issue 22: a Spanish acronym question on English slides was declined.
    done = rag("ask", question, "--json", "--store", store)
    answer = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    assert "Hierarchical Navigable Small World" in answer["answer"], answer["answer"]
    assert answer["grounded"] is True
    evidence = answer["evidence"]
    assert "Hierarchical Navigable Small World" in evidence["sentence"]
    assert evidence["path"].endswith("vector-search.pdf")


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of Australia?",
        "Who won the football world cup in 2010?",
    ],
)
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


def test_context_only_prints_the_numbered_passages_the_model_would_get(store: str) -> None:
    done = rag("ask", "How many parameters does Grok-0 have?", "--context-only", "--store", store)
    assert done.returncode == 0, done.stderr
    blocks = re.findall(r"^\[(\d+)\] \(([^)]*)\)$", done.stdout, re.M)
    assert blocks and "33 billion parameters" in done.stdout
    # The best passage sits last, next to the question; numbers run down to 1.
    assert [int(n) for n, _ in blocks] == list(range(len(blocks), 0, -1))
    as_json = json.loads(
        rag(
            "ask",
            "How many parameters does Grok-0 have?",
            "--context-only",
            "--json",
            "--store",
            store,
        ).stdout
    )
    assert as_json["context"] + "\n" == done.stdout
    assert len(as_json["sources"]) == len(blocks)


def test_search_finds_the_pdf_page_for_an_acronym(store: str) -> None:
    done = rag("search", "HNSW", "--store", store)
    first = done.stdout.splitlines()[0]
    assert done.returncode == 0, done.stderr
    assert re.match(r"^sample_docs/vector-search\.pdf:\d+: \[page \d\] .*HNSW", first), first


def documented_subset_table() -> dict[str, dict[str, float]]:
    """The reduced SciFact figures docs/benchmarks.md states (between the eval-subset markers)."""
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    table = text.split("<!-- eval-subset:begin -->")[1].split("<!-- eval-subset:end -->")[0]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] in ("hybrid", "dense", "keyword"):
            rows[cells[0]] = dict(
                zip(
                    ["ndcg_at_10", "recall_at_10", "recall_at_100", "mrr_at_10"],
                    map(float, cells[1:5]),
                    strict=True,
                )
            )
    return rows


def test_eval_on_the_scifact_subset_reproduces_the_documented_table() -> None:
    done = rag("eval", "tests/data/scifact-subset", "--json", "-q")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["queries"], report["documents"]) == (40, 300)
    assert report["hnsw_recall_at_10"] >= 0.99
    expected = documented_subset_table()
    assert set(expected) == set(report["modes"])
    for mode, figures in expected.items():
        for name, value in figures.items():
            # Different CPUs round MiniLM's floats differently; ties may flip a rank.
            assert report["modes"][mode][name] == pytest.approx(value, abs=0.01), (mode, name)
