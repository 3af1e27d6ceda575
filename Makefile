# The two commands a newcomer needs: `make demo` and `make test`. Each does its own set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit bench chaos compiled kafka-up kafka-down clean

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

# Three full chaos runs (tests/chaos/) on the local 3-node cluster, each with its own seed;
# the first kills no dialer (then the calls must be exactly simulate's forecast).
CHAOS_SEEDS ?= 11 22 33
chaos: install
	$(BIN)/campaignflow kafka up --brokers 3
	@rc=0; first=1; for seed in $(CHAOS_SEEDS); do \
	  if [ $$first = 1 ]; then spare=--spare-dialers; else spare=; fi; first=0; \
	  $(BIN)/python -m tests.chaos.run --seed $$seed $$spare || rc=1; \
	done; exit $$rc

kafka-up: install
	$(BIN)/campaignflow kafka up

kafka-down: install
	$(BIN)/campaignflow kafka down

clean:
	-$(BIN)/campaignflow dev down
	rm -rf $(VENV) .campaignflow
