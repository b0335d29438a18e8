# lapsewatch: the two commands are `make run` and `make test`. Both set up what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
SAM_VENV  := .venv-sam
BIN       := $(VENV)/bin
STAMP     := $(VENV)/.installed
SAM_STAMP := $(SAM_VENV)/.installed
SAM_CLI_VERSION ?= 1.170.0
# `make lock` alone uses uv, in a throwaway venv; installs and CI only read the lock it writes.
UV_VERSION ?= 0.13.8
LOCK      := requirements.lock
LAYER_REQUIREMENTS := layers/lapsewatch/requirements.txt

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

.PHONY: help install lock test test-unit run check lint validate build bench bench-scale installed-check docs docs-serve clean python313

help:
	@echo "make run        one whole daily sweep, offline, on the demo registry"
	@echo "make test       the whole test suite (installs first if needed)"
	@echo "make check DOMAIN=example.com   check domains or addresses (several: DOMAIN='a.com b.org')."
	@echo "                Prints the table, then what a nonzero exit status means; unsafe (1) and"
	@echo "                unknown/invalid (3) still end make with 0. For the status itself, run"
	@echo "                .venv/bin/lapsewatch check DOMAIN (0 safe, 1 unsafe, 3 unknown/invalid, 2 usage)."
	@echo "make lint       ruff and mypy"
	@echo "make validate   sam validate --lint;  make build   sam build"
	@echo "make bench      the benchmarks, written to docs/benchmarks.md"
	@echo "make docs       the documentation site (mkdocs.yml, docs/) into site/, strictly: a broken link fails"
	@echo "make docs-serve the same, served at http://127.0.0.1:8000 with live reload"
	@echo "make bench-scale   only the dispatcher and cost benchmarks at 10,000,000 addresses"
	@echo "make installed-check   the wheel in a fresh venv, its first commands run outside the checkout"
	@echo "make install    .venv from $(LOCK) (pinned, hashed), then this package, editable"
	@echo "make lock       re-pin $(LOCK) from pyproject.toml (keeps current pins; to upgrade:"
	@echo "                make lock LOCK_ARGS=--upgrade, or LOCK_ARGS='--upgrade-package NAME'),"
	@echo "                sync .venv, and regenerate $(LAYER_REQUIREMENTS) from it"

python313:
	@if [ -z "$(PY313)" ]; then \
	  echo "error: Python 3.13 not found (the Lambda runtime this project targets)." >&2; \
	  echo "  Looked for: \$$PYTHON, python3.13 on PATH, ~/.pyenv/versions/3.13*/bin/python3.13." >&2; \
	  echo "  Install it (e.g. 'pyenv install 3.13') or run: make PYTHON=/path/to/python3.13 ..." >&2; \
	  exit 1; fi

install: $(STAMP)

# Every dependency from the lock, hash-checked; then the package itself, without resolving anything.
# An existing venv is brought to the lock's versions (packages dropped from the lock stay until
# `make clean install`).
$(STAMP): pyproject.toml $(LOCK) | python313
	@echo "Installing $(VENV) with $(PY313) from $(LOCK)"
	"$(PY313)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

# The lock: pyproject.toml's dependencies with the dev extra, resolved for Linux x86_64 CPython
# 3.13 (the Lambda runtime, and CI's machine), with hashes. Then the layer's requirements, which
# scripts/lock.py derives from it (tests/unit/test_lock.py checks they agree).
LOCK_ARGS ?=
lock: | python313
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	echo "uv $(UV_VERSION) in a throwaway venv ($$tmp)" && \
	"$(PY313)" -m venv "$$tmp/venv" && \
	"$$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)" && \
	"$$tmp/venv/bin/uv" pip compile pyproject.toml --extra dev --generate-hashes \
	  --python-version 3.13 --python-platform x86_64-manylinux_2_28 \
	  --custom-compile-command "make lock" $(LOCK_ARGS) -o $(LOCK) >/dev/null
	@$(MAKE) --no-print-directory install
	$(BIN)/python scripts/lock.py --write

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

run: $(STAMP)
	$(BIN)/lapsewatch run

# The table, then the exit status in words. Unsafe (1) and unknown/invalid (3) are answers, not
# failures of make: the recipe ends 0 after saying so. A usage error (2) or anything else fails.
# Scripts that need the status run $(BIN)/lapsewatch check directly.
CHECK_STATUSES := 0 all safe, 1 any unsafe, 3 some unknown or invalid, 2 usage error
check: $(STAMP)
	@$(BIN)/lapsewatch check $(DOMAIN); status=$$?; \
	case $$status in \
	  0) ;; \
	  1) echo "exit status 1: some unsafe ($(CHECK_STATUSES))";; \
	  3) echo "exit status 3: none unsafe, but some unknown or invalid ($(CHECK_STATUSES))";; \
	  2) echo "exit status 2: usage error (see $(BIN)/lapsewatch check --help)" >&2; exit 2;; \
	  *) echo "exit status $$status: lapsewatch check failed" >&2; exit $$status;; \
	esac

lint: $(STAMP)
	$(BIN)/ruff check layers tools functions tests bench scripts
	$(BIN)/ruff format --check layers tools functions tests bench scripts
	$(BIN)/mypy layers/lapsewatch/lapsewatch tools/lapsewatch_tools scripts

$(SAM_STAMP): | python313
	"$(PY313)" -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check "aws-sam-cli==$(SAM_CLI_VERSION)"
	@touch $@

validate: $(SAM_STAMP)
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --region $(AWS_DEFAULT_REGION)

LAYER_BUILD := .aws-sam/build/LapsewatchLayer/python

build: $(SAM_STAMP) $(STAMP)
	@# The layer installs $(LAYER_REQUIREMENTS): it must be what the lock gives.
	$(BIN)/python scripts/lock.py --check
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build --region $(AWS_DEFAULT_REGION)
	@# The layer ships the runtime alone (layers/lapsewatch/lapsewatch), none of the tools that
	@# never run in AWS: they are a package of their own, which only an install of this project's
	@# wheel (a requirement naming it) could bring into the layer.
	@if ls -d $(LAYER_BUILD)/lapsewatch_tools 2>/dev/null; then \
	  echo "error: the built layer contains tools (above)" >&2; exit 1; fi
	@echo "the built layer holds the runtime package alone"

# The wheel in a fresh venv (from the lock), each first command run from outside the checkout.
installed-check: $(STAMP)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(BIN)/python -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$$tmp/dist" . && \
	"$(PY313)" -m venv "$$tmp/venv" && \
	"$$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes -r $(LOCK) && \
	"$$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "$$tmp"/dist/*.whl && \
	"$$tmp/venv/bin/python" scripts/installed_check.py

bench: $(STAMP)
	$(BIN)/python -m bench

# The site: MkDocs with Material (the `docs` extra, in the dev venv and the lock). Strict, so a
# broken link or anchor, a missing page or one left out of the nav fails; no network needed. (The
# variable silences Material's notice of its end of life, May 2027, on every build.)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict

# Benchmarks 6 and 7 alone: the dispatcher and the cost at 10,000,000 addresses (make bench runs
# them too, after the others).
bench-scale: $(STAMP)
	$(BIN)/python -m bench dispatcher cost --addresses 10000000

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache site
