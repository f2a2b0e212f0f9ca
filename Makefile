# Two commands (see README):  make demo   — set up, then run cfnb on the bundled sample
#                             make test   — set up, then lint, type-check and run the tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The stamp changes with pyproject.toml, so a change of dependencies reinstalls.
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: setup demo test lint typecheck pytest sample clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

demo: setup
	$(BIN)/cfnb check data/sample_events.csv
	$(BIN)/cfnb run data/sample_events.csv --stages data/sample_factory.toml

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest

test: lint typecheck pytest

sample: setup
	$(BIN)/python data/make_sample.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
