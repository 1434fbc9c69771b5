#!/bin/sh
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# Sets up a virtual environment with onnxsim (PyPI), which folds the shape computations of torch's ONNX
# exports into constants (tools/token_models.py simplifies torchvision's ViT with it). Its own venv, without
# Debian's site packages: onnxsim needs its own onnx, onnxruntime and numpy. Idempotent.
#
#   tools/setup_onnxsim_venv.sh [VENV]      # default VENV: build/venv-onnxsim (in the repo)
#
# Prints the venv's python on the last line.
set -eu
ONNXSIM_VERSION=0.4.36
ONNX_VERSION=1.23.2
ONNXRUNTIME_VERSION=1.32.0  # onnxsim installs it on first import otherwise
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${1:-$REPO/build/venv-onnxsim}
if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$(dirname "$VENV")"
    /usr/bin/python3 -m venv "$VENV"
fi
installed() {
    "$VENV/bin/python" -m pip show "$1" 2>/dev/null | grep -qx "Version: $2"
}
if ! installed onnxsim $ONNXSIM_VERSION || ! installed onnx $ONNX_VERSION ||
   ! installed onnxruntime $ONNXRUNTIME_VERSION; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        "onnxsim==$ONNXSIM_VERSION" "onnx==$ONNX_VERSION" "onnxruntime==$ONNXRUNTIME_VERSION" >&2
fi
"$VENV/bin/python" -c "import onnxsim" >&2
echo "$VENV/bin/python"
