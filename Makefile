# `make` or `make help` lists the targets.
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= data/sim
OUT ?= out

.PHONY: help install constraints quickstart test lint bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(PY):
	python3.11 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(PY)  ## create .venv and install triage with its dev tools, at the versions in constraints.txt
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"

constraints: install  ## re-pin constraints.txt from the installed, tested venv (after changing pyproject.toml)
	{ sed -n '1,3p' constraints.txt; $(PY) -m pip freeze --exclude-editable; } > constraints.txt.new && mv constraints.txt.new constraints.txt

quickstart: install  ## set up, then run the main job end to end on the simulated retailer
	$(VENV)/bin/triage demo --data $(DATA) --out $(OUT)

test: install  ## lint, check the import rules, type-check and run the test suite
	$(VENV)/bin/ruff check triage features models training api tests bench
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q

bench: install  ## run the benchmarks (by hand; prints figures)
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b; done

clean:  ## remove generated data, models and state
	rm -rf $(DATA) $(OUT) mlruns .triage
