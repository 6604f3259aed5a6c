# Carnet: `make demo` installs and starts the demo; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PATIENTS ?= 2000

.PHONY: demo install test test-sqlite test-postgres lint audit-deps bench messages clean-demo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python manage.py demo --patients $(PATIENTS)

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

audit-deps: install
	$(BIN)/pip-audit --skip-editable --progress-spinner off

bench: install
	$(BIN)/python bench/run_all.py

messages: install
	cd carnet && ../$(BIN)/python ../manage.py makemessages -l fr -l en --no-obsolete && ../$(BIN)/python ../manage.py compilemessages

clean-demo:
	rm -rf var/carnet.sqlite3* var/keys var/secret_key
