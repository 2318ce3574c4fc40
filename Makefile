# rectify — `make demo` runs the main job, `make test` the whole suite.
# Both create .venv and install the project into it the first time (and when pyproject.toml changes).

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test test-faults lint bench install clean serve messages

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

test: $(STAMP) ## the whole test suite (uses the PostgreSQL server of this machine when it answers), faults aside
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=10 --ignore=tests/faults

test-faults: $(STAMP) ## the fault suite: kills, database restarts, full and read-only disks, the model of the ledger (as root)
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=10 tests/faults

lint: $(STAMP) ## ruff and mypy over the packages
	$(BIN)/ruff check states workflow jobs storage tests bench
	$(BIN)/mypy

bench: $(STAMP) ## every benchmark against its floor; the results table goes to docs/benchmarks.md (35-45 min)
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	mkdir -p bench/results && rm -f bench/results/*.json
	$(BIN)/python bench/transition_rate.py --skip-postgres-if-down --json bench/results/transition_rate.json
	$(BIN)/python bench/overdue.py --skip-postgres-if-down --json bench/results/overdue.json
	$(BIN)/python bench/history_lookup.py --skip-postgres-if-down --json bench/results/history_lookup.json
	$(BIN)/python bench/import_ledger.py --json bench/results/import_ledger.json
	$(BIN)/python bench/drain.py --skip-postgres-if-down --json bench/results/drain.json
	$(BIN)/python bench/ledger_http.py --backend all --skip-postgres-if-down --sizes 100,1000,10000,100000 \
		--seconds 3 --json bench/results/ledger_http.json
	$(BIN)/python bench/report.py bench/results docs/benchmarks.md

messages: $(STAMP) ## web pages: extract their texts, update the English catalog (translate what is new), compile it
	$(BIN)/pybabel extract -F workflow/web/babel.cfg -k N_ -k NP_:1c,2 --no-location --sort-output \
		--project rectify -o workflow/web/locale/messages.pot .
	$(BIN)/pybabel update -i workflow/web/locale/messages.pot -d workflow/web/locale -D messages \
		--ignore-obsolete --width 120
	$(BIN)/pybabel compile -d workflow/web/locale -D messages

clean:
	rm -rf $(VENV) rectify-demo.db* rectify-demo.evidence rectify-demo.checkpoint.json rectify-demo.mailbox
