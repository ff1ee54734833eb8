# Every target creates its own virtualenv; torch is pinned to the local CPU wheel first so that
# the `torch>=2.4` requirement is already satisfied and pip never pulls CUDA builds.
VENV ?= .venv
PY := $(VENV)/bin/python
# Nothing here may reach the Hugging Face Hub: fail fast instead of waiting on timeouts.
export HF_HUB_OFFLINE := 1
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench setup clean example-catalog

# pip's own and the build backend's chatter goes to a log, shown only when a step fails.
INSTALL_LOG := $(VENV)/install.log
INSTALL = $(PY) -m pip install -q $(1) >>$(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); exit 1; }

$(STAMP): pyproject.toml
	@echo "setting up $(VENV) (torch==2.13.0 CPU, loradex; log: $(INSTALL_LOG)) …"
	@python3 -m venv $(VENV)
	@: > $(INSTALL_LOG)
	@$(call INSTALL,--upgrade pip)
	@$(call INSTALL,torch==2.13.0)
	@$(call INSTALL,-e '.[test]')
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	@$(VENV)/bin/loradex demo

test: $(STAMP)
	$(PY) -m pytest -q --durations=15

# The guards: one format, lint rules, the floor plan (import-linter) and types. mypy cannot follow
# the editable install's import hook, so it reads the folders through links that spell their
# installed names (build/mypy/loradex/adapters -> adapters, …; [tool.mypy] in pyproject.toml).
MYPY_TREE := build/mypy/loradex
lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	@mkdir -p $(MYPY_TREE)
	@for folder in adapters registry tui; do ln -sfn ../../../$$folder $(MYPY_TREE)/$$folder; done
	$(VENV)/bin/mypy

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
