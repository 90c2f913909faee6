#!/usr/bin/env bash
# Builds cyray in place (C++ with CMake, protobuf code, the Cython extension)
# and installs it in editable mode into the virtual environment once.
# Incremental: a second run with nothing changed does almost nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck disable=SC1091
[ -n "${VIRTUAL_ENV:-}" ] || source .venv/bin/activate
python setup.py -q build_ext --inplace 2>&1 | { grep -vE 'SetuptoolsDeprecationWarning|^\s*!!|^\s*\*+$|setup.py install|pypa/setuptools|packaging.python.org|^\s*$|See https|Please avoid|Instead, use|By 20' || true; }
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "build.sh: setup.py build_ext failed"; exit 1; }
test -n "$(ls pkg/cyray/_raylet*.so 2>/dev/null)" || { echo "build.sh: the extension was not built"; exit 1; }
# The editable install must point at this checkout (run from / so no folder
# named cyray in the current directory can shadow it).
if ! (cd / && python -c "import cyray, sys; sys.exit(cyray.__file__ != '$root/pkg/cyray/__init__.py')" 2>/dev/null); then
  python -m pip install -q -e . --no-build-isolation --no-deps 2>&1 | grep -v 'is ignored' || true
fi
