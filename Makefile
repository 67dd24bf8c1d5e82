# Two commands on a fresh machine with Python 3.11 and pip:  make demo  /  make test
PYTHON ?= python3
VENV ?= .venv
# A CPU build of torch; on machines without a local wheel any torch 2.x works.
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
ROOT ?= realsync-data

.PHONY: install demo test bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -e ".[test,yamnet]"
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
