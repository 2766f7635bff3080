"""Which entries a walk leaves out: ignore files (as git reads them) and names nobody wants."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pathspec import GitIgnoreSpec

# Read in this order in each directory, so .ragignore overrides .gitignore at the same level.
IGNORE_FILES = (".gitignore", ".ragignore")
NEVER_WANTED = frozenset(
    {".git", "node_modules", "__pycache__", ".tox", ".mypy_cache", ".pytest_cache", "site-packages"}
)
VENV_ACTIVATE = ("bin/activate", "Scripts/activate")


@dataclass(frozen=True)
class Rules:
    """The patterns of one ignore file and the directory (relative to the root) it sits in."""

    base: str
    spec: GitIgnoreSpec


def ignored(rules: tuple[Rules, ...], rel: str, is_dir: bool) -> bool:
    """Apply ignore files outermost first; the last pattern that matches decides, as in git."""
    left_out = False
    for rule in rules:
        below = rel[len(rule.base) + 1 :] if rule.base else rel
        verdict = rule.spec.check_file(matchable(below, is_dir)).include
        if verdict is not None:
            left_out = verdict
    return left_out


def matchable(rel: str, is_dir: bool) -> str:
    """Spell a relative path for pathspec: a trailing slash marks a directory."""
    # pathspec's regexes use `.` and `$`, which stop at a newline; NUL never occurs in a name.
    return rel.replace("\n", "\0") + ("/" if is_dir else "")


def never_wanted(name: str, path: Path, is_dir: bool) -> bool:
    """Say whether an entry is one nobody wants indexed: hidden, caches, virtual envs."""
    if name.startswith(".") or name in NEVER_WANTED:
        return True
    if not is_dir:
        return False
    if os.path.exists(path / "pyvenv.cfg"):
        return True
    return name == "venv" and any(os.path.exists(path / script) for script in VENV_ACTIVATE)
