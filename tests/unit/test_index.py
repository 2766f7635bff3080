"""`rag index`'s embedding loop: length-sorted batches, same vectors, resumable."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

import ragcli.indexing as index_step
from ragcli.build import open_for_reading
from ragcli.progress import SilentProgress
from ragcli.store import Store
from tests.conftest import Capture, run_rag
from tests.fakes import HashingEmbedder

if TYPE_CHECKING:
    from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[2]


def ragged_corpus(folder: Path, files: int = 12) -> None:
    """Notes whose chunks range from a few words to a full chunk."""
    rng = random.Random(3)
    folder.mkdir()
    for number in range(files):
        paragraphs = [
            " ".join(f"word{rng.randint(0, 500)}" for _ in range(rng.randint(3, 90)))
            for _ in range(rng.randint(1, 6))
        ]
        (folder / f"note{number:02d}.md").write_text(
            f"# Note {number}\n\n" + "\n\n".join(paragraphs) + "\n"
        )


@pytest.fixture
def unindexed(tmp_path: Path, capsys: Capture) -> Path:
    """A store of ragged notes, chunked with the fake embedder and not embedded yet."""
    ragged_corpus(tmp_path / "notes")
    store = tmp_path / "store"
    code, _, err = run_rag(
        capsys,
        "ingest",
        str(tmp_path / "notes"),
        "--store",
        str(store),
        "--embed-model",
        "fake:64:40",
        "--no-index",
        "-q",
    )
    assert code == 0, err
    return store


def test_batches_come_out_length_sorted_within_each_window(
    unindexed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_step, "EMBED_WINDOW_BATCHES", 3)
    store, _, embedder = open_for_reading(unindexed, None)
    with store:
        expected = sorted(c.embed_text for batch in store.iter_unembedded(10_000) for c in batch)
        batches = list(index_step.embedding_batches(store, embedder, 4))

    assert len(expected) > 30  # several windows
    assert all(len(batch) <= 4 for batch in batches)
    assert sorted(c.embed_text for batch in batches for c in batch) == expected
    lengths = [embedder.count_tokens([c.embed_text for c in batch]) for batch in batches]
    for window in range(0, len(lengths), 3):
        flat = [n for batch in lengths[window : window + 3] for n in batch]
        assert flat == sorted(flat)
    assert len({n for batch in lengths for n in batch}) > 5  # lengths really vary


class FailingEmbedder(HashingEmbedder):
    """Embeds like the fake, counting texts, and fails on one call (a crash mid-window)."""

    def __init__(self, fail_on_call: int | None) -> None:
        super().__init__("fake:64:40", 64, 40)
        self.fail_on_call = fail_on_call
        self.calls = 0
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> NDArray[np.float32]:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RuntimeError("killed")
        self.texts += texts
        return super().embed(texts, batch_size)


def test_a_crash_mid_window_resumes_without_loss_or_repeat(
    unindexed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_step, "EMBED_WINDOW_BATCHES", 4)
    with Store.open(unindexed, write=True) as store:  # readers open the database read-only
        manifest = store.manifest
        assert manifest is not None
        pending = store.count_unembedded()
        crashing = FailingEmbedder(fail_on_call=3)  # inside the first window of 4 batches
        with pytest.raises(RuntimeError):
            index_step.index_chunks(store, manifest, crashing, SilentProgress(), 4, int8=False)
        assert store.count_unembedded() == pending - len(crashing.texts) == pending - 8

        resumed = FailingEmbedder(fail_on_call=None)
        report = index_step.index_chunks(store, manifest, resumed, SilentProgress(), 4, int8=False)
        assert store.count_unembedded() == 0
        assert report.embedded == len(resumed.texts) == pending - 8
        assert sorted(crashing.texts + resumed.texts) == sorted(set(crashing.texts + resumed.texts))
        assert report.indexed == len(store.indexable_ids())


class BrokenEmbedder(HashingEmbedder):
    """Embeds like the fake, but the last text of each batch gets `value` everywhere."""

    def __init__(self, value: float) -> None:
        super().__init__("fake:64:40", 64, 40)
        self.value = value

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> NDArray[np.float32]:
        vectors = super().embed(texts, batch_size)
        vectors[-1] = self.value
        return vectors


@pytest.mark.parametrize("value", [0.0, np.nan, np.inf])
def test_zero_or_non_finite_vectors_are_refused_before_any_is_stored(
    unindexed: Path, value: float
) -> None:
    from ragcli.errors import ModelError

    store, manifest, _ = open_for_reading(unindexed, None)
    with store:
        pending = store.count_unembedded()
        broken = BrokenEmbedder(value)
        with pytest.raises(
            ModelError, match="embedder fake:64:40 gave a vector that is not finite"
        ):
            index_step.index_chunks(store, manifest, broken, SilentProgress(), 4, int8=False)
        assert store.count_unembedded() == pending


@pytest.mark.e2e
def test_sorted_batches_give_the_vectors_of_id_order_batches(
    tmp_path: Path, capsys: Capture
) -> None:
    """A chunk's vector does not depend on the batch it lands in (padding is masked).

    sample_docs is ingested in length-sorted batches of 8, then its texts are embedded in id
    order in batches of 64, the old way. The fp32 export gives the same vectors either way.
    The int8 copy quantises each batch's activations with one range for the whole batch, so
    its vectors move a little with the company a chunk keeps, in id order as when sorted:
    they are held to the bar the int8 copy was accepted on (mean cosine 0.99 to fp32).
    """
    from ragcli.embedding.factory import make_document_embedder, onnx_copy
    from ragcli.embedding.onnx_export import INT8_MEAN_COSINE, INT8_MIN_COSINE
    from ragcli.locations import model_cache_dir

    store_dir = tmp_path / "store"
    code, _, err = run_rag(
        capsys,
        "ingest",
        str(ROOT / "sample_docs"),
        "--store",
        str(store_dir),
        "-q",
        "--batch-size",
        "8",
    )
    assert code == 0, err
    reader, manifest, embedder = open_for_reading(store_dir, None)
    reader.close()  # readers open the database read-only; the embeddings are deleted below
    with Store.open(store_dir, write=True) as store:
        ids, stored = store.embedded_vectors(manifest.dimension, store.indexable_ids())
        texts = {i: c.embed_text for i, c in store.chunks_by_id(ids.tolist()).items()}
        store._db.execute("DELETE FROM embeddings")
        fp32 = onnx_copy(embedder, model_cache_dir(), int8=False)
        assert fp32 is not embedder
        batches = list(index_step.embedding_batches(store, fp32, 8))
    assert len(batches) > 4
    in_id_order = [texts[i] for i in ids.tolist()]
    sorted_texts = [c.embed_text for batch in batches for c in batch]
    sorted_vectors = np.concatenate([fp32.embed([c.embed_text for c in b], 8) for b in batches])
    by_text = dict(zip(sorted_texts, sorted_vectors, strict=True))
    sorted_in_id_order = np.stack([by_text[t] for t in in_id_order])
    cosines = np.sum(sorted_in_id_order * fp32.embed(in_id_order, 64), axis=1)
    assert float(cosines.min()) >= 0.9999, float(cosines.min())

    int8 = make_document_embedder(embedder, model_cache_dir())
    assert int8 is not embedder
    cosines = np.sum(stored * int8.embed(in_id_order, 64), axis=1)
    assert float(cosines.mean()) >= INT8_MEAN_COSINE and float(cosines.min()) >= INT8_MIN_COSINE
