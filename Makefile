# Two commands on a fresh machine with Python 3.11 and pip:  make demo  /  make test
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
TORCH_INDEX := $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL),)

.PHONY: install demo test bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install $(TORCH_INDEX) $(TORCH_SPEC)
	$(BIN)/python -m pip install -e ".[test,yamnet,fast]"
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/realsync demo --root $(ROOT)

test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: install
	$(BIN)/python bench/preprocess.py

clean:
	rm -rf $(VENV) build *.egg-info
