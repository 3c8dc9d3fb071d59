# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 5000

.PHONY: run test user bench browser wrk clean

## make run: virtualenv + install + migrate the SQLite database + serve on http://127.0.0.1:5000
run: $(VENV)/.runtime
	$(PY) -m flask --app run db upgrade
	@echo "Dashboard: http://127.0.0.1:$(PORT)/  (first account: make user EMAIL=you@example.com NAME='Your Name')"
	PORT=$(PORT) $(PY) run.py

## make user EMAIL=... NAME=... [ROLE=admin|manager|sales]: a dashboard account (asks for the password twice)
user: $(VENV)/.runtime
	$(PY) -m flask --app run db upgrade
	$(PY) -m flask --app run users create "$(EMAIL)" --name "$(NAME)" --role "$(or $(ROLE),admin)"

## make test: install the test dependencies (Chromium for the browser tests, wrk for the bench smoke test), run the whole suite
test: $(VENV)/.test browser wrk
	$(PY) -m pytest -n 2 --dist loadfile

## make bench: a million demo leads on PostgreSQL (database raam_bench, Redis db 12, both cleaned up after),
## the webhook against a minimal and a typical one (wrk), the dashboard, the export; writes and prints bench/RESULTS.md
## (6 min on a quiet machine, up to 22 on a busy one). The webhook alone: .venv/bin/python -m bench --only webhook (3-7 min)
bench: $(VENV)/.test wrk
	$(PY) -m bench

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.test: $(VENV)/.runtime requirements-test.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	touch $@

browser:
	@bash scripts/install-chromium

wrk:
	@bash scripts/install-wrk

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis test-artifacts
