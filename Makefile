# intro2ai: every workflow is a target here. `make` alone lists them.
# The virtual environment lives in .venv; targets create it on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# nbgrader calls `alembic` from PATH when it creates a gradebook.
export PATH := $(abspath $(BIN)):$(PATH)
JOBS ?= 2

.DEFAULT_GOAL := help
.PHONY: help setup compile-cython test test-fast lint bench clean

help:  ## list the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

setup: $(BIN)/.installed  ## create .venv and install the kit with its Cython extension

compile-cython: $(BIN)/.installed  ## (re)build the Cython im2col extension in place
	$(PY) setup.py build_ext --inplace

# Tests run on TEST_JOBS pytest-xdist workers, a whole test file on one worker (its module
# fixtures, e.g. a graded course, are built once), the longest files first (tests/conftest.py's
# LONG_MODULES). Three workers on the 2-core machine: the sandboxes' timeouts leave cores idle
# (measured: 365 s against 388 s with two). TEST_JOBS=0 runs them in this process.
TEST_JOBS ?= 3
PYTEST = $(PY) -m pytest -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder

test: $(BIN)/.installed  ## run the whole test suite [TEST_JOBS=3]
	$(PYTEST)

test-fast: $(BIN)/.installed  ## run the tests that take seconds, not minutes (not marked slow)
	$(PYTEST) -m "not slow"

lint: $(BIN)/.installed  ## ruff: lint and format check (what CI runs after the tests)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(BIN)/.installed  ## ours vs PyTorch (if installed), each side in its own process; naive vs fast layers vs GEMM rate
	$(PY) -m bench

# Data sets (see datasets/README.md). DATA_DIR defaults to $INTRO2AI_DATA_DIR, else datasets/.
DATASET ?= cifar10
DATA_ARGS = $(if $(DATA_DIR),--data-dir "$(DATA_DIR)")
.PHONY: data data-import data-verify data-list

data: $(BIN)/.installed  ## download a data set: DATASET=cifar10|mnist|fashion-mnist|all [BASE_URL=mirror] [DATA_DIR=dir]
	$(PY) -m intro2ai.datasets download $(DATASET) $(DATA_ARGS) $(if $(BASE_URL),--base-url "$(BASE_URL)")

data-import: $(BIN)/.installed  ## import files from a USB stick or share: make data-import PATH_TO=/media/usb/cifar-10-python.tar.gz
	$(PY) -m intro2ai.datasets import "$(PATH_TO)" $(DATA_ARGS)

data-verify: $(BIN)/.installed  ## check the downloaded data against the pinned SHA-256
	$(PY) -m intro2ai.datasets verify $(DATA_ARGS)

data-list: $(BIN)/.installed  ## show which data sets are present and their sizes
	$(PY) -m intro2ai.datasets list $(DATA_ARGS)

# HW5 release (nbgrader course in assignments/; see docs/hw5.md).
.PHONY: release release-check hw5-notebook

release: $(BIN)/.installed  ## build assignments/release/hw5 (nbgrader + student edition of intro2ai) and leak-check it
	$(PY) -m autograder.release build hw5

release-check: $(BIN)/.installed  ## leak-check an existing assignments/release/ again
	$(PY) -m autograder.release check assignments/release

hw5-notebook: $(BIN)/.installed  ## regenerate assignments/source/hw5/hw5.ipynb from notebooks/src/hw5.py
	$(PY) -m notebooks.build hw5

.PHONY: labs labs-run

labs: $(BIN)/.installed  ## rebuild notebooks/lab*.ipynb from notebooks/src/ and run them in FAST MODE
	$(PY) -m notebooks.build lab
	$(PY) notebooks/run_labs.py --fast

labs-run: $(BIN)/.installed  ## run the labs in full mode on real data: LABS="lab1 lab4" [LAB_DATASET=fashion-mnist] [DATA_DIR=dir]
	$(if $(DATA_DIR),INTRO2AI_DATA_DIR="$(DATA_DIR)") $(PY) notebooks/run_labs.py $(LABS) $(if $(LAB_DATASET),--dataset $(LAB_DATASET)) --out notebooks/executed

# Grading (nbgrader bookkeeping + trusted grader; see docs/grading.md). JOBS=N workers,
# FORCE=1 regrades submissions graded already, TIME_LIMIT=seconds for one submission's notebook
# run (default 1800), ZIP=LMS bulk download for `make collect`.
.PHONY: demo demo-clean autograde feedback export collect doctor
GRADE = $(PY) -m autograder.pipeline

demo: $(BIN)/.installed  ## the kit's main job: in its own course build/demo-course/, release HW5, grade the samples, feedback, CSV, table + histogram
	$(GRADE) demo --jobs $(JOBS) $(if $(filter 1 yes true,$(FORCE)),--force)

doctor: $(BIN)/.installed  ## the isolation grading gets on this machine, and what student code can see from inside
	$(PY) -m autograder doctor

demo-clean: $(BIN)/.installed  ## remove the demo course build/demo-course/ (the real course is never touched)
	$(GRADE) demo-clean

autograde: $(BIN)/.installed  ## nbgrader autograde + trusted grader for assignments/submitted/*/hw5 [JOBS=N] [FORCE=1] [TIME_LIMIT=s]
	$(GRADE) autograde --jobs $(JOBS) $(if $(filter 1 yes true,$(FORCE)),--force) $(if $(TIME_LIMIT),--notebook-time-limit $(TIME_LIMIT))

feedback: $(BIN)/.installed  ## one Korean HTML feedback page per student under assignments/feedback/
	$(GRADE) feedback

export: $(BIN)/.installed  ## grades CSV + histogram: assignments/exports/hw5_grades.csv, hw5_grades_histogram.png
	$(GRADE) export

collect: $(BIN)/.installed  ## LMS download (bulk zip, folder or one archive) -> assignments/submitted/, safely: make collect ZIP=file.zip
	@test -n "$(ZIP)" || { echo "usage: make collect ZIP=path/to/lms_download.zip"; exit 2; }
	$(GRADE) collect "$(ZIP)"

clean:  ## remove build outputs (keeps .venv and data)
	rm -rf build intro2ai/*.c intro2ai/*.so intro2ai/*.html *.egg-info
