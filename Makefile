# The two README commands are `make serve` and `make test`; everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test sandbox-tool lint unit bench bench-http bench-explain bench-coldstart bench-batch models clean build sizes build-check cost

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	# DataRobot's runtime-parameter reader, to test jobs against it; its server stack is not needed.
	$(BIN)/python -m pip install --quiet --no-deps datarobot-drum==1.18.1 trafaret==2.1.1
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

## Set up and start the local service with the demo deployments (honours PORT).
serve: $(STAMP)
	$(BIN)/python -m drcompat.api.server

## Set up and run the linters, the whole test suite, and the Lambda bundle build checks.
test: $(STAMP) sandbox-tool lint build-check build browser unit

## The monitoring page is tested in headless Chromium: install it where apt-get can (CI runs as root).
.PHONY: browser
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  (apt-get update -qq && apt-get install -y -qq chromium) || \
	  echo "chromium could not be installed: the monitoring page test will be skipped"

# Jobs run in a bubblewrap sandbox (README, "Jobs: threat model and limits"); the hostile-job tests
# need it. Installed with apt where it is missing and apt is there (CI runs as root on Debian).
sandbox-tool:
	@command -v bwrap >/dev/null || { command -v apt-get >/dev/null && apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; } \
		|| echo "bubblewrap is not installed: job runs will be refused (see the README)"

unit: $(STAMP)
	DRC_TEST_BUILDS=1 $(BIN)/python -m pytest  # includes both architectures' CoreLayer builds

lint: $(STAMP)
	$(BIN)/ruff check src functions tests benchmarks scripts
	$(BIN)/ruff format --check src functions tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml

## Print request time against bare onnxruntime and the standalone floor, then per front door in Lambda.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_predict.py
	$(BIN)/python benchmarks/bench_lambda.py
	$(BIN)/python benchmarks/bench_http.py

## Requests per second over HTTP against DRUM (1.18.1, its own venv under .bench/peers) on GBM
## ONNX models 30 and 300 features wide, 1 and 500 rows (part of `make bench`).
bench-http: $(STAMP)
	$(BIN)/python benchmarks/bench_http.py

## Print dollars per million predictions per front door and architecture (measures durations first).
cost: $(STAMP)
	$(BIN)/python scripts/cost_table.py

## Print explanation time per row against the shap library, and their top-3 agreement.
bench-explain: $(STAMP)
	$(BIN)/python benchmarks/bench_explain.py

## Print a fresh process's time to its first answered Lambda event against the floor.
bench-coldstart: $(STAMP)
	$(BIN)/python benchmarks/bench_coldstart.py

## Rows/s for a 1,000,000-row CSV: our batch path vs DataRobot's batch-scoring client and `drum score`
## (each peer installed into its own venv under .bench/peers on first use; ROWS=... for fewer rows).
ROWS ?= 1000000
bench-batch: $(STAMP)
	$(BIN)/python benchmarks/bench_batch.py --rows $(ROWS)

## Rebuild the bundled demo models (deterministic; needs scikit-learn, dev only).
models: $(STAMP)
	$(BIN)/python scripts/build_demo_models.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam

# ---------------------------------------------------------------------------------------------
# Lambda builds without Docker. `sam build` calls the build-<LogicalId> targets (BuildMethod:
# makefile) with ARTIFACTS_DIR set; `make build` runs the same targets into .aws-sam/build.
# Wheels are the manylinux ones for the target runtime and architecture, whatever this host is.
ARCH ?= arm64
LAMBDA_PYTHON ?= 3.13
WHEEL_ARCH := $(if $(filter arm64,$(ARCH)),aarch64,x86_64)
PLATFORMS := --platform manylinux_2_28_$(WHEEL_ARCH) --platform manylinux_2_17_$(WHEEL_ARCH) --platform manylinux2014_$(WHEEL_ARCH)
BUILD_DIR ?= .aws-sam/build
# PRECOMPILE=1 ships bytecode for the target Python (Lambda's /opt is read-only, so without it
# every cold start compiles every module): worth it when SnapStart is off; +25 MB.
PRECOMPILE ?= 0
PYC_PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/$(LAMBDA_PYTHON).*/bin/python) python$(LAMBDA_PYTHON))
HOST_PY = $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))
HOST_PIP = $(HOST_PY) -m pip

build-CoreLayer:
	rm -rf "$(ARTIFACTS_DIR)/python"
	$(HOST_PIP) install --quiet --target "$(ARTIFACTS_DIR)/python" --implementation cp \
		--python-version $(LAMBDA_PYTHON) --only-binary=:all: $(PLATFORMS) -r requirements.txt aws-xray-sdk==2.15.0 uvicorn==0.54.0
	cp -r src/drcompat src/drcompat_lambda "$(ARTIFACTS_DIR)/python/"
	$(PYTHON) scripts/strip_bundle.py "$(ARTIFACTS_DIR)/python" --runtime-provided
ifeq ($(PRECOMPILE),1)
	@$(PYC_PYTHON) -c "" 2>/dev/null || { echo "PRECOMPILE=1 needs $(PYC_PYTHON) (the Lambda runtime's Python)"; exit 1; }
	$(PYC_PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash "$(ARTIFACTS_DIR)/python" >/dev/null
endif

build-ModelsLayer:
	rm -rf "$(ARTIFACTS_DIR)/drcompat-models"
	mkdir -p "$(ARTIFACTS_DIR)/drcompat-models"
	cp -r layers/models/deployments.yaml layers/models/models "$(ARTIFACTS_DIR)/drcompat-models/"

## Build every zip function and layer into .aws-sam/build (ARCH=arm64|x86_64), then print sizes.
build:
	for target in CoreLayer ModelsLayer; do \
		mkdir -p $(BUILD_DIR)/$$target && $(MAKE) --no-print-directory build-$$target ARTIFACTS_DIR=$(abspath $(BUILD_DIR))/$$target || exit 1; \
	done
	for fn in predict:PredictFunction explain:ExplainFunction batch:BatchFunction management:ManagementFunction; do \
		dir=$${fn%%:*}; name=$${fn##*:}; mkdir -p $(BUILD_DIR)/$$name; \
		$(MAKE) --no-print-directory -C functions/$$dir build-$$name ARTIFACTS_DIR=$(abspath $(BUILD_DIR))/$$name || exit 1; \
	done
	$(MAKE) --no-print-directory sizes

## Unzipped size of each function with its layers, against Lambda's 250 MB limit.
sizes:
	$(HOST_PY) scripts/bundle_sizes.py $(BUILD_DIR)

## Build for this host's Python and architecture and answer an event from the built bundle alone.
build-check: $(STAMP)
	$(MAKE) --no-print-directory build BUILD_DIR=.aws-sam/host ARCH=$(shell uname -m | sed 's/aarch64/arm64/') \
		LAMBDA_PYTHON=$(shell $(BIN)/python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
	$(HOST_PIP) install --quiet --target .aws-sam/host/runtime-provided boto3==1.44.5 botocore==1.44.8 s3transfer==0.19.3
	$(BIN)/python scripts/smoke_bundle.py .aws-sam/host
