# Carnet: `make demo` installs and starts the demo; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PATIENTS ?= 2000
# Test processes (pytest-xdist): one per core by default.
WORKERS ?= auto

.PHONY: demo install lock fonts test test-tools test-sqlite test-postgres lint audit-deps bench messages clean-demo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Every package, direct or not, at the version and hashes of requirements.lock (`make lock`
# regenerates it from pyproject.toml); then Carnet itself, with nothing more resolved.
$(VENV)/.installed: pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

lock:
	python3 -m venv .venv-lock && .venv-lock/bin/pip install --quiet pip-tools==7.6.2
	.venv-lock/bin/pip-compile --quiet --generate-hashes --extra dev --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml
	rm -rf .venv-lock

install: $(VENV)/.installed

# PDFs (prescriptions, the demo's documents) are written with Debian's DejaVu fonts.
FONTS ?= /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
fonts:
	@[ -f "$(FONTS)" ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-dejavu-core >/dev/null; } \
		|| { echo "Carnet's PDFs need Debian's DejaVu fonts at $(FONTS): sudo apt-get install fonts-dejavu-core"; exit 1; }

demo: install fonts
	$(BIN)/python manage.py demo --patients $(PATIENTS)

CHROMIUM ?= /usr/bin/chromium

test: install fonts test-tools
	$(BIN)/python -m pytest -n $(WORKERS)

# What the tests need beyond Python: the npm FHIR client (pinned by its package-lock.json) and
# Debian's Chromium for the browser tests (installed with apt-get where this user may; otherwise
# the run stops and says what to install, rather than skipping the browser tests).
test-tools:
	@command -v npm >/dev/null || { echo "make test needs Node.js and npm (apt-get install nodejs npm)"; exit 1; }
	@[ -d tests/fhir_clients/node_modules/fhir-kit-client ] || (cd tests/fhir_clients && npm ci --no-audit --no-fund)
	@[ -x "$(CHROMIUM)" ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| { echo "make test needs Debian's Chromium at $(CHROMIUM): sudo apt-get install chromium"; exit 1; }

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
