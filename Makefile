# The two commands a newcomer needs: `make demo` and `make test`. Each does its own set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Every library comes from requirements.lock (exact versions and hashes); `make lock`
# re-resolves pyproject.toml's ranges into it, on purpose, in a commit of its own.
LOCK := requirements.lock

.PHONY: install lock demo test lint typecheck unit bench chaos kafka-up kafka-down clean chromium browser screenshots

CONSOLE := api/console
CONSOLE_VENDOR := $(CONSOLE)/static/vendor
CHROMIUM := /usr/bin/chromium

install: $(STAMP) $(CONSOLE_VENDOR)/.installed

# The console's third-party files (papaparse; axe-core for the browser tests) come from the
# npm registry through package-lock.json and are copied next to the console's own files.
$(CONSOLE_VENDOR)/.installed: $(CONSOLE)/package.json $(CONSOLE)/package-lock.json
	@command -v npm >/dev/null || { echo "make install: npm (Node.js) is needed for the web console's assets: apt-get install nodejs npm"; exit 1; }
	cd $(CONSOLE) && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(CONSOLE_VENDOR)
	cp $(CONSOLE)/node_modules/papaparse/papaparse.min.js $(CONSOLE_VENDOR)/
	@touch $@

# Debian's Chromium for the browser tests (Playwright never downloads a browser here).
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "The browser tests need Chromium at $(CHROMIUM): run 'sudo apt-get install chromium' (Debian) and retry."; exit 1; fi; \
	fi

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

# The session also runs the short chaos run (tests/chaos) on the local 3-node cluster,
# which it starts (and stops) itself; `make chaos` runs the full ones.
test: install lint typecheck chromium
	$(BIN)/campaignflow kafka up
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not browser"
	@# Playwright's sync API keeps an event loop running in the main thread for the whole
	@# session (asyncio.run() then fails in every later test): the browser tests get their own.
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/browser

# The web console in Chromium against a live local stack (tests/browser).
browser: install chromium
	$(BIN)/campaignflow kafka up
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/browser

# Regenerate the README's console screenshots (docs/screenshots/) from the browser tests.
screenshots: install chromium
	$(BIN)/campaignflow kafka up
	CAMPAIGNFLOW_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q -p no:cacheprovider tests/browser

unit: install
	$(BIN)/python -m pytest -q -m "unit or property"

demo: install
	$(BIN)/campaignflow demo

# Starts the broker the benchmarks need, as `make test` does.
bench: install
	$(BIN)/campaignflow kafka up
	$(BIN)/python benchmarks/run_all.py

# Three full chaos runs (tests/chaos/) on the local 3-node cluster, each with its own seed;
# the first kills no dialer (then the calls must be exactly simulate's forecast). Then the
# account scenario (two accounts of two campaigns: scarce lines, inbound calls, shared
# Florida numbers; tests/chaos/accounts.py) for each of CHAOS_ACCOUNT_SEEDS.
CHAOS_SEEDS ?= 11 22 33
CHAOS_ACCOUNT_SEEDS ?= 44
chaos: install
	$(BIN)/campaignflow kafka up --brokers 3
	@rc=0; first=1; for seed in $(CHAOS_SEEDS); do \
	  if [ $$first = 1 ]; then spare=--spare-dialers; else spare=; fi; first=0; \
	  $(BIN)/python -m tests.chaos.run --seed $$seed $$spare || rc=1; \
	done; \
	for seed in $(CHAOS_ACCOUNT_SEEDS); do \
	  $(BIN)/python -m tests.chaos.run --seed $$seed --accounts || rc=1; \
	done; exit $$rc

kafka-up: install
	$(BIN)/campaignflow kafka up

kafka-down: install
	$(BIN)/campaignflow kafka down

clean:
	-$(BIN)/campaignflow dev down
	rm -rf $(VENV) .campaignflow
