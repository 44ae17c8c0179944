# Snap audience sync: developer commands. A new user needs `make serve`, `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed
# The Python worker's indexing code, for tests/test_worker_indexing.py only (never deployed).
# Its wheel requires Python 3.13; its loader runs on 3.11 without its dependencies.
WORKER_RUNTIME := .tools/azure-functions-runtime
STAMP_WORKER := $(WORKER_RUNTIME)/.installed

.PHONY: deps test test-fast lint typecheck unit demo bench bench-small serve sandbox screenshots clean

# Swagger UI's two files for the API reference page (/api/docs), copied from npm
# swagger-ui-dist into the app (git-ignored, deployed with it).
SWAGGER_DIR := shared/console/static/vendor
SWAGGER := $(SWAGGER_DIR)/swagger-ui-bundle.js $(SWAGGER_DIR)/swagger-ui.css

deps: $(STAMP_PY) $(STAMP_NODE) $(STAMP_WORKER) $(SWAGGER)

$(SWAGGER): $(STAMP_NODE)
	mkdir -p $(SWAGGER_DIR)
	cp node_modules/swagger-ui-dist/$(notdir $@) $@

$(STAMP_PY): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(STAMP_WORKER): $(STAMP_PY)
	$(PY) -m pip install --quiet --no-deps --ignore-requires-python --upgrade \
		--target $(WORKER_RUNTIME) azure-functions-runtime==1.3.0
	touch $@

$(STAMP_NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(STAMP_PY)
	$(PY) -m ruff check shared devtools tests function_app.py benchmarks
	$(PY) -m ruff format --check shared devtools tests function_app.py benchmarks

typecheck: $(STAMP_PY)
	$(PY) -m mypy

unit: deps
	$(PY) -m pytest -q

## make test: lint, format check, type check, then every test (starts its own Azurite).
test: lint typecheck unit

## make test-fast: the unit tests only (no Azurite, no Snap sandbox), in seconds.
test-fast: $(STAMP_PY)
	$(PY) -m pytest -q -m "not integration"

## make demo: a realistic export through the real functions into the Snap sandbox.
demo: deps
	$(PY) -m devtools.demo

## make bench: 1M and 10M profiles end to end against the hashing floor (long).
bench: deps
	$(PY) benchmarks/run.py --sizes 1000000,10000000

## make bench-small: the same benchmark at 50,000 profiles (CI runs it so it cannot rot).
BENCH_SMALL_OUT ?= benchmarks/results-small.md
bench-small: deps
	$(PY) benchmarks/run.py --sizes 50000 --out $(BENCH_SMALL_OUT)

## make serve: Azurite, the Snap sandbox, a sample export and the app with its console, in one
## terminal (prints the console URL; Ctrl-C stops everything).
PORT ?= 7071
serve: deps
	$(PY) -m devtools up --port $(PORT)

sandbox: deps
	$(PY) -m devtools.snap_sandbox --port 8765

## make screenshots: the console's pictures in docs/img/ (the README shows them), taken by the
## browser test of the seed flow (make test never rewrites them).
screenshots: deps
	CONSOLE_SCREENSHOTS=docs/img $(PY) -m pytest -q tests/test_console_browser.py -k seed_flow

clean:
	rm -rf $(VENV) node_modules .tools .pytest_cache .mypy_cache .ruff_cache .hypothesis $(SWAGGER_DIR)
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
