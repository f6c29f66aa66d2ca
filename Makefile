# Everything a fresh machine with Python 3.11 needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
STAMP_RUN := $(VENV)/.installed

.PHONY: demo test lint types unit docs bench fuzz clean install dev pictures

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	PYTHONWARNINGS="ignore:Editable installation:UserWarning" $(BIN)/python -m pip install -q -e .
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(STAMP_RUN)

install: $(STAMP_RUN)
dev: $(STAMP)

demo: $(STAMP_RUN)
	$(BIN)/arkor-rx demo

lint: $(STAMP)
	$(BIN)/ruff check arkor_rx tests bench tools
	$(BIN)/ruff format --check arkor_rx tests bench tools

types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint types unit docs

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The README's and the docs' pictures, from real runs (needs chromium; not part of CI).
pictures: $(STAMP)
	$(BIN)/python tools/pictures.py

bench: $(STAMP)
	$(MAKE) -C bench PYTHON=$(abspath $(BIN)/python)

# Outside CI: a longer chaos soak of the event stream, then an atheris
# (libFuzzer) run of the SSE decoder and the batch parse (atheris from PyPI,
# installed here on demand: it is not a dev dependency).
FUZZ_RUNS ?= 200000
SOAK_EVENTS ?= 3000
SOAK_SEEDS ?= 11,12,13,14,15,16
fuzz: $(STAMP)
	ARKOR_SOAK_EVENTS=$(SOAK_EVENTS) ARKOR_SOAK_SEEDS=$(SOAK_SEEDS) \
		$(BIN)/python -m pytest -q -p no:cacheprovider tests/core/test_soak.py
	$(BIN)/python -m pip install -q atheris
	$(BIN)/python tests/fuzz/fuzz_decoder.py -atheris_runs=$(FUZZ_RUNS) -max_len=4096

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache
