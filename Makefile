# Nokor: `make help` lists the targets. Everything runs from the project's own .venv; nothing is
# installed globally.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1/postgres
PYTEST_ARGS ?=

# pytest's exit code 5 means "no tests collected": a run that tested nothing must fail, not pass quietly.
# A test module that cannot be imported fails the run, but every other module still runs and reports.
define pytest
$(BIN)/pytest --continue-on-collection-errors $(1) $(PYTEST_ARGS) || { rc=$$?; [ $$rc -ne 5 ] || echo "error: pytest collected no tests" >&2; exit $$rc; }
endef

.PHONY: help venv run test lint test-pg test-browser bench messages clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

venv: $(STAMP) ## Create .venv and install Nokor with its dev tools (again only when pyproject.toml changes)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: venv ## Serve http://127.0.0.1:8000 on SQLite (var/nokor.db) with the demo country, the worker and the sandbox bank
	$(BIN)/nokor db upgrade
	$(BIN)/nokor demo load
	@echo "Nokor: http://127.0.0.1:8000, sandbox bank: http://127.0.0.1:8070  (Ctrl-C stops them all)"
	$(BIN)/nokor payments sandbox-bank --port 8070 & bank=$$!; trap 'kill $$bank 2>/dev/null' EXIT; \
	$(BIN)/nokor serve --with-worker

lint: venv ## ruff, mypy --strict on src/ and the import-linter contracts (all three run; any fails it)
	@failed=0; \
	for check in "$(BIN)/ruff check ." "$(BIN)/mypy src" "$(BIN)/lint-imports"; do \
	  echo "$$check"; $$check || failed=1; \
	done; \
	exit $$failed

test: venv ## Lint, and the whole test suite on SQLite except the browser tests (both run; either fails it)
	@failed=0; \
	$(MAKE) --no-print-directory lint || failed=1; \
	echo 'env -u NOKOR_DATABASE_URL $(BIN)/pytest --continue-on-collection-errors -m "not browser" $(PYTEST_ARGS)'; \
	( env -u NOKOR_DATABASE_URL $(call pytest,-m "not browser") ) || failed=1; \
	if [ $$failed -ne 0 ]; then echo "make test: FAILED (see the lint or pytest output above)" >&2; fi; \
	exit $$failed

test-pg: venv ## The test suite on PostgreSQL (PG_URL; each run makes and drops a scratch database)
	NOKOR_DATABASE_URL='$(PG_URL)' $(call pytest,-m "not browser")

test-browser: venv ## End-to-end tests in headless Chromium (tests/browser/; needs /usr/bin/chromium)
	env -u NOKOR_DATABASE_URL $(call pytest,-m browser tests/browser)

bench: venv ## Run every bench/*.py; each prints a table and writes JSON lines to bench/results/
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	mkdir -p bench/results
	for script in bench/[!_]*.py; do echo "== $$script"; $(BIN)/python "$$script" || exit 1; done

messages: venv ## Extract the texts to translate; update the shell's and each domain's km, en, ar and de catalogues
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output -o src/nokor/web/locale/messages.pot src
	$(BIN)/pybabel update -i src/nokor/web/locale/messages.pot -d src/nokor/web/locale -D messages --no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date
	for dir in src/nokor/*/locale; do \
	  domain=$${dir%/locale}; [ "$$domain" = src/nokor/web ] && continue; \
	  $(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output -o $$dir/messages.pot $$domain && \
	  $(BIN)/pybabel update -i $$dir/messages.pot -d $$dir -D messages --no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date || exit 1; \
	done
	$(BIN)/python tools/fill_english.py src/nokor

clean: ## Remove caches, test output and benchmark results (keeps .venv and the var/ database)
	rm -rf .mypy_cache .ruff_cache .pytest_cache .hypothesis .import_linter_cache build dist \
	       src/*.egg-info bench/results var/screenshots
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
