# Suixin (穗信) — set-up and everyday commands. `make run` and `make test` work on a fresh
# machine with Python >= 3.11 and Node.js: they install everything pinned first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.suixin-installed
NPM_STAMP := node_modules/.suixin-installed
DATA_DIR ?= data

.PHONY: install run test lint format bench gas compile lock clean demo-cross-city conformance

CHROMIUM_STAMP := $(VENV)/.suixin-chromium

install: $(STAMP) $(NPM_STAMP) $(CHROMIUM_STAMP)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# `npm install`, not `npm ci`: the registry reachable here serves only the linux-x64 build of
# anvil, so the lock file cannot list the other platforms' optional packages that `npm ci`
# insists on. Versions are pinned exactly in package.json and the lock is left unchanged.
$(NPM_STAMP): package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

# The browser tests drive Debian's Chromium (Playwright with executable_path; Playwright's own
# browser download is not used). A CJK font makes the pages' 中文 readable in screenshots.
$(CHROMIUM_STAMP): $(STAMP)
	test -x /usr/bin/chromium -a -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc || \
		{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-wqy-zenhei; }
	touch $@

# The office on 127.0.0.1:8000 over the embedded chain and SQLite in $(DATA_DIR): the first start
# deploys the registries and accredits the demo authorities; a restart keeps everything.
run: install
	$(BIN)/suixin serve --demo --chain embedded --data-dir $(DATA_DIR) --host 127.0.0.1 --port 8000

# The suite on every core (pytest-xdist), a test module or class to a worker at a time, so the
# module fixtures (a browser test's server) are made once; TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto

test: install
	$(BIN)/pytest --numprocesses $(TEST_WORKERS) --dist loadscope

# 跨域通办: anvil and three offices (广州, 深圳, 肇庆) as processes on loopback, one chain; prints
# every step with its verdict and the revocation-to-visibility times; exit 0 when all as expected.
demo-cross-city: install
	$(BIN)/python scripts/cross_city.py

# The W3C suites (vc-di-eddsa-test-suite, tag eddsa-jcs-2022; vc-data-model-2.0-test-suite, tag
# vc2.0) against an office with the conformance issuer, from local git mirrors of the suites
# (SUIXIN_CONFORMANCE_MIRRORS, default /work/.mirror) exported into .conformance/; prints each
# suite's commit and passing/failing/pending counts. Not part of `make test`: it needs the mirrors
# and the npm registry.
conformance: $(STAMP)
	$(BIN)/python scripts/conformance.py

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Each benchmark prints its figures and exits non-zero when it misses its target; `-` lets the
# others run anyway, and make reports the miss as "(ignored)".
bench: install
	-$(BIN)/python scripts/gas_report.py
	-$(BIN)/python scripts/bench_chain.py
	-$(BIN)/python scripts/bench_verify.py
	-$(BIN)/python scripts/bench_verify_batch.py
	-$(BIN)/python scripts/bench_token_status.py
	-$(BIN)/python scripts/bench_issue.py
	-$(BIN)/python scripts/bench_chain_length.py
	-$(BIN)/python scripts/bench_scale.py --count 100000 --database sqlite
	-$(BIN)/python scripts/bench_scale.py --count 100000 --database postgres

gas: install
	$(BIN)/python scripts/gas_report.py

compile: install
	$(BIN)/python scripts/compile_contracts.py

# Re-pin Python dependencies after changing pyproject.toml.
lock: install
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
