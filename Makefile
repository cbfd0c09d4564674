# Atrium developer entry points. GNU make.
#
#   make venv       .venv with the locked dev requirements (re-installs when the lock changes)
#   make services   install what `make run` needs (apt, as root or with sudo), make sure
#                   PostgreSQL and Redis are up, create the database
#   make test       the same plus what the tests need (Chromium, PgBouncer), then
#                   black --check, ruff, lint-imports (the layers contract), pytest
#   make run        migrate, fill the spare pool, demo tenants + catalogs, worker, beat, uvicorn
#   make lock       re-compile requirements/*.txt from pyproject.toml (with hashes)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The first of python3.12, python3.13, python3 that is 3.12+ (a machine's python3 may be
# 3.11 next to an installed python3.12); check_python explains when none is.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(or $(shell for p in python3.12 python3.13 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 && { echo $$p; break; }; \
	done),python3)
endif
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Same flags for both lock files. The index/find-links settings of the machine's
# pip config must not leak into the committed lock files.
PIP_COMPILE_FLAGS := --quiet --generate-hashes --strip-extras --allow-unsafe \
	--no-emit-index-url --no-emit-find-links --no-emit-trusted-host
# e.g. `make lock LOCK_ARGS=--upgrade` or `make lock LOCK_ARGS="--upgrade-package django"`
LOCK_ARGS ?=
# Harmless warning that some machines' pip config (an extra file:// index that lacks
# most projects) prints once per package; filtered so real errors stay visible.
PIP_NOISE := is ignored: it is neither a file nor a directory

define check_python
	@ver="$$($(1) -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null || true)"; \
	if [ -z "$$ver" ]; then \
		echo "Atrium needs Python 3.12+; '$(1)' was not found or did not run." >&2; \
		echo "With pyenv: \`pyenv install 3.12\` (this repo's .python-version selects it), or run \`make PYTHON=/path/to/python3.12 ...\`" >&2; \
		exit 1; \
	fi; \
	if ! $(1) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)'; then \
		echo "Atrium needs Python 3.12+; found $$ver ($(1))." >&2; \
		echo "With pyenv: \`pyenv install 3.12\` (this repo's .python-version selects it), or run \`make PYTHON=/path/to/python3.12 ...\`" >&2; \
		exit 1; \
	fi
endef

.PHONY: help venv services test-services test run fmt lint lock bench clean

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

venv: $(STAMP)

$(BIN)/python:
	$(call check_python,$(PYTHON))
	$(PYTHON) -m venv $(VENV)

# Re-install only when the lock file is newer than the stamp.
$(STAMP): requirements/dev.txt | $(BIN)/python
	$(call check_python,$(BIN)/python)
	@echo "venv: installing the locked packages of requirements/dev.txt into $(VENV) (a minute or two the first time)"
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on --require-hashes \
		-r requirements/dev.txt 2> >(grep -v "$(PIP_NOISE)" >&2) \
		| { grep --line-buffered -v '^Requirement already satisfied' || true; }
	@echo "venv: ready"
	@touch $@

# System packages first: where they cannot be installed, this stops at once with the
# command to run, before a minute of pip.
services:
	bash scripts/ensure_services.sh --for run

test-services:
	bash scripts/ensure_services.sh --for test

# All four run even when one fails, so that one CI log shows every problem;
# the target fails if any of them did.
test: test-services venv
	@status=0; \
	echo "+ black --check ."; $(BIN)/black --check . || status=1; \
	echo "+ ruff check ."; $(BIN)/ruff check . || status=1; \
	echo "+ lint-imports"; $(BIN)/lint-imports || status=1; \
	echo "+ pytest"; $(BIN)/pytest || status=1; \
	exit $$status

run: services venv
	bash scripts/run.sh

fmt: venv
	$(BIN)/ruff check --fix .
	$(BIN)/black .

lint: venv
	$(BIN)/black --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

lock: venv
	$(BIN)/pip-compile $(PIP_COMPILE_FLAGS) $(LOCK_ARGS) -o requirements/base.txt pyproject.toml \
		2> >(grep -v "$(PIP_NOISE)" >&2)
	$(BIN)/pip-compile $(PIP_COMPILE_FLAGS) $(LOCK_ARGS) --extra dev -o requirements/dev.txt pyproject.toml \
		2> >(grep -v "$(PIP_NOISE)" >&2)

bench: services venv
	$(BIN)/python benchmarks/provisioning.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
