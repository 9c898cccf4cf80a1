# exprflow: `make run` sets up and runs the whole pipeline on the demo world;
# `make test` sets up and runs lint, type checks and the test suite.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
SIZE ?= demo
SEED ?= 0
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup run test lint format mlproject images images-gpu ui clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,server]"
	touch $@

run: setup  ## the main job: every step through `mlflow run` on the synthetic world
	$(BIN)/mlflow run . -e main --env-manager local --experiment-name exprflow --run-name main \
		-P size=$(SIZE) -P seed=$(SEED)

test: setup lint  ## lint, type checks, then the whole test suite
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/python -m exprflow.pipeline.mlproject --check

format: setup
	$(BIN)/ruff check --fix src tests
	$(BIN)/ruff format src tests

mlproject: setup  ## regenerate MLproject and steps/*/MLproject from the step dataclasses
	$(BIN)/python -m exprflow.pipeline.mlproject --write

IMAGES ?= simulate train-chromatin
images:  ## CPU images with podman from a debootstrapped base (docker/README.md); IMAGES="…" picks targets
	bash docker/build-local.sh $(IMAGES)

images-gpu:  ## every step's GPU image, on a host with Docker Buildx (REGISTRY=… TAG=… to push)
	docker buildx bake -f docker/docker-bake.json

ui: setup  ## the MLflow UI on http://127.0.0.1:5000
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db

clean:
	rm -rf $(VENV) mlflow.db mlartifacts mlruns data .pytest_cache .mypy_cache .ruff_cache
