#!/usr/bin/env bash
# The README's bare install (only `pip install -e .`, no extras) in a fresh virtual environment:
# the README's first command runs, `fabless` alone prints help, a usage slip, a bad file and a
# command whose optional extra is missing each give one error line with exit status 2, and
# nothing prints a traceback.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
VENV="$(mktemp -d)/bare"
python3 -m venv "$VENV"
log="$(mktemp)"
"$VENV/bin/python" -m pip install -q --upgrade pip >"$log" 2>&1
"$VENV/bin/python" -m pip install -q -e . >"$log" 2>&1 || { cat "$log"; echo "bare install: pip install -e . failed"; exit 1; }
fail=0
check() {  # check NAME EXPECTED_STATUS COMMAND...
  local name="$1" want="$2"; shift 2
  local out; out="$(mktemp)"
  (cd "$ROOT" && "$@") >"$out" 2>&1
  local got=$?
  if [ "$got" != "$want" ]; then echo "bare install: $name exited $got, expected $want"; tail -5 "$out"; fail=1; fi
  if grep -q "Traceback" "$out"; then echo "bare install: $name printed a traceback"; tail -8 "$out"; fail=1; fi
}
bad="$(mktemp --suffix=.yaml)"; printf 'model: llama-3.1-70b\nsystem: dgx-h100\nprecision: fp7\n' > "$bad"
check "README first command" 0 "$VENV/bin/fabless" estimate examples/scenarios/llama-70b-serving-dgx-h100.yaml
check "fabless alone" 0 "$VENV/bin/fabless"
check "usage slip (-m abc)" 2 "$VENV/bin/fabless" op gemm --chip h100-sxm -m abc -n 1 -k 1
check "unknown command" 2 "$VENV/bin/fabless" no-such-command
check "bad scenario file" 2 "$VENV/bin/fabless" estimate "$bad"
check "an extra that is not installed" 2 "$VENV/bin/fabless" explore examples/openai-xpu/space.yaml --out "$(mktemp -d)/x"
check "fabless ui without the ui extra" 2 "$VENV/bin/fabless" ui --check
if [ "$fail" = 0 ]; then echo "bare install: 7 checks passed"; fi
exit "$fail"
