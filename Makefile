# The two set-up commands of the README, for a fresh machine with Python 3.10+:
#   make demo   creates .venv, installs everything, runs the digits NNI experiment to its end
#   make test   creates .venv, installs everything, runs the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test test-remote lint benchmarks system-packages webui-screenshots

install: $(VENV)/.installed

# torch first, pinned: on our machines torch==2.13.0 is a local CPU wheel, while any unpinned request
# (such as the package's own torch range) would otherwise pull a multi-GB CUDA build.
# pyrfr (the SMAC tuner's random forest) is an sdist with a C++/SWIG extension: the swig wheel goes
# in first, and pyrfr is built without build isolation so that the build finds it on PATH (about
# 1.5 minutes on 2 cores; pip caches the wheel).
# The four adapter extras (lightning, huggingface, optuna, ray) add about 700 MB and 30-40 s of install.
$(VENV)/.installed: pyproject.toml paper/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet swig 'setuptools<82'
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pip install --quiet --no-build-isolation 'pyrfr>=0.9'
	$(BIN)/python -m pip install --quiet -e '.[test,demo,plots,smac,lightning,huggingface,optuna,ray]' -e ./paper
	touch $@

demo: install
	$(BIN)/bttackler run configs/digits/tpe_bttackler.yml

# The remote-service and web UI tests run in `make test-remote` (they need system packages, and they
# would push CI past its 20 minutes); it writes its output to docs/remote-webui-tests.txt.
# The tests that start no NNI experiment and no Ray runtime run two at a time (pytest-xdist, about
# a minute less); the others one at a time, as each starts NNI's manager or Ray on the 2 cores.
test: install
	$(BIN)/python -m pytest -n 2 -m "not nni and not ray and not remote and not webui"
	$(BIN)/python -m pytest -m "(nni or ray) and not remote and not webui"

test-remote: install system-packages
	bash -o pipefail -c '{ echo "# make test-remote, $$(date -u +%F) at commit $$(git rev-parse --short HEAD)"; \
		BTTACKLER_CI=1 $(BIN)/python -m pytest -m "remote or webui" 2>&1; } | tee docs/remote-webui-tests.txt'

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check bttackler_nni paper tests benchmarks examples && $(BIN)/mypy

# What the remote-service and web UI tests need from the system (Debian, as root): an SSH server they
# start on a loopback port, and a browser they drive headless. Nothing else downloads a browser.
system-packages:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server chromium

# The README's screenshots of NNI's web UI (docs/webui/), taken by the web UI tests.
webui-screenshots: install
	BTTACKLER_SCREENSHOTS=docs/webui $(BIN)/python -m pytest -q tests/test_web_ui.py

# Each run goes on top of its results file, under the date, commit and command; earlier runs stay below.
benchmarks: install
	benchmarks/record.sh benchmarks/results/reporter_overhead_cpu.txt $(BIN)/python benchmarks/reporter_overhead.py
	benchmarks/record.sh benchmarks/results/assessor_speed_cpu.txt $(BIN)/python benchmarks/assessor_speed.py
	benchmarks/record.sh benchmarks/results/sampled_diagnosis_cpu.txt $(BIN)/python benchmarks/sampled_diagnosis.py
	benchmarks/record.sh benchmarks/results/adapter_overhead_cpu.txt $(BIN)/python benchmarks/adapter_overhead.py
	benchmarks/record.sh benchmarks/results/optuna_pruner_cost_cpu.txt $(BIN)/python benchmarks/optuna_pruner_cost.py
	benchmarks/record.sh benchmarks/results/distributed_exit_cpu.txt $(BIN)/python benchmarks/distributed_exit.py
