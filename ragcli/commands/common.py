"""What the commands share: options declared once, settings resolved once, piped input."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, Optional

import typer

from ragcli import output
from ragcli.errors import InputNotFoundError
from ragcli.settings import ANSWER_STRATEGIES, KEYS, LLM_APIS, RETRIEVAL_MODES, Settings
from ragcli.text.questions import read_questions

if TYPE_CHECKING:
    from ragcli.records import RaySettings
    from ragcli.text.loaders import LoadLimits


def default_help(key: str) -> str:
    """A setting's default as --help shows it."""
    return str(KEYS[key].default)


# Options shared by several commands, declared once.
# A string, not a Path: `./work` (a folder here) and `work` (a named store) differ.
StoreOpt = Annotated[
    Optional[list[str]],  # noqa: UP045 - Typer needs Optional on Python 3.10
    typer.Option(
        "--store",
        help="Store directory (with a / or starting with . or ~), or the name of a store in "
        "the user data dir (rag stores lists them) [env RAG_STORE, config `store`; default: "
        "the store named `store`].",
        show_default=False,
    ),
]
StoresOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--store",
        help="Store directory (with a / or starting with . or ~) or name of a store in the "
        "user data dir (rag stores lists them); repeat it, or list them a:b, to search "
        "several at once [env RAG_STORE, config `store`; default: the store named `store`].",
        show_default=False,
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
ThreadsOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option(
        "--threads",
        help="CPU threads, 1 to 4 x the cores [env RAG_THREADS; "
        "default: the free cores, one for questions' embedding].",
        show_default=False,
    ),
]
EmbedOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--embed-model",
        help=f"Sentence-transformers folder for a new store [default: {default_help('embedder')}]; "
        "with --embed-url, the model's name on the server [default: the first it lists]. "
        "An existing store always uses the embedder it was built with.",
        show_default=False,
    ),
]
VectorsOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--vectors",
        help="Where a new store keeps its vectors: faiss, milvus:///path/to/local.db "
        "(Milvus Lite), milvus://host:19530 or https://host (token: env RAG_MILVUS_TOKEN) "
        f"[env RAG_VECTORS, config `vectors`; default: {default_help('vectors')}]. "
        "An existing store always uses its own.",
        show_default=False,
    ),
]
EmbedUrlOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--embed-url",
        help="An OpenAI-compatible embeddings server, e.g. http://host:8080/v1, instead of a "
        "local embedder; --embed-model names its model [env RAG_EMBED_URL; key: "
        "RAG_EMBED_API_KEY]. Needed by every command that embeds for a store built on one.",
        show_default=False,
    ),
]
BatchOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option(
        "--batch-size",
        help=f"Chunks embedded per batch, 1-4096 [env RAG_BATCH_SIZE; "
        f"default: {default_help('batch_size')}].",
        show_default=False,
    ),
]
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
RayAddressOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--ray-address",
        help="Ray cluster to embed on, e.g. ray://HOST:10001 or auto; implies --ray "
        f"[env RAG_RAY_ADDRESS; default: {default_help('ray_address')}].",
        show_default=False,
    ),
]
RayWorkersOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option(
        "--ray-workers",
        help="Ray workers (one CPU each) embedding at once [env RAG_RAY_WORKERS; "
        "default: one per CPU of the runtime or cluster].",
        show_default=False,
    ),
]
OcrOpt = Annotated[
    Optional[bool],  # noqa: UP045
    typer.Option(
        "--ocr/--no-ocr",
        help="Read PDF pages without a text layer, and .png/.jpg/.tiff files, with Tesseract "
        "[env RAG_OCR, config `ocr`; default: on].",
        show_default=False,
    ),
]
OcrLanguagesOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--ocr-languages",
        help="Tesseract languages, main one first, e.g. eng+spa or deu [env RAG_OCR_LANGUAGES, "
        f"config `ocr_languages`; default: {default_help('ocr_languages')}].",
        show_default=False,
    ),
]
OcrMaxPagesOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option(
        "--ocr-max-pages",
        help="Pages (or image frames) OCR reads in one file, at most; a file with more is "
        "skipped [env RAG_OCR_MAX_PAGES, config `ocr_max_pages`; default: "
        f"{default_help('ocr_max_pages')}].",
        show_default=False,
    ),
]
OcrMaxSecondsOpt = Annotated[
    Optional[float],  # noqa: UP045
    typer.Option(
        "--ocr-max-seconds",
        help="Seconds OCR may take for one file, all its pages together; a file that takes "
        "longer is skipped [env RAG_OCR_MAX_SECONDS, config `ocr_max_seconds`; "
        f"default: {default_help('ocr_max_seconds')}].",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
NoWaitOpt = Annotated[
    bool, typer.Option("--no-wait", help="Exit 7 at once if another process writes the store.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or notes.")]
Mode = Enum("Mode", {mode: mode for mode in RETRIEVAL_MODES}, type=str)  # type: ignore[misc]
ModeOpt = Annotated[
    Optional[Mode],  # noqa: UP045
    typer.Option(
        "--mode",
        help="Retrieval: keyword (BM25) and dense (embeddings) fused, or just one "
        f"[env RAG_MODE; default: {default_help('mode')}].",
        show_default=False,
    ),
]
StrategyChoice = Enum(  # type: ignore[misc]
    "StrategyChoice", {name: name for name in ANSWER_STRATEGIES}, type=str
)
LlmApi = Enum("LlmApi", {name: name for name in LLM_APIS}, type=str)  # type: ignore[misc]


def resolve_settings(config: Path | None, several_stores: bool = False, **flags: Any) -> Settings:
    """Layer the flags over the environment and the config file: once per command.

    Only commands that search (ask, search) take several stores; the rest refuse them.
    """
    from ragcli.config import load_config
    from ragcli.errors import UsageError
    from ragcli.settings import resolve
    from ragcli.vectors.factory import use_milvus_token

    flags["store"] = flags.get("store") or None  # Typer gives [] for a list not given
    settings = resolve(flags, os.environ, load_config(config, os.environ))
    if len(settings.stores) > 1 and not several_stores:
        raise UsageError(
            f"{len(settings.stores)} stores given ({settings.sources['store']}), "
            "but only ask and search take several"
        )
    use_milvus_token(settings.milvus_token)
    return settings


def ray_settings(effective: Settings, ray: bool) -> RaySettings | None:
    """Where to embed on Ray, or None to embed in this process: --ray or --ray-address."""
    from ragcli.records import RaySettings
    from ragcli.settings import checked

    source = effective.sources["ray_address"]
    if not ray and not source.startswith("flag"):
        return None
    address = effective.ray_address
    if source.startswith("flag"):  # variables and the file were checked when read
        address = checked(KEYS["ray_address"], address, "--ray-address")
    return RaySettings(address, effective.ray_workers)


def load_limits(effective: Settings) -> LoadLimits:
    """How ingest reads files: the default bounds, and OCR as the settings ask."""
    from dataclasses import replace

    from ragcli import library
    from ragcli.settings import checked

    if effective.sources["ocr_languages"].startswith("flag"):  # the others were checked
        languages = checked(KEYS["ocr_languages"], effective.ocr_languages, "--ocr-languages")
        effective = replace(effective, ocr_languages=languages)
    return library.load_limits(effective)


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

    def refuse(self, number: int, problem: Exception) -> None:
        """Say that a usable line could not be done after all; the next one may be."""
        output.error(f"stdin line {number}: {problem}; skipped")
        self.refused += 1
