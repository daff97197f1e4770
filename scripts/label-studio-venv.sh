#!/usr/bin/env bash
# Create .venv-labelstudio: Label Studio pins Django and many libraries, so it
# lives in its own virtualenv, apart from the main .venv (which only needs
# label-studio-sdk). Idempotent: exits early when the venv already works.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PITLANE_LABELSTUDIO_VENV:-$ROOT/.venv-labelstudio}"
PY="${PYTHON:-python3}"
VERSION="${LABEL_STUDIO_VERSION:-1.23.2}"

if [[ -x "$VENV/bin/label-studio" ]] && "$VENV/bin/python" -c "import label_studio" 2>/dev/null; then
  echo "label-studio venv ready: $VENV"
  exit 0
fi
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "label-studio==$VERSION"
echo "label-studio venv ready: $VENV"
