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

# The loop on the demo corpus: ingest, a local Label Studio (started and stopped here unless
# LABEL_STUDIO_URL/LABEL_STUDIO_API_KEY point at one), project, sample + push, simulated
# annotators, pull, status and the agreement report. Run it again for the next batch.
demo: $(INSTALLED)
	$(DEMO) demo-loop
	$(DEMO) posts stats

test: $(INSTALLED)
	$(BIN)/python -m pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Each benchmark compares with its peer in the same run; results go to benchmarks/RESULTS.md.
bench: $(INSTALLED)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/agreement.py
	$(BIN)/python benchmarks/aggregation.py
	$(BIN)/python benchmarks/loop.py
	$(BIN)/python benchmarks/publish.py

clean:
	rm -rf $(DEMO_DIR) .pytest_cache
