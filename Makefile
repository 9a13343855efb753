# Two commands on a fresh machine: `make demo`, then `make test`.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
VENV := .venv
BIN := $(VENV)/bin
UV := .tools/bin/uv

# Nothing may try the network at run time: tracking off everywhere.
export DO_NOT_TRACK := 1
export DAGSTER_DISABLE_TELEMETRY := true
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export GX_ANALYTICS_ENABLED := false
export UV_PYTHON_DOWNLOADS := never

DEMO_CUSTOMERS ?= 2000
DEMO_AS_OF ?= 2025-12-31

.PHONY: install demo test test-fast lint format docs dagster bench clean bi bi-install bi-lock

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

# The lock file pins every package: a fresh machine gets exactly what was tested.
# Bytecode is compiled at install: every refresh starts several Python processes,
# and where PYTHONDONTWRITEBYTECODE is set (CI images often do) each would
# otherwise compile Dagster, dbt and GX from source, ~10 s a refresh.
$(VENV)/.installed: pyproject.toml uv.lock $(UV)
	$(UV) sync --frozen --extra dev --python $(PYTHON) --compile-bytecode
	touch $@

target/manifest.json: $(VENV)/.installed $(shell find models macros seeds data-tests -type f 2>/dev/null) dbt_project.yml profiles.yml
	$(BIN)/python -c "from orchestration.project import ensure_manifest; ensure_manifest()"
	touch $@

install: $(VENV)/.installed target/manifest.json
	@$(BIN)/python -m compileall -q crm orchestration

demo: install
	$(BIN)/crm demo --customers $(DEMO_CUSTOMERS) --as-of $(DEMO_AS_OF)

# Headless Chromium for the documentation test: Debian's package, installed once
# (as root, or through sudo).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y --no-install-recommends chromium \
	  || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update \
	       && $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y --no-install-recommends chromium; }

test: install bi-install $(CHROMIUM)
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=15

# The inner loop: everything but the end-to-end tests (whole warehouses built by `crm`).
test-fast: install
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder -m "not e2e" --durations=10

PY_CODE := crm orchestration tests bench bi docs/hooks.py

lint: install
	$(BIN)/ruff check $(PY_CODE)
	$(BIN)/ruff format --check $(PY_CODE)
	$(BIN)/sqlfluff lint models macros

format: install
	$(BIN)/ruff format $(PY_CODE)
	$(BIN)/ruff check --fix $(PY_CODE)

# The documentation site (MkDocs, offline) with dbt's docs, into site/: the
# catalog comes from CRM_HOME's warehouse, else from a small demo one.
docs: install
	$(BIN)/python -m orchestration.docs

# Apache Superset with the CRM dashboards (bi/), in an environment of its own
# (.venv-bi, bi/requirements.lock) so the warehouse's install stays lean. It
# serves the published warehouse read-only on http://127.0.0.1:$(BI_PORT)/
# (user admin, password $$BI_ADMIN_PASSWORD or admin); a demo warehouse is built
# first when there is none.
BI_VENV := .venv-bi
BI_PORT ?= 8088
BI_WAREHOUSE ?= data/warehouse.duckdb

$(BI_VENV)/.installed: bi/requirements.lock $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(BI_VENV)
	$(UV) pip sync --quiet --python $(BI_VENV)/bin/python --compile-bytecode bi/requirements.lock
	touch $@

bi-install: $(BI_VENV)/.installed

bi: install bi-install
	@test -f $(BI_WAREHOUSE) || $(BIN)/crm demo --customers $(DEMO_CUSTOMERS) --as-of $(DEMO_AS_OF) --quiet
	$(BI_VENV)/bin/python bi/serve.py --warehouse $(BI_WAREHOUSE) --port $(BI_PORT)

bi-lock: $(UV)
	$(UV) pip compile --quiet --universal --python-version 3.11 bi/requirements.in -o bi/requirements.lock

dagster: install
	mkdir -p data/dagster && chmod 700 data/dagster && umask 077 && DAGSTER_HOME=$(abspath data/dagster) $(BIN)/dagster dev -m orchestration.definitions

bench: install
	$(BIN)/python bench/bench_refresh.py $(BENCH_ARGS)

# Build artefacts only: data/ holds the inbox and the raw store (the system of
# record) under the default CRM_HOME, so it is never removed by make.
clean:
	rm -rf target logs site .pytest_cache .ruff_cache $(BI_VENV)
