# Every target creates its own virtualenv; torch is pinned to the local CPU wheel first so that
# the `torch>=2.4` requirement is already satisfied and pip never pulls CUDA builds.
VENV ?= .venv
PY := $(VENV)/bin/python
# Nothing here may reach the Hugging Face Hub: fail fast instead of waiting on timeouts.
export HF_HUB_OFFLINE := 1
STAMP := $(VENV)/.installed

.PHONY: demo test bench setup clean example-catalog

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/loradex demo

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m pytest -q -m benchmark -s benchmarks

# catalog.db.example: the demo zoo (built into ./zoo) scanned into a fresh catalog, stored
# without WAL side files so the single file is the whole catalog.
example-catalog: $(STAMP)
	rm -f catalog.db.example catalog.db.example-wal catalog.db.example-shm
	$(VENV)/bin/loradex --catalog catalog.db.example demo --dir zoo
	$(PY) -c "import sqlite3; c = sqlite3.connect('catalog.db.example'); c.execute('PRAGMA journal_mode=DELETE'); c.execute('VACUUM'); c.close()"

clean:
	rm -rf $(VENV)
