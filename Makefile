# One-word entries; the README's two set-up commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_STORE := .demo-store
QUESTION ?= How many parameters does Grok-0 have?

.PHONY: setup demo test test-fast fuzz lint docs bench sample-pdf clean jq ocr

# torch is pinned by constraints.txt to the CPU build; an unpinned torch drags in CUDA.
# The optional engines (Milvus, Ray, MCP, OCR, --watch, serve) come too, so the tests run them for real.
# llama-cpp-python compiles llama.cpp for this CPU, but without AMX: some virtual machines
# list the AMX flags yet trap the tile instructions (every generation died with SIGILL).
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS := -DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)'
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -c constraints.txt -e '.[dev,milvus,ray,mcp,ocr,watch,serve]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/rag ingest sample_docs --store $(DEMO_STORE)
	$(BIN)/rag ask "$(QUESTION)" --store $(DEMO_STORE)

# The pipeline tests run rag in bash with jq; Debian's package when it is missing.
JQ := $(shell command -v jq)

jq:
ifeq ($(JQ),)
	apt-get install -y jq || sudo apt-get install -y jq || (apt-get update && apt-get install -y jq)
endif

# OCR of scanned PDFs and images runs Tesseract with English and Spanish data; Debian's
# packages when it is missing.
TESSERACT := $(shell command -v tesseract)
OCR_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-spa

ocr:
ifeq ($(TESSERACT),)
	apt-get install -y $(OCR_PACKAGES) || sudo apt-get install -y $(OCR_PACKAGES) || (apt-get update && apt-get install -y $(OCR_PACKAGES))
endif

test: setup jq ocr
	$(BIN)/python -m pytest

# Day to day: the unit and CLI tiers (tests/unit, tests/cli), less their tests of the real models.
test-fast: setup
	$(BIN)/python -m pytest tests/unit tests/cli -m "not e2e"

# The property tests (tests/cli/test_hostile.py) with fresh random draws, ten times as many:
# `make test` draws the same ones every run, so no random draw decides whether a change lands.
fuzz: setup jq ocr
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest tests/cli/test_hostile.py

# The parts of docs/ that cog generates from the code (docs/cog_helpers.py): the README as
# the front page, the settings table, every command's --help.
GENERATED_DOCS := docs/index.md docs/configuration.md docs/cli.md
COG := $(BIN)/cog -I docs

# ruff check, ruff format --check, mypy, the layering contract (pyproject.toml), the generated docs current and the site building
# without a warning (a broken link or anchor fails it): CI runs it before the tests.
lint: setup
	$(BIN)/ruff check ragcli tests bench docs
	$(BIN)/ruff format --check ragcli tests bench docs
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(COG) --check --diff --check-fail-msg "run make docs" $(GENERATED_DOCS)
	$(BIN)/mkdocs build --strict --quiet --site-dir site

# Regenerate the generated parts of docs/ and build the site into site/.
docs: setup
	$(COG) -r $(GENERATED_DOCS)
	$(BIN)/mkdocs build --strict --site-dir site

bench: setup
	$(BIN)/python bench/core_bench.py
	$(BIN)/python bench/load_bench.py
	$(BIN)/python bench/ingest_bench.py
	$(BIN)/python bench/ray_bench.py
	$(BIN)/python bench/prompt_eval.py --retrieval hybrid --retrieval dense
	$(BIN)/python bench/qa_bench.py
	$(BIN)/python bench/sync_bench.py
	$(BIN)/python bench/eval_bench.py
	$(BIN)/python bench/llamaindex_bench.py
	$(BIN)/python bench/scale_bench.py --sizes 10000,100000,1000000
	$(BIN)/python bench/hostile_bench.py

sample-pdf: setup
	$(BIN)/python tests/sample_pdf.py

clean:
	rm -rf $(VENV) $(DEMO_STORE) .pytest_cache .mypy_cache .ruff_cache site
