# thinbase — two commands on a fresh machine:
#   make dev    install what is missing, bring up the local stack, serve the edge app with local fakes of
#               the payment providers, AI and email (Ctrl-C stops it)
#   make test   install what is missing, lint, then every test suite (pgTAP, pytest)
# Each dependency step is skipped when it is already satisfied, so warm runs are quick.

SHELL := /bin/bash
.DEFAULT_GOAL := help

APT_PACKAGES := postgresql-15 postgresql-15-pgtap postgresql-15-plpgsql-check postgresql-15-cron \
                libtap-parser-sourcehandler-pgtap-perl chromium chromium-driver
VENV := .venv
PY := $(VENV)/bin/python
THINBASE := $(VENV)/bin/thinbase

.PHONY: help dev test lint stack test-sql test-py bench deps apt-deps clean

help:
	@echo "make dev    local stack + edge app in the foreground"
	@echo "make test   lint + pgTAP + pytest (everything CI runs)"
	@echo "make lint   sqlfluff, supabase db lint, ruff, mypy"
	@echo "make bench  benchmarks (bench/results/)"

deps: apt-deps node_modules/.installed $(VENV)/.installed

# System packages: installed with apt when missing. Without root or passwordless sudo, stop and print the
# exact command to run.
apt-deps:
	@missing=""; \
	for pkg in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$pkg"; \
	done; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	python3 -m venv --help >/dev/null 2>&1 || missing="$$missing python3 python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; \
	  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	  else \
	    echo "Missing system packages:$$missing" >&2; \
	    echo "Run: sudo apt-get update && sudo apt-get install -y$$missing" >&2; \
	    exit 1; \
	  fi; \
	  echo "Installing system packages:$$missing"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq$$missing; \
	fi

# The Supabase CLI, pinned in package.json/package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The project and its dev extras, editable, in .venv/.
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

stack: deps
	$(THINBASE) local up

dev: stack
	$(THINBASE) serve --local --fakes

lint: stack
	$(VENV)/bin/sqlfluff lint --processes 2 supabase/migrations sql_tests
	$(THINBASE) db lint
	$(THINBASE) db schema --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test-sql: stack
	$(THINBASE) db test

test-py: stack
	$(VENV)/bin/pytest

test: deps lint test-sql test-py

# The plotting extra only `make bench` needs.
$(VENV)/.bench-installed: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[dev,bench]'
	@touch $@

bench: stack $(VENV)/.bench-installed
	$(PY) -m bench

clean:
	-$(THINBASE) local down
	rm -rf .local .venv node_modules
