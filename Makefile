# Two commands on a fresh machine: `make demo` and `make test`.
# Everything a target needs is installed here, into .venv, from the package registries.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
DEMO_DIR ?= userseg-demo
DEMO_USERS ?= 50000

.PHONY: demo test lint bench docs clean install install-dev browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# A stamp per extra set, rebuilt when pyproject.toml changes.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev,serve]'
	@touch $@ $(VENV)/.installed

# The Spark engine's and the GPU backend's tests: PySpark (~5 min, ~500 MB) and the CPU build of
# torch (~5 min, ~750 MB) measured on this 2-core machine; kept out of the dev extra so that
# install-dev stays quick, installed by `make test` (the tests skip with the reason without them).
# torch comes from its CPU wheel index: a plain unpinned `torch` pulls multi-GB CUDA wheels.
$(VENV)/.installed-scale: $(VENV)/.installed-dev
	$(BIN)/python -m pip install -q -e '.[dev,serve,spark]'
	$(BIN)/python -m pip install -q 'torch==2.13.0' --index-url https://download.pytorch.org/whl/cpu \
	  || $(BIN)/python -m pip install -q 'torch==2.13.0'
	# torch pulls the newest setuptools, which lacks the pkg_resources lifetimes imports
	$(BIN)/python -m pip install -q 'setuptools>=77.0.3,<81'
	@touch $@

$(VENV)/.installed-bench: $(VENV)/.installed-dev
	$(BIN)/python -m pip install -q -e '.[dev,serve,bench]'
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The web app's browser tests: Debian's chromium (Playwright's own browser download does not
# work offline) and axe-core from the npm registry, unpacked under build/ (not committed:
# its MPL-2.0 licence travels in the same package). Installed only when missing.
AXE_VERSION ?= 4.10.3
AXE = build/axe/package/axe.min.js
browser: $(AXE)
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

$(AXE):
	@command -v npm >/dev/null 2>&1 || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; }
	mkdir -p build/axe
	cd build/axe && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null && \
	  tar -xzf axe-core-$(AXE_VERSION).tgz package/axe.min.js package/LICENSE package/package.json

demo: $(VENV)/.installed
	$(BIN)/userseg demo --users $(DEMO_USERS) --out $(DEMO_DIR) --run

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

test: $(VENV)/.installed-scale browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 -q

bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/run_all.py

docs: $(VENV)/.installed-dev
	$(BIN)/python tools/docgen.py > docs/cli.md
	$(BIN)/python -m userseg.serve > docs/openapi.json

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache build dist src/*.egg-info
