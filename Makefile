# Two entry points for a fresh machine: `make demo` (the main job) and `make test`.
PYTHON ?= python3.10
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[loihi,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/s4d demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

bench: $(STAMP)
	$(VENV)/bin/s4d bench

clean:
	rm -rf $(VENV)
