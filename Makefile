# Every target that needs Python builds .venv first (once, and again when pyproject.toml changes),
# so each one works by itself on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
ARGS ?=
RUN_A ?= runs/reproduce/fixed
RUN_B ?= runs/reproduce/underfit
COMPARE_OUT ?= runs/reproduce/compare
PORT ?= 6006
# evaluated once (:=), so the sweep and its table name the same directory
ifndef SWEEP_DIR
SWEEP_DIR := runs/sweeps/grid_$(shell date +%Y-%m-%d_%H-%M-%S)
endif
LOGDIR ?= runs

.PHONY: setup reproduce-fail reproduce-fix reproduce compare fault-lab sweep bench tensorboard \
	test test-fast lint format clean-runs

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(INSTALLED)

reproduce-fail: $(INSTALLED)
	$(PY) -m gaze.train experiment=underfit $(ARGS)

reproduce-fix: $(INSTALLED)
	$(PY) -m gaze.train experiment=fixed $(ARGS)

# both runs, then the figures and the table of their diagnoses side by side
reproduce: reproduce-fail reproduce-fix
	$(MAKE) compare

compare: $(INSTALLED)
	$(PY) scripts/compare.py $(RUN_A) $(RUN_B) --out $(COMPARE_OUT)

# one short run per injected fault, then the matrix of which finding named which (runs/fault_lab/)
fault-lab: $(INSTALLED)
	$(PY) scripts/fault_lab.py $(ARGS)

# the grid of conf/sweep/grid.yaml, then its table; the table lists failed jobs too, and the
# target still fails when a job did
sweep: $(INSTALLED)
	$(PY) -m gaze.train -m sweep=grid hydra.sweep.dir=$(SWEEP_DIR) $(ARGS); \
	status=$$?; $(PY) scripts/sweep_table.py $(SWEEP_DIR) && exit $$status

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
