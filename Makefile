# Pitlane: every target installs what it needs into .venv first.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PLAYWRIGHT_BROWSERS_PATH ?= 0

.PHONY: install system-deps demo test lint bench serve clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Reinstall when the dependency list changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q 'torch==2.13.0'
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

system-deps:
	@bash scripts/system-deps.sh

# Byte-compile our own packages: with PYTHONDONTWRITEBYTECODE set (as on this image) Python never caches
# them itself, and every `pitlane` call would recompile what it imports (~0.1 s). Stale files are ignored.
install: $(STAMP) system-deps
	@$(BIN)/python -m compileall -q toolkit registry

demo: install
	$(BIN)/python -m toolkit.demo

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/run_all.py

serve: install
	$(BIN)/pitlane serve

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
