#!/usr/bin/env bash
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# Builds and runs the C++ tests against an OpenCV built from PyPI's source distribution:
#   scripts/test_opencv.sh 5.0.0.93        # OpenCV 5.0 (classic engine)
#   scripts/test_opencv.sh 4.14.0.94       # OpenCV 4.14 (scripts/test.sh runs it when that build is cached)
# OpenCV comes from scripts/build_opencv.sh (cached outside the clone; about an hour when cold). The
# module is built in build-<version>; the autograd and pytorch-grad-cam references are those of
# scripts/test.sh (build/references, build/cam_references: run it first, or the reference tests skip).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
version=${1:?usage: scripts/test_opencv.sh <opencv-python-headless version, e.g. 5.0.0.93>}
prefix=$(scripts/build_opencv.sh "$version" | tail -1)
major=${version%%.*}
dir=$(ls -d "$prefix"/lib*/cmake/opencv"$major" 2>/dev/null | head -1)
[ -n "$dir" ] || { echo "error: no OpenCVConfig.cmake under $prefix" >&2; exit 1; }
build=build-$version
experimental=OFF
case "$version" in 4.[7-9].* | 4.1[0-3].*) experimental=ON ;; esac   # 4.7 to 4.13 are not tested (README)
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="$root"
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DOpenCV_DIR="$dir" -DEXPLAIN_EXPERIMENTAL_OPENCV=$experimental \
  -DEXPLAIN_BUILD_PERF=ON "${launcher[@]}" >/dev/null
cmake --build "$build" -j2
refs=()
[ -f build/references/stamp ] && refs+=(EXPLAIN_REFERENCE_DIR="$root/build/references" EXPLAIN_REQUIRE_REFERENCES=1)
[ -f build/cam_references/stamp ] && refs+=(EXPLAIN_CAM_REFERENCE_DIR="$root/build/cam_references")
(cd "$build" && env "${refs[@]}" LD_LIBRARY_PATH="$prefix/lib:${LD_LIBRARY_PATH:-}" OPENCV_OPENCL_DEVICE=:CPU: \
   OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES=1 EXPLAIN_REQUIRE_OPENCL=1 ctest --output-on-failure -j2)
