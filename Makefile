# Every target that needs Python builds .venv first (once, and again when pyproject.toml changes),
# so each one works by itself on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
ARGS ?=
PORT ?= 6006
LOGDIR ?= runs

.PHONY: setup reproduce-fail reproduce-fix reproduce bench tensorboard test test-fast lint format clean-runs

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(INSTALLED)

reproduce-fail: $(INSTALLED)
	$(PY) -m gaze.train experiment=underfit $(ARGS)

reproduce-fix: $(INSTALLED)
	$(PY) -m gaze.train experiment=fixed $(ARGS)

reproduce: reproduce-fail reproduce-fix

# what monitoring costs per training step; the table is printed, the JSON goes to runs/bench/
bench: $(INSTALLED)
	$(PY) scripts/benchmark.py $(ARGS)

tensorboard: $(INSTALLED)
	$(VENV)/bin/tensorboard --logdir $(LOGDIR) --host 127.0.0.1 --port $(PORT)

test: $(INSTALLED)
	$(PY) -m pytest $(ARGS)

test-fast: $(INSTALLED)
	$(PY) -m pytest -m "not slow" $(ARGS)

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(INSTALLED)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# removes every run's results: the one command here that deletes what runs wrote
clean-runs:
	rm -rf runs
