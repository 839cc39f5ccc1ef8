# Casework: `make run` sets up and runs the system with demo data; `make test` runs every test on both
# engine pairs. Both need only Python 3.11 and make; `make test` installs the Debian packages it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000
SIMULATE ?= 0.2

.PHONY: run test screenshots setup setup-dev clean

MO_FILES := $(patsubst %.po,%.mo,$(wildcard translations/*/LC_MESSAGES/messages.po))
VENDOR := static/vendor/.socket.io-client.version

run: setup $(MO_FILES) $(VENDOR)
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	$(FLASK) serve --host $(HOST) --port $(PORT) --simulate $(SIMULATE)

test: setup-dev $(MO_FILES) $(VENDOR)
	tests/install-system-packages.sh
	@$(MAKE) --no-print-directory node_modules/.installed
	$(BIN)/python -m tests.engines -- --check-log-pii

# Refreshes docs/screenshots from the browser tests (an ordinary test run writes them to scratch folders).
screenshots: setup-dev $(MO_FILES) $(VENDOR)
	@$(MAKE) --no-print-directory node_modules/.installed
	CASEWORK_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/browser

setup: $(VENV)/.installed

setup-dev: $(VENV)/.installed-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $(VENV)/.installed $@

translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po | $(BIN)/python
	$(BIN)/pybabel -q compile -i $< -o $@

$(VENDOR): package-lock.json | $(BIN)/python
	$(BIN)/python -m caseworker.assets

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

clean:
	rm -rf $(VENV) node_modules instance .pytest_cache
