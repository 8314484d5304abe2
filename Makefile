# gradlab — the commands README.md gives. Every target creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
PORT   ?= 8888

.PHONY: help setup lab test test-fast grade release bench book lock clean

help:
	@echo "make lab      set up (first time) and open the course in JupyterLab"
	@echo "make test     set up (first time) and run the whole test suite"
	@echo "make grade    grade the bundled demo class and print the gradebook"
	@echo "make release  regenerate course/ from solutions/ with nbgrader"
	@echo "make bench    benchmark gradlab's training loops against a naive loop"
	@echo "make book     build the course as a static book (build/book/student, build/book/instructor)"

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

# The course as a static book: build/book/student/ and build/book/instructor/ (book/build.py). Each
# solution notebook runs once (cached in build/book/.cache); a prose edit rebuilds in seconds.
book: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" GRADLAB_PROGRESS=0 $(PY) -m book.build --jobs $(JOBS) $(BOOK_ARGS)

lock: $(STAMP)
	{ echo "# Full transitive lock (pip freeze on Python 3.11, Linux x86_64) used as pip constraints by the Makefile."; \
	  echo "# Top-level pins live in pyproject.toml; regenerate with: make lock"; \
	  $(PY) -m pip freeze --exclude-editable | sed 's/+cpu$$//'; } > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache build dist src/*.egg-info
