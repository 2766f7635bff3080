"""The store database's schema, as the ordered steps that build and upgrade it.

As in sqlite-utils' and llm's migrations: step mNNN brings a database at the format before
it to format NNN, and a new database is made by running every step. A store records its
format as the manifest's `format_version`, written with its first manifest. Format 1
(vectors on the chunk rows) has no step leading from it: such stores are refused.

Statements run one by one inside the caller's transaction (`executescript` would commit
it), and use IF NOT EXISTS (or look first) so that a step can run again harmlessly.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from ragcli.errors import StoreCorruptError

Migration = Callable[[sqlite3.Connection], None]


def m002_tables(db: sqlite3.Connection) -> None:
    """Create the manifest, documents, chunks and the embedding cache."""
    _execute_script(
        db,
        """
CREATE TABLE IF NOT EXISTS manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    sha256 TEXT NOT NULL,
    ingested_at REAL NOT NULL
);
-- AUTOINCREMENT: a chunk id is never reused, so an id in the index always means one text.
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    heading TEXT NOT NULL,
    page INTEGER,
    start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL,
    text_sha256 TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks(document_id);
CREATE INDEX IF NOT EXISTS chunks_by_text ON chunks(text_sha256);
-- The embedding cache: one vector per distinct embedded text (heading path + chunk text),
-- whatever file it came from; a store has one embedder, recorded in the manifest.
CREATE TABLE IF NOT EXISTS embeddings (
    text_sha256 TEXT PRIMARY KEY,
    vector BLOB NOT NULL
) WITHOUT ROWID;
""",
    )


def m003_keyword_index(db: sqlite3.Connection) -> None:
    """Add the FTS5 keyword index (BM25) over the chunks and fill it from them."""
    _execute_script(
        db,
        """
-- An external-content FTS5 table that triggers keep in step with every insert and delete,
-- cascades from documents included.
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    heading, text, content='chunks', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, heading, text) VALUES (new.id, new.heading, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_fts_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, heading, text)
    VALUES ('delete', old.id, old.heading, old.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_fts_update AFTER UPDATE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, heading, text)
    VALUES ('delete', old.id, old.heading, old.text);
    INSERT INTO chunks_fts(rowid, heading, text) VALUES (new.id, new.heading, new.text);
END;
""",
    )
    # Idempotent: if another process upgraded meanwhile, this rebuilds the same index.
    db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')")


def m004_vector_ids(db: sqlite3.Connection) -> None:
    """Add the record of which chunk ids a vector database holds (empty: not vouched for yet)."""
    _execute_script(
        db,
        """
-- What a store whose vectors live in a vector database (Milvus) last wrote there, so a
-- write need not list every id the database holds. No foreign key: a removed chunk's id
-- stays here until it is deleted there. Trusted only while the manifest's vector_ids_exact
-- is true (see store/vectors.py); FAISS stores leave it empty.
CREATE TABLE IF NOT EXISTS vector_ids (id INTEGER PRIMARY KEY);
""",
    )


def m005_ocr_chunks(db: sqlite3.Connection) -> None:
    """Mark chunks whose text OCR read; have PDFs stored before OCR read once more."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(chunks)")}
    if "ocr" not in columns:
        # 1: the chunk's text was read by OCR from an image of its page.
        db.execute("ALTER TABLE chunks ADD COLUMN ocr INTEGER NOT NULL DEFAULT 0")
        # Their pages without a text layer were left out; an unknown fingerprint (no file
        # has mtime -1 or an empty sha256) makes the next ingest of each read it again.
        # Its unchanged chunks keep their cached vectors.
        db.execute("UPDATE documents SET mtime = -1, sha256 = '' WHERE kind = 'pdf'")


# Each step under the format version it brings a database to, in the order they run.
MIGRATIONS: dict[int, Migration] = {
    2: m002_tables,
    3: m003_keyword_index,
    4: m004_vector_ids,
    5: m005_ocr_chunks,
}

FORMAT_VERSION = max(MIGRATIONS)


def check_version(version: object, root: Path) -> None:
    """Refuse a store whose format version no step leads from (older, or newer than ragcli)."""
    if version is not None and version not in tuple(MIGRATIONS):
        raise StoreCorruptError(
            f"store {root} has format version {version}; this ragcli reads "
            f"version {FORMAT_VERSION}",
            "ingest again into a new --store",
        )


def steps_after(version: int) -> list[tuple[int, Migration]]:
    """Return the steps (with the version each brings) a store at `version` still needs."""
    return [(target, step) for target, step in MIGRATIONS.items() if target > version]


def create_schema(db: sqlite3.Connection) -> None:
    """Run every step: the whole current schema (inside the caller's transaction)."""
    for step in MIGRATIONS.values():
        step(db)


def _execute_script(db: sqlite3.Connection, script: str) -> None:
    """Run a script's statements one at a time, leaving the open transaction open."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""
