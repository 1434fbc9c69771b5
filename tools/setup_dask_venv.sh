#!/bin/sh
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# Sets up a virtual environment with Dask distributed (PyPI `distributed`, pure Python) for the distributed
# sample, modules/explain/samples/distributed/explain_dask.py, and its test. Idempotent: run it again and it
# only checks.
#
#   tools/setup_dask_venv.sh [VENV]      # default VENV: build/venv-dask (in the repo)
#
# - Debian 12 packages (apt-get, `sudo` when not root): python3-venv, python3-pip.
# - The venv is made by /usr/bin/python3 without the system site packages: pip installs distributed and dask
#   (pinned) and their dependencies into it, and nothing into Debian's python.
# Prints the venv's python on the last line; exits non-zero when the venv cannot be made (e.g. PyPI is
# out of reach), which the ctest test takes as "skipped".
set -eu
DISTRIBUTED_VERSION=2026.8.0
DASK_VERSION=2026.8.0
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${1:-$REPO/build/venv-dask}
PY=/usr/bin/python3

missing=""
for p in python3-venv python3-pip; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    echo "apt-get install:$missing" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >&2
fi

if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$(dirname "$VENV")"
    $PY -m venv "$VENV"
fi
installed() {
    "$VENV/bin/python" -m pip show "$1" 2>/dev/null | grep -qx "Version: $2"
}
if ! installed distributed $DISTRIBUTED_VERSION || ! installed dask $DASK_VERSION; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        "distributed==$DISTRIBUTED_VERSION" "dask==$DASK_VERSION" >&2
fi
"$VENV/bin/python" -c "import distributed; print('distributed', distributed.__version__)" >&2
echo "$VENV/bin/python"
