# The two README commands are `make serve` and `make test`; everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint unit bench models clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

## Set up and start the local service with the demo deployments (honours PORT).
serve: $(STAMP)
	$(BIN)/python -m drcompat.api.server

## Set up and run the whole test suite plus the linters.
test: $(STAMP) lint unit

unit: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src functions tests benchmarks scripts
	$(BIN)/ruff format --check src functions tests benchmarks scripts
	$(BIN)/mypy

## Print request time against bare onnxruntime and the standalone floor.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_predict.py

## Rebuild the bundled demo models (deterministic; needs scikit-learn, dev only).
models: $(STAMP)
	$(BIN)/python scripts/build_demo_models.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
