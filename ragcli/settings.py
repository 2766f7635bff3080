"""The settings record: each setting declared once, resolved once into a frozen `Settings`.

A setting's value comes from its command-line flag, else its RAG_* environment variable,
else the config file (config.py reads it), else its default. Each field of `Settings`
declares its setting once, as a `Key` in its annotation: flag, variable, default, check and
help text. `KEYS` is read from there; `resolve` layers the sources and returns `Settings`,
which options.py turns into each component's options, the commands' `--help` describes
(commands/common.py) and `rag config` prints.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, get_args, get_type_hints

from ragcli import setting_keys as checks
from ragcli.answering.factory import ANSWER_STRATEGIES
from ragcli.bundled import BUNDLED_EMBEDDER, BUNDLED_LLM
from ragcli.errors import UsageError
from ragcli.llm.factory import LLM_APIS
from ragcli.locations import DEFAULT_STORE_NAME, data_dir, store_list, store_paths
from ragcli.records import DEFAULT_CHUNKING
from ragcli.retrieval.modes import RETRIEVAL_MODES
from ragcli.setting_keys import Key, Range, choice, ranged
from ragcli.vectors.factory import FAISS_VECTORS, VECTOR_FORMS

# Every number a user can set has a range, declared here once and checked for flags,
# RAG_* variables and the config file alike (docs/configuration.md).
MAX_THREADS = 4 * (os.cpu_count() or 1)


def default_store_dir() -> Path:
    """The store used when neither --store nor RAG_STORE is given: the one named `store`."""
    return data_dir() / DEFAULT_STORE_NAME


def _default_stores() -> tuple[Path, ...]:
    return (default_store_dir(),)


@dataclass(frozen=True)
class Setting:
    """An effective value and where it came from."""

    key: str
    value: Any
    source: str  # "flag --top-k", "env RAG_TOP_K", "config /path/config.toml", "default"


@dataclass(frozen=True)
class ConfigFile:
    """The config file's checked values (empty when there is no file)."""

    path: Path
    values: Mapping[str, Any]
    exists: bool


