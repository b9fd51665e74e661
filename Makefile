# lokaalmeten: `make run` starts the demo, `make test` runs the whole suite.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean help

help:
	@echo "make run    broker + gateway + server + 3 simulated kits on http://127.0.0.1:$${LM_SERVER_PORT:-8000}"
	@echo "make test   the whole test suite (starts Mosquitto/InfluxDB, installs them as root)"
	@echo "make lint   ruff, mypy, and mypy over the sensor drivers with the ESP32 stubs"
	@echo "make bench  the benchmarks; results in docs/benchmarks.md"

$(STAMP): pyproject.toml tools/bootstrap-venv
	@tools/bootstrap-venv $(VENV)
	@touch $@

run: $(STAMP)
	$(VENV)/bin/lokaalmeten demo

# One pytest worker per core (TEST_WORKERS=0: all in this process); each test file stays
# on one worker, with its own brokers and folders on free ports.
TEST_WORKERS ?= auto

test: $(STAMP)
	$(PY) tools/ensure-services
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check lokaalmeten gateway server firmware tests bench tools
	$(PY) -m ruff format --check lokaalmeten gateway server firmware tests bench
	$(PY) tools/typecheck
	$(PY) tools/typecheck-firmware

bench: $(STAMP)
	$(PY) tools/ensure-services
	$(PY) -m bench

clean:
	rm -rf $(VENV) build var .pytest_cache .mypy_cache .ruff_cache
