PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PHARMSAFE_CONFIG ?=

.PHONY: run test check lint fuzz install constraints clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "PharmSafe needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)

# The versions the suite was last run with (constraints.txt): a fresh machine installs those.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,postgres]'
	touch $@

install: $(STAMP)

run: $(STAMP)
	PHARMSAFE_CONFIG=config/development.py $(BIN)/pharmsafe db upgrade
	PHARMSAFE_CONFIG=config/development.py $(BIN)/pharmsafe demo load
	@echo "Serving on http://127.0.0.1:5000 (scheduler embedded). Demo logins: instance/demo-credentials.txt"
	PHARMSAFE_CONFIG=config/development.py $(BIN)/pharmsafe serve --host 127.0.0.1 --port 5000

# The whole suite, as CI runs it (PostgreSQL too when PHARMSAFE_TEST_DATABASE_URL is set).
test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check pharmsafe tests bench

# The fast loop: lint, then every test that needs neither a browser nor PostgreSQL nor the slow
# runs (concurrency, real servers, the wheel, the API fuzzer), on SQLite, on both cores.
check: lint
	PHARMSAFE_TEST_DATABASE_URL= PHARMSAFE_REQUIRE_BROWSER= $(BIN)/python -m pytest -q -p no:cacheprovider -m "not browser and not slow" \
		-n 2 --ignore=tests/web/browser

# The long API fuzzing profile (the quick one runs inside `make test`).
fuzz: $(STAMP)
	PHARMSAFE_FUZZ_EXAMPLES=1000 $(BIN)/python -m pytest tests/fuzz

# Write constraints.txt anew from the installed versions (after a green `make test`).
constraints: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable --exclude pharmsafe | LC_ALL=C sort > constraints.txt

clean:
	rm -rf $(VENV) instance .pytest_cache build dist
