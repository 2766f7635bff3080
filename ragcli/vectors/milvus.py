"""A store's vectors as a Milvus collection (a server, a cluster, or Milvus Lite in-process).

With milvus_connection.py, the only modules that import pymilvus.

A store whose manifest records `vectors = milvus://...` keeps its vectors in one collection
there (id INT64 primary key = chunk id, vec FLOAT_VECTOR, HNSW index, inner product). SQLite
stays the source of truth; this is a derived copy that `indexing.update_index` keeps in step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ragcli.errors import IndexMismatchError, UsageError
from ragcli.records import HnswSettings
from ragcli.vectors.base import IndexFigures
from ragcli.vectors.milvus_connection import (
    FORMS_HINT,
    SCHEMES,
    MilvusTarget,
    connect,
    mapped_errors,
    release_lite,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ragcli.records import Manifest
    from ragcli.vectors.base import VectorIndex

INDEX_TYPE = "HNSW"
METRIC = "IP"
# Rows per upsert call: one gRPC message stays far below its 64 MiB cap at any dimension.
_UPSERT_ROWS = 2_000
_ITERATOR_ROWS = 10_000


class MilvusIndex:
    """One Milvus collection as a VectorIndex: upserts and deletes by chunk id."""

    KIND = "milvus-hnsw"
    keeps_removed = False

    def __init__(self, client: Any, target: MilvusTarget, dimension: int, settings: HnswSettings):
        self._client = client
        self.target = target
        self._dimension = dimension
        self.settings = settings
        self.verified = True

    @classmethod
    def open(
        cls, target: MilvusTarget, dimension: int, settings: HnswSettings, fresh: bool = False
    ) -> MilvusIndex | None:
        """Connect and load the collection; None if it does not exist and `fresh` is False.

        `fresh` drops the collection if it exists and creates it empty.
        """
        client = connect(target)
        index = cls(client, target, dimension, settings)
        try:
            with index._calls():
                exists = client.has_collection(target.collection)
                if exists and fresh:
                    client.drop_collection(target.collection)
                if fresh or not exists:
                    if not fresh:
                        index.close()
                        return None
                    index._create()
                else:
                    index._check_dimension()
                    client.load_collection(target.collection)
        except BaseException:
            index.close()
            raise
        return index

    @classmethod
    def drop(cls, target: MilvusTarget, dimension: int, settings: HnswSettings) -> None:
        """Delete the collection and every vector in it, if it exists."""
        index = cls(connect(target), target, dimension, settings)
        try:
            with index._calls():
                if index._client.has_collection(target.collection):
                    index._client.drop_collection(target.collection)
        finally:
            index.close()

    def _create(self) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=self._dimension)
        params = self._client.prepare_index_params()
        params.add_index(
            field_name="vec",
            index_type=INDEX_TYPE,
            metric_type=METRIC,
            params={"M": self.settings.m, "efConstruction": self.settings.ef_construction},
        )
        self._client.create_collection(self.target.collection, schema=schema, index_params=params)
        self._client.load_collection(self.target.collection)

    def _check_dimension(self) -> None:
        described = self._client.describe_collection(self.target.collection)
        for field in described.get("fields", []):
            if field.get("name") == "vec":
                held = int(field.get("params", {}).get("dim", self._dimension))
                if held != self._dimension:
                    raise IndexMismatchError(
                        f"collection {self.target.collection} in {self.target.uri} holds "
                        f"{held}-dimensional vectors, the store {self._dimension}",
                        "run `rag index --rebuild` to rebuild it from the stored vectors",
                    )

    @contextlib.contextmanager
    def _calls(self) -> Iterator[None]:
        """Turn pymilvus and gRPC failures into one-line ModelErrors (exit 5)."""
        with mapped_errors(self.target):
            yield

    @property
    def dimension(self) -> int:
        """Length of the vectors held."""
        return self._dimension

    def count(self) -> int:
        with self._calls():
            # Strong: a server counts what was written before, not a snapshot a moment old.
            rows = self._client.query(
                self.target.collection,
                filter="",
                output_fields=["count(*)"],
                consistency_level="Strong",
            )
        return int(rows[0]["count(*)"]) if rows else 0

    def __len__(self) -> int:
        return self.count()

    def ids(self) -> NDArray[np.int64]:
        found: list[int] = []
        with self._calls():
            iterator = self._client.query_iterator(
                self.target.collection, batch_size=_ITERATOR_ROWS, filter="", output_fields=["id"]
            )
            try:
                while batch := iterator.next():
                    found.extend(int(row["id"]) for row in batch)
            finally:
                iterator.close()
        return np.asarray(sorted(found), dtype=np.int64)

    def add(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> None:
        matrix = np.ascontiguousarray(vectors, dtype=np.float32)
        with self._calls():
            for start in range(0, len(ids), _UPSERT_ROWS):
                rows = [
                    {"id": int(ids[row]), "vec": matrix[row]}
                    for row in range(start, min(start + _UPSERT_ROWS, len(ids)))
                ]
                self._client.upsert(self.target.collection, rows)

    def remove(self, ids: NDArray[np.int64]) -> None:
        with self._calls():
            for start in range(0, len(ids), _UPSERT_ROWS):
                chunk = [int(i) for i in ids[start : start + _UPSERT_ROWS]]
                self._client.delete(self.target.collection, ids=chunk)

    def search(
        self, query: NDArray[np.float32], k: int, exclude: NDArray[np.int64] | None = None
    ) -> list[tuple[int, float]]:
        if k <= 0:
            return []
        # The exclusion list is normally empty: removed chunks are deleted here, and only
        # those a killed run left behind are excluded (see Retriever.dense_search).
        expression = ""
        if exclude is not None and exclude.size:
            expression = f"id not in [{', '.join(str(int(i)) for i in exclude)}]"
        with self._calls():
            results = self._client.search(
                self.target.collection,
                data=[np.asarray(query, dtype=np.float32).reshape(-1).tolist()],
                limit=k,
                filter=expression,
                output_fields=["id"],
                search_params={"params": {"ef": max(self.settings.ef_search, k)}},
            )
        return [(int(hit["id"]), float(hit["distance"])) for hit in results[0]]

    def single_query_threads(self) -> None:
        """Nothing to tune: the server (or Lite's threads) searches."""

    def flush(self) -> None:
        with self._calls():
            self._client.flush(self.target.collection)

    def describe(self) -> IndexFigures:
        return IndexFigures(self.KIND, self.count(), self._dimension, self.settings)

    def close(self) -> None:
        if self._client is None:
            return
        client, self._client = self._client, None
        with contextlib.suppress(Exception):
            client.close()
        release_lite(self.target)


class MilvusVectors:
    """A store's vectors in its own Milvus collection, named by its manifest."""

    external = True

    def __init__(self, manifest: Manifest, token: str | None) -> None:
        self._manifest = manifest
        self._token = token

    def _target(self) -> MilvusTarget:
        manifest = self._manifest
        if not manifest.vectors.startswith(SCHEMES):
            raise UsageError(f"unknown vector store {manifest.vectors!r}", FORMS_HINT)
        if not manifest.vector_collection:
            raise UsageError(f"vector store {manifest.vectors!r} is not kept outside the store")
        return MilvusTarget(manifest.vectors, manifest.vector_collection, self._token)

    def exists(self) -> bool:
        return True  # finding out would mean connecting

    def open(self) -> VectorIndex | None:
        manifest = self._manifest
        return MilvusIndex.open(self._target(), manifest.dimension, manifest.hnsw)

    def create(self) -> VectorIndex:
        manifest = self._manifest
        index = MilvusIndex.open(self._target(), manifest.dimension, manifest.hnsw, fresh=True)
        assert index is not None  # fresh always makes them
        return index

    def save(self, index: VectorIndex) -> None:
        index.flush()

    def prepare(self) -> None:
        self.create().close()

    def drop(self) -> None:
        MilvusIndex.drop(self._target(), self._manifest.dimension, self._manifest.hnsw)
