#!/usr/bin/env bash
# Create .venv-labelstudio from locks/labelstudio.txt: Label Studio pins Django and many libraries, so it lives
# in its own virtualenv, apart from the main .venv (which only needs label-studio-sdk). Idempotent; rebuilt when
# the lock changes. Refresh the lock with `make lock` (edit locks/labelstudio.in to change the version).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PITLANE_LABELSTUDIO_VENV:-$ROOT/.venv-labelstudio}"
bash "$ROOT/scripts/locked-venv.sh" "$VENV" "$ROOT/locks/labelstudio.txt"
