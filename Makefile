# The retraining pipeline's commands. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA := $(CURDIR)/.data
# The embedded default: everything under .data/, Airflow included.
export PYTHONPATH := $(CURDIR)
export AIRFLOW_HOME ?= $(DATA)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export GX_ANALYTICS_ENABLED := False
WORKERS ?= 1
SERVICE ?=
# `make stack`: the PostgreSQL server (user@host:port) that holds its two databases; when none
# answers there, `make stack` starts a throwaway one (and a Redis) for as long as it runs.
STACK_PG ?= postgres@127.0.0.1:5432
# `make serve`: the model served over HTTP and the port.
MODEL ?= churn
SERVE_PORT ?= 8000

.PHONY: help venv lock chromium demo test test-cell test-dags test-unit test-integration test-reliability lint check backtest schema airflow mlflow serve stack bench bench-gate bench-decisions bench-backtest bench-retrain bench-extract bench-10m bench-parse bench-served bench-monitor bench-score bench-serve bench-outbox up down logs clean

help: ## List the commands
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-18s %s\n", $$1, $$2}'

$(BIN)/uv:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip >/dev/null
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.9

# --compile-bytecode: with bytecode writing off (PYTHONDONTWRITEBYTECODE, common on servers and CI),
# every process would compile Airflow, MLflow, GX and Evidently from source again: 23 s to import
# them here, 12 s from bytecode. The tests and the demo start hundreds of such processes (each
# task of a stack, each worker); compiling once at install costs about 45 s.
$(BIN)/.installed: requirements.lock requirements-dev.lock | $(BIN)/uv
	$(BIN)/uv pip install -q --compile-bytecode -p $(BIN)/python -r requirements-dev.lock
	@touch $@

venv: $(BIN)/.installed ## Create the pinned virtualenv (.venv): runtime and dev tools, from requirements-dev.lock

# The dev lock is resolved against the runtime lock, so the two never disagree on a runtime version.
lock: $(BIN)/uv ## Re-resolve requirements.txt, requirements-models.txt, requirements-warehouses.txt, requirements-dev.txt and the MLflow image's into their locks (after a pin change)
	$(BIN)/uv pip compile -q requirements.txt -o requirements.lock --python-version 3.11 --no-header
	$(BIN)/uv pip compile -q requirements-models.txt -c requirements.lock -o requirements-models.lock --python-version 3.11 --no-header
	$(BIN)/uv pip compile -q requirements-warehouses.txt -c requirements.lock -o requirements-warehouses.lock --python-version 3.11 --no-header
	$(BIN)/uv pip compile -q requirements-dev.txt -c requirements.lock -o requirements-dev.lock --python-version 3.11 --no-header
	$(BIN)/uv pip compile -q deploy/mlflow/requirements.txt -c requirements.lock -o deploy/mlflow/requirements.lock --python-version 3.11 --no-header
	$(BIN)/uv pip compile -q requirements-dev.txt --override matrix/airflow3.2.override.txt -o matrix/airflow3.2.lock --python-version 3.11 --no-header
	$(BIN)/uv pip compile -q requirements-dev.txt -c requirements-dev.lock -o matrix/py3.12.lock --python-version 3.12 --no-header

# The version matrix's other cells (README, "Versions"): the unit and DAG tiers in a virtualenv of
# their own, .venv-<cell>, from matrix/<cell>.lock. CELL_PYTHON: the interpreter of that cell.
CELL ?= py3.12
CELL_PYTHON ?= $(if $(filter py3.12,$(CELL)),python3.12,python3.11)
CELL_VENV := .venv-$(CELL)
$(CELL_VENV)/.installed: matrix/$(CELL).lock | $(BIN)/uv
	@test -f matrix/$(CELL).lock || { echo "no cell $(CELL): matrix/ has $$(ls matrix/*.lock | xargs -n1 basename | sed 's/.lock$$//' | xargs)"; exit 2; }
	@$(CELL_PYTHON) -c 'import sys' 2>/dev/null || { echo "$(CELL_PYTHON) does not run here: install it, or set CELL_PYTHON=/path/to/python"; exit 2; }
	$(BIN)/uv venv -q --allow-existing --python-preference only-system -p "$$($(CELL_PYTHON) -c 'import sys; print(sys.executable)')" $(CELL_VENV)
	$(BIN)/uv pip install -q --compile-bytecode -p $(CELL_VENV)/bin/python -r matrix/$(CELL).lock
	@touch $@

test-cell: $(CELL_VENV)/.installed ## The unit and DAG tiers on another cell of the version matrix: CELL=py3.12 or CELL=airflow3.2 (README, "Versions")
	$(CELL_VENV)/bin/python -m tools.services -- $(CELL_VENV)/bin/python -m pytest tests/unit tests/dags -n 2 -p no:cacheprovider

