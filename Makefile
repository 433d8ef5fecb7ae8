VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: dev test lint bench clean web screenshots

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -qq --upgrade pip
	$(PY) -m pip install -qq -e '.[dev]'
	touch $(STAMP)

dev: $(STAMP)
	$(VENV)/bin/streamrelay dev

# The suite in TEST_WORKERS parallel pytest-xdist workers (most tests wait on subprocesses and sockets, so more
# workers than cores pay off); serially: `make test PYTEST_ARGS=-n0`. -rs lists every skip (with CI=true, none).
TEST_WORKERS ?= 3
test: $(STAMP)
	$(PY) -m pytest -q -rs -n $(TEST_WORKERS) $(PYTEST_ARGS)

# The web app (clients/web, on clients/js) into relay/static; the result is committed.
web:
	cd clients/js && npm ci --no-audit --no-fund --loglevel=error
	cd clients/web && npm ci --no-audit --no-fund --loglevel=error && node build.mjs

# The README's screenshots (docs/screenshot*.png): the web app mid-stream at desktop and phone size, and dark.
screenshots: $(STAMP)
	$(PY) -m tests.browser.screenshot docs

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) -m pip install -q -r bench/requirements.txt
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) streamrelay.db
