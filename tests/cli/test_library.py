"""The Python API (ragcli/library.py): real stores (SQLite, FAISS) with the `fake:` models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ragcli.errors import EmptyStoreError, InputNotFoundError, UsageError
from ragcli.library import Library

ANIMALS = {
    "walrus.md": "# Walruses\n\nWalruses sleep on ice floes and swim in cold water.\n",
    "zebra.md": "# Zebras\n\nZebras graze on the savanna; stripes confuse biting flies.\n",
    "note.md": "# Note\n\nRocks and trees stand by the old road.\n",
}
BIRDS = {
    "penguin.md": "# Penguins\n\nPenguins cannot fly. Penguins swim fast in cold water.\n",
    "owl.md": "# Owls\n\nOwls hunt at night; their feathers make almost no sound.\n",
    "path.md": "# Path\n\nA gravel path runs past the pond.\n",
}


def write_docs(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def open_library(*stores: Path, **overrides: Any) -> Library:
    """A library over the stores with the fake LLM; the fake:64 embedder for new stores."""
    settings: dict[str, Any] = {"model": "fake:", "embedder": "fake:64", **overrides}
    return Library.configured(store=list(stores), **settings)


@pytest.fixture
def animals(tmp_path: Path) -> Path:
    """A store of the animal notes, ingested through the library."""
    store = tmp_path / "animals"
    with open_library(store) as library:
        result = library.ingest([write_docs(tmp_path / "animals-docs", ANIMALS)])
    assert result.report.added == 3 and result.index is not None
    return store


@pytest.fixture
def birds(tmp_path: Path) -> Path:
    """A store of the bird notes, built with another embedder (fake:32)."""
    store = tmp_path / "birds"
    with open_library(store, embedder="fake:32") as library:
        library.ingest([write_docs(tmp_path / "birds-docs", BIRDS)])
    return store


def test_ingest_plans_without_writing_then_status_and_sources_count_what_is_stored(
    tmp_path: Path, animals: Path
) -> None:
    more = write_docs(tmp_path / "more", {"seal.md": "Seals swim in cold water.\n"})
    with open_library(animals) as library:
        plan = library.ingest([more], dry_run=True)
        assert plan.plan is not None and plan.index is None
        assert library.status().documents == 3
        library.ingest([more])
        status = library.status()
        documents = library.sources()
    assert (status.documents, status.path) == (4, str(animals))
    assert status.indexed == status.chunks > 0
    names = sorted(Path(d.path).name for d in documents)
    assert names == ["note.md", "seal.md", "walrus.md", "zebra.md"]


def test_search_returns_the_best_hits_in_each_mode_and_checks_k_and_mode(animals: Path) -> None:
    with open_library(animals) as library:
        found = library.search("  walrus ice floes  ")
        assert found.query == "walrus ice floes" and found.elapsed_s >= 0
        assert Path(found.hits[0].chunk.path).name == "walrus.md"
        for mode in ("hybrid", "dense", "keyword"):
            hits = library.search("walrus ice floes", k=2, mode=mode).hits
            assert 0 < len(hits) <= 2 and Path(hits[0].chunk.path).name == "walrus.md", mode
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        with pytest.raises(UsageError, match="^k must be a whole number from 1 to 10,000, not 0"):
            library.search("walrus", k=0)
        with pytest.raises(UsageError, match="^mode must be one of hybrid, dense, keyword"):
            library.search("walrus", mode="fuzzy")
        with pytest.raises(UsageError, match="the query is empty"):
            library.search("   ")


def test_keyword_search_needs_no_index_while_the_other_modes_do(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with open_library(store) as library:
        library.ingest([write_docs(tmp_path / "docs", ANIMALS)], index=False)
        hits = library.search("zebras savanna", mode="keyword").hits
        assert Path(hits[0].chunk.path).name == "zebra.md"
        with pytest.raises(EmptyStoreError, match="has no indexed chunks"):
            library.search("zebras savanna", mode="hybrid")


def test_ask_answers_from_the_store_passing_the_text_on_as_it_comes(animals: Path) -> None:
    told: list[str] = []
    with open_library(animals) as library:
        assert library.llm_spec == "fake:"  # as set, before it loads
        answer = library.ask("Where do walruses sleep?", on_text=told.append)
        again = library.ask("What confuses biting flies?")
        timings = library.timings
    assert answer.answerable and "".join(told) == answer.text
    assert Path(answer.passages[0].path).name == "walrus.md"
    assert Path(again.passages[0].path).name == "zebra.md"
    assert timings.load_s > 0 and len(timings.per_question) == 2


def test_context_packs_the_relevant_chunks_into_numbered_passages(animals: Path) -> None:
    with open_library(animals) as library:
        library.load(answering=True)
        parts = library.context("Where do walruses sleep?")
    assert parts.passages and Path(parts.passages[0].hits[0].chunk.path).name == "walrus.md"


def test_two_stores_are_searched_and_asked_as_one_each_hit_naming_its_store(
    animals: Path, birds: Path
) -> None:
    with open_library(animals, birds, min_score=-1.0) as library:
        assert library.stores == (animals, birds)
        hits = library.search("swim in cold water", k=6).hits
        answer = library.ask("Which animals swim in cold water?")
    assert {h.store for h in hits} == {"animals", "birds"}
    for hit in hits:  # each hit names the store its file was ingested into
        assert Path(hit.chunk.path).parent.name == f"{hit.store}-docs"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert {passage.store for passage in answer.passages} == {"animals", "birds"}


def test_one_store_verbs_refuse_several_stores(animals: Path, birds: Path) -> None:
    with open_library(animals, birds) as library:
        for call in (library.sources, library.status, lambda: library.remove(["x"])):
            with pytest.raises(UsageError, match="2 stores open, but .* works on one"):
                call()
        with pytest.raises(UsageError, match="works on one"):
            library.ingest(["."])


def test_a_store_changed_by_another_writer_is_read_as_it_is_now(
    tmp_path: Path, animals: Path
) -> None:
    more = write_docs(tmp_path / "more", {"comet.md": "Comets grow long tails near the sun.\n"})
    with open_library(animals) as library:
        assert Path(library.search("comet tails").hits[0].chunk.path).name != "comet.md"
        before = library.ask("What grows long tails?")
        with open_library(animals) as writer:  # another connection: as another process
            writer.ingest([more])
        assert Path(library.search("comet tails").hits[0].chunk.path).name == "comet.md"
        assert Path(library.search("comet tails", mode="keyword").hits[0].chunk.path).name == (
            "comet.md"
        )
        after = library.ask("What grows long tails?")
        with open_library(animals) as writer:
            writer.remove([str(more)])
        assert all(Path(h.chunk.path).name != "comet.md" for h in library.search("comet").hits)
    assert all(Path(p.path).name != "comet.md" for p in before.passages)
    assert Path(after.passages[0].path).name == "comet.md"


def test_remove_takes_files_and_folders_and_refuses_what_names_no_folder(
    tmp_path: Path, animals: Path
) -> None:
    docs = tmp_path / "animals-docs"
    waits: list[str] = []
    with open_library(animals) as library:
        removed = library.remove([str(docs / "zebra.md")], on_wait=waits.append)
        assert [Path(p).name for p in removed.paths] == ["zebra.md"]
        assert removed.indexed == library.status().indexed
        with pytest.raises(InputNotFoundError, match="no stored document at or under"):
            library.remove([str(docs / "zebra.md")])
        with pytest.raises(UsageError, match="refusing to remove everything under '/'"):
            library.remove(["/"])
        with pytest.raises(UsageError, match="or --all \\(not both\\)"):
            library.remove([], everything=False)
        assert len(library.remove([], everything=True).paths) == 2
        assert library.sources() == []
    assert waits == []


def test_configured_layers_overrides_over_variables_over_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('top_k = 7\nmode = "keyword"\nstrategy = "packed"\n')
    env = {"RAG_TOP_K": "4", "RAG_MODE": "dense"}
    library = Library.configured(env, config, top_k=2, store=Path("here"))
    settings = library.settings
    assert (settings.top_k, settings.mode, settings.strategy) == (2, "dense", "packed")
    assert library.stores == (Path("here").absolute(),)  # a Path is a directory, not a name
    assert Library.configured(store="named").stores[0].name == "named"
    with pytest.raises(UsageError, match="unknown settings: colour"):
        Library.configured(colour="blue")
    with pytest.raises(UsageError, match="--top-k must be a whole number from 1 to 1,000"):
        Library.configured(top_k=0)
