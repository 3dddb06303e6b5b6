# The commands the README names. Every target sets up what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CLI := $(BIN)/memgraph-pipelines
STAMP := $(VENV)/.installed
EVENTS ?= 20000
BENCH_EVENTS ?= 200000
BENCH_ROUNDS ?= 3

.PHONY: setup services-up services-down services-status demo test lint format ui bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

## setup: the virtualenv with the package and its dev tools
setup: $(STAMP)

## services-up / services-down / services-status: local Kafka (KRaft) and Neo4j
services-up: setup
	$(CLI) services up

services-down:
	$(CLI) services down

services-status:
	$(CLI) services status

## demo: services up, sample telemetry, the pipeline, a graph summary
demo: services-up
	eval "$$($(CLI) services env)" && \
	$(CLI) graph migrate && \
	$(CLI) generate --events $(EVENTS) && \
	$(CLI) catch-up && \
	echo "Graph summary:" && $(CLI) graph summary
	@echo
	@echo "Open the Dagster UI with: make ui   (then http://127.0.0.1:3000)"

## test: services up, then the whole test suite against them
test: services-up
	eval "$$($(CLI) services env)" && $(BIN)/pytest

## lint / format: ruff
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## ui: the Dagster UI and daemon (sensor on) for the local services
ui: services-up
	eval "$$($(CLI) services env)" && $(CLI) dagster-home && \
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

## bench: the end-to-end benchmark (BENCH_EVENTS=N to size it, BENCH_ROUNDS=K rounds)
bench: services-up
	eval "$$($(CLI) services env)" && $(CLI) bench --events $(BENCH_EVENTS) --rounds $(BENCH_ROUNDS)

clean:
	-$(CLI) services down
	rm -rf var
