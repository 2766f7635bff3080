"""Side-by-side benchmark of ragcli and LlamaIndex: same corpus, models and settings.

Prints one table. Run: python bench/llamaindex_bench.py [--files 800] [--configs default,256]
Both run as child processes with the bundled MiniLM embedder and Gemma 3 270M GGUF, top-k 5,
greedy decoding, at most 256 new tokens, a 4096-token context and all cores. LlamaIndex keeps
its defaults otherwise (1024-token chunks with 200 overlapping, its own QA prompt); its
second configuration changes only the chunking, to 256-token chunks with 32 overlapping
(ragcli's overlap), about what MiniLM reads, so the ingest rows also compare equal work.
LlamaIndex counts these tokens with its own tokenizer (tiktoken cl100k), ragcli in MiniLM's
word pieces. It is installed on first use
into bench/out/llamaindex-site from bench/llamaindex_requirements.txt with --no-deps, so the
venv's torch, sentence-transformers and llama-cpp-python serve both, and it is only ever on
the PYTHONPATH of its own child processes. Every LlamaIndex ask loads the persisted index
afresh, as every `rag ask` loads its store.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core_bench import QUESTIONS, ROOT, make_corpus, measured  # noqa: E402

SITE = ROOT / "bench" / "out" / "llamaindex-site"
REQUIREMENTS = ROOT / "bench" / "llamaindex_requirements.txt"
RESULTS = ROOT / "bench" / "out" / "llamaindex_bench.json"
RAG = [sys.executable, "-m", "ragcli"]
TOP_K = 5
MAX_TOKENS = 256
CONTEXT_TOKENS = 4096
THREADS = os.cpu_count() or 1
Row = tuple[str, ...]  # measure, ragcli, each LlamaIndex configuration, then their ratios


@dataclass(frozen=True)
class LlamaConfig:
    """One LlamaIndex configuration: its key in the results, its column and its chunking."""

    key: str
    label: str
    chunk_tokens: int | None = None  # None: LlamaIndex's default (1024, 200 overlapping)
    overlap_tokens: int | None = None


CONFIGS = {
    "default": LlamaConfig("llamaindex", "LlamaIndex default"),
    "256": LlamaConfig("llamaindex-256", "LlamaIndex 256-token chunks", 256, 32),
}

# Runs in a child process with PYTHONPATH=SITE. argv: build|ask-one|ask-batch CONFIG_JSON;
# ask-batch reads one question a line from stdin. Results go to the file config["out"],
# since the measuring parent discards stdout.
DRIVER = r'''
import json, sys
from pathlib import Path

from llama_index.core import (Settings, SimpleDirectoryReader, StorageContext,
                              VectorStoreIndex, load_index_from_storage)
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.llm import LLMCompletionStartEvent
from llama_index.embeddings.huggingface import HuggingFaceEmbedding


class PromptLog(BaseEventHandler):
    """Remembers every prompt sent to the LLM (the refine step may send several)."""

    prompts: list = []

    @classmethod
    def class_name(cls):
        return "PromptLog"

    def handle(self, event, **kwargs):
        if isinstance(event, LLMCompletionStartEvent):
            self.prompts.append(event.prompt)


def build(config):
    if config["chunk_tokens"] is not None:
        Settings.chunk_size = config["chunk_tokens"]
        Settings.chunk_overlap = config["overlap_tokens"]
    documents = SimpleDirectoryReader(config["corpus"]).load_data()
    index = VectorStoreIndex.from_documents(documents)
    index.storage_context.persist(config["index"])
    return {"documents": len(documents), "chunks": len(index.docstore.docs)}


def ask(config, questions):
    from llama_index.llms.llama_cpp import LlamaCPP

    Settings.llm = LlamaCPP(
        model_path=config["llm"], temperature=0, max_new_tokens=config["max_tokens"],
        context_window=config["context_tokens"],
        model_kwargs={"n_threads": config["threads"]}, verbose=False,
    )
    storage = StorageContext.from_defaults(persist_dir=config["index"])
    engine = load_index_from_storage(storage).as_query_engine(similarity_top_k=config["top_k"])
    log = PromptLog()
    get_dispatcher().add_event_handler(log)
    tokenize = Settings.llm._model.tokenize
    answers = []
    for question in questions:
        log.prompts.clear()
        answer = str(engine.query(question)).strip()
        answers.append({
            "question": question, "answer": answer, "llm_calls": len(log.prompts),
            "prompt_tokens": sum(len(tokenize(p.encode())) for p in log.prompts),
        })
    return {"answers": answers, "first_prompt": log.prompts[0] if log.prompts else ""}


def count(config):
    """How many word pieces of each chunk's embedded text MiniLM reads, and how many it cuts."""
    from llama_index.core.schema import MetadataMode

    model = Settings.embed_model._model
    storage = StorageContext.from_defaults(persist_dir=config["index"])
    texts = [node.get_content(metadata_mode=MetadataMode.EMBED)
             for node in storage.docstore.docs.values()]
    lengths = [len(ids) for ids in model.tokenizer(texts)["input_ids"]]
    limit = model.max_seq_length
    return {"chunks": len(lengths), "limit": limit, "cut": sum(n > limit for n in lengths),
            "read": sum(min(n, limit) for n in lengths), "total": sum(lengths)}


