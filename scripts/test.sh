#!/usr/bin/env bash
# Set up a virtual environment with fabless and every test extra, then run the whole test suite.
# Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${FABLESS_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -e ".[test,explore,torch,ray]"
exec "$VENV/bin/python" -m pytest -n 2 -q "$@"
