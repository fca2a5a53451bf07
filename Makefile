# Two entry points for a fresh clone: `make repro` runs the pipeline, `make test` the tests.
# Both first install the pinned dependencies into a local virtual environment (.venv).
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export DVC_NO_ANALYTICS := 1
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install repro test lint format full-mnist seed-study experiments prune restore predict bench readme clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

repro: install
	$(BIN)/dvc repro
	@echo "The report: reports/README.md (Markdown) and reports/index.html (open it in a browser)"

# Line coverage each package must keep; pytest-cov's --cov-fail-under knows only the overall total.
COVERAGE_MIN_MLP := 95
COVERAGE_MIN_STAGES := 85

test: lint
	$(BIN)/python -m pytest --cov=mlp --cov=stages --cov=tools --cov-report=term-missing
	$(BIN)/coverage report --include='mlp/*' --fail-under=$(COVERAGE_MIN_MLP) --format=total
	$(BIN)/coverage report --include='stages/*,tools/*' --fail-under=$(COVERAGE_MIN_STAGES) --format=total

# ruff for lint and formatting, mypy for types (strict for mlp/; see pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy mlp stages tools benchmarks tests

# Rewrite the tree: safe lint fixes (import order, pyupgrade, ...) first, then formatting.
format: install
	$(BIN)/ruff check --fix --exit-zero --quiet .
	$(BIN)/ruff format .
	$(BIN)/ruff check .

# The full-MNIST experiment (experiments/full-mnist.yaml): about 5 minutes of training on 2 cores.
full-mnist: install
	$(BIN)/python -m tools.experiment full-mnist
	$(BIN)/python -m tools.readme

# Five seeds per architecture (experiments/seed-study.yaml): about 4 minutes of training on 2 cores.
seed-study: install
	$(BIN)/python -m tools.experiment seed-study
	$(BIN)/python -m tools.readme

# One line per experiment: its changed params and each architecture's test accuracy (fits 100 columns).
experiments: install
	$(BIN)/python -m tools.table

# Remove outputs, dvc.lock entries and .gitignore lines of architectures or seeds no longer in params.yaml.
prune: install
	$(BIN)/python -m tools.prune

# Back to the last commit after a failed or unwanted experiment (what a stage's error message says).
restore: install
	$(BIN)/python -m tools.restore

# Read digits from your own images: make predict IMAGES="digit.png folder/" [MODEL=deep-42 or a .npz file].
predict: install
	$(BIN)/python -m tools.predict $(IMAGES) $(if $(MODEL),--model $(MODEL))

bench: install
	$(BIN)/python benchmarks/train_throughput.py

# The README's measured numbers, from reports/, experiments/results/ and benchmarks/results/.
readme: install
	$(BIN)/python -m tools.readme

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage dvc_plots
