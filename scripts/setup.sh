#!/usr/bin/env bash
# Creates .venv in the repository root and installs tritonwright with its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# Prefer a CPU build of torch when one is available locally (find-links); otherwise the registry's default.
.venv/bin/python -m pip install -q "torch==2.13.0" 2>/dev/null || .venv/bin/python -m pip install -q torch
.venv/bin/python -m pip install -q -e ".[dev,ray]"  # ray: the Ray executor is tested on a local instance
