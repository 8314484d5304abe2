# gradlab — the commands README.md gives. Every target creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
PORT   ?= 8888

.PHONY: help setup lab test test-fast grade release bench lock clean

help:
	@echo "make lab      set up (first time) and open your workspace (a copy of course/) in JupyterLab"
	@echo "make test     set up (first time) and run the whole test suite"
	@echo "make grade    grade the bundled demo class and print the gradebook"
	@echo "make release  regenerate course/ from solutions/ with nbgrader"
	@echo "make bench    benchmark gradlab's training loops against a naive loop"

# One pinned environment: pyproject pins the direct dependencies, constraints.txt the rest.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

# make lab: one variable per need (README "Running JupyterLab").
#   WORKSPACE   your copy of course/: created on first use, never overwritten; later releases only add
#               new notebooks to it (make lab says which)
#   LAB_ROOT    folder JupyterLab opens (default: the workspace; LAB_ROOT=. for instructors: formgrader
#               needs the repository root)
#   PORT        port (default 8888)
#   ALLOW_ROOT  1 runs as root (--allow-root); set automatically when make runs as root
#   NO_BROWSER  1 starts headless (--no-browser): open the printed URL yourself
#   LAB_ARGS    anything else for `jupyter lab`
WORKSPACE    ?= workspace
LAB_ROOT     ?= $(WORKSPACE)
ALLOW_ROOT   ?= $(if $(filter 0,$(shell id -u 2>/dev/null)),1,)
NO_BROWSER   ?=
LAB_SETTINGS := jupyter/lab/settings
LAB_FLAGS     = $(if $(filter 1 yes true,$(ALLOW_ROOT)),--allow-root) $(if $(filter 1 yes true,$(NO_BROWSER)),--no-browser)

# The venv's bin goes on PATH: nbgrader (Validate, formgrader) runs `alembic` by name. The project's
# JupyterLab settings (no news popup, jump-to-last-executed-cell button) go into the venv's app settings.
lab: $(STAMP)
	$(PY) -m autograder.course workspace course $(WORKSPACE)
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp $(LAB_SETTINGS)/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" MPLBACKEND=module://matplotlib_inline.backend_inline \
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=$(LAB_ROOT) --port=$(PORT) $(LAB_FLAGS) $(LAB_ARGS)

# Everything: package tests, nbval over every solutions/ notebook, release-in-sync and blank-release
# checks, grading suite, real-browser test (screenshots in artifacts/browser/). The venv's bin goes
# on PATH because nbgrader runs `alembic` by name; kernels get a headless backend, no progress bars.
test: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" MPLBACKEND=Agg GRADLAB_PROGRESS=0 $(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow and not browser" $(PYTEST_ARGS)

grade: $(STAMP)
	$(PY) -m autograder grade --demo --jobs $(JOBS)

release: $(STAMP)
	$(PY) -m autograder release

bench: $(STAMP)
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

lock: $(STAMP)
	{ echo "# Full transitive lock (pip freeze on Python 3.11, Linux x86_64) used as pip constraints by the Makefile."; \
	  echo "# Top-level pins live in pyproject.toml; regenerate with: make lock"; \
	  $(PY) -m pip freeze --exclude-editable | sed 's/+cpu$$//'; } > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache build dist src/*.egg-info
