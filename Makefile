# make run   — create .venv if missing, install, run `python train.py` with the defaults (ARGS="..." for overrides)
# make test  — same set-up, then the test suite (the command CI runs)
# make bench — speed benchmarks, JSON on stdout
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: install run test test-slow bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[dev,cluster]"
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) train.py $(ARGS)

test: install
	$(PY) -m pytest

test-slow: install
	$(PY) -m pytest -m slow

bench: install
	$(PY) scripts/bench.py $(ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
