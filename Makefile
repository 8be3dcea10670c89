# Agent Workbench: the two commands a fresh machine needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench lab install clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -c constraints.txt
	touch $(STAMP)

install: $(STAMP)

## Everything in one process on the embedded PostgreSQL: API + WebSocket on :8006, executor.
run: $(STAMP)
	$(BIN)/workbench db migrate
	$(BIN)/workbench run examples/hello_agent.json --input name=World
	$(BIN)/workbench up

## Run the whole test suite against real PostgreSQL (embedded, started by the tests).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## JupyterLab on the example notebooks; the kernel starts the local platform on demand (%load_ext kernel_ext).
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

## Measured targets (prints JSON figures).
bench: $(STAMP)
	$(BIN)/python tests/benchmarks/bench_engine.py
	$(BIN)/python tests/benchmarks/bench_api.py
	$(BIN)/python tests/benchmarks/bench_notebook.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
