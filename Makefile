# gradlab — the commands README.md gives. Every target creates .venv on first use.
# .venv is built from a Python every user can run (tools/pick_python.py: not a pyenv under a 0700
# home), so that the grading sandbox's uid, other instructors and the hub's members can use it.
PYTHON ?= $(shell python3 tools/pick_python.py)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
PORT   ?= 8888

.PHONY: help setup lab test test-fast lint grade release i18n-extract i18n-build i18n-check bench book lock clean hub-setup class

# `make help` lists every target: each one carries a `## description` comment on its rule line.
help: ## list the targets
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/make \1\t\2/' | expand -t 15

# One pinned environment: pyproject pins the direct dependencies, constraints.txt the rest.
$(STAMP): pyproject.toml constraints.txt jupyter/server/gradlab-formgrader.json
	@test -n "$(PYTHON)" || { echo "no Python 3.11 found (see tools/pick_python.py)" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test]"
	# every Jupyter server of the venv (make lab, the class's course service) loads formgrader without
	# the buttons that would grade outside the sandbox (autograder/formgrader_ui.py)
	install -D -m 0644 jupyter/server/gradlab-formgrader.json $(VENV)/etc/jupyter/jupyter_server_config.d/gradlab-formgrader.json
	touch $(STAMP)

setup: $(STAMP) ## create .venv with the pinned environment

# make lab: one variable per need (README "Running JupyterLab").
#   WORKSPACE   your copy of course/: created on first use, never overwritten; later releases only add
#               new notebooks to it (make lab says which)
#   LAB_ROOT    folder JupyterLab opens (default: the workspace; LAB_ROOT=. for instructors: formgrader
#               needs the repository root)
#   PORT        port (default 8888)
#   ALLOW_ROOT  1 runs as root (--allow-root); set automatically when make runs as root
#   NO_BROWSER  1 starts headless (--no-browser): open the printed URL yourself
#   LAB_ARGS    anything else for `jupyter lab`
#   LANG        zh_CN: the Chinese edition (course.zh_CN/ into workspace.zh_CN/, JupyterLab in Chinese,
#               gradlab's messages and figures in Chinese); anything else: English
COURSE_LANG  ?= $(if $(filter zh zh_CN zh_CN.% zh-CN zh_Hans,$(LANG)),zh_CN,en)
RELEASE_DIR  := course$(if $(filter en,$(COURSE_LANG)),,.$(COURSE_LANG))
WORKSPACE    ?= workspace$(if $(filter en,$(COURSE_LANG)),,.$(COURSE_LANG))
LAB_ROOT     ?= $(WORKSPACE)
ALLOW_ROOT   ?= $(if $(filter 0,$(shell id -u 2>/dev/null)),1,)
NO_BROWSER   ?=
LAB_SETTINGS := jupyter/lab/settings
# JupyterLab's app-level overrides: the venv's own for English; for another language a folder of its
# own (the interface language is an override), so an English lab or test never opens in Chinese
LAB_APP_SETTINGS = $(if $(filter en,$(COURSE_LANG)),$(VENV)/share/jupyter/lab/settings,build/lab-settings/$(COURSE_LANG))
LAB_FLAGS     = $(if $(filter 1 yes true,$(ALLOW_ROOT)),--allow-root) $(if $(filter 1 yes true,$(NO_BROWSER)),--no-browser)

# The venv's bin goes on PATH: nbgrader (Validate, formgrader) runs `alembic` by name. The project's
# JupyterLab settings (no news popup, jump-to-last-executed-cell button) go into the venv's app settings.
lab: $(STAMP) ## set up (first time) and open your workspace (a copy of course/) in JupyterLab
	$(PY) -m autograder.course workspace $(RELEASE_DIR) $(WORKSPACE)
	mkdir -p $(LAB_APP_SETTINGS)
	$(PY) -m autograder.i18n lab-settings --lang $(COURSE_LANG) $(LAB_SETTINGS)/overrides.json $(LAB_APP_SETTINGS)/overrides.json
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" MPLBACKEND=module://matplotlib_inline.backend_inline GRADLAB_LANG=$(COURSE_LANG) \
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=$(LAB_ROOT) --port=$(PORT) $(LAB_FLAGS) \
	  $(if $(filter en,$(COURSE_LANG)),,--LabApp.app_settings_dir=$(CURDIR)/$(LAB_APP_SETTINGS)) $(LAB_ARGS)

