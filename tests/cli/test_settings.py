"""Each setting declared once: Settings' fields, KEYS, every --help and `rag config` agree."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

import pytest
import typer.main

from ragcli.cli import app
from ragcli.commands.common import setting_help
from ragcli.settings import KEYS, Settings, defaults
from tests.conftest import run_rag as run

Capture = pytest.CaptureFixture[str]
# The fields of Settings that are no setting: all the stores given, and where each came from.
RECORD_FIELDS = {"stores", "sources", "config"}


def _command_options() -> list[tuple[str, Any]]:
    """(command name, Click option) for every option of every rag command."""
    group = typer.main.get_command(app)
    commands = group.commands  # type: ignore[attr-defined]
    return [
        (name, param)
        for name, command in commands.items()
        for param in command.params
        if param.param_type_name == "option"
    ]


def _setting_of(command: str, flags: list[str]) -> str | None:
    """The setting a command's option sets: `search --top-k` is search_k, else by the flag."""
    matches = [
        key.name
        for key in KEYS.values()
        if key.flag
        and key.flag.split()[-1] in flags
        and (len(key.flag.split()) == 1 or key.flag.split()[0] == command)
    ]
    by_command = [name for name in matches if len(KEYS[name].flag.split()) == 2]
    return (by_command or matches or [None])[0]


def _shown(default: Any) -> str:
    if isinstance(default, bool):
        return "on" if default else "off"
    return f"{default:g}" if isinstance(default, float) else str(default)


def test_every_field_of_settings_is_a_declared_setting() -> None:
    names = [field.name for field in fields(Settings) if field.name not in RECORD_FIELDS]
    assert list(KEYS) == names  # the same settings, in the order `rag config` lists them
    assert all(key.name == name for name, key in KEYS.items())


def test_each_settings_option_has_the_generated_help() -> None:
    offered = set()
    for command, option in _command_options():
        name = _setting_of(command, [*option.opts, *option.secondary_opts])
        if name is None or option.name == "modes":  # eval --mode: the modes to score
            continue
        offered.add(name)
        key = KEYS[name]
        generated = setting_help(name)
        # After the description (a command may word it its own way), the declared rest.
        assert option.help.endswith(generated[len(key.help) :]), (command, option.opts)
        if key.env:
            assert f"env {key.env}" in option.help
        if key.default_help:  # a default found at run time, or one better said in words
            assert f"default: {key.default_help}" in option.help
        elif key.default is not None:
            assert f"default: {_shown(key.default)}" in option.help, (command, option.opts)
    # Every setting with a flag is offered by some command; secrets only by the environment.
    assert offered == {name for name, key in KEYS.items() if key.flag}


def test_help_says_a_default_found_at_run_time_in_words() -> None:
    assert setting_help("store").endswith("[env RAG_STORE; default: the store named `store`].")
    assert "[env RAG_LLM_URL; key: RAG_LLM_API_KEY]." in setting_help("llm_url")
    assert setting_help("llm_api").endswith("[default: chat].")  # a flag only
    assert setting_help("max_docs").endswith("(N >= 1).")  # no variable, no default


def test_rag_config_lists_exactly_the_declared_settings(capsys: Capture) -> None:
    code, out, _ = run(capsys, "config", "--json")
    assert code == 0
    shown = json.loads(out)["settings"]
    assert list(shown) == [name for name, key in KEYS.items() if key.in_file]
    everything = defaults()
    for name, entry in shown.items():
        assert entry["source"] == "default"
        if name != "store":
            assert entry["value"] == getattr(everything, name)
