# The two set-up commands of the README, for a fresh machine with Python 3.10+:
#   make demo   creates .venv, installs everything, runs the digits NNI experiment to its end
#   make test   creates .venv, installs everything, runs the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint benchmarks

install: $(VENV)/.installed

# torch first, pinned: on our machines torch==2.13.0 is a local CPU wheel, while any unpinned request
# (such as the package's own torch range) would otherwise pull a multi-GB CUDA build.
# pyrfr (the SMAC tuner's random forest) is an sdist with a C++/SWIG extension: the swig wheel goes
# in first, and pyrfr is built without build isolation so that the build finds it on PATH (about
# 1.5 minutes on 2 cores; pip caches the wheel).
$(VENV)/.installed: pyproject.toml paper/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet swig 'setuptools<82'
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pip install --quiet --no-build-isolation 'pyrfr>=0.9'
	$(BIN)/python -m pip install --quiet -e '.[test,demo,plots,smac]' -e ./paper
	touch $@

demo: install
	$(BIN)/bttackler run configs/digits/tpe_bttackler.yml

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check bttackler_nni paper tests benchmarks examples && $(BIN)/mypy

benchmarks: install
	$(BIN)/python benchmarks/reporter_overhead.py | tee benchmarks/results/reporter_overhead_cpu.txt
	$(BIN)/python benchmarks/assessor_speed.py | tee benchmarks/results/assessor_speed_cpu.txt
