# Two commands do all the set-up: `make demo` runs the main job, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEMO_DIR ?= exports/demo
DEMO := $(BIN)/annotate --workspace $(DEMO_DIR)/workspace

.PHONY: demo test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's dependencies change.
$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,server]'
	touch $@

demo: $(INSTALLED)
	$(DEMO) demo-corpus --out $(DEMO_DIR)/posts.jsonl
	$(DEMO) ingest $(DEMO_DIR)/posts.jsonl --source demo
	$(DEMO) posts stats

test: $(INSTALLED)
	$(BIN)/python -m pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(INSTALLED)
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(DEMO_DIR) .pytest_cache
