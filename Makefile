# Every target creates .venv and installs what it needs; a fresh clone needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config/demo.yaml
# HOST and PORT are passed only when given (`make run PORT=9000`), so GATEWAY_HOST and
# GATEWAY_PORT still apply; the defaults are 127.0.0.1:8080.
HOST ?=
PORT ?=

.PHONY: run test lint typecheck unit bench bench-instructions soak clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/gateway serve --config $(CONFIG) $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check gateway tests bench
	$(BIN)/ruff format --check gateway tests bench

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

test: $(VENV)/.installed-dev
	$(BIN)/ruff check gateway tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -p no:cacheprovider

unit: $(VENV)/.installed-dev
	$(BIN)/pytest -q tests/unit

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.run

bench-instructions: $(VENV)/.installed-dev
	$(BIN)/python -m bench.instructions

soak: $(VENV)/.installed-dev
	$(BIN)/python -m bench.soak

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
