# The two commands of the README, and a few helpers. Every target installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
## pytest-xdist workers of `make test` (tests/conftest.py groups the tests; 0: one process).
TEST_WORKERS ?= 2

.PHONY: demo test venv core kernel lint bench clean broker-start broker-stop compose-test mutation

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## The detection core's per-row modules compiled by mypyc (detector/core/compiled.py), rebuilt
## when a core source changes (~30 s). Without a C compiler the core runs as Python: same
## outputs, slower (with CI set, that fails instead).
CORE_STAMP := detector/core/_compiled/stamp.json
$(CORE_STAMP): $(STAMP) $(wildcard detector/core/*.py)
	$(BIN)/python -m detector.core.compile

core: $(CORE_STAMP)

## The compiled kernel, the default detection core, into its per-user cache
## (detector/kernel/warm.py): about a minute the first time and after any change of its or
## the core's sources, a second or two to load it otherwise. Without it the first detector
## would compile at its first partition assignment.
kernel: $(STAMP)
	$(BIN)/python -m detector.kernel.warm

## Command 1: run the whole pipeline on a generated stream and write exports/.
demo: $(STAMP) $(CORE_STAMP) kernel
	$(BIN)/auditstream demo

## Command 2: install, fetch the Kafka jars, lint, and run every test against a real broker.
test: $(STAMP) $(CORE_STAMP) kernel
	$(BIN)/auditstream broker fetch
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

## `docker compose up` end to end on a real Docker engine, installed and started if none
## answers (root on Debian); base images stand in from debootstrap. See docker/compose-test.sh.
compose-test: $(STAMP) $(CORE_STAMP)
	docker/compose-test.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	for f in bench/*.py; do $(BIN)/python $$f || exit 1; done

## Mutation testing of the detection core and the CSV reader (docs/mutation.md): about an
## hour on two shared cores; a second run re-tests only what changed (on the core's own loop,
## as Python: tests/unit/mutmut_fast_first.py).
mutation: $(STAMP)
	nice -n 10 $(BIN)/mutmut run --max-children 2
	$(BIN)/python bench/mutation_report.py

broker-start: $(STAMP)
	$(BIN)/auditstream broker start

broker-stop: $(STAMP)
	$(BIN)/auditstream broker stop

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache mutants detector/core/_compiled
