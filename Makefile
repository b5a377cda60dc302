# Every target works on a fresh machine with only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# crypto: TokenCipher (stored tokens encrypted with Fernet), which the token store tests use.
# metrics: prometheus_client, for the metrics tests' scrapes.
# webhooks: fastapi and uvicorn, for examples/fastapi_webhooks.py and its test.
EXTRAS := dev,emulator,redis,aiohttp,bench,cli,postgres,jwt,fleet,crypto,metrics,webhooks
STAMP := $(VENV)/.installed

.PHONY: install test soak lint typecheck demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check drchrono_async tests benchmarks examples
	$(BIN)/ruff format --check drchrono_async tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy --strict drchrono_async

# -n 2: two test processes (pytest-xdist); a failure in either fails the run.
test: lint typecheck
	$(BIN)/python -m pytest -q -n 2

# The full-size versions of the slowest tests (more records, more kills, longer windows):
# run before a release, not by CI.
soak: $(STAMP)
	$(BIN)/python -m pytest -q -m soak

demo: $(STAMP)
	$(BIN)/python -m drchrono_async.cli demo

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
