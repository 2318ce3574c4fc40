# rectify — `make demo` runs the main job, `make test` the whole suite.
# Both create .venv and install the project into it the first time (and when pyproject.toml changes).

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test lint bench install clean serve messages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install rectify with its test tools

demo: $(STAMP) ## replay the reference round into rectify-demo.db and show the ledger, history and audit
	$(BIN)/rectify demo

serve: $(STAMP) ## the API (/docs), the web pages and the scheduler on the demo database (built first if missing)
	test -f rectify-demo.db || $(BIN)/rectify demo
	$(BIN)/rectify serve --db rectify-demo.db

test: $(STAMP) ## the whole test suite (uses the PostgreSQL server of this machine when it answers)
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=10

lint: $(STAMP) ## ruff and mypy over the packages
	$(BIN)/ruff check states workflow jobs storage tests bench
	$(BIN)/mypy

bench: $(STAMP) ## every benchmark script: figures and ratios against the raw-SQL floor (several minutes)
	$(BIN)/python bench/transitions.py --skip-postgres-if-down
	$(BIN)/python bench/overdue.py --skip-postgres-if-down
	$(BIN)/python bench/import_ledger.py
	$(BIN)/python bench/ledger_http.py
	$(BIN)/python bench/history_lookup.py --skip-postgres-if-down

messages: $(STAMP) ## web pages: extract their texts, update the English catalog (translate what is new), compile it
	$(BIN)/pybabel extract -F workflow/web/babel.cfg -k N_ -k NP_:1c,2 --no-location --sort-output \
		--project rectify -o workflow/web/locale/messages.pot .
	$(BIN)/pybabel update -i workflow/web/locale/messages.pot -d workflow/web/locale -D messages \
		--ignore-obsolete --width 120
	$(BIN)/pybabel compile -d workflow/web/locale -D messages

clean:
	rm -rf $(VENV) rectify-demo.db* rectify-demo.evidence rectify-demo.checkpoint.json rectify-demo.mailbox