# Everything: package tests, every solutions/ notebook under nbgrader validate, release-in-sync and blank-release
# checks, grading suite, real-browser test (screenshots in artifacts/browser/). The venv's bin goes
# on PATH because nbgrader runs `alembic` by name; kernels get a headless backend, no progress bars.
# The suite runs on TEST_WORKERS processes (pytest-xdist; every core, at most 4): a module's tests stay on one
# worker, the longest modules go first (tests/conftest.py); TEST_WORKERS=0 runs it in this one process.
# Each test's duration goes to build/test-times.xml: `python benchmarks/suite_times.py build/test-times.xml`
# says which modules the time went to (give it a second file to compare two runs; --durations
# tests/durations.json refreshes the order the workers take the modules in).
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)
test: $(STAMP) ## set up (first time) and run the whole test suite (PYTEST_ARGS; TEST_WORKERS)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" MPLBACKEND=Agg GRADLAB_PROGRESS=0 $(PY) -m pytest \
	  -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder --junitxml=build/test-times.xml $(PYTEST_ARGS)

test-fast: $(STAMP) ## the tests that are neither slow nor browser tests
	$(PY) -m pytest -m "not slow and not browser" $(PYTEST_ARGS)

# ruff (configured in pyproject.toml) over the package, the grader, the tests and the benchmarks.
lint: $(STAMP) ## ruff over src, autograder, tests, benchmarks, book, hub and tools
	$(VENV)/bin/ruff check src autograder tests benchmarks book hub tools

grade: $(STAMP) ## grade the bundled demo class and print the gradebook
	$(PY) -m autograder grade --demo --jobs $(JOBS)

release: $(STAMP) ## regenerate course/ from solutions/ with nbgrader, then course.zh_CN/ from it and locale/
	$(PY) -m autograder release

# The Chinese edition's catalogs (autograder/i18n.py, docs/authoring.md): one command per step.
i18n-extract: $(STAMP) ## merge solutions/' prose into locale/zh_CN catalogs (edited English -> fuzzy)
	$(PY) -m autograder.i18n extract

i18n-build: $(STAMP) ## write course.zh_CN/ from course/ and the catalogs
	$(PY) -m autograder.i18n build

i18n-check: $(STAMP) ## list untranslated, fuzzy, glossary and format problems of the catalogs
	$(PY) -m autograder.i18n check

bench: $(STAMP) ## benchmark gradlab's training loops against a naive loop (BENCH_ARGS)
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

# The course as a static book: build/book/{student,instructor}/{en,zh_CN}/ (book/build.py). Each
# solution notebook runs once (cached in build/book/.cache); a prose edit rebuilds in seconds.
book: $(STAMP) ## build the course as a static book (build/book/{student,instructor}/{en,zh_CN})
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" GRADLAB_PROGRESS=0 $(PY) -m book.build --jobs $(JOBS) $(BOOK_ARGS)

lock: $(STAMP) ## rewrite constraints.txt from the installed environment
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

hub-setup: $(HUB_STAMP) ## install the hub extra and configurable-http-proxy (for make class and the hub tests)

# Starts PostgreSQL, the hub, the proxy and the course service with a demo roster (an instructor, a TA,
# three students); prints the URL and the logins; Ctrl-C stops everything and removes the demo accounts.
# COURSE_LANG=zh_CN: the class works the Chinese edition (students fetch course.zh_CN's notebooks).
class: $(HUB_STAMP) ## (as root) a real class on this machine: JupyterHub, nbgrader exchange, PostgreSQL gradebook
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m hub.classroom --lang $(COURSE_LANG) $(CLASS_ARGS)

clean: ## remove .venv and build outputs
	rm -rf $(VENV) .pytest_cache build dist src/*.egg-info
