# The two commands: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint typecheck unit clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	# The peer library for `openem eval faces`, without its dlib source dependency
	# (dlib-bin provides the dlib module).
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps face_recognition==1.3.0
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/openem demo

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy openem

# Two pytest-xdist workers, each with its own PostgreSQL database (tests/conftest.py):
# about 40% less time on a two-core machine. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

unit: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

test: lint typecheck unit

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
