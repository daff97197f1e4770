#!/usr/bin/env bash
# Create .venv-bench from locks/bench.txt: the benchmark baselines (MLflow) pin their own server stack.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/locked-venv.sh" "${PITLANE_BENCH_VENV:-$ROOT/.venv-bench}" "$ROOT/locks/bench.txt"
