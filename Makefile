# The two set-up commands: `make demo` and `make test`. Both build .venv from scratch when needed.
PYTHON ?= python3.11
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test ui clean

$(BIN)/annapurna: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/annapurna
	$(BIN)/annapurna demo

test: $(BIN)/annapurna
	$(BIN)/python -m pytest -q

ui: $(BIN)/annapurna
	$(BIN)/annapurna ui

clean:
	rm -rf $(VENV) .annapurna
