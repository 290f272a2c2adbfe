# `make test` and `make demo` work on a fresh machine: they create .venv and install first.
VENV   ?= .venv
PY     := $(VENV)/bin/python
# torch comes from the wheels this machine serves locally; override elsewhere, e.g. TORCH=torch
TORCH  ?= torch==2.14.1 torchvision==0.29.1
STAMP  := $(VENV)/.installed

.PHONY: test demo bench clean

$(STAMP): setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) examples/vit_demo.py

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) benchmarks/engine.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
