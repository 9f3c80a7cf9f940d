# Detour — `make run` starts the app, `make test` runs every test.
# Each target installs what is missing first; nothing needs installing by hand.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test dist vendor install browser servers check lint typecheck bench bench-page clean lock

run: install vendor          ## start the gateway and the page (Ctrl-C stops both)
	$(PY) tools/run.py

test: install vendor browser servers ## run unit, gateway, deployment and end-to-end tests, with core coverage
	$(PY) -m pytest --cov=web --cov-branch --cov-report=term-missing:skip-covered --cov-fail-under=90 --durations=10

dist: install vendor         ## write the static page into dist/
	$(PY) tools/build.py

install: $(STAMP)

$(STAMP): requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Detour needs Python 3.11 or newer as $(PYTHON)"; exit 1; }
	$(PYTHON) tools/bootstrap.py $(VENV)
	touch $(STAMP)

lock:                        ## re-pin requirements.lock from pyproject.toml (keeps current pins)
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --generate-hashes \
		--python-version 3.11 --universal --quiet -o requirements.lock

vendor: install              ## fetch the pinned PyScript, Pyodide and Pico CSS from npm
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm; }
	$(PY) tools/vendor.py

browser:                     ## Debian's Chromium for the end-to-end tests
	@test -x $(CHROMIUM) || { apt-get update -qq && apt-get install -y -qq chromium; }

# The deployment tests start their own nginx and redis-server on loopback ports with
# their own config, so the services these packages start on install never get in the way.
servers:                     ## Debian's nginx (with brotli_static) and redis-server for tests/deploy
	@test -x /usr/sbin/nginx -a -x /usr/bin/redis-server \
		-a -e /usr/lib/nginx/modules/ngx_http_brotli_static_module.so || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			nginx libnginx-mod-http-brotli-static redis-server; }

check: install               ## lint, format check and type check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy web gateway

bench: install vendor browser ## gateway speed (direct vs relay vs LiteLLM vs stock proxy), then the page's
	$(PY) bench/gateway_bench.py
	$(PY) bench/litellm_bench.py
	$(PY) bench/page_bench.py
	$(PY) bench/page_scale_bench.py

bench-page: install vendor browser ## the page alone: boot vs bare Pyodide, first paint, bytes, cold and warm
	$(PY) bench/page_bench.py

clean:
	rm -rf dist .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
