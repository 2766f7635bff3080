"""What the commands share: options declared once, settings resolved once, piped input."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Optional

import typer

from ragcli import output
from ragcli.errors import InputNotFoundError, RagError
from ragcli.setting_keys import switch
from ragcli.settings import KEYS, Settings, as_flag
from ragcli.text.questions import read_questions


def setting_help(name: str, description: str = "") -> str:
    """A setting's --help text: what it is, then its variable, key and default, declared once."""
    key = KEYS[name]
    said = []
    if key.env:
        said.append(f"env {key.env}")
    if key.secret:
        said.append(f"key: {KEYS[key.secret].env}")
    default = key.default_help or _default_shown(key.default)
    if default:
        said.append(f"default: {default}")
    brackets = f" [{'; '.join(said)}]" if said else ""
    note = f" {key.note}" if key.note else ""
    return f"{description or key.help}{brackets}.{note}"


def _default_shown(value: Any) -> str:
    if value is None or callable(value):  # no default, or one found at run time: in words
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def setting_option(name: str, description: str = "") -> Any:
    """The Typer option that sets a setting: its flag and help, from its declaration."""
    key = KEYS[name]
    flag = key.flag.split()[-1]  # "search --top-k": the flag of one command
    if key.check is switch:
        flag = f"{flag}/--no-{flag.removeprefix('--')}"
    flags = (flag, key.short) if key.short else (flag,)
    return typer.Option(*flags, help=setting_help(name, description), show_default=False)


# Options shared by several commands, declared once.
# A string, not a Path: `./work` (a folder here) and `work` (a named store) differ.
StoreOpt = Annotated[Optional[list[str]], setting_option("store")]  # noqa: UP045
StoresOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    setting_option(
        "store",
        "Store directory (with a / or starting with . or ~) or name of a store in the user data "
        "dir (rag stores lists them); repeat it, or list them a:b, to search several at once",
    ),
]
ConfigOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--config",
        help="TOML config file [env RAG_CONFIG; default: config.toml in the user config dir].",
        dir_okay=False,
        show_default=False,
    ),
]
VerboseOpt = Annotated[
    bool,
    typer.Option(
        "--verbose", "-v", help="Timings and details on stderr, other libraries' warnings too."
    ),
]
ThreadsOpt = Annotated[Optional[int], setting_option("threads")]  # noqa: UP045
EmbedOpt = Annotated[Optional[str], setting_option("embedder")]  # noqa: UP045
VectorsOpt = Annotated[Optional[str], setting_option("vectors")]  # noqa: UP045
EmbedUrlOpt = Annotated[Optional[str], setting_option("embed_url")]  # noqa: UP045
BatchOpt = Annotated[Optional[int], setting_option("batch_size")]  # noqa: UP045
Fp32Opt = Annotated[
    bool,
    typer.Option(
        "--fp32",
        help="Embed documents with the full-precision model, not its "
        "checked int8 copy (about half as fast).",
    ),
]
RayOpt = Annotated[
    bool,
    typer.Option(
        "--ray",
        help="Embed on Ray Data: a local Ray runtime, or the cluster at --ray-address "
        "(needs ragcli[ray]).",
    ),
]
RayAddressOpt = Annotated[Optional[str], setting_option("ray_address")]  # noqa: UP045
RayWorkersOpt = Annotated[Optional[int], setting_option("ray_workers")]  # noqa: UP045
OcrOpt = Annotated[Optional[bool], setting_option("ocr")]  # noqa: UP045
OcrLanguagesOpt = Annotated[Optional[str], setting_option("ocr_languages")]  # noqa: UP045
OcrMaxPagesOpt = Annotated[Optional[int], setting_option("ocr_max_pages")]  # noqa: UP045
OcrMaxSecondsOpt = Annotated[Optional[float], setting_option("ocr_max_seconds")]  # noqa: UP045
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
NoWaitOpt = Annotated[
    bool, typer.Option("--no-wait", help="Exit 7 at once if another process writes the store.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or notes.")]


