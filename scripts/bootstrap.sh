#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test cyray:
# the C++ toolchain and libraries (apt) and a Python virtual environment (.venv).
# Idempotent: when everything is present it only checks, in a few seconds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${CYRAY_VENV:-$root/.venv}

apt_packages=(
  cmake g++ ninja-build ccache pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libboost-dev libabsl-dev libgtest-dev libgmock-dev redis-server procps clang-format
  chromium chromium-driver
)

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap: creating virtual environment $venv"
  "$python" -m venv "$venv"
fi

req="$root/scripts/requirements.txt"
stamp="$venv/.requirements.sha"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python packages from $req"
  # pip warns about absent local index folders on some machines: hide only that.
  pip_quiet() { "$venv/bin/python" -m pip install -q "$@" 2>&1 | { grep -v "is ignored" || true; }; return "${PIPESTATUS[0]}"; }
  pip_quiet --upgrade pip
  pip_quiet -r "$req"
  echo "$want" > "$stamp"
fi
echo "bootstrap: ok ($venv)"
