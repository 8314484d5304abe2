# gradlab — the commands README.md gives. Every target creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
PORT   ?= 8888

.PHONY: help setup lab test test-fast grade release bench lock clean hub-setup class

help:
	@echo "make lab      set up (first time) and open the course in JupyterLab"
	@echo "make test     set up (first time) and run the whole test suite"
	@echo "make grade    grade the bundled demo class and print the gradebook"
	@echo "make release  regenerate course/ from solutions/ with nbgrader"
	@echo "make bench    benchmark gradlab's training loops against a naive loop"
	@echo "make class    (as root) a real class on this machine: JupyterHub, nbgrader exchange, PostgreSQL gradebook"

# One pinned environment: pyproject pins the direct dependencies, constraints.txt the rest.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

# The venv's bin goes on PATH: nbgrader (Validate, formgrader) runs `alembic` by name.
lab: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" MPLBACKEND=module://matplotlib_inline.backend_inline \
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=course --port=$(PORT) $(LAB_ARGS)

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

# A real class on this machine (hub/, tests/test_hub.py): the `hub` extra (JupyterHub, psycopg) and
# configurable-http-proxy from npm into hub/node_modules (Node.js and PostgreSQL come from the system).
HUB_STAMP := $(VENV)/.hub-installed
$(HUB_STAMP): $(STAMP) hub/package.json hub/package-lock.json
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test,hub]"
	cd hub && npm ci --no-audit --no-fund --loglevel=error
	touch $(HUB_STAMP)

hub-setup: $(HUB_STAMP)

# Starts PostgreSQL, the hub, the proxy and the course service with a demo roster (an instructor, a TA,
# three students); prints the URL and the logins; Ctrl-C stops everything and removes the demo accounts.
class: $(HUB_STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m hub.classroom $(CLASS_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build dist src/*.egg-info
