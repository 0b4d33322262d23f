# Developer entry points: make demo | test | lint | bench   (needs only Python 3.11+)
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Touched after a successful install: pyproject.toml newer than it means reinstall.
STAMP := $(VENV)/.installed-dev
DEMO_HOST := 127.0.0.1
DEMO_PORT := 8000
# The demo always uses the embedded SQLite file and eager (in-process) Celery tasks.
# Events naming a new service create it, as before DORA_UNKNOWN_SERVICES (docs/INTAKE.md).
# E-mail (the weekly digests) goes to the console; its links point at the demo server.
DEMO_ENV := env -u DATABASE_URL -u CELERY_BROKER_URL -u CELERY_RESULT_BACKEND DJANGO_DEBUG=1 \
	DORA_UNKNOWN_SERVICES=create EMAIL_URL=consolemail:// \
	DORA_BASE_URL=http://$(DEMO_HOST):$(DEMO_PORT)

.PHONY: help install demo test lint format bench screenshots

help:
	@echo "make demo   install, migrate, seed the demo estate, serve http://$(DEMO_HOST):$(DEMO_PORT)/"
	@echo "make test   install, then run the test suite (pytest)"
	@echo "make lint   ruff check + ruff format --check"
	@echo "make bench  run bench/intake.py"
	@echo "make screenshots  the README tour's screenshots (Chromium) into docs/screenshots/"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(DEMO_ENV) $(PY) manage.py migrate --noinput
	$(DEMO_ENV) $(PY) manage.py collectstatic --noinput -v 0
	$(DEMO_ENV) $(PY) manage.py seed_demo
	@echo
	@echo "  The weekly digest team payments gets on Monday morning (plain-text part; the HTML:"
	@echo "  manage.py send_digests --team payments --dry-run --html):"
	@echo
	@$(DEMO_ENV) $(PY) manage.py send_digests --team payments --dry-run
	@echo
	@echo "  Alerts: team payments has an e-mail channel; what fires now is e-mailed to this console"
	@echo "  (on a server, beat evaluates every 5 minutes; here: manage.py evaluate_alerts):"
	@echo
	@$(DEMO_ENV) $(PY) manage.py evaluate_alerts
	@echo
	@echo "  Delivery metrics demo: http://$(DEMO_HOST):$(DEMO_PORT)/"
	@echo "  Log in as demo / demo   (API docs: http://$(DEMO_HOST):$(DEMO_PORT)/api/docs/)"
	@echo "  Database: ./db.sqlite3; tasks run in-process (no broker). Stop with Ctrl-C."
	@echo
	$(DEMO_ENV) $(PY) manage.py runserver $(DEMO_HOST):$(DEMO_PORT) --noreload

# On PostgreSQL (DATABASE_URL set) tests run in 2 processes, each with its own test database.
test: install
	@if [ -n "$${DATABASE_URL:-}" ]; then \
		echo "pytest on $${DATABASE_URL%%://*} with 2 processes (pytest-xdist)"; \
		$(PY) -m pytest -n 2; \
	else \
		echo "pytest on SQLite (DATABASE_URL unset)"; \
		$(PY) -m pytest; \
	fi

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	@if [ -f bench/intake.py ]; then \
		$(PY) bench/intake.py; \
	else \
		echo "bench/intake.py does not exist yet"; \
	fi

# The README's tour: the browser test walks the demo and writes its screenshots (needs Chromium).
screenshots: install
	DORA_TOUR_DIR=docs/screenshots $(PY) -m pytest -q -p no:cacheprovider tests/browser/test_tour_in_chromium.py
