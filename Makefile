# Two commands: `make run` (set up, migrate, web + worker on SQLite; dry-run until credentials are set) and `make test` (set up, test on SQLite and PostgreSQL).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TEST_PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
BUDGETBOT_TEST_DATABASE_URL ?= $(TEST_PG_URL)
# The suite creates (and drops) a database of its own on that server; the one named is only connected to.
PYTEST_ARGS ?= -q -n auto
# `make run PORT=8101 HOST=0.0.0.0`; links in Slack and Jira follow the port unless BUDGETBOT_PUBLIC_URL is set.
HOST ?= 127.0.0.1
PORT ?= 8000
# `make run` keeps its ledger in the repo's instance/ (other commands default to the user data dir, see
# README); a BUDGETBOT_DATABASE_URL in the environment or in .env wins.
ifeq ($(shell grep -s '^BUDGETBOT_DATABASE_URL=' .env),)
BUDGETBOT_DATABASE_URL ?= sqlite:///$(CURDIR)/instance/budgetbot.sqlite3
export BUDGETBOT_DATABASE_URL
endif

.PHONY: install migrate run test test-sqlite test-postgres bench clean

install: $(STAMP)

$(STAMP): pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet -e ./clients/python
	touch $(STAMP)

migrate: install
	$(BIN)/budgetbot db upgrade

run: migrate
	$(BIN)/budgetbot run --host $(HOST) --port $(PORT)

test: test-sqlite test-postgres

test-sqlite: install
	env -u BUDGETBOT_TEST_DATABASE_URL $(BIN)/pytest $(PYTEST_ARGS)

test-postgres: install
	@$(BIN)/python -c "import sqlalchemy as sa; sa.create_engine('$(BUDGETBOT_TEST_DATABASE_URL)').connect().close()" \
	|| { echo "PostgreSQL is not reachable at $(BUDGETBOT_TEST_DATABASE_URL): start it (see README) - refusing to skip"; exit 1; }
	BUDGETBOT_TEST_DATABASE_URL='$(BUDGETBOT_TEST_DATABASE_URL)' $(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/outbox.py
	$(BIN)/python bench/integrations.py
	$(BIN)/python bench/check_run.py
	$(BIN)/python bench/digest.py
	$(BIN)/python bench/retro.py
	$(BIN)/python bench/slow_clients.py
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/preflight.py
	$(BIN)/python bench/otel.py
	$(BIN)/python bench/client.py
	$(BIN)/python bench/startup.py

# Never instance/: it holds the SQLite ledger, which no clean target may delete.
clean:
	rm -rf $(VENV) .pytest_cache
