#!/usr/bin/env bash
# Set up a virtual environment with fabless and every test extra, then run the whole test suite.
# Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${FABLESS_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -e ".[test,explore,torch,ray,report,ui]"
# The browser tests drive Debian's Chromium; install it where it is missing and apt can.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) >/dev/null 2>&1 \
    || echo "test.sh: could not install chromium; the browser tests will say so" >&2
fi
exec "$VENV/bin/python" -m pytest -n 2 --dist loadgroup -q "$@"
