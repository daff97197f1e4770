# Pitlane: every target installs what it needs into .venv first, from the committed locks in locks/.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := locks/dev.txt
# The lock pins torch's CPU build (torch==2.13.0+cpu): on the development machines it lies on disk in /opt/wheels
# (named here too: not every user's pip config points there); elsewhere (GitHub's runners, a laptop) it comes from
# PyTorch's CPU index. PyPI has only CUDA builds.
TORCH_LINKS := --find-links $(if $(wildcard /opt/wheels/torch-*+cpu-*.whl),/opt/wheels,https://download.pytorch.org/whl/cpu/torch/)
export PLAYWRIGHT_BROWSERS_PATH ?= 0

.PHONY: install system-deps demo test lint lock lock-upgrade check-locks bench serve clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Reinstall when the lock changes: exactly the locked, hash-checked set (no resolver, no newest-of-the-day),
# then drop what an older lock installed. pyproject.toml only keeps ranges; `make lock` turns them into pins.
$(STAMP): $(LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --require-hashes --no-deps $(TORCH_LINKS) -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python scripts/locks.py prune $(BIN)/python $(LOCK)
	touch $(STAMP)

system-deps:
	@bash scripts/system-deps.sh

# Byte-compile our own packages: with PYTHONDONTWRITEBYTECODE set (as on this image) Python never caches
# them itself, and every `pitlane` call would recompile what it imports (~0.1 s). Stale files are ignored.
install: $(STAMP) system-deps
	@$(BIN)/python -m compileall -q toolkit registry

# Relock after editing pyproject.toml or locks/*.in (other pins stay), then install. `make lock-upgrade` moves
# every pin to the newest release inside the ranges: do that on purpose, and run the suite.
lock:
	@test -x $(BIN)/uv || $(MAKE) $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python scripts/locks.py compile
	$(MAKE) install

lock-upgrade:
	@test -x $(BIN)/uv || $(MAKE) $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python scripts/locks.py upgrade
	$(MAKE) install

# Fails with one line per package when pyproject.toml and a lock disagree (a dependency added without `make lock`).
check-locks: $(STAMP)
	@$(BIN)/python scripts/locks.py check

demo: install
	$(BIN)/python -m toolkit.demo

test: install check-locks
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: install check-locks
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	bash scripts/bench-venv.sh
	$(BIN)/python bench/run_all.py

serve: install
	$(BIN)/pitlane serve

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
