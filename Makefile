# Everything a fresh machine with Python 3.11 needs: `make demo` and `make test`.
#
# Installs go through constraints.txt: every package of the dev environment
# pinned, so that a new release of a lint or docs tool cannot break `make test`
# on the day it appears. The library's own dependencies stay ranges in
# pyproject.toml (what `pip install arkor_rx` resolves); `make constraints`
# re-resolves them all in a scratch venv, on purpose, and rewrites the file.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
STAMP_RUN := $(VENV)/.installed
CONSTRAINTS := constraints.txt
# setuptools announces "Editable installation." as a warning on every editable
# install (its InformationOnly category): nothing for the user to act on.
PIP_INSTALL = PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install -q \
	--disable-pip-version-check -c $(CONSTRAINTS)

.PHONY: demo test lint types unit docs bench fuzz clean install dev pictures constraints

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP_INSTALL) -e .
	touch $@

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP_INSTALL) -e '.[dev]'
	touch $@ $(STAMP_RUN)

# Re-resolve the dev environment from pyproject.toml's ranges and pin it.
constraints:
	rm -rf .venv-constraints
	$(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	( echo "# The dev environment of \`make test\`, pinned; regenerate with \`make constraints\`."; \
	  .venv-constraints/bin/python -m pip freeze --exclude-editable ) > $(CONSTRAINTS)
	rm -rf .venv-constraints

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

# Strict and not quiet: with --quiet mkdocs logs no warning, and --strict would
# have nothing to count. A broken docstring or cross-reference fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

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
