# Every target builds or reuses the local venv by itself: a fresh clone needs only python3 >= 3.11.
PY ?= python3
B := .venv/bin
V := .venv/.installed

.PHONY: demo test soak lint check bench lock clean web

$(V): pyproject.toml requirements.lock
	$(PY) -m venv .venv
	$(B)/python -m pip install -q --disable-pip-version-check uv==0.13.9
	$(B)/uv pip install -q --python $(B)/python -r requirements.lock
	$(B)/uv pip install -q --python $(B)/python --no-deps -e .
	touch $@

# The COP page's map library (Leaflet, pinned in package-lock.json), installed when npm is here.
WEB := src/trilat/web
WEB_LIB := $(WEB)/node_modules/.package-lock.json

$(WEB_LIB): $(WEB)/package.json $(WEB)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix $(WEB) --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the web page's map library is not installed (install npm, then make web)"; fi

web: $(WEB_LIB)

demo: $(V) $(WEB_LIB)
	$(B)/trilat demo

test: $(V) $(WEB_LIB)
	$(B)/pytest -n 2 --dist loadgroup -m "not soak" $(if $(T),-x -k $(T))

soak: $(V)
	$(B)/pytest -m soak

lint: $(V)
	$(B)/ruff format --check . && $(B)/ruff check . && $(B)/mypy && $(B)/lint-imports

check: lint test

bench: $(V)
	for f in bench/bench_*.py; do $(B)/python $$f || exit 1; done

lock:
	$(B)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock -q

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
