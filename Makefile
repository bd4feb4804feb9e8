# inferlab — two commands: `make lab` (open the course) and `make test` (check everything).
PY        ?= python3
VENV      ?= .venv
BIN       := $(VENV)/bin
# The CPU wheel. An unpinned `torch` from PyPI is a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
STAMP     := $(VENV)/.installed
PORT      ?= 8888
# 2 workers; loadscope keeps every cell of one notebook on the same worker (nbval needs that).
PYTEST_ARGS ?= -n 2 --dist loadscope

.PHONY: help setup lab test test-fast exercises check-exercises grade bench lint format doctor clean

help:
	@echo "make lab              set up (first time only) and open the course in JupyterLab"
	@echo "make test             set up and run every test: unit, parity, notebooks, exercises, browser"
	@echo "make test-fast        unit and parity tests only (no notebooks, no browser)"
	@echo "make grade NB=exercises/01_ops.ipynb   grade your exercise notebook (never writes to it)"
	@echo "make exercises        regenerate exercises/ from solutions/ (refuses to overwrite your edits)"
	@echo "make bench            run benchmarks/ (inferlab vs torch, printed as ratios)"
	@echo "make doctor           print this machine's environment report"

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp tools/lab-overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $@

lab: $(STAMP)
	@echo "Opening the course: chapter 00 first. Stop the server with Ctrl-C."
	$(BIN)/jupyter lab notebooks/00_welcome.ipynb --ServerApp.root_dir=. --ip=127.0.0.1 \
		--port=$(PORT) $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) \
		$$( [ -z "$$DISPLAY" ] && echo --no-browser )

# Two phases: everything in parallel, then the timing-sensitive items (marked `serial`) alone.
# In the parallel phase each worker's BLAS gets one thread: two workers × two BLAS threads on two
# cores oversubscribe them, and OpenBLAS's spinning threads then run small matmuls ~10x slower.
test: $(STAMP)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest $(PYTEST_ARGS) -m "not serial"
	$(BIN)/python -m pytest -m serial

test-fast: $(STAMP)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest $(PYTEST_ARGS) tests -m "not serial"

exercises: $(STAMP)
	$(BIN)/python -m inferlab make-exercises

check-exercises: $(STAMP)
	$(BIN)/python -m inferlab make-exercises --check

grade: $(STAMP)
	$(BIN)/python -m inferlab check $(NB)

bench: $(STAMP)
	for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

doctor: $(STAMP)
	$(BIN)/python -m inferlab doctor

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build *.egg-info test-artifacts
