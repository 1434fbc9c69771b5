#!/usr/bin/env bash
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# Performance of the explanation methods against the plain cv::dnn forward pass (ResNet-50, MobileNetV2).
#   scripts/perf.sh [perf/gtest options]     e.g. --perf_min_samples=20 --perf_max_time=30
#                                                 --gtest_filter='Explain_gradcam*'
#  1. exports the models (random weights) to build/models with tools/make_references.py if missing;
#  2. builds Release in build/;
#  3. runs build/perf/opencv_explain_perf (2 threads; every test twice, the table keeps the smaller
#     median, as the machine may be shared), XML report in build/perf_results.xml (OpenCV perf layout:
#     modules/ts/misc/summary.py reads it; it holds the last repeat), log in build/perf_results.txt;
#     the ratio table is printed at the end. Later options override the defaults (--gtest_repeat=1).
#   scripts/perf.sh --paired [ROUNDS]    (default 15 rounds)
#  instead of 3.: runs build/perf/opencv_explain_compare on each model: every round times the plain
#  forward and each method once, in turn, on CPU batch 1, and the table gives the quartiles of the
#  per-round ratio method / forward. Pairing cancels the drift of a shared machine (a separately timed
#  forward moves by 10-30 % between runs there); use it for ratios near 1. On OpenCV 5.0 with the module
#  built inside it (scripts/build_opencv_contrib.sh prints the build folder):
#    EXPLAIN_NO_BUILD=1 EXPLAIN_BUILD_DIR=<that folder> EXPLAIN_PERF_MODELS=<models> scripts/perf.sh --paired
# Environment: EXPLAIN_BUILD_DIR (default build), EXPLAIN_PERF_MODELS (default $BUILD/models),
# EXPLAIN_NO_BUILD=1 runs the binary already in $BUILD (e.g. one configured from another source tree).
# OpenCL: the "ocl" cases run the Net on DNN_TARGET_OPENCL with the results kept on the device; they
# are skipped without an OpenCL device. cv::dnn uses non-Intel devices only with
# OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES=1 (set here); without a GPU, OPENCV_OPENCL_DEVICE=:CPU: runs
# them on PoCL (about 20x slower than the CPU path: for the record only). EXPLAIN_PERF_TARGET=ocl (or cpu)
# runs only those cases, e.g. on a GPU (ResNet-50 and MobileNetV2 on OpenCL):
#   EXPLAIN_PERF_TARGET=ocl OPENCV_OPENCL_DEVICE=:GPU: scripts/perf.sh --gtest_filter='Explain_*'
# scripts/perf_scaling.sh measures the scaling with input size, batch and number of classes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build="${EXPLAIN_BUILD_DIR:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
models="${EXPLAIN_PERF_MODELS:-$build/models}"
paired=0
if [ "${1:-}" = "--paired" ]; then
  paired=1
  rounds="${2:-15}"
fi

need_models=0
for m in resnet50 mobilenet_v2; do
  [ -f "$models/$m.onnx" ] || need_models=1
done

# Debian 12 packages, installed only when missing (Python ones only when the models must be made).
if [ "$need_models" = 1 ]; then scripts/install_deps.sh --python; else scripts/install_deps.sh; fi

if [ "$need_models" = 1 ]; then
  echo "== exporting resnet50, mobilenet_v2 to $models"
  # Debian's interpreter (the first python3 on PATH may be one without torch)
  /usr/bin/python3 tools/make_references.py --out "$models" --models resnet50,mobilenet_v2
fi

if [ "${EXPLAIN_NO_BUILD:-0}" != 1 ]; then
  echo "== building (Release)"
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DEXPLAIN_BUILD_PERF=ON >/dev/null
  cmake --build "$build" -j2 --target opencv_explain_perf opencv_explain_compare
fi

if [ "$paired" = 1 ]; then
  compare="$build/perf/opencv_explain_compare"
  [ -x "$compare" ] || compare="$build/bin/opencv_explain_compare"  # a build of OpenCV with the module inside
  echo "== paired rounds ($rounds per model): $compare"
  printf '%-16s %-14s %12s %12s %18s\n' model method "median ms" "x forward" "(quartiles)"
  for m in resnet50 mobilenet_v2; do
    "$compare" --model="$models/$m.onnx" --samples="$rounds" \
      --methods=forward,gradcam,gradcam_top5,guided,guided_gradcam |
      awk -v model="$m" '$1 == "median" { ms[$2] = $3; if ($2 == "forward") order[n++] = $2 }
                         $1 == "paired" { ms2[$2] = $3; q1[$2] = $4; q3[$2] = $5; order[n++] = $2 }
                         END { for (i = 0; i < n; i++) { k = order[i];
                                 if (k == "forward") printf "%-16s %-14s %12.1f %12s\n", model, k, ms[k], "1.00";
                                 else printf "%-16s %-14s %12.1f %12.3f %8.3f-%.3f\n", model, k, ms[k], ms2[k], q1[k], q3[k] } }'
  done
  exit 0
fi

echo "== running $build/perf/opencv_explain_perf"
OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES="${OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES:-1}" EXPLAIN_PERF_MODELS="$models" \
"$build/perf/opencv_explain_perf" \
  --perf_min_samples=10 --perf_max_time=10 --gtest_repeat=2 \
  --gtest_output="xml:$build/perf_results.xml" "$@" 2>&1 | tee "$build/perf_results.txt"
rc=${PIPESTATUS[0]}
echo "report: $build/perf_results.xml, log: $build/perf_results.txt"
exit "$rc"
