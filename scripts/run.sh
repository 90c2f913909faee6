#!/usr/bin/env bash
# Sets everything up (bootstrap + incremental build), then runs the demo
# workload on a local cyray cluster. Extra arguments go to scripts/demo.py.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/bootstrap.sh >/dev/null
# shellcheck disable=SC1091
source .venv/bin/activate
scripts/build.sh >/dev/null
exec python scripts/demo.py "$@"