@dataclass(frozen=True)
class Settings:
    """Every setting's effective value, resolved once per command.

    `stores` are all the stores given (`ask` and `search` take several); `store` is the
    first, the one every other command works on (they refuse several: commands/common.py).
    Each field annotated with a `Key` is a setting, in the order `rag config` lists them.
    """

    store: Annotated[
        Path,
        Key(
            "--store",
            "RAG_STORE",
            _default_stores,
            store_list,
            path=True,
            help="Store directory (with a / or starting with . or ~), or the name of a store "
            "in the user data dir (rag stores lists them)",
            default_help="the store named `store`",
        ),
    ]
    stores: tuple[Path, ...]
    embedder: Annotated[
        str,
        Key(
            "--embed-model",
            "RAG_EMBEDDER",
            BUNDLED_EMBEDDER,
            help="Sentence-transformers folder for a new store; with --embed-url, the model's "
            "name on the server (the first it lists if none is given)",
            note="An existing store always uses the embedder it was built with.",
        ),
    ]
    # An OpenAI-compatible /v1/embeddings server instead of a local model; --embed-model
    # then names the model on it (default: the first it lists).
    embed_url: Annotated[
        str | None,
        Key(
            "--embed-url",
            "RAG_EMBED_URL",
            None,
            checks.url,
            help="An OpenAI-compatible embeddings server, e.g. http://host:8080/v1, instead of "
            "a local embedder; --embed-model names its model",
            note="Needed by every command that embeds for a store built on one.",
            secret="embed_api_key",
        ),
    ]
    model: Annotated[
        str,
        Key(
            "--model",
            "RAG_MODEL",
            BUNDLED_LLM,
            help="A .gguf file",
            default_help="bundled Gemma 3 270M",
        ),
    ]
    top_k: Annotated[
        int,
        ranged("--top-k", "RAG_TOP_K", 5, 1, 1000, short="-k", help="Chunks retrieved, 1-1000"),
    ]
    search_k: Annotated[
        int,
        ranged(
            "search --top-k",
            "RAG_SEARCH_K",
            10,
            1,
            10_000,
            short="-k",
            help="Results per query, 1-10000",
        ),
    ]
    threads: Annotated[
        int | None,
        ranged(
            "--threads",
            "RAG_THREADS",
            None,
            1,
            MAX_THREADS,
            help="CPU threads, 1 to 4 x the cores",
            default_help="the free cores, one for questions' embedding",
        ),
    ]
    # At least what the fixed prompt and one passage need (checked again against the
    # model's own prompt when it loads), at most what any bundled-size model is trained on.
    context_tokens: Annotated[
        int,
        ranged(
            "--context-tokens",
            "RAG_CONTEXT_TOKENS",
            4096,
            512,
            131_072,
            help="Model context window, 512-131072 and at most what the model was trained on",
        ),
    ]
    # At most the context window less the prompt: checked when the model loads.
    max_tokens: Annotated[
        int,
        ranged(
            "--max-tokens",
            "RAG_MAX_TOKENS",
            256,
            1,
            131_072,
            help="Longest answer, in tokens: at least 1, at most the context less the prompt",
        ),
    ]
    temperature: Annotated[
        float,
        ranged(
            "--temperature",
            "RAG_TEMPERATURE",
            0.0,
            0.0,
            2.0,
            whole=False,
            help="Sampling temperature, 0-2",
        ),
    ]
    # Cosine similarity below which a passage is taken as unrelated to the question.
    # Measured with all-MiniLM-L6-v2 on bench/qa_sample_docs.jsonl: off-topic questions'
    # best passage scored 0.09-0.16, answerable questions' 0.24 and up.
    min_score: Annotated[
        float,
        ranged(
            "--min-score",
            "RAG_MIN_SCORE",
            0.2,
            -1.0,
            1.0,
            whole=False,
            help="Best cosine score below which nothing is relevant, -1 to 1",
        ),
    ]
    batch_size: Annotated[
        int,
        ranged(
            "--batch-size", "RAG_BATCH_SIZE", 64, 1, 4096, help="Chunks embedded per batch, 1-4096"
        ),
    ]
    # Where `--ray` embeds: "local" starts a Ray runtime in the process, else a cluster.
    ray_address: Annotated[
        str,
        Key(
            "--ray-address",
            "RAG_RAY_ADDRESS",
            "local",
            checks.ray_address,
            help="Ray cluster to embed on, e.g. ray://HOST:10001 or auto; implies --ray",
        ),
    ]
    # Ray actors embedding at once; None: one per CPU of the runtime or cluster.
    ray_workers: Annotated[
        int | None,
        ranged(
            "--ray-workers",
            "RAG_RAY_WORKERS",
            None,
            1,
            100_000,
            help="Ray workers (one CPU each) embedding at once",
            default_help="one per CPU of the runtime or cluster",
        ),
    ]
    mode: Annotated[
        str,
        choice(
            "--mode",
            "RAG_MODE",
            "hybrid",
            RETRIEVAL_MODES,
            help="Retrieval: keyword (BM25) and dense (embeddings) fused, or just one",
        ),
    ]
    # sequence scored EM/F1 far above packed on squad-a (bench/qa_bench.py).
    strategy: Annotated[
        str,
        choice(
            "--strategy",
            "RAG_STRATEGY",
            "sequence",
            ANSWER_STRATEGIES,
            help="How the model reads the passages: sequence (one at a time, answers weighed "
            "by retrieval score and model probability) or packed (all in one prompt, streamed)",
        ),
    ]
    # When every passage declines, `sequence` decodes again with abstaining ruled out and
    # keeps that answer if its log-probability is at least this; above 0 it never does.
    # Off by default: on squad-a seed 1 (100 answerable + 100 unanswerable, evidence
    # windows) no threshold beat off on SQuAD 2.0's pooled F1 (36.9 off, 36.4 at -3,
    # 32.3 at -5): its answers to unanswerable questions scored as high as right ones.
    answer_threshold: Annotated[
        float,
        ranged(
            "ask --answer-threshold",
            "RAG_ANSWER_THRESHOLD",
            1.0,
            -1000.0,
            1.0,
            whole=False,
            help="When every passage declines, answer anyway with the likeliest copy of a "
            "passage if its log-probability is at least this; above 0: never, -1000 to 1",
        ),
    ]
    # `sequence` declines an answer whose probability (marginalised over the passages) is
    # below this. Off by default: the model's answers to questions the documents do not
    # answer are hardly less likely than its answers to those they do (bench/qa_bench.py
    # curve: each point declines about as many of one kind as of the other).
    min_confidence: Annotated[
        float,
        ranged(
            "ask --min-confidence",
            "RAG_MIN_CONFIDENCE",
            0.0,
            0.0,
            1.0,
            whole=False,
            help="Decline an answer the model gives a probability below this, 0 to 1: more "
            "caution declines more questions of both kinds (sequence only)",
        ),
    ]
    llm_url: Annotated[
        str | None,
        Key(
            "--llm-url",
            "RAG_LLM_URL",
            None,
            checks.url,
            help="An OpenAI-compatible server, e.g. http://host:8000/v1, instead of --model",
            secret="llm_api_key",
        ),
    ]
    llm_model: Annotated[
        str | None,
        Key(
            "--llm-model",
            "RAG_LLM_MODEL",
            None,
            help="Model name on that server",
            default_help="the first it lists",
        ),
    ]
    # Not in the config file: a key is a secret, and the API a property of the server.
    llm_api: Annotated[
        str,
        choice(
            "--llm-api",
            None,
            "chat",
            LLM_APIS,
            in_file=False,
            help="Server endpoint: chat (messages) or completion (raw prompt, for base models)",
        ),
    ]
    llm_api_key: Annotated[str | None, Key("", "RAG_LLM_API_KEY", None, str, in_file=False)]
    # Where a new store keeps its vectors; an existing store keeps where it has them.
    vectors: Annotated[
        str,
        Key(
            "--vectors",
            "RAG_VECTORS",
            FAISS_VECTORS,
            checks.vectors,
            help=f"Where a new store keeps its vectors: {VECTOR_FORMS}",
            note="An existing store always uses its own.",
            secret="milvus_token",
        ),
    ]
    milvus_token: Annotated[str | None, Key("", "RAG_MILVUS_TOKEN", None, str, in_file=False)]
    embed_api_key: Annotated[str | None, Key("", "RAG_EMBED_API_KEY", None, str, in_file=False)]
    # Read pages without a text layer, and image files, with Tesseract (docs/formats.md,
    # "Scanned PDFs and images"); the languages are Tesseract's, the first one its main model.
    ocr: Annotated[
        bool,
        Key(
            "--ocr",
            "RAG_OCR",
            True,
            checks.switch,
            help="Read PDF pages without a text layer, and .png/.jpg/.tiff files, with Tesseract",
        ),
    ]
    ocr_languages: Annotated[
        str,
        Key(
            "--ocr-languages",
            "RAG_OCR_LANGUAGES",
            "eng+spa",
            checks.ocr_languages,
            help="Tesseract languages, main one first, e.g. eng+spa or deu",
        ),
    ]
    # One file's OCR, at most: this many pages (a PDF's pages read by OCR, an image's
    # frames) and this many seconds for all of them together; a 10,000-frame fax TIFF would
    # otherwise run for hours. Past either the file is skipped with the reason, as a file
    # past any other limit is, so an ingest with the limit raised reads it whole: one kept
    # in part would count as ingested and not be read again.
    ocr_max_pages: Annotated[
        int,
        ranged(
            "--ocr-max-pages",
            "RAG_OCR_MAX_PAGES",
            500,
            1,
            1_000_000,
            help="Pages (or image frames) OCR reads in one file, at most; a file with more is "
            "skipped",
        ),
    ]
    ocr_max_seconds: Annotated[
        float,
        ranged(
            "--ocr-max-seconds",
            "RAG_OCR_MAX_SECONDS",
            3600.0,
            1,
            604_800,
            whole=False,
            help="Seconds OCR may take for one file, all its pages together; a file that takes "
            "longer is skipped",
        ),
    ]
    # The chunking of a new store; an existing store keeps the chunking it was built with.
    chunk_tokens: Annotated[
        int,
        ranged(
            "--chunk-tokens",
            None,
            DEFAULT_CHUNKING.chunk_tokens,
            16,
            4096,
            in_file=False,
            help="Target chunk size in word pieces, 16-4096, for a new store",
        ),
    ]
    overlap_tokens: Annotated[
        int,
        ranged(
            "--overlap-tokens",
            None,
            DEFAULT_CHUNKING.overlap_tokens,
            0,
            2048,
            in_file=False,
            help="Overlap between chunks in word pieces, 0-2048 and less than the chunk "
            "size, for a new store",
        ),
    ]
    max_queries: Annotated[
        int | None,
        ranged(
            "--max-queries",
            None,
            None,
            1,
            1e9,
            in_file=False,
            help="Score only the split's first N queries (N >= 1)",
        ),
    ]
    max_docs: Annotated[
        int | None,
        ranged(
            "--max-docs",
            None,
            None,
            1,
            1e9,
            in_file=False,
            help="Reduced corpus: the judged documents plus others up to N (N >= 1)",
        ),
    ]
    # `rag serve` (docs/serve.md): loopback unless told otherwise; a key for any other.
    serve_host: Annotated[
        str,
        Key(
            "--host",
            "RAG_SERVE_HOST",
            "127.0.0.1",
            help="Address rag serve listens on: 127.0.0.1 is this machine only, 0.0.0.0 every "
            "interface (then set an API key)",
        ),
    ]
    serve_port: Annotated[
        int,
        ranged("--port", "RAG_SERVE_PORT", 8000, 1, 65_535, help="Port rag serve listens on"),
    ]
    serve_key: Annotated[
        str | None,
        Key(
            "--api-key",
            "RAG_SERVE_KEY",
            None,
            in_file=False,
            help="Answer only requests that send Authorization: Bearer KEY (all but /health)",
            default_help="none, every request is answered",
        ),
    ]
    # Requests past the one the model is answering wait their turn, this many at most: a
    # full queue answers HTTP 429 with Retry-After rather than grow an unbounded backlog.
    serve_queue: Annotated[
        int,
        ranged(
            "--queue-size",
            "RAG_SERVE_QUEUE",
            8,
            0,
            10_000,
            help="Requests waiting while the model answers one, 0-10000; more get HTTP 429",
        ),
    ]
    sources: Mapping[str, str]
    config: ConfigFile

    def chosen(self, key: str) -> Any:
        """The value when the user set it (flag, environment or file), else None."""
        return None if self.sources[key] == "default" else getattr(self, key)

    def shown(self) -> list[Setting]:
        """The settings `rag config` prints, in declaration order."""
        return [
            Setting(k.name, self._shown(k.name), self.sources[k.name])
            for k in KEYS.values()
            if k.in_file
        ]

    def _shown(self, key: str) -> Any:
        if key == "store" and len(self.stores) > 1:  # as RAG_STORE would list them
            return os.pathsep.join(str(path) for path in self.stores)
        return getattr(self, key)


