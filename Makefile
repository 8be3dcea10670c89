# Agent Workbench: the two commands a fresh machine needs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Two install levels: `run` needs only what serving needs; `test` adds the test tools and the offline
# embedding model (PyTorch). Each level has its own stamp, so `make test` after `make run` adds the rest.
RUN_STAMP  := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint bench lab install install-run browser clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml constraints.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e . -c constraints.txt
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml constraints.txt | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[dev]' -c constraints.txt
	touch $(RUN_STAMP) $(TEST_STAMP)

install-run: $(RUN_STAMP)
install: $(TEST_STAMP)

## Everything in one process on the embedded PostgreSQL: API + WebSocket on :8006, executor.
run: $(RUN_STAMP)
	$(BIN)/workbench db migrate
	$(BIN)/workbench run examples/hello_agent.json --input name=World
	$(BIN)/workbench up

## The browser tests drive Debian's chromium (never a downloaded browser); the deploy tests check the
## Prometheus rules with Debian's promtool (package prometheus); the virus scanning tests start Debian's
## clamd (clamav-daemon) on a signature database they make (freshclam is never run). Install them when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "the browser tests need chromium: sudo apt-get install -y chromium" >&2; fi; }
	@command -v promtool >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
	    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }; \
	  else echo "the deploy tests need promtool: sudo apt-get install -y prometheus" >&2; fi; }
	@[ -x /usr/sbin/clamd ] || command -v clamd >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clamav-daemon clamav >/dev/null \
	    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clamav-daemon clamav >/dev/null; }; \
	  else echo "the virus scanning tests need clamd: sudo apt-get install -y --no-install-recommends clamav-daemon clamav" >&2; fi; }

## Run the whole test suite against real PostgreSQL (embedded, started by the tests) in TEST_WORKERS
## processes (pytest-xdist), each with its own embedded database and servers, given a test file at a
## time (a file's tests share their fixtures). `$(BIN)/pytest` alone runs it in one process.
TEST_WORKERS ?= 2
test: $(TEST_STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## JupyterLab on the example notebooks; the kernel starts the local platform on demand (%load_ext kernel_ext).
lab: $(TEST_STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

## Measured targets (prints JSON figures).
bench: $(TEST_STAMP)
	$(BIN)/python tests/benchmarks/bench_engine.py
	$(BIN)/python tests/benchmarks/bench_api.py
	$(BIN)/python tests/benchmarks/bench_notebook.py
	$(BIN)/python tests/benchmarks/bench_cli.py
	$(BIN)/python tests/benchmarks/bench_sandbox.py
	$(BIN)/python tests/benchmarks/bench_oneshot.py
	$(BIN)/python tests/benchmarks/bench_execute_wait.py
	$(BIN)/python tests/benchmarks/bench_ui.py
	$(BIN)/python tests/benchmarks/bench_notify.py
	$(BIN)/python tests/benchmarks/bench_metrics.py
	$(BIN)/python tests/benchmarks/bench_dbmanager.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
