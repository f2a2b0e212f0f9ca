# Two commands (see README):  make demo   — set up, then run cfnb on the bundled sample
#                             make test   — set up, then lint, type-check and run the tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The stamp changes with pyproject.toml, so a change of dependencies reinstalls.
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: setup browser java demo notebooks test lint typecheck pytest sample clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

# The browser tests drive Debian's Chromium (Playwright's own browser download is blocked
# here). Installed when apt can; otherwise those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
	  echo "note: could not install chromium; browser tests will be skipped"

# The Spark tests (tests/test_spark.py) need a Java 17 runtime; without one they skip.
java:
	@command -v java >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null; } || \
	  echo "note: could not install Java 17; Spark tests will be skipped"

demo: setup
	$(BIN)/cfnb check data/sample_events.csv
	$(BIN)/cfnb run data/sample_events.csv --stages data/sample_factory.toml
	$(BIN)/cfnb report data/sample_events.parquet --stages data/sample_factory.toml -o artifacts/sample-report.html
	@echo "report: artifacts/sample-report.html (one self-contained file; open it in a browser)"

notebooks: setup
	$(BIN)/python notebooks/refresh.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

pytest: setup browser java
	$(BIN)/pytest

test: lint typecheck pytest

sample: setup
	$(BIN)/python data/make_sample.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
