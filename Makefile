# Two commands do everything: `make lab` opens the course, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PYTEST_ARGS ?=
# Kernels dominate the run time, so spread test files over the cores; nbval needs a notebook's cells
# to stay together, which --dist loadscope guarantees.
PARALLEL ?= -n auto --dist loadscope

.PHONY: lab test test-fast test-gpu test-browser notebooks release benchmark benchmark-layers clean sandbox

$(INSTALLED): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $@

# Jupyter refuses to run as root unless told; containers and cloud machines often are root.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

## make lab: set up (once) and open JupyterLab on notebooks/
lab: $(INSTALLED)
	$(BIN)/jupyter lab notebooks/ $(LAB_ARGS)

## make sandbox: install bubblewrap, which `course grade` runs each submission in (Debian/Ubuntu, as root)
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing bubblewrap (the grader's sandbox)"; \
	    apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
	      { apt-get update -qq >/dev/null && apt-get install -y -qq bubblewrap >/dev/null; }; \
	  else \
	    echo "bubblewrap is missing: install it (sudo apt-get install bubblewrap) to grade in a sandbox;"; \
	    echo "on macOS, grade inside the container of docs/grading.md"; \
	  fi; }

## make test: set up (once), then the unit tests and every notebook under nbval, on the CPU
test: $(INSTALLED) sandbox
	COURSE_DEVICE=$${COURSE_DEVICE:-cpu} $(BIN)/python -m pytest --nbval-lax $(PARALLEL) $(PYTEST_ARGS)

## make test-fast: the unit tests only, without the kernels
test-fast: $(INSTALLED)
	$(BIN)/python -m pytest tests -m "not slow" $(PYTEST_ARGS)

## make test-gpu: on a CUDA machine, the gpu-marked tests and the notebooks on the GPU
test-gpu: $(INSTALLED)
	COURSE_DEVICE=cuda $(BIN)/python -m pytest --nbval-lax -m "gpu or not slow" $(PYTEST_ARGS)

## make test-browser: Run All in a student notebook, in JupyterLab, in headless Chromium (not part of make test)
test-browser: $(INSTALLED)
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq >/dev/null && apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "install chromium and chromium-driver (Debian/Ubuntu packages) first"; exit 1; fi; }
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[browser]"
	COURSE_BROWSER_TESTS=1 $(BIN)/python -m pytest tests/browser -s $(PYTEST_ARGS)

## make notebooks: re-execute the solution notebooks in place, so the committed outputs are fresh
notebooks: $(INSTALLED)
	$(BIN)/python -m course_utils execute notebooks/

## make release: write the student version of every lesson to release/
release: $(INSTALLED)
	$(BIN)/course release notebooks/ --out release/

## make benchmark: grading overhead and parallel speed-up
benchmark: $(INSTALLED)
	$(BIN)/python benchmarks/grading_benchmark.py

## make benchmark-layers: the course's vectorised conv and pooling layers against torch on the CPU (THREADS=1)
THREADS ?= 1
benchmark-layers: $(INSTALLED)
	$(BIN)/python benchmarks/conv_pool_benchmark.py --threads $(THREADS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis release grading-out
