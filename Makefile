# The two commands a newcomer needs: `make demo` and `make test`. Each does its own set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Every library comes from requirements.lock (exact versions and hashes); `make lock`
# re-resolves pyproject.toml's ranges into it, on purpose, in a commit of its own.
LOCK := requirements.lock

.PHONY: install lock demo test lint typecheck unit bench kafka-up kafka-down clean

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

lock:
	@test -x $(BIN)/uv || { test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); $(BIN)/python -m pip install --quiet 'uv==0.13.8'; }
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--universal --no-header --output-file $(LOCK) --quiet

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: install lint typecheck
	$(BIN)/campaignflow kafka up
	$(BIN)/python -m pytest -q -p no:cacheprovider

unit: install
	$(BIN)/python -m pytest -q -m "unit or property"

demo: install
	$(BIN)/campaignflow demo

# Starts the broker the benchmarks need, as `make test` does.
bench: install
	$(BIN)/campaignflow kafka up
	$(BIN)/python benchmarks/run_all.py

kafka-up: install
	$(BIN)/campaignflow kafka up

kafka-down: install
	$(BIN)/campaignflow kafka down

clean:
	-$(BIN)/campaignflow dev down
	rm -rf $(VENV) .campaignflow
