"""Rebuild a damaged manifest from what the rest of the store holds, for `rag doctor`.

The manifest records how the store was built. Part of it can be read back from the store:
the format from the schema, the dimension and the normalization from the stored vectors,
where the vectors live (the store's FAISS file when the manifest names no vector database);
its records of the index file and of a vector database's ids are dropped, and the vector
index is then rebuilt from the stored vectors. The embedder, its text limit, the chunking
and the HNSW settings cannot be read back: a store that lost them is left as it is.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from ragcli.records import ChunkingSettings, HnswSettings
from ragcli.store.faults import raise_database_error
from ragcli.store.layout import DATABASE_NAME

# What a manifest must hold, and the type of each value.
_REQUIRED: dict[str, type] = {
    "format_version": int,
    "embedder": str,
    "dimension": int,
    "max_text_tokens": int,
    "normalized": bool,
    "chunking": dict,
    "hnsw": dict,
}
_SETTINGS: dict[str, type[ChunkingSettings] | type[HnswSettings]] = {
    "chunking": ChunkingSettings,
    "hnsw": HnswSettings,
}
# Records the store rebuilds when they are gone (the index file's, a vector database's ids).
_DROPPED = ("index", "index_next", "vector_ids_exact")


@dataclass
class ManifestRepair:
    """The keys rebuilt or dropped, and those the store cannot tell (nothing was changed)."""

    rebuilt: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def rebuild_manifest(root: Path) -> ManifestRepair:
    """Rebuild root's damaged or missing manifest values; all or nothing, under the lock."""
    database = root / DATABASE_NAME
    db = sqlite3.connect(database, isolation_level=None, timeout=60)
    try:
        db.execute("BEGIN IMMEDIATE")
        values, damaged = _read(db)
        repair, fixed = _rebuild(db, values, damaged)
        if repair.unknown:
            db.execute("ROLLBACK")
            return repair
        for key, value in fixed.items():
            if value is None:
                db.execute("DELETE FROM manifest WHERE key = ?", (key,))
            else:
                db.execute(
                    "INSERT OR REPLACE INTO manifest(key, value) VALUES (?, ?)",
                    (key, json.dumps(value)),
                )
        db.execute("COMMIT")
        return repair
    except sqlite3.Error as exc:
        raise_database_error(exc, database, "repair")
    finally:
        db.close()


def _read(db: sqlite3.Connection) -> tuple[dict[str, Any], list[str]]:
    """The manifest's readable values, and the keys of those that are not what they must be."""
    values: dict[str, Any] = {}
    damaged: list[str] = []
    for key, raw in db.execute("SELECT key, value FROM manifest"):
        try:
            value = json.loads(raw)
        except (TypeError, ValueError, RecursionError):
            damaged.append(str(key))
            continue
        if _valid(str(key), value):
            values[str(key)] = value
        else:
            damaged.append(str(key))
    damaged += [key for key in _REQUIRED if key not in values and key not in damaged]
    return values, damaged


def _valid(key: str, value: Any) -> bool:
    wanted = _REQUIRED.get(key)
    if wanted is None:
        return key != "vectors" or isinstance(value, str)
    if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
        return False
    if key in _SETTINGS:
        try:
            _SETTINGS[key](**cast(dict[str, Any], value))
        except TypeError:
            return False
    return True


def _rebuild(
    db: sqlite3.Connection, values: dict[str, Any], damaged: list[str]
) -> tuple[ManifestRepair, dict[str, Any]]:
    """What each damaged key becomes (None: the row is deleted)."""
    repair = ManifestRepair()
    fixed: dict[str, Any] = {}
    for key in damaged:
        value = _derive(db, key, values, damaged)
        if value is _UNKNOWN:
            repair.unknown.append(key)
        else:
            fixed[key] = value
            repair.rebuilt.append(key)
    return repair, fixed


_UNKNOWN = object()


def _derive(db: sqlite3.Connection, key: str, values: dict[str, Any], damaged: list[str]) -> Any:
    if key in _DROPPED:
        return None
    if key == "format_version":
        return _schema_version(db)
    if key == "dimension":
        return _dimension(db)
    if key == "normalized":
        return _normalized(db)
    # A store with its vectors in a database names its collection; a FAISS store, none.
    if key == "vectors":
        known = "vector_collection" not in damaged
        return "faiss" if known and values.get("vector_collection") is None else _UNKNOWN
    if key == "vector_collection":
        known = "vectors" not in damaged
        return None if known and values.get("vectors", "faiss") == "faiss" else _UNKNOWN
    if key in _REQUIRED:
        return _UNKNOWN  # how the store was built: nothing else records it
    return None  # a key no ragcli writes


def _schema_version(db: sqlite3.Connection) -> Any:
    """The format whose steps (migrations.py) the schema shows were run."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    columns = {row[1] for row in db.execute("PRAGMA table_info(chunks)")}
    if "embedding" in columns or "embeddings" not in tables:
        return _UNKNOWN  # format 1, which no step leads from
    if "ocr" in columns:
        return 5
    if "vector_ids" in tables:
        return 4
    return 3 if "chunks_fts" in tables else 2


def _dimension(db: sqlite3.Connection) -> Any:
    """The length of most stored vectors (float32), if any are stored."""
    row = db.execute(
        "SELECT length(vector) AS size FROM embeddings GROUP BY size ORDER BY COUNT(*) DESC"
    ).fetchone()
    if row is None or not row[0] or row[0] % 4:
        return _UNKNOWN
    return int(row[0]) // 4


def _normalized(db: sqlite3.Connection) -> Any:
    """Whether the stored vectors (a thousand of them) have unit length."""
    blobs = [row[0] for row in db.execute("SELECT vector FROM embeddings LIMIT 1000")]
    vectors = [np.frombuffer(blob, dtype="<f4") for blob in blobs if isinstance(blob, bytes)]
    if not vectors:
        return _UNKNOWN
    norms = np.array([float(np.linalg.norm(vector)) for vector in vectors])
    return bool(np.all(np.abs(norms - 1.0) < 1e-3))