def _declared_keys() -> dict[str, Key]:
    """Each setting's `Key`, named after its field of `Settings`, in declaration order."""
    keys: dict[str, Key] = {}
    for name, hint in get_type_hints(Settings, include_extras=True).items():
        declared = [extra for extra in get_args(hint)[1:] if isinstance(extra, Key)]
        if declared:
            keys[name] = replace(declared[0], name=name)
    return keys


KEYS: dict[str, Key] = _declared_keys()
RANGES: dict[str, Range] = {k.name: k.range for k in KEYS.values() if k.range is not None}


def spellings(key: str) -> str:
    """Every way a user may have set a key, for a message about its value."""
    spec = KEYS[key]
    return f"{spec.flag}, {spec.env} or config key {spec.name}"


def as_flag(name: str, every: bool) -> str:
    """Spell a setting as the CLI's messages do: its flag (its variable if it has none), or
    every way to set it; a name that is no setting stays as it is."""
    key = KEYS.get(name)
    if key is None:
        return name
    return spellings(name) if every else key.flag or key.env or name


def resolve(flags: Mapping[str, Any], env: Mapping[str, str], file: ConfigFile) -> Settings:
    """Layer flag > environment > config file > default for every key; UsageError if bad."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key in KEYS.values():
        values[key.name], sources[key.name] = _effective(key, flags.get(key.name), env, file)
    stores = values.pop("store")
    return Settings(**values, store=stores[0], stores=stores, sources=sources, config=file)


def _effective(key: Key, flag: Any, env: Mapping[str, str], file: ConfigFile) -> tuple[Any, str]:
    if flag is not None:
        # Typer has parsed and typed a flag already; a range or a location is left to check.
        value = checked(key, flag, key.flag) if key.range is not None or key.path else flag
        return value, f"flag {key.flag}"
    raw = env.get(key.env) if key.env is not None else None
    if raw is not None and raw != "":
        return checked(key, raw, key.env or key.name), f"env {key.env}"
    if key.name in file.values:
        return file.values[key.name], f"config {file.path}"
    return key.default_value(), "default"


def checked(key: Key, raw: Any, where: str, relative_to: Path | None = None) -> Any:
    """Check one raw value of a key; UsageError saying where it came from and what is wrong."""
    try:
        value = key.checked(raw)
    except ValueError as exc:
        raise UsageError(f"{where} {exc}, not {_shown(raw)}") from None
    if key.path:
        # A relative path in the file means relative to the file, not to where rag runs.
        value = store_paths(value, relative_to)
    return value


def _shown(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def defaults() -> Settings:
    """Every setting at its default: what a command sees with no flags, variables or file."""
    return resolve({}, {}, ConfigFile(Path(os.devnull), {}, exists=False))
