PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PHARMSAFE_CONFIG ?=

.PHONY: run test fuzz install clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "PharmSafe needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)

run: $(STAMP)
	PHARMSAFE_CONFIG=config/development.py $(BIN)/pharmsafe db upgrade
	PHARMSAFE_CONFIG=config/development.py $(BIN)/pharmsafe demo load
	@echo "Serving on http://127.0.0.1:5000 (scheduler embedded). Demo logins: instance/demo-credentials.txt"
	PHARMSAFE_CONFIG=config/development.py $(BIN)/pharmsafe serve --host 127.0.0.1 --port 5000

test: $(STAMP)
	$(BIN)/python -m pytest

# The long API fuzzing profile (the quick one runs inside `make test`).
fuzz: $(STAMP)
	PHARMSAFE_FUZZ_EXAMPLES=1000 $(BIN)/python -m pytest tests/fuzz

clean:
	rm -rf $(VENV) instance .pytest_cache
