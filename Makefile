# Two commands do all the set-up: `make demo` runs the main job, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEMO_DIR ?= exports/demo
DEMO := $(BIN)/annotate --workspace $(DEMO_DIR)/.annotate

.PHONY: demo demo-deps test lint format bench clean system-deps

# System packages (Debian names). The tests start their own PostgreSQL and drive Chromium; the
# charts of the agreement report need CJK and emoji fonts, so the demo needs those too; the
# Spark engine's tests run Spark in local mode, which needs Java 17 (a headless JRE); the
# browser tests drive Chromium through Playwright, whose bundled Node needs libatomic1 (not in a
# minimal Debian).
TEST_PACKAGES := python3-venv postgresql chromium libatomic1 fonts-noto-cjk fonts-noto-color-emoji openjdk-17-jre-headless
DEMO_PACKAGES := python3-venv fonts-noto-cjk fonts-noto-color-emoji
SYSTEM_PACKAGES ?= $(TEST_PACKAGES)
# Overridable for the Makefile's own tests (tests/test_makefile.py).
CHROMIUM ?= chromium
INITDB ?= initdb
JAVA ?= java
APT_GET ?= apt-get
DPKG ?= dpkg
USER_ID ?= $(shell id -u)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# Reinstall when the project's dependencies change (a few minutes the first time).
$(INSTALLED): pyproject.toml | $(BIN)/python
	@echo "Installing annotate and its dependencies into $(VENV) (Label Studio and Spark included) ..."
	$(BIN)/python -m pip install --progress-bar on -e '.[dev,server,spark]'
	touch $@

# Installs the missing SYSTEM_PACKAGES with apt-get when run as root; otherwise stops and
# prints the exact command to run.
system-deps:
	@missing=""; \
	for package in $(SYSTEM_PACKAGES); do \
	  case $$package in \
	    python3-venv) check='$(PYTHON) -c "import ensurepip, venv"' ;; \
	    postgresql) check='command -v $(INITDB) || ls /usr/lib/postgresql/*/bin/$(INITDB)' ;; \
	    chromium) check='command -v $(CHROMIUM)' ;; \
	    openjdk-17-jre-headless) check='$(JAVA) -version' ;; \
	    fonts-noto-cjk) check='fc-list | grep -qi "Noto Sans CJK"' ;; \
	    fonts-noto-color-emoji) check='fc-list | grep -qi "Noto Color Emoji"' ;; \
	    *) check='$(DPKG) -s '"$$package" ;; \
	  esac; \
	  sh -c "$$check" >/dev/null 2>&1 || missing="$$missing $$package"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$(USER_ID)" != 0 ]; then \
	  echo "Missing system packages:$$missing. Install them as root, then rerun make:" >&2; \
	  echo "  sudo apt-get update && sudo apt-get install -y$$missing" >&2; \
	  exit 1; \
	fi; \
	echo "Installing system packages:$$missing"; \
	$(APT_GET) update && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y$$missing

# The loop on the demo corpus: ingest, a local Label Studio (started and stopped here unless
# LABEL_STUDIO_URL/LABEL_STUDIO_API_KEY point at one), project, sample + push, simulated
# annotators, pull, status, the agreement report, adjudication and a published version; it ends
# with the next steps (how to log in to Label Studio, where the report and the dataset are).
# Run it again for the next batch.
demo: demo-deps $(INSTALLED)
	$(DEMO) demo-loop

# Before the virtual environment: Debian's own Python makes one only with python3-venv.
demo-deps:
	@$(MAKE) --no-print-directory system-deps SYSTEM_PACKAGES="$(DEMO_PACKAGES)"

test: system-deps $(INSTALLED)
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
	$(BIN)/python benchmarks/baseline.py
	$(BIN)/python benchmarks/active_learning.py
	$(BIN)/python benchmarks/label_issues.py
	$(BIN)/python benchmarks/neardup.py
	$(BIN)/python benchmarks/corpus.py

clean:
	rm -rf $(DEMO_DIR) .pytest_cache