chromium: ## Install Debian's Chromium for the browser test, when missing (needs root: apt-get)
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else echo "no /usr/bin/chromium and not root: the UI test will skip (fail under CI=true)"; fi; }

demo: venv ## Run the demo end to end on the embedded default (fresh .data/), then its backtest: the quarter's report in .data/demo/backtest/
	$(BIN)/python -m demo.run

# tools.services points the tests at PostgreSQL and Redis: the configured ones when they answer,
# else throwaway servers from pip-installed wheels, stopped afterwards. Two workers, a file each
# (--dist loadfile keeps a module's shared DAG-run fixtures in one process): most of a test's
# time is spent waiting on Airflow, MLflow and PostgreSQL processes, so 2 cores take 2 workers.
# --no-loadscope-reorder keeps tests/conftest.py's order, the slowest modules first: xdist's own
# (most tests first) left them for last, one worker running minutes after the other was done.
test: venv chromium ## Run every test tier (CI=true turns a missing service into a failure)
	$(BIN)/python -m tools.services -- $(BIN)/python -m pytest tests -n 2 --dist loadfile --no-loadscope-reorder --durations=40

test-dags: venv ## DAG integrity, policy and the heavy-import check at parse time
	$(BIN)/python -m pytest tests/dags

test-unit: venv ## Pure functions; tests/unit/alerts also run on the local PostgreSQL (skipped without it, a failure under CI=true)
	$(BIN)/python -m pytest tests/unit

test-integration: venv chromium ## Real DAG runs against real services
	$(BIN)/python -m tools.services -- $(BIN)/python -m pytest tests/integration

# URL and SCHEMA reach the suite through the environment (RETRAINING_CONFORMANCE_URL and _SCHEMA
# may be set directly instead: a URL holding a quote cannot be passed on make's command line).
test-warehouse: venv ## Warehouse conformance suite on URL=<SQLAlchemy URL> [SCHEMA=<scratch schema>]; without URL, on PostgreSQL, MariaDB, DuckDB and SQLite here
	RETRAINING_CONFORMANCE_URL="$${RETRAINING_CONFORMANCE_URL:-$(URL)}" RETRAINING_CONFORMANCE_SCHEMA="$${RETRAINING_CONFORMANCE_SCHEMA:-$(SCHEMA)}" \
	  $(BIN)/python -m tools.services -- $(BIN)/python -m pytest tests/integration/test_warehouse_conformance.py -v

test-reliability: venv ## Faults and bad inputs on real parts (docs/reliability.md)
	$(BIN)/python -m tools.services -- $(BIN)/python -m pytest tests/reliability

lint: venv ## Ruff lint and format check, and the model-file schema up to date
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m tools.model_schema --check

check: venv ## Check every model file, its source (through its Airflow connection) and MLflow before deploying (ARGS=--json, files, ...)
	$(BIN)/python -m retraining check $(ARGS)

backtest: venv ## What MODEL's policy would have done on its own history, in isolation: START=2026-01-01 END=2026-06-30 [OUT=dir] [ARGS=--monitor-cron ...] (docs/backtest.md)
	$(BIN)/python -m retraining backtest $(MODEL) --start $(START) --end $(END) $(if $(OUT),--out $(OUT)) $(ARGS)

schema: venv ## Regenerate docs/model-file.schema.json (editor completion for model files) from the config classes
	$(BIN)/python -m tools.model_schema

airflow: venv ## The Airflow UI on the embedded default: airflow standalone on http://localhost:8080
	PATH="$(CURDIR)/$(BIN):$$PATH" AIRFLOW__SCHEDULER__MP_START_METHOD=forkserver \
	  AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD=include.orchestration.worker_preload $(BIN)/airflow standalone

mlflow: venv ## The MLflow UI on the embedded store: http://localhost:5000
	@# Created under the pipeline's lock first: tasks starting meanwhile must not race the UI to it.
	$(BIN)/python -c "from include.retraining.tracking import create_sqlite_store; create_sqlite_store('sqlite:///$(DATA)/mlflow.db')"
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(DATA)/mlflow.db --port 5000

serve: venv ## Serve models:/<MODEL>@champion over HTTP (MLflow's scoring protocol), following the alias: MODEL=churn SERVE_PORT=8000
	MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false $(BIN)/python -m serving --model $(MODEL) --port $(SERVE_PORT)

stack: venv ## The production topology without Docker: CeleryExecutor on Redis, Postgres, MLflow server with login (Ctrl-C stops)
	$(BIN)/python -m tools.native_stack --postgres $(STACK_PG) --api-port 8080 --mlflow-port 5000

