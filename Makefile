# Everything a fresh machine with Python 3.11 needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
STAMP_RUN := $(VENV)/.installed

.PHONY: demo test lint types unit docs bench clean install dev pictures

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
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

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache
