# healthscore — the two commands that matter:
#   make demo   set up, generate demo data on SQLite, score it, print, serve on :8000
#   make test   set up and run the whole test suite (SQLite + PostgreSQL + Redis)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HS := $(BIN)/healthscore

# Tests use the local services; override to point elsewhere.
export HEALTHSCORE_TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export HEALTHSCORE_TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: install demo serve test lint format bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(HS) demo --reset
	$(HS) serve

serve: install
	$(HS) serve

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: install
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.ingest --backend sqlite
	$(BIN)/python -m bench.ingest --backend postgresql

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .bench healthscore.db*
