# make run   — create .venv if missing, install, run `python train.py` with the defaults (ARGS="..." for overrides)
# make test  — same set-up, then the default test suite (the inner loop, about 5 minutes on 2 cores)
# make test-slow — the slow tier: processes killed and relaunched, sweeps, full-length runs (CI runs both)
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
	$(PY) -m pytest --durations=15

test-slow: install
	$(PY) -m pytest -m slow --durations=15

bench: install
	$(PY) scripts/bench.py $(ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
