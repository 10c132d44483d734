# newswatch: `make run` (the monitor on the embedded local stack) and `make test` (the suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Wheels are kept outside the clone, so a fresh clone does not download PyTorch
# (several GB) again: `pip download` skips files it already has, and the install
# then reads only the wheelhouse.
CACHE_DIR ?= $(or $(NEWSWATCH_CACHE_DIR),$(shell [ "$$(id -u)" = 0 ] && echo /var/cache/newswatch || echo $${XDG_CACHE_HOME:-$$HOME/.cache}/newswatch))
WHEELHOUSE := $(CACHE_DIR)/wheels
export HF_HUB_OFFLINE := 1

.PHONY: run test lint unit integration stack-up stack-down browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	mkdir -p $(WHEELHOUSE)
	$(BIN)/pip download --quiet --dest $(WHEELHOUSE) 'setuptools>=68' wheel '.[dev]'
	$(BIN)/pip install --quiet --no-index --find-links $(WHEELHOUSE) -e '.[dev]'
	touch $(STAMP)

## The monitor on the embedded local Kafka + Elasticsearch.
run: $(STAMP)
	$(BIN)/newswatch run

## The whole suite against the real servers (started here when not running).
test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/newswatch stack up
	$(BIN)/pytest

## Debian's Chromium + chromedriver for the board's browser tests (apt-get when missing).
browser: $(STAMP)
	$(BIN)/python -c 'from pipelines.stack.browser import ensure_browser; print(ensure_browser())'

lint: $(STAMP)
	$(BIN)/ruff check .

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP) browser
	$(BIN)/pytest tests/integration

stack-up: $(STAMP)
	$(BIN)/newswatch stack up

stack-down: $(STAMP)
	$(BIN)/newswatch stack down

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
