# The two commands of the README: `make demo` (set up, then the main job) and
# `make test` (set up, then the tests). Set-up makes .venv with a CPU build of torch.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: setup browser demo test bench bench-env clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

demo: setup
	$(BIN)/quadpred demo

# the page tests drive the distribution's headless Chromium; installed here where missing (as root,
# with apt), else those tests are skipped with the reason
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && export DEBIAN_FRONTEND=noninteractive && \
	  { apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; }; }; } || \
	echo "Chromium could not be installed (apt-get install chromium): the page tests will be skipped"

test: setup browser
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/features.py
	$(BIN)/python bench/train.py
	$(BIN)/python bench/predict.py

# the Keras/TensorFlow reference of bench/train.py lives in its own environment, never in quadpred's
bench-env: bench/.venv-keras/.installed

bench/.venv-keras/.installed:
	$(PYTHON) -m venv bench/.venv-keras
	bench/.venv-keras/bin/python -m pip install -q tensorflow-cpu numpy librosa
	touch $@

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
