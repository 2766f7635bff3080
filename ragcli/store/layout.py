"""What a store directory holds: the names of its files (the schema is in migrations.py)."""

from __future__ import annotations

DATABASE_NAME = "store.sqlite3"
INDEX_NAME = "index.faiss"
LOCK_NAME = "lock"
