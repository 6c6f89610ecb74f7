# Two entry points for a fresh machine: `make demo` and `make test`.
# CPU installs use constraints-cpu.txt (torch==2.13.0, no CUDA wheels). On a GPU machine run
# `pip install -e .` yourself without the constraint.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: setup demo test lint

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints-cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints-cpu.txt -e '.[dev]'
	$(BIN)/raft pull smollm2-135m
	touch $@

demo: setup
	$(BIN)/raft demo

test: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q --durations=25

lint: setup
	$(BIN)/ruff check raft apps tests corpora
