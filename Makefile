# The two commands a newcomer needs: `make demo` and `make test`. Each does its own set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit bench compiled kafka-up kafka-down clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

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

# The engine compiled with mypyc, in build/compiled-engine/<hash of the sources>.
compiled: install
	$(BIN)/python -m campaignflow.compiled

bench: install compiled
	$(BIN)/python benchmarks/run_all.py

kafka-up: install
	$(BIN)/campaignflow kafka up

kafka-down: install
	$(BIN)/campaignflow kafka down

clean:
	-$(BIN)/campaignflow dev down
	rm -rf $(VENV) .campaignflow
