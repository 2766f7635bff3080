"""What the docs generate with cog: the settings table and every command's `--help`.

`make docs` rewrites the generated parts of docs/*.md (`cog -r`), and `make lint` checks
they are current (`cog --check`). The pages document the checkout this file lives in,
whatever ragcli the environment has installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ragcli.settings import KEYS  # noqa: E402

# What the declarations cannot say: defaults found at run time (None or a function in
# KEYS), ranges that depend on the machine, and what a value means. Keyed by setting name:
# "default" and "range" replace the declared default and the check's own words,
# "default_note" (in brackets) and "range_note" (after a semicolon) follow them.
WORDS: dict[str, dict[str, str]] = {
    "store": {
        "default": "`~/.local/share/ragcli/store` (the store named `store`)",
        "range": "a path (with `/`, or starting with `.` or `~`) or a name in the data dir; "
        "several (`--store` again, a `:`-separated list, a TOML array) for `ask` and `search`",
    },
    "embedder": {"default_note": "bundled; new stores only"},
    "embed_url": {"default": "none (embed locally)"},
    "model": {"default_note": "the bundled Gemma 3 270M"},
    "threads": {
        "default": "the free cores (see [Busy machines](how-it-works.md#busy-machines))",
        "range": "a whole number from 1 to 4 × the cores",
    },
    "context_tokens": {
        "range_note": "at most what the model was trained on (32,768 for the bundled Gemma)"
    },
    "max_tokens": {
        "range_note": "leaving at least 64 tokens of the context for a passage beside the "
        "prompt: at most 3,712 (`sequence`, which answers in at most 32 whatever it says) "
        "or 3,759 (`packed`) with the default context"
    },
    "ray_address": {"default_note": "used with `--ray`"},
    "ray_workers": {"default": "one per CPU of the runtime or cluster"},
    "answer_threshold": {
        "range_note": "above 0: off; when every passage declines, `sequence` decodes again with "
        "abstaining ruled out and keeps that answer (a copy of a passage) if its "
        "log-probability is at least this"
    },
    "min_confidence": {
        "range_note": "0: off; `sequence` declines an answer whose probability, marginalised over "
        "the passages it read, is below this; more caution declines more questions the "
        "documents answer as well as those they do not (curve in "
        "[Benchmarks](benchmarks.md#answers-end-to-end-squad-a))"
    },
    "llm_url": {"default": "none (run the local model)"},
    "llm_model": {"default": "the server's first model"},
    "vectors": {"default_note": "new stores only"},
    "ocr": {"range_note": "`--no-ocr` turns it off, and a variable also takes 1/0, yes/no, on/off"},
    "ocr_languages": {"range_note": "main one first"},
    "ocr_max_pages": {"range_note": "pages (or image frames) read by OCR in one file"},
    "ocr_max_seconds": {"range_note": "seconds of OCR for one file"},
    "serve_host": {"range_note": "an address of this machine; 0.0.0.0 is every interface"},
}


def settings_table() -> str:
    """The Markdown table of every setting the config file takes, from `ragcli.settings`."""
    unknown = set(WORDS) - set(KEYS)
    assert not unknown, f"docs/cog_helpers.py describes settings that are gone: {unknown}"
    rows = ["| key | flag | environment | default | range |", "|---|---|---|---|---|"]
    for key in KEYS.values():
        if not key.in_file:
            continue
        words = WORDS.get(key.name, {})
        try:  # the check's own message names what it takes; free text passes
            key.checked("?")
            values = ""
        except ValueError as exc:
            values = str(exc).removeprefix("must be ")
        values = words.get("range", values)
        if "range_note" in words:
            values = f"{values}; {words['range_note']}" if values else words["range_note"]
        default = key.default_value()
        if isinstance(default, bool) or isinstance(default, float) and default.is_integer():
            default = str(default).lower() if isinstance(default, bool) else int(default)
        default = words.get("default", f"`{default}`")
        if "default_note" in words:
            default = f"{default} ({words['default_note']})"
        env = f"`{key.env}`" if key.env else ""
        rows.append(f"| `{key.name}` | `{key.flag}` | {env} | {default} | {values} |")
    return "\n".join(rows) + "\n"


def command_names() -> list[str]:
    """The commands of `rag`, in the order `rag --help` lists them."""
    import typer.main

    from ragcli.cli import app

    return list(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def help_text(*args: str) -> str:
    """What `rag ARGS --help` prints, at a fixed width, in a fenced block."""
    # A fresh process with a fixed terminal: the text must not depend on who runs cog.
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "100",
        "TERM": "dumb",
        "NO_COLOR": "1",
        "RAG_CONFIG": "/nonexistent/config.toml",
    }
    done = subprocess.run(
        [sys.executable, "-m", "ragcli", *args, "--help"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return f"```\n{done.stdout.rstrip()}\n```\n"


def cli_reference() -> str:
    """Every command's `--help`, each under its own heading, `rag --help` first."""
    parts = ["## rag\n\n" + help_text()]
    parts += [f"## rag {name}\n\n" + help_text(name) for name in command_names()]
    return "\n".join(parts)


def front_page() -> str:
    """The README, its links into docs/ made relative to docs/ itself."""
    return (ROOT / "README.md").read_text().replace("](docs/", "](")
