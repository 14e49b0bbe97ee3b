# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Each builds its own virtual environment from pyproject.toml, rebuilt when that file changes.
PYTHON ?= python3
HASH := $(shell sha256sum pyproject.toml | cut -c1-16)

DEV_VENV := .venv
RUN_VENV := .venv-run
DEV_STAMP := $(DEV_VENV)/.stamp-$(HASH)
RUN_STAMP := $(RUN_VENV)/.stamp-$(HASH)

.PHONY: test test-fast lint demo bench proto clean

$(DEV_STAMP): pyproject.toml
	rm -rf $(DEV_VENV)
	$(PYTHON) -m venv $(DEV_VENV)
	$(DEV_VENV)/bin/pip install --quiet --upgrade pip
	$(DEV_VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

$(RUN_STAMP): pyproject.toml
	rm -rf $(RUN_VENV)
	$(PYTHON) -m venv $(RUN_VENV)
	$(RUN_VENV)/bin/pip install --quiet --upgrade pip
	$(RUN_VENV)/bin/pip install --quiet -e '.[server,sim]'
	touch $@

lint: $(DEV_STAMP)
	$(DEV_VENV)/bin/ruff check .
	$(DEV_VENV)/bin/ruff format --check .
	$(DEV_VENV)/bin/mypy

# Everything, slow tiers included; hypothesis runs its bounded CI profile when CI is set.
test: lint
	$(DEV_VENV)/bin/pytest

# The inner loop: no slow tiers.
test-fast: $(DEV_STAMP)
	$(DEV_VENV)/bin/pytest -m "not slow" -q

demo: $(RUN_STAMP)
	$(RUN_VENV)/bin/bluezone demo

bench: $(DEV_STAMP)
	$(DEV_VENV)/bin/python bench/matching.py
	$(DEV_VENV)/bin/python bench/beacon.py
	$(DEV_VENV)/bin/python bench/server.py
	$(DEV_VENV)/bin/python bench/sim.py

# Regenerate protocol/_proto from export.proto (tests/protocol/test_proto_generated.py checks it is current).
proto: $(DEV_STAMP)
	$(DEV_VENV)/bin/python -m protocol._proto.regenerate

clean:
	rm -rf $(DEV_VENV) $(RUN_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
