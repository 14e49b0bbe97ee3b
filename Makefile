# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Each builds its own virtual environment from pyproject.toml, rebuilt when anything the build
# consumes changes: pyproject.toml, C sources and cffi build scripts, message catalogs.
PYTHON ?= python3
START := $(shell date +%s)
BUILD_INPUTS := pyproject.toml $(sort $(shell find protocol beacon tracer_server sim \
	\( -name '*.c' -o -name '*.h' -o -name '*_build.py' -o -name '*.po' \) -type f 2>/dev/null))
HASH := $(shell cat $(BUILD_INPUTS) | sha256sum | cut -c1-16)

DEV_VENV := .venv
RUN_VENV := .venv-run
DEV_STAMP := $(DEV_VENV)/.stamp-$(HASH)
RUN_STAMP := $(RUN_VENV)/.stamp-$(HASH)

.PHONY: test test-fast lint demo bench proto i18n clean system-needs

$(DEV_STAMP): $(BUILD_INPUTS)
	rm -rf $(DEV_VENV)
	$(PYTHON) -m venv $(DEV_VENV)
	$(DEV_VENV)/bin/pip install --quiet --upgrade pip
	$(DEV_VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

$(RUN_STAMP): $(BUILD_INPUTS)
	rm -rf $(RUN_VENV)
	$(PYTHON) -m venv $(RUN_VENV)
	$(RUN_VENV)/bin/pip install --quiet --upgrade pip
	$(RUN_VENV)/bin/pip install --quiet -e '.[server,sim]'
	touch $@

lint: $(DEV_STAMP)
	$(DEV_VENV)/bin/ruff check .
	$(DEV_VENV)/bin/ruff format --check .
	$(DEV_VENV)/bin/mypy

# What the tests need from the system (tools/system_needs.py): installed as root with apt,
# otherwise one line per missing package and a stop before pytest.
system-needs:
	@$(PYTHON) tools/system_needs.py

# Everything, slow tiers included; hypothesis runs its bounded CI profile when CI is set.
test: system-needs lint
	@$(DEV_VENV)/bin/pytest; status=$$?; \
	echo "make test: $$(( $$(date +%s) - $(START) )) s wall time"; exit $$status

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
	$(DEV_VENV)/bin/python bench/reader.py

# Regenerate protocol/_proto from export.proto (tests/protocol/test_proto_generated.py checks it is current).
proto: $(DEV_STAMP)
	$(DEV_VENV)/bin/python -m protocol._proto.regenerate

# Extract the console's messages, update the catalogs, compile the .mo (tests/tracer_server/test_i18n.py checks
# they are current and the Vietnamese is filled in).
i18n: $(DEV_STAMP)
	$(DEV_VENV)/bin/python -m tracer_server.console.locale.regenerate

clean:
	rm -rf $(DEV_VENV) $(RUN_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
