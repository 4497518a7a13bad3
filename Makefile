# The two commands a newcomer needs (see README): `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-fast bench

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=77"
	$(PY) -m pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed

# Grade the bundled example submissions on the embedded MNIST subset.
demo: setup
	$(VENV)/bin/autograder batch assignment/examples -o graded

test: setup
	$(PY) -m pytest

# The fast layer alone (checks on synthetic facts, rubric, sandbox command line, names): seconds.
test-fast: setup
	$(PY) -m pytest -m "not slow"

bench: setup
	$(PY) benchmarks/bench_grade.py
