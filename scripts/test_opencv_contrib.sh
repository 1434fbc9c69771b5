#!/usr/bin/env bash
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# The module as an OpenCV extra module: builds OpenCV 5.0 with it (scripts/build_opencv_contrib.sh, a cached
# build outside the clone), then runs
#  1. opencv_test_explain (OpenCV's ts; OpenCL tests on PoCL's CPU device);
#  2. opencv_perf_explain as a sanity run (one sample per test; its models are not bundled, so the
#     ResNet-50/MobileNetV2 cases skip unless EXPLAIN_PERF_MODELS is set), its XML read by OpenCV's
#     modules/ts/misc/summary.py;
#  3. the Python tests of cv2.explain (modules/explain/misc/python/test), the Python sample against the
#     C++ sample when $EXPLAIN_SAMPLE_GRADCAM names it (scripts/test.sh passes build/samples').
# Tests listed in modules/explain/test/opencv5_known_failures.txt are left out of steps 1 and 3 and printed:
# they fail on OpenCV 5.0 because of the engine (README, "OpenCV versions"), not because of this build.
#
#   scripts/test_opencv_contrib.sh            # OpenCV 5.0.0.93
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
version=${1:-5.0.0.93}
build=$(scripts/build_opencv_contrib.sh "$version" | tail -1)
src=${EXPLAIN_OPENCV_CACHE:-/var/cache/explain-opencv}/$version/src/opencv
out=$build/explain-results
mkdir -p "$out"
export OPENCV_OPENCL_DEVICE=:CPU: OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES=1 EXPLAIN_REQUIRE_OPENCL=1

echo "== opencv_test_explain (OpenCV $version, ts)"
known=modules/explain/test/opencv5_known_failures.txt
filter=()
known_list=$(grep -v '^#' "$known" | awk 'NF' || true)
if [[ $version == 5.* && -n $known_list ]]; then
  filter=(--gtest_filter=-$(echo "$known_list" | awk '$1 !~ /^python:/ {print $1}' | paste -sd: -))
  echo "left out (known to fail on OpenCV 5.0 because of the engine, $known):"
  echo "$known_list" | sed 's/^/  /'
fi
"$build/bin/opencv_test_explain" "${filter[@]}" --gtest_output=xml:"$out/test.xml"

echo "== opencv_perf_explain (sanity: one sample per test)"
"$build/bin/opencv_perf_explain" "${filter[@]}" --perf_min_samples=1 --perf_force_samples=1 \
  --gtest_output=xml:"$out/perf.xml"
/usr/bin/python3 "$src/modules/ts/misc/summary.py" "$out/perf.xml" || true

echo "== Python: cv2.explain"
PYTHONPATH="$build/lib/python3:$src/modules/python/test" EXPLAIN_DATA_DIR="$root/data" EXPLAIN_SKIP_KNOWN_FAILURES=1 \
  /usr/bin/python3 modules/explain/misc/python/test/test_explain.py -v
