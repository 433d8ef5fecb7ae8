VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: dev test lint bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

dev: $(STAMP)
	$(VENV)/bin/streamrelay dev

test: $(STAMP)
	$(PY) -m pytest -q -rs $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) -m pip install -q -r bench/requirements.txt
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) streamrelay.db
