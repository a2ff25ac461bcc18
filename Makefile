# rnnkit: the two set-up commands are `make lab` (the course) and `make test` (the checks).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.rnnkit-installed

.PHONY: lab test lint notebooks release check-release validate clean

$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e ".[dev]"
	@touch $@

lab: $(STAMP)  ## launch JupyterLab on the student notebooks (course/)
	$(BIN)/rnnkit lab

test: $(STAMP)  ## lint, then every test: units, notebooks (nbval), release sync, grading
	$(BIN)/ruff check .
	$(BIN)/python -m pytest --durations=25

lint: $(STAMP)
	$(BIN)/ruff check .

notebooks: $(STAMP)  ## re-run every solution notebook in place (outputs for nbval), then release
	$(BIN)/rnnkit execute
	$(BIN)/rnnkit release

release: $(STAMP)
	$(BIN)/rnnkit release

check-release: $(STAMP)
	$(BIN)/rnnkit release --check

validate: $(STAMP)
	$(BIN)/rnnkit validate

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

.PHONY: test-browser binder-check
test-browser: $(STAMP)  ## only the browser tests: a real JupyterLab in headless Chromium
	$(BIN)/python -m pytest tests/browser

binder-check: $(STAMP)  ## build binder/'s environment afresh, run every solution, report memory
	$(BIN)/python scripts/binder_check.py --json test-artifacts/binder-check.json
