#!/usr/bin/env bash
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# Installs the Debian 12 packages that the build and the tests need (only those missing).
#   scripts/install_deps.sh            C++ build: compiler, CMake, OpenCV, Eigen, GoogleTest, PoCL; Clang and
#                                      its sanitizer/libFuzzer runtime for scripts/fuzz.sh; Xvfb and xdotool
#                                      for the test of the sample's window
#   scripts/install_deps.sh --python   also Debian's PyTorch/torchvision/ONNX/OpenCV for the reference tools
#   scripts/install_deps.sh --bindings also Python's headers and numpy, for OpenCV's cv2 module built from
#                                      source (scripts/build_opencv_contrib.sh)
#   scripts/install_deps.sh --wheel    also Python's headers and venv, for the cv2 wheel (scripts/build_wheel.sh)
#   scripts/install_deps.sh --docs     also doxygen and bibtex, for the doxygen target (API reference, tutorials)
set -euo pipefail
pkgs="build-essential cmake ccache pkg-config libopencv-dev libeigen3-dev libgtest-dev pocl-opencl-icd ocl-icd-opencl-dev clang libclang-rt-14-dev xvfb xdotool"
if [ "${1:-}" = "--python" ]; then
  pkgs="$pkgs python3 python3-numpy python3-torch python3-torchvision python3-onnx python3-opencv"
elif [ "${1:-}" = "--bindings" ]; then
  pkgs="$pkgs python3 python3-dev python3-numpy"
elif [ "${1:-}" = "--wheel" ]; then
  pkgs="$pkgs python3 python3-dev python3-venv"
elif [ "${1:-}" = "--docs" ]; then
  pkgs="$pkgs doxygen texlive-binaries"
fi
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing:$missing"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
