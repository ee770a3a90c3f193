# Two commands on a fresh machine: `make run` starts the app and its job worker, `make test` runs the checks.
# Each sets up .venv from the requirement files, and skips the install when they have not changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
PORT ?= 8501
PYTEST_ARGS ?=

.PHONY: run test lint bench clean

run: $(RUN_STAMP)
	$(PY) -m tlcore serve --port $(PORT)

test: $(TEST_STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(PY) -m ruff check .

bench: $(TEST_STAMP)
	$(PY) benchmarks/bench_features.py

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUN_STAMP): requirements.txt requirements-nodeps.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $@

$(TEST_STAMP): requirements.txt requirements-dev.txt $(RUN_STAMP) | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
