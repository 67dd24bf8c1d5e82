# Two commands on a fresh machine with Python 3.11 and pip:  make demo  /  make test
#
#   make demo            installs what the demo needs (.venv), then runs the whole pipeline
#   make test            adds the test extras, then runs the whole suite (what CI runs)
#   make test-quick      the suite without the tests marked `slow`
#   make test ARGS='-k preprocess -x'   extra pytest arguments (test and test-quick)
#
# torch: a CPU build by default. For a GPU, pick the CUDA build with the index of that build, e.g.
#   make install TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
#   make install TORCH_SPEC='torch==2.13.0+cu128' TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
# TORCH_SPEC may hold several words (a version, extra pip options); it is passed unquoted.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX_URL ?=
BIN := $(VENV)/bin
ROOT ?= realsync-data
ARGS ?=
TORCH_INDEX := $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL),)
# what the pipeline and the demo use (YAMNet events, ONNX Runtime for annotate on CPU); the test extras come on top for `make test`
RUN_EXTRAS ?= yamnet,fast
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider --durations=30

.PHONY: install install-run demo test test-quick bench clean

# the runtime: torch first (the CPU build from TORCH_SPEC), then the project with the runtime extras
$(BIN)/.installed-run: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install $(TORCH_INDEX) $(TORCH_SPEC)
	$(BIN)/python -m pip install -e ".[$(RUN_EXTRAS)]"
	touch $@

# the test extras on top (pytest, ray, moto, s3fs, ...)
$(BIN)/.installed: $(BIN)/.installed-run
	$(BIN)/python -m pip install -e ".[$(RUN_EXTRAS),test]"
	touch $@

install-run: $(BIN)/.installed-run

install: $(BIN)/.installed

demo: install-run
	$(BIN)/realsync demo --root $(ROOT)

test: install
	$(PYTEST) $(ARGS)

test-quick: install
	$(PYTEST) -m "not slow" $(ARGS)

bench: install
	$(BIN)/python bench/preprocess.py

clean:
	rm -rf $(VENV) build *.egg-info