config = json.loads(sys.argv[2])
Settings.embed_model = HuggingFaceEmbedding(model_name=config["embedder"])
if sys.argv[1] == "build":
    result = build(config)
elif sys.argv[1] == "count":
    result = count(config)
elif sys.argv[1] == "ask-one":
    result = ask(config, [config["question"]])
else:
    result = ask(config, [line.strip() for line in sys.stdin if line.strip()])
Path(config["out"]).write_text(json.dumps(result))
'''


@dataclass(frozen=True)
class Run:
    """What one measured child process cost and what it wrote."""

    seconds: float
    peak_mib: float
    output: str


def ensure_llamaindex() -> None:
    """Install the pinned LlamaIndex packages into SITE unless that exact set is there."""
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    marker = SITE / ".requirements-sha256"
    if marker.is_file() and marker.read_text().strip() == wanted:
        return
    partial = SITE.with_name(SITE.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--target",
        str(partial),
        "-c",
        str(ROOT / "constraints.txt"),
        "-r",
        str(REQUIREMENTS),
    ]
    print(
        f"installing LlamaIndex into {SITE.relative_to(ROOT)}: {' '.join(command)}", file=sys.stderr
    )
    subprocess.run(command, cwd=ROOT, check=True)
    (partial / marker.name).write_text(wanted + "\n")
    shutil.rmtree(SITE, ignore_errors=True)
    partial.rename(SITE)
    print("LlamaIndex installed", file=sys.stderr)


def bundled_models() -> tuple[str, str]:
    """The bundled embedder folder and GGUF path, as ragcli itself resolves them."""
    from ragcli.bundled import bundled_embedder_dir, bundled_llm_path
    from ragcli.locations import model_cache_dir

    return str(bundled_embedder_dir()), str(bundled_llm_path(model_cache_dir()))


def run_to_file(command: list[str], out: Path, stdin: str | None = None) -> Run:
    """Measure a command whose stdout goes to `out`; `exec` keeps the shell out of the RSS."""
    shell = ["sh", "-c", 'out=$1; shift; exec "$@" > "$out"', "sh", str(out), *command]
    seconds, peak = measured(shell, stdin=stdin)
    return Run(seconds, peak, out.read_text(encoding="utf-8"))


class LlamaIndexRunner:
    """Runs the driver in child processes with the shared settings and a persisted index."""

    def __init__(
        self, scratch: Path, corpus: Path, models: tuple[str, str], config: LlamaConfig
    ) -> None:
        self.scratch = scratch
        self.config = config
        self.base = {
            "corpus": str(corpus),
            "index": str(scratch / f"{config.key}-index"),
            "embedder": models[0],
            "llm": models[1],
            "top_k": TOP_K,
            "max_tokens": MAX_TOKENS,
            "context_tokens": CONTEXT_TOKENS,
            "threads": THREADS,
            "chunk_tokens": config.chunk_tokens,
            "overlap_tokens": config.overlap_tokens,
        }

    def run(self, command: str, stdin: str | None = None, **extra: str) -> tuple[Run, dict]:
        out = self.scratch / f"{self.config.key}-{command}.json"
        config = json.dumps({**self.base, **extra, "out": str(out)})
        args = ["env", f"PYTHONPATH={SITE}", sys.executable, "-c", DRIVER, command, config]
        seconds, peak = measured(args, stdin=stdin)
        return Run(seconds, peak, ""), json.loads(out.read_text(encoding="utf-8"))


def rag_status(store: Path) -> dict[str, Any]:
    """A ragcli store's `rag status --json`: its chunk count and chunking settings."""
    done = subprocess.run(
        [*RAG, "status", "--store", str(store), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    status: dict[str, Any] = json.loads(done.stdout)
    return status


def answer_tokens(llm_path: str, answers: list[str]) -> float:
    """Mean length of answers in the Gemma tokenizer's tokens."""
    from llama_cpp import Llama

    # llama.cpp warns about the unused context on fd 2 itself, past Python's sys.stderr.
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        vocab = Llama(model_path=llm_path, vocab_only=True, verbose=False)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return statistics.mean(len(vocab.tokenize(a.encode(), add_bos=False)) for a in answers)


def warm_ragcli(scratch: Path) -> None:
    """Ingest and ask once, unmeasured, so ragcli's per-machine model cache is filled.

    A first run on a machine (or after an upgrade) assembles the GGUF, exports the ONNX
    embedders and saves the prompt-prefix state, once: not what later runs cost.
    """
    store = scratch / "warm-store"
    for args in (["ingest", str(ROOT / "sample_docs"), "-q"], ["ask", QUESTIONS[0]]):
        subprocess.run(
            [*RAG, *args, "--store", str(store)],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def build_corpus(folder: Path, files: int) -> int:
    """Generated documents plus every file of sample_docs/ in one folder; return the count."""
    make_corpus(folder, files)
    for path in sorted((ROOT / "sample_docs").iterdir()):
        if path.is_file():
            shutil.copy2(path, folder / path.name)
    return sum(1 for _ in folder.iterdir())


def row(
    name: str, rag: float, llamas: list[float], unit: str, digits: int = 1, inverse: bool = False
) -> Row:
    """One table row; each ratio is LlamaIndex/ragcli, or ragcli/LlamaIndex if inverse."""
    suffix = f" {unit}" if unit else ""
    values = [f"{value:,.{digits}f}{suffix}" for value in (rag, *llamas)]
    ratios = [
        f"{(rag / llama if inverse else llama / rag):.2f}x" if min(rag, llama) > 0 else "nan"
        for llama in llamas
    ]
    return (name, *values, *ratios)


@dataclass
class Bench:
    """One run's scratch space, runners and what has been measured so far."""

    scratch: Path
    corpus: Path
    files: int
    llamas: list[LlamaIndexRunner]
    llm_path: str
    rows: list[Row] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def store(self) -> Path:
        return self.scratch / "ragcli-store"

    def ask_flags(self) -> list[str]:
        """`rag ask` options spelling out the shared settings, whatever the defaults become."""
        return [
            "--store",
            str(self.store),
            "--top-k",
            str(TOP_K),
            "--max-tokens",
            str(MAX_TOKENS),
            "--temperature",
            "0",
            "--context-tokens",
            str(CONTEXT_TOKENS),
            "--threads",
            str(THREADS),
        ]


def measure_ingest(bench: Bench) -> None:
    """Ingest and index the corpus with each system; count the chunks."""
    print(f"ingesting {bench.files} files with ragcli", file=sys.stderr)
    rag = run_to_file(
        [*RAG, "ingest", str(bench.corpus), "--store", str(bench.store), "-q"],
        bench.scratch / "rag-ingest.txt",
    )
    status = rag_status(bench.store)
    bench.results["ragcli_chunking"] = status["chunking"]
    llamas, chunks = [], {"ragcli": int(status["chunks"])}
    for llama in bench.llamas:
        print(f"indexing {bench.files} files with {llama.config.label}", file=sys.stderr)
        run, built = llama.run("build")
        llamas.append(run)
        chunks[llama.config.key] = int(built["chunks"])
    # Unmeasured: how much of each chunk the embedder actually read.
    bench.results["embedded"] = {llama.config.key: llama.run("count")[1] for llama in bench.llamas}
    bench.results["chunks"] = chunks
    bench.rows += [
        row(
            f"ingest+index {bench.files} files: wall time",
            rag.seconds,
            [run.seconds for run in llamas],
            "s",
        ),
        row("ingest+index: peak RSS", rag.peak_mib, [run.peak_mib for run in llamas], "MiB", 0),
        row(
            "chunks in the index",
            chunks["ragcli"],
            [chunks[llama.config.key] for llama in bench.llamas],
            "",
            0,
        ),
    ]


def measure_batch(bench: Bench) -> None:
    """Ask all QUESTIONS in one process of each system."""
    print(f"asking {len(QUESTIONS)} questions in one process, each system", file=sys.stderr)
    batch = "\n".join(QUESTIONS) + "\n"
    rag = run_to_file(
        [*RAG, "ask", "-", "--json", *bench.ask_flags()],
        bench.scratch / "rag-batch.jsonl",
        stdin=batch,
    )
    rag_answers = [json.loads(line) for line in rag.output.splitlines() if line]
    bench.results["ragcli_batch"] = rag_answers
    runs, lengths = [], []
    for llama in bench.llamas:
        run, out = llama.run("ask-batch", stdin=batch)
        runs.append(run)
        bench.results[f"{llama.config.key}_batch"] = out["answers"]
        lengths.append(answer_tokens(bench.llm_path, [a["answer"] for a in out["answers"]]))
    count = len(QUESTIONS)
    bench.rows += [
        row(
            f"batch ask, {count} questions: wall time",
            rag.seconds,
            [run.seconds for run in runs],
            "s",
        ),
        row(
            "batch ask: throughput",
            count / rag.seconds,
            [count / run.seconds for run in runs],
            "questions/s",
            3,
            inverse=True,
        ),
        row("batch ask: peak RSS", rag.peak_mib, [run.peak_mib for run in runs], "MiB", 0),
        row(
            "batch ask: mean answer length",
            answer_tokens(bench.llm_path, [a["answer"] for a in rag_answers]),
            lengths,
            "tokens",
        ),
    ]


def measure_cold(bench: Bench) -> None:
    """Ask QUESTIONS[0] in a fresh process of each system, the index already built."""
    print("asking one question in a cold process, each system", file=sys.stderr)
    question = QUESTIONS[0]
    rag = run_to_file([*RAG, "ask", question, *bench.ask_flags()], bench.scratch / "rag-one.txt")
    bench.results["ragcli_one"] = rag.output
    runs = []
    for llama in bench.llamas:
        run, out = llama.run("ask-one", question=question)
        runs.append(run)
        bench.results[f"{llama.config.key}_one"] = out
    bench.rows += [
        row("cold single ask: wall time", rag.seconds, [run.seconds for run in runs], "s", 2),
        row("cold single ask: peak RSS", rag.peak_mib, [run.peak_mib for run in runs], "MiB", 0),
    ]


def print_notes(results: dict[str, Any], configs: list[LlamaConfig]) -> None:
    """Per LlamaIndex configuration: what MiniLM read, LLM calls, prompt sizes; the answers."""
    print()
    for config in configs:
        embedded = results["embedded"][config.key]
        answers = results[f"{config.key}_batch"]
        calls = statistics.mean(a["llm_calls"] for a in answers)
        prompt_tokens = statistics.mean(a["prompt_tokens"] for a in answers)
        print(
            f"{config.label}: {embedded['cut']:,} of {embedded['chunks']:,} chunks longer "
            f"than the {embedded['limit']} word pieces MiniLM reads, which read "
            f"{embedded['read'] / embedded['chunks']:.0f} of "
            f"{embedded['total'] / embedded['chunks']:.0f} per chunk (mean); "
            f"{calls:.2f} LLM calls and {prompt_tokens:.0f} prompt tokens per question "
            "(mean over the batch)"
        )
    print(f"answers to {QUESTIONS[0]!r} (first 100 characters):")
    width = max(len(label) for label in ["ragcli", *(c.label for c in configs)]) + 1
    rag_answer = results["ragcli_one"].split("\n\n")[0].strip()
    print(f"  {'ragcli:':{width}} {rag_answer[:100]!r}")
    for config in configs:
        answer = results[f"{config.key}_one"]["answers"][0]["answer"]
        print(f"  {config.label + ':':{width}} {answer[:100]!r}")


def parse_configs(text: str) -> list[LlamaConfig]:
    """The LlamaIndex configurations named in a comma-separated list, in that order."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in CONFIGS]
    if unknown or not names:
        raise SystemExit(
            f"--configs takes a comma-separated list of {', '.join(CONFIGS)}; got {text!r}"
        )
    return [CONFIGS[name] for name in dict.fromkeys(names)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=800, help="generated corpus files")
    parser.add_argument(
        "--configs",
        default="default,256",
        help=f"LlamaIndex configurations to compare, of {', '.join(CONFIGS)}",
    )
    args = parser.parse_args()
    configs = parse_configs(args.configs)
    ensure_llamaindex()
    os.environ["HF_HUB_OFFLINE"] = "1"
    models = bundled_models()
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        corpus = scratch / "corpus"
        files = build_corpus(corpus, args.files)
        llamas = [LlamaIndexRunner(scratch, corpus, models, config) for config in configs]
        bench = Bench(scratch, corpus, files, llamas, models[1])
        print("warming ragcli's model cache (unmeasured)", file=sys.stderr)
        warm_ragcli(scratch)
        measure_ingest(bench)
        # The batch goes before the cold ask: it also brings both model files into the page
        # cache, so the cold asks compare processes, not disk reads.
        measure_batch(bench)
        measure_cold(bench)
    print_comparison(bench.rows, configs, bench.results["ragcli_chunking"])
    print_notes(bench.results, configs)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"files": files, **bench.results}, indent=1))
    print(f"answers and LlamaIndex's first prompts: {RESULTS.relative_to(ROOT)}", file=sys.stderr)


def print_comparison(
    rows: list[Row], configs: list[LlamaConfig], rag_chunking: dict[str, int]
) -> None:
    """Print every system's measures side by side, naming the machine like print_table."""
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(
        f"ragcli vs LlamaIndex ({machine}, bundled models, top-k {TOP_K}, "
        f"max {MAX_TOKENS} new tokens, {THREADS} threads)"
    )
    print(
        "ratio: LlamaIndex/ragcli, but ragcli/LlamaIndex for questions/s; above 1 favours "
        "ragcli, except for chunks"
    )
    for config in configs:
        if config.chunk_tokens is not None:
            print(
                f"{config.label}: chunk_size={config.chunk_tokens}, "
                f"chunk_overlap={config.overlap_tokens} (LlamaIndex's tiktoken tokens); "
                f"ragcli: {rag_chunking['chunk_tokens']}-token chunks, "
                f"{rag_chunking['overlap_tokens']} overlapping, in MiniLM word pieces"
            )
    labels = [config.label for config in configs]
    ratios = [f"ratio {label.removeprefix('LlamaIndex ')}" for label in labels]
    if len(configs) == 1:
        labels, ratios = ["LlamaIndex"], ["ratio"]
    header = ("measure", "ragcli", *labels, *ratios)
    widths = [max(len(cells[i]) for cells in [header, *rows]) for i in range(len(header))]
    for cells in [header, *rows]:
        padded = (cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
        print("  ".join(padded).rstrip())


if __name__ == "__main__":
    main()