# The names a choice setting takes, as Typer offers them.
Mode = Enum("Mode", {name: name for name in KEYS["mode"].choices}, type=str)  # type: ignore[misc]
ModeOpt = Annotated[Optional[Mode], setting_option("mode")]  # noqa: UP045
StrategyChoice = Enum(  # type: ignore[misc]
    "StrategyChoice", {name: name for name in KEYS["strategy"].choices}, type=str
)
LlmApi = Enum("LlmApi", {name: name for name in KEYS["llm_api"].choices}, type=str)  # type: ignore[misc]

# How `ask`, `chat` and `serve` answer: the options they share, declared once.
ModelOpt = Annotated[Optional[str], setting_option("model")]  # noqa: UP045
LlmUrlOpt = Annotated[Optional[str], setting_option("llm_url")]  # noqa: UP045
LlmModelOpt = Annotated[Optional[str], setting_option("llm_model")]  # noqa: UP045
LlmApiOpt = Annotated[Optional[LlmApi], setting_option("llm_api")]  # noqa: UP045
TopKOpt = Annotated[Optional[int], setting_option("top_k")]  # noqa: UP045
MaxTokensOpt = Annotated[Optional[int], setting_option("max_tokens")]  # noqa: UP045
TemperatureOpt = Annotated[Optional[float], setting_option("temperature")]  # noqa: UP045
ContextTokensOpt = Annotated[Optional[int], setting_option("context_tokens")]  # noqa: UP045
MinScoreOpt = Annotated[Optional[float], setting_option("min_score")]  # noqa: UP045
StrategyOpt = Annotated[Optional[StrategyChoice], setting_option("strategy")]  # noqa: UP045
AnswerThresholdOpt = Annotated[Optional[float], setting_option("answer_threshold")]  # noqa: UP045
MinConfidenceOpt = Annotated[Optional[float], setting_option("min_confidence")]  # noqa: UP045
StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict",
        help='Say "The context does not say." rather than give an '
        "answer whose names or numbers are in no passage.",
    ),
]


def resolve_settings(config: Path | None, several_stores: bool = False, **flags: Any) -> Settings:
    """Layer the flags over the environment and the config file: once per command.

    A choice flag may be given as Typer's Enum member. Only commands that search (ask,
    search) take several stores; the rest refuse them.
    """
    from ragcli.config import load_config
    from ragcli.errors import UsageError
    from ragcli.settings import resolve

    flags = {name: _plain(value) for name, value in flags.items()}
    flags["store"] = flags.get("store") or None  # Typer gives [] for a list not given
    settings = resolve(flags, os.environ, load_config(config, os.environ))
    if len(settings.stores) > 1 and not several_stores:
        raise UsageError(
            f"{len(settings.stores)} stores given ({settings.sources['store']}), "
            "but only ask and search take several"
        )
    return settings


def _plain(value: Any) -> Any:
    """A choice flag's name (Typer gives its Enum member); any other value as it is."""
    return value.value if isinstance(value, Enum) else value


def stdin_bytes(what: str) -> BinaryIO:
    """Standard input as bytes: lines are bounded and decoded by ragcli, not by Python.

    InputNotFoundError when there is none: started with stdin closed (`<&-`).
    """
    if sys.stdin is None:
        raise InputNotFoundError(f"cannot read {what}: stdin is closed")
    return sys.stdin.buffer


def from_stdin(argument: str | None, name: str, plural: str) -> bool:
    """Whether lines come from stdin: '-' or no argument with piped input; else need one."""
    piped = sys.stdin is not None and not sys.stdin.isatty()  # None: closed (`<&-`)
    batch = argument == "-" or (argument is None and piped)
    if argument is None and not batch:
        raise typer.BadParameter(
            f"give a {name}, or '-' to read {plural} from stdin", param_hint=name
        )
    if batch:
        stdin_bytes(plural)  # closed: say so now, before any model loads
    return batch


class PipedLines:
    """The usable lines of piped input, numbered; a refused line is said on stderr and counted."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.refused = 0

    def __iter__(self) -> Iterator[tuple[int, str]]:
        for line in read_questions(stdin_bytes(f"{self.what}s"), self.what):
            if line.text is None:
                output.error(f"stdin {line.problem}; skipped")
                self.refused += 1
            else:
                yield line.number, line.text

    def refuse(self, number: int, problem: RagError) -> None:
        """Say that a usable line could not be done after all; the next one may be."""
        output.error(f"stdin line {number}: {problem.spelled(as_flag)}; skipped")
        self.refused += 1
