# lapsewatch: the two commands are `make run` and `make test`. Both set up what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
SAM_VENV  := .venv-sam
BIN       := $(VENV)/bin
STAMP     := $(VENV)/.installed
SAM_STAMP := $(SAM_VENV)/.installed
SAM_CLI_VERSION ?= 1.170.0

# Python 3.13 is the Lambda runtime. Look for it in $PYTHON, on PATH, then under pyenv; a pyenv
# shim that exists but is not selected fails the version probe and is skipped.
PYTHON_CANDIDATES := $(PYTHON) python3.13 $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) \
	$(wildcard /usr/local/bin/python3.13 /usr/bin/python3.13 /opt/homebrew/bin/python3.13)
PY313 := $(firstword $(foreach p,$(PYTHON_CANDIDATES),$(shell "$(p)" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1 && echo "$(p)")))

DOMAIN ?= example.com
# Local runs and tests never reach AWS: fake credentials, one region.
export AWS_DEFAULT_REGION ?= us-east-1
export AWS_ACCESS_KEY_ID ?= testing
export AWS_SECRET_ACCESS_KEY ?= testing
# The SAM build needs python3.13 on PATH; the venv provides it.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help install test test-unit run check lint validate build bench clean python313

help:
	@echo "make run        one whole daily sweep, offline, on the demo registry"
	@echo "make test       the whole test suite (installs first if needed)"
	@echo "make check DOMAIN=example.com   check one domain or address"
	@echo "make lint       ruff and mypy"
	@echo "make validate   sam validate --lint;  make build   sam build"
	@echo "make bench      the benchmarks, written to docs/benchmarks.md"

python313:
	@if [ -z "$(PY313)" ]; then \
	  echo "error: Python 3.13 not found (the Lambda runtime this project targets)." >&2; \
	  echo "  Looked for: \$$PYTHON, python3.13 on PATH, ~/.pyenv/versions/3.13*/bin/python3.13." >&2; \
	  echo "  Install it (e.g. 'pyenv install 3.13') or run: make PYTHON=/path/to/python3.13 ..." >&2; \
	  exit 1; fi

install: $(STAMP)

$(STAMP): pyproject.toml layers/lapsewatch/requirements.txt | python313
	@echo "Creating $(VENV) with $(PY313)"
	"$(PY313)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

run: $(STAMP)
	$(BIN)/lapsewatch run

check: $(STAMP)
	$(BIN)/lapsewatch check $(DOMAIN)

lint: $(STAMP)
	$(BIN)/ruff check layers tools functions tests bench
	$(BIN)/ruff format --check layers tools functions tests bench
	$(BIN)/mypy layers/lapsewatch/lapsewatch tools/lapsewatch_tools

$(SAM_STAMP): | python313
	"$(PY313)" -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check "aws-sam-cli==$(SAM_CLI_VERSION)"
	@touch $@

validate: $(SAM_STAMP)
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --region $(AWS_DEFAULT_REGION)

LAYER_BUILD := .aws-sam/build/LapsewatchLayer/python

build: $(SAM_STAMP) $(STAMP)
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build --region $(AWS_DEFAULT_REGION)
	@# The layer ships the runtime alone: none of the tools that never run in AWS.
	@if ls -d $(LAYER_BUILD)/lapsewatch_tools $(LAYER_BUILD)/lapsewatch/local $(LAYER_BUILD)/lapsewatch/simulate.py \
	  $(LAYER_BUILD)/lapsewatch/cli.py $(LAYER_BUILD)/lapsewatch/registry/server.py 2>/dev/null; then \
	  echo "error: the built layer contains tools (above)" >&2; exit 1; fi
	@echo "the built layer holds the runtime package alone"

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
