"""Engines added from outside the package, by spec prefix: how the tests' `fake:` reach ragcli.

`embedding.factory.register` and `llm.factory.register` add a constructor for the specs
`PREFIX:...`; the factories look a spec's prefix up there before their own schemes. The
test doubles (tests/fakes.py) register themselves when imported, which tests/conftest.py
does. A `rag` process a test starts runs no conftest: before it builds its first engine,
it imports the modules named in the environment variable RAGCLI_TEST_PLUGINS
(comma-separated, such as `tests.fakes`), which conftest sets for the whole session. The
variable is test plumbing, not a setting: no flag, no `rag config` entry, no `--help` line,
and the only environment read below the CLI (rule 2 gives way to it: a Ray worker or
an MCP child process has no CLI to hand it over). Unset, nothing is imported.
"""

from __future__ import annotations

import importlib
import os

PLUGINS_VARIABLE = "RAGCLI_TEST_PLUGINS"
_loaded = False


def load_plugins() -> None:
    """Import the modules RAGCLI_TEST_PLUGINS names, once per process (they register)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in os.environ.get(PLUGINS_VARIABLE, "").split(","):
        if name.strip():
            importlib.import_module(name.strip())


def split_spec(spec: str, schemes: tuple[str, ...], default: str) -> tuple[str, str]:
    """Split `SCHEME:REST` when SCHEME is one of `schemes`; else (`default`, the whole spec)."""
    scheme, sep, rest = spec.partition(":")
    if sep and scheme in schemes:
        return scheme, rest
    return default, spec
