# The two commands a newcomer needs (see README): `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-fast bench lock

# constraints.txt pins every package to the versions the suite passed with: the same grades everywhere.
$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=77"
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
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

# Remake constraints.txt from pyproject.toml (newest versions that fit); run the suite before committing it.
lock:
	python3 -m venv .lock-venv
	.lock-venv/bin/pip install -q uv
	{ sed -n '1,3p' constraints.txt; .lock-venv/bin/uv pip compile pyproject.toml --extra test --python-version 3.11 \
	    --python-platform x86_64-manylinux_2_28 --no-header --quiet; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
