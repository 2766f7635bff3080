"""ragcli.store.migrations: the ordered schema steps, applied to real SQLite files."""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from ragcli.errors import StoreCorruptError
from ragcli.store import DATABASE_NAME, FORMAT_VERSION, Store
from ragcli.store.migrations import MIGRATIONS, check_version, create_schema, steps_after


def schema_of(db: sqlite3.Connection) -> set[tuple[str, str]]:
    return {(row[0], row[1]) for row in db.execute("SELECT type, name FROM sqlite_master")}


def test_steps_are_named_for_the_version_they_bring_in_order() -> None:
    assert list(MIGRATIONS) == sorted(MIGRATIONS)
    assert max(MIGRATIONS) == FORMAT_VERSION
    for version, step in MIGRATIONS.items():
        assert step.__name__.startswith(f"m{version:03d}_")
    assert [target for target, _ in steps_after(min(MIGRATIONS))] == list(MIGRATIONS)[1:]
    assert steps_after(FORMAT_VERSION) == []


def test_every_step_can_run_again_harmlessly() -> None:
    with closing(sqlite3.connect(":memory:", isolation_level=None)) as db:
        create_schema(db)
        before = schema_of(db)
        create_schema(db)
        assert schema_of(db) == before


@pytest.mark.parametrize("version", [None, *MIGRATIONS])
def test_versions_a_step_leads_from_are_read(version: int | None, tmp_path: Path) -> None:
    check_version(version, tmp_path)


@pytest.mark.parametrize("version", [min(MIGRATIONS) - 1, FORMAT_VERSION + 1, "3", [3]])
def test_other_versions_are_refused(version: object, tmp_path: Path) -> None:
    with pytest.raises(StoreCorruptError, match=re.escape(f"format version {version}")):
        check_version(version, tmp_path)


def test_a_store_built_by_its_first_step_alone_is_upgraded_step_by_step(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    first = min(MIGRATIONS)
    with closing(sqlite3.connect(root / DATABASE_NAME, isolation_level=None)) as db:
        MIGRATIONS[first](db)
        db.execute(
            "INSERT INTO manifest(key, value) VALUES ('format_version', ?)", (json.dumps(first),)
        )
        db.execute("INSERT INTO documents VALUES (1, '/d/a.md', 'markdown', 1, 1.0, 'x', 1.0)")
        db.execute(
            "INSERT INTO chunks(document_id, ordinal, text, heading, page, start_line, "
            "end_line, start_char, end_char, text_sha256) "
            "VALUES (1, 0, 'the walrus sleeps', '', NULL, 1, 1, 0, 17, 'y')"
        )

    with Store.open(root) as store:
        assert [i for i, _ in store.keyword_search('"walrus"', 5)] == [1]
    with closing(sqlite3.connect(root / DATABASE_NAME)) as db:
        (value,) = db.execute("SELECT value FROM manifest WHERE key = 'format_version'").fetchone()
        assert json.loads(value) == FORMAT_VERSION
        fresh = sqlite3.connect(":memory:", isolation_level=None)
        create_schema(fresh)
        assert schema_of(db) == schema_of(fresh)
        fresh.close()


def test_format_5_marks_old_chunks_not_ocrd_and_has_old_pdfs_read_again(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    with closing(sqlite3.connect(root / DATABASE_NAME, isolation_level=None)) as db:
        for version in (2, 3, 4):
            MIGRATIONS[version](db)
        db.execute("INSERT INTO manifest(key, value) VALUES ('format_version', '4')")
        db.execute("INSERT INTO documents VALUES (1, '/d/a.pdf', 'pdf', 9, 5.0, 'aa', 1.0)")
        db.execute("INSERT INTO documents VALUES (2, '/d/b.md', 'markdown', 7, 6.0, 'bb', 1.0)")
        db.execute(
            "INSERT INTO chunks(document_id, ordinal, text, heading, page, start_line, "
            "end_line, start_char, end_char, text_sha256) "
            "VALUES (1, 0, 'the walrus sleeps', '', 1, 1, 1, 0, 17, 'y')"
        )

    with Store.open(root) as store:
        assert not store.chunks_by_id([1])[1].ocr
        # An impossible fingerprint: the next ingest reads the PDF again, OCR and all.
        assert store.document_state("/d/a.pdf") == (9, -1.0, "")
        assert store.document_state("/d/b.md") == (7, 6.0, "bb")
