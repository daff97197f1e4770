#!/usr/bin/env bash
# Create (or refresh) a virtualenv from one of the committed locks: exactly the locked, hash-checked set.
# Usage: scripts/locked-venv.sh VENV LOCK
# Idempotent: the venv records its lock's sha256 and is rebuilt from scratch when the lock changes.
set -euo pipefail
VENV="$1"
LOCK="$2"
PY="${PYTHON:-python3}"
want="$(sha256sum "$LOCK" | cut -d' ' -f1)"
stamp="$VENV/.lock-sha256"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$VENV/bin/python" ]]; then
  exit 0
fi
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --require-hashes --no-deps -r "$LOCK"
echo "$want" > "$stamp"
echo "venv ready: $VENV (from $LOCK)" >&2
