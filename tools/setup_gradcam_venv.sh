#!/bin/sh
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# Sets up a virtual environment with pytorch-grad-cam (PyPI `grad-cam`) on Debian's torch, for
# tools/make_cam_references.py. Idempotent: run it again and it only checks.
#
#   tools/setup_gradcam_venv.sh [VENV]      # default VENV: build/venv-gradcam (in the repo)
#
# - Debian 12 packages (apt-get, `sudo` when not root): python3-torch 1.13, python3-torchvision,
#   python3-opencv, python3-onnx (as for make_references.py), python3-venv, python3-pip, and what
#   `import pytorch_grad_cam` pulls in at import time: python3-tqdm (score_cam), python3-scipy and
#   python3-matplotlib (utils/image.py), python3-sklearn (utils/svd_on_activations.py, used by the
#   Eigen methods), python3-pil.
# - The venv is made by /usr/bin/python3 with --system-site-packages, so it sees Debian's torch.
#   (A pyenv `python3` first on PATH has no torch; PyPI's torch wheel would pull GBs of CUDA.)
# - pip installs only grad-cam (pinned) and ttach, both with --no-deps, so pip never touches torch.
# Prints the venv's python on the last line.
set -eu
GRAD_CAM_VERSION=1.5.7
TTACH_VERSION=0.0.3
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${1:-$REPO/build/venv-gradcam}
PY=/usr/bin/python3

DEB="python3-torch python3-torchvision python3-opencv python3-onnx python3-numpy python3-venv python3-pip
     python3-tqdm python3-scipy python3-matplotlib python3-sklearn python3-pil"
missing=""
for p in $DEB; do
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
    $PY -m venv --system-site-packages "$VENV"
fi
installed() {
    "$VENV/bin/python" -m pip show "$1" 2>/dev/null | grep -qx "Version: $2"
}
if ! installed grad-cam $GRAD_CAM_VERSION || ! installed ttach $TTACH_VERSION; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
        "grad-cam==$GRAD_CAM_VERSION" "ttach==$TTACH_VERSION" >&2
fi
# the check that counts: the package imports on Debian's torch
"$VENV/bin/python" -c "import torch, pytorch_grad_cam, importlib.metadata as m; \
assert torch.__file__.startswith('/usr/lib/python3/'), torch.__file__; \
print('grad-cam', m.version('grad-cam'), 'on torch', torch.__version__)" >&2
echo "$VENV/bin/python"
