"""Which stored documents a sync may remove: never any outside the folders it was given."""

from __future__ import annotations

import os
from pathlib import Path

from ragcli.syncing import change_scopes, folder_scopes


def test_a_changed_link_is_an_entry_of_its_folder_not_what_it_leads_to(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    (notes / "sub").mkdir(parents=True)
    (notes / "root").symlink_to("/")
    (notes / "up").symlink_to("..")
    (notes / "away").symlink_to(tmp_path)
    (notes / "inner").symlink_to("sub")
    real = os.path.realpath(notes)
    changed = [notes / name for name in ("root", "up", "sub", "inner")] + [notes / "away" / "x"]
    scopes = change_scopes(notes, changed)
    inside = [real, str(notes)]
    assert [s for s in scopes if not any(s.startswith(f + os.sep) for f in inside)] == []
    assert {f"{real}/root", f"{real}/up", f"{real}/sub", f"{real}/inner"} <= set(scopes)
    assert "/" not in scopes and str(tmp_path) not in scopes
    assert f"{os.path.realpath(tmp_path)}/x" not in scopes  # through a link higher up


def test_the_folder_itself_is_its_own_scope(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    link = tmp_path / "link"
    link.symlink_to(notes)
    assert change_scopes(link, [link]) == sorted({str(link), os.path.realpath(notes)})
    # A folder given to a plain ingest is the user's to name: it is resolved whole.
    assert folder_scopes([link, notes / "missing.md"]) == sorted({str(link), str(notes)})