bench: venv bench-gate bench-score bench-backtest ## Benchmarks; results go to docs/benchmarks.md
	$(BIN)/python bench/drift_bench.py --out docs/benchmarks.md

bench-gate: venv ## Gate simulations: old bootstrap vs DeLong, then evidence pooled across weekly retrains (~10 + 20-30 min): docs/benchmarks.md, docs/decisions.md
	$(BIN)/python bench/gate_sim.py --reps 200
	$(BIN)/python bench/gate_pooled_sim.py --reps 400

bench-decisions: venv ## Trigger policy on simulated half-years: false alarms, detection delay, repeated triggers; then its value vs left alone, every cron and an oracle (ONLY=trigger|value; ~6-10 min on 2 idle cores): docs/decisions.md
	$(BIN)/python bench/decisions.py --reps $(or $(REPS),3) --value-reps $(or $(VALUE_REPS),2) --jobs 2 $(if $(ONLY),--only $(ONLY))

bench-backtest: venv ## A year of weekly windows at 5,000 rows through `python -m retraining backtest` (~5-10 min): docs/benchmarks.md
	$(BIN)/python bench/backtest_bench.py --weeks $(or $(WEEKS),52) --rows $(or $(ROWS),5000)

bench-retrain: venv ## One churn retrain at 1M rows per window on PostgreSQL, one process per task (~5-15 min): docs/benchmarks.md
	$(BIN)/python -m tools.services -- $(BIN)/python bench/retrain_bench.py --rows $(or $(ROWS),1000000)
	$(MAKE) bench-extract

bench-extract: venv ## Extract vs a plain ADBC read of the same window, peak RSS (~2-4 min; BEFORE=dir adds an older tree's extract): docs/benchmarks.md
	$(BIN)/python -m tools.services -- $(BIN)/python bench/extract_bench.py --rows $(or $(ROWS),1000000) $(if $(BEFORE),--before $(BEFORE))

bench-10m: venv ## The retrain at 10M rows per window, champion made from a 1M-row sample (not part of make bench; ~15 min on 2 idle cores, ~5 GB of PostgreSQL data): docs/benchmarks.md
	$(BIN)/python -m tools.services -- $(BIN)/python bench/retrain_bench.py --rows 10000000 --champion-sample 1000000

bench-parse: venv ## DAG parse time with 50 model files, beyond Airflow's own DagBag import (~1-3 min): docs/benchmarks.md
	$(BIN)/python bench/parse_bench.py --models 50

bench-served: venv ## The monitor's reads of served predictions and late labels at 1M rows on PostgreSQL (~1-2 min): docs/benchmarks.md
	$(BIN)/python -m tools.services -- $(BIN)/python bench/served_bench.py --rows $(or $(ROWS),1000000)

bench-monitor: venv ## One monitor_churn run at 10M rows per window on PostgreSQL, one process per task (ROWS=; loading 10M takes minutes): docs/benchmarks.md
	$(BIN)/python -m tools.services -- $(BIN)/python bench/monitor_bench.py --rows $(or $(ROWS),10000000)

bench-serve: venv ## REST serving against `mlflow models serve` on the same model: start-up, latency by batch size, alias moves under requests (~4 min): docs/benchmarks.md
	$(BIN)/python bench/serve_bench.py

bench-score: venv ## One score_churn run at 1M rows in one interval on PostgreSQL, one process per task (~2-5 min): docs/benchmarks.md
	$(BIN)/python -m tools.services -- $(BIN)/python bench/score_bench.py --rows $(or $(ROWS),1000000)

bench-outbox: venv ## Alert outbox: record, flush and deliver on an empty table and at 100,000 alerts, SQLite and PostgreSQL, beside the old file outbox (~1-3 min): docs/benchmarks.md
	$(BIN)/python -m tools.services -- $(BIN)/python bench/outbox_bench.py --alerts $(or $(ALERTS),100000)

up: ## Build the images and start the compose stack (WORKERS=3 for more Celery workers)
	@test -f .env || { echo "No .env: cp .env.example .env and fill it in"; exit 1; }
	GIT_COMMIT=$$(git rev-parse HEAD 2>/dev/null) docker compose up -d --build --scale airflow-worker=$(WORKERS)
	@echo "Airflow http://localhost:8080  MLflow http://localhost:5000  (health: docker compose ps)"

down: ## Stop the compose stack; databases and artifacts stay in their volumes
	docker compose down

logs: ## Follow the compose stack's logs (SERVICE=airflow-worker for one)
	docker compose logs --follow --tail=100 $(SERVICE)

clean: ## Delete the embedded default's data (.data/)
	rm -rf $(DATA)
