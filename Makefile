# newswatch: `make run` (the monitor on the embedded local stack) and `make test` (the suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint unit integration stack-up stack-down clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade-strategy only-if-needed -e '.[dev]'
	touch $(STAMP)

## The monitor on the embedded local Kafka + Elasticsearch.
run: $(STAMP)
	$(BIN)/newswatch run

## The whole suite against the real servers (started here when not running).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/newswatch stack up
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

stack-up: $(STAMP)
	$(BIN)/newswatch stack up

stack-down: $(STAMP)
	$(BIN)/newswatch stack down

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
