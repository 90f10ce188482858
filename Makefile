# The README's two commands: `make demo` and `make test`. Both set themselves up.
VENV    ?= .venv
BIN     := $(VENV)/bin
PYTHON  ?= python3
HOSTS   ?= 3
# Every install comes from a lock with hashes (requirements/README.md): what CI tested is what a fresh machine gets.
LOCK    ?= requirements/lock.txt

.PHONY: setup demo test lint unit sanity integration molecule bench lab-down clean ee lock test-oldest test-latest

# The lock holds every package, setuptools (the build backend) among them, so the project itself installs with no
# resolution and no download beyond the lock.
$(BIN)/dockyard: pyproject.toml $(LOCK) requirements/collections.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python requirements/unpack_collections.py
	$(BIN)/python requirements/check.py $(LOCK)
	touch $@

# The venv, and the link that makes this checkout the collection dockyard.fleet for Ansible, ansible-lint
# and molecule (.dockyard/collections/ansible_collections/dockyard/fleet).
setup: $(BIN)/dockyard
	$(BIN)/python -c "from dockyard.collection import collections_path; collections_path()"

# Docker Engine on this machine (installed by the collection's engine role), a lab of
# $(HOSTS) hosts, the whole platform on them, the sample stack from images built and pushed to the
# lab's registry, the status of it all, and the sample page as every lab host serves it (fails if one does not).
demo: setup
	$(BIN)/dockyard lab up --hosts $(HOSTS)
	$(BIN)/dockyard up -i inventory/lab/hosts.yml
	$(BIN)/dockyard deploy examples/stacks/web/compose.yml -n web -i inventory/lab/hosts.yml
	$(BIN)/dockyard status -i inventory/lab/hosts.yml
	$(BIN)/dockyard lab fetch --port 8080

# The fast tiers first (make takes them in this order): a unit test that fails costs seconds, not the lab's
# half hour.
test: lint unit sanity test-oldest integration

# The oldest versions pyproject claims (requirements/oldest.txt: ansible-core's floor, the same as meta/runtime.yml's
# requires_ansible, paramiko, Jinja2, ...) through the unit and sanity tiers, in a venv of their own.
test-oldest:
	$(MAKE) VENV=.venv-oldest LOCK=requirements/oldest.txt unit sanity

# Tomorrow's breakage today: the newest release of every dependency, no lock, through lint, unit and sanity. Not
# part of `make test` (a new release must not turn main red); when it fails, `make lock` waits for a fix or pins.
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/pip install --quiet --upgrade pip
	.venv-latest/bin/pip install --quiet --upgrade -e '.[test]'
	.venv-latest/bin/python requirements/unpack_collections.py
	.venv-latest/bin/pip freeze --exclude-editable > .venv-latest/freeze.txt
	touch .venv-latest/bin/dockyard
	$(MAKE) VENV=.venv-latest LOCK=pyproject.toml lint unit sanity

# The locks again from pyproject's ranges, with uv (requirements/tools.txt pins it): the newest versions into
# lock.txt, the oldest claimed ones (--resolution lowest-direct) into oldest.txt. Commit both after `make test`.
UV_COMPILE = $(VENV)/.lock-tools/bin/uv pip compile pyproject.toml --extra test --generate-hashes --quiet \
  --python-version 3.11 --python-platform x86_64-unknown-linux-gnu --custom-compile-command 'make lock'
lock:
	rm -rf $(VENV)/.lock-tools
	$(PYTHON) -m venv $(VENV)/.lock-tools
	$(VENV)/.lock-tools/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/tools.txt
	$(UV_COMPILE) --upgrade -o requirements/lock.txt
	$(UV_COMPILE) --upgrade --resolution lowest-direct -o requirements/oldest.txt

# ansible-lint resolves dockyard.fleet.* through the same collection link the runner makes.
lint: setup
	$(BIN)/ruff check src tests plugins benchmarks setup.py
	$(BIN)/yamllint --strict .
	PATH=$(CURDIR)/$(BIN):$$PATH ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.dockyard/collections \
	  $(BIN)/ansible-lint --offline --profile production

# The execution environment's build context for AWX / Automation Controller (docs/scale.md), in dist/ee/:
# the collection built into dist/, then `ansible-builder create`. Build and push the image from there.
ee: setup
	rm -rf dist/ee dist/build
	$(BIN)/ansible-galaxy collection build --output-path dist/build .
	mv dist/build/dockyard-fleet-*.tar.gz dist/dockyard-fleet.tar.gz && rmdir dist/build
	$(BIN)/ansible-builder create -f execution-environment.yml -c dist/ee

# On two workers (pytest-xdist): the tier takes about half as long, and every test must stand alone.
unit: setup
	$(BIN)/pytest -ra -n 2 tests/unit

# ansible-test sanity (validate-modules, compile, import, pylint, pep8, ...) on the collection as it ships
# (tests/sanity/run.py); the first run makes ansible-test's virtual environments (a few minutes), later runs ~1 min.
sanity: setup
	$(BIN)/python tests/sanity/run.py

integration: setup
	$(BIN)/pytest -ra --durations=20 -n 2 --dist loadgroup --no-loadscope-reorder tests/integration

# `molecule test` of one role's scenario (`make molecule SCENARIO=engine`), or of every scenario on one
# shared lab without SCENARIO (as `make test` does in tests/integration/test_molecule.py). Each run starts
# from no molecule state, so nothing an interrupted run left is taken for created or prepared.
SCENARIO ?=
MOLECULE_STATE := .dockyard/molecule
molecule: setup
	rm -rf $(MOLECULE_STATE)
	PATH=$(CURDIR)/$(BIN):$$PATH MOLECULE_EPHEMERAL_DIRECTORY=$(CURDIR)/$(MOLECULE_STATE) \
	  $(BIN)/molecule test $(if $(SCENARIO),-s $(SCENARIO),--all)

# Not part of `make test` (minutes per host count): bare hosts to the sample stack, no-op and one-change
# re-runs, and the physical limit, on fresh labs of BENCH_HOSTS hosts. Results in benchmarks/results/.
BENCH_HOSTS ?= 3 10
bench: setup
	$(BIN)/python benchmarks/bench.py --hosts $(BENCH_HOSTS)

lab-down: setup
	$(BIN)/dockyard lab down

clean: lab-down
	rm -rf $(VENV) .venv-oldest .venv-latest .dockyard build dist
