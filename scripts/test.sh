#!/usr/bin/env bash
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# Builds everything and runs all tests:
#  1. the C++ tests (gradient checks, map definitions, errors, ...) in a Release build;
#  2. the comparison against autograd references: tools/make_references.py exports the model zoo
#     with Debian's PyTorch and computes the references (cached in build/references);
#  3. the C++ tests again under AddressSanitizer + UndefinedBehaviorSanitizer;
#  4. the concurrency tests under ThreadSanitizer;
#  5. the fuzz targets for a fixed number of mutations from a fixed seed (scripts/fuzz.sh, Clang);
#  6. a consumer project that find_package()s the installed library (and one through pkg-config);
#  7. the module inside OpenCV 5.0's own build (scripts/test_opencv_contrib.sh: a cached OpenCV build outside
#     the clone, about 45 minutes cold on 2 busy cores, a minute warm): opencv_test_explain on OpenCV's ts, a
#     perf sanity run, and the Python tests of cv2.explain (the Python sample against build/samples' C++ one);
#  8. when the cv2 wheel's build cache exists (scripts/build_wheel.sh ran once on this machine): the wheel
#     rebuilt with this clone's module, installed into a fresh venv, and the Python tests against it;
#  9. when OpenCV 4.14 is built in the cache (scripts/build_opencv.sh 4.14.0.94 ran once on this machine): the
#     C++ tests against it (scripts/test_opencv.sh 4.14.0.94, the references of step 2 included).
# EXPLAIN_NO_PYTHON=1 skips step 2 (the C++ tests do not need Python).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
if [ "${EXPLAIN_NO_PYTHON:-0}" = 1 ]; then scripts/install_deps.sh; else scripts/install_deps.sh --python; fi

# ccache (installed by install_deps.sh): with the clone as its base folder, the paths inside it are hashed
# relative to it, so another clone of the same sources hits the cache
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="$root"
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >/dev/null
cmake --build build -j2

# cached_references <folder> <key> <command...>: <folder> holds what <command> --out <folder> writes, copied
# from the cache when it holds <key>, else made and then cached
cached_references() {
  local dest=$1 key=$2
  shift 2
  rm -rf "$dest"
  if [ ! -f "$refcache/$key/stamp" ]; then
    "$@" --out "$dest"
    echo "$key" > "$dest/stamp"
    mkdir -p "$refcache" && rm -rf "$refcache/$key.tmp" && cp -r "$dest" "$refcache/$key.tmp" &&
      rm -rf "$refcache/$key" && mv "$refcache/$key.tmp" "$refcache/$key"
  else
    cp -r "$refcache/$key" "$dest"
    echo "references: $refcache/$key (cached)"
  fi
}

make_cam_references() { "$(tools/setup_gradcam_venv.sh | tail -1)" tools/make_cam_references.py "$@"; }

if [ "${EXPLAIN_NO_PYTHON:-0}" != 1 ]; then
  # The references depend only on the scripts that make them and the model: cached outside the clone by a
  # hash of those (another clone of the same scripts reuses them), made again when one changes
  refcache=${EXPLAIN_OPENCV_CACHE:-/var/cache/explain-opencv}/references
  stamp=$(cat tools/make_references.py tools/train_default_model.py data/default_model.onnx | sha1sum | cut -c1-12)
  cached_references build/references "autograd-$stamp" /usr/bin/python3 tools/make_references.py
  export EXPLAIN_REFERENCE_DIR="$root/build/references" EXPLAIN_REQUIRE_REFERENCES=1

  # pytorch-grad-cam's maps for the CAM family (PyPI grad-cam in a venv on Debian's torch)
  camstamp=$(cat tools/make_cam_references.py tools/token_models.py tools/make_references.py tools/train_default_model.py \
             tools/train_caption_model.py tools/setup_gradcam_venv.sh tools/setup_onnxsim_venv.sh data/default_model.onnx \
             data/tasks/caption.onnx data/tasks/caption.png data/tasks/caption_words.yml | sha1sum | cut -c1-12)
  cached_references build/cam_references "cam-$camstamp" make_cam_references
  export EXPLAIN_CAM_REFERENCE_DIR="$root/build/cam_references"
fi
# OpenCL tests run on PoCL's CPU device (OpenCV picks GPUs only unless told otherwise)
(cd build && OPENCV_OPENCL_DEVICE=:CPU: OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES=1 EXPLAIN_REQUIRE_OPENCL=1 \
   ctest --output-on-failure -j2)

echo "== C++ tests under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DEXPLAIN_SANITIZE=ON -DEXPLAIN_BUILD_PERF=OFF "${launcher[@]}" >/dev/null
cmake --build build-asan -j2
# LeakSanitizer's tracer occasionally crashes at process exit here ("Tracer caught signal 11") after a
# test has passed: a failing test is run once more, so a real sanitizer error still fails twice.
# (the OpenCL tests too, on PoCL)
(cd build-asan && env -u EXPLAIN_REFERENCE_DIR -u EXPLAIN_CAM_REFERENCE_DIR -u EXPLAIN_REQUIRE_REFERENCES \
   OPENCV_OPENCL_DEVICE=:CPU: OPENCV_DNN_OPENCL_ALLOW_ALL_DEVICES=1 EXPLAIN_REQUIRE_OPENCL=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j2 --repeat until-pass:2)

echo "== the concurrency tests under ThreadSanitizer (OpenCV's own loops serial: its TBB pool is not instrumented)"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEXPLAIN_SANITIZE_THREAD=ON -DEXPLAIN_BUILD_PERF=OFF \
  -DEXPLAIN_BUILD_SAMPLES=OFF "${launcher[@]}" >/dev/null
cmake --build build-tsan -j2
EXPLAIN_TEST_OPENCV_THREADS=0 TSAN_OPTIONS=halt_on_error=1 build-tsan/test/opencv_explain_test --gtest_filter='*Thread*'

echo "== fuzz targets (libFuzzer, ASan+UBSan, fixed seed)"
scripts/fuzz.sh

echo "== find_package(opencv_explain) from an installed tree"
rm -rf build/install build/consumer
cmake --install build --prefix build/install >/dev/null
cmake -S modules/explain/test/consumer -B build/consumer -DCMAKE_PREFIX_PATH="$root/build/install" >/dev/null
cmake --build build/consumer -j2 >/dev/null
LD_LIBRARY_PATH="$root/build/install/lib" build/consumer/explain_consumer
echo "== the same consumer through pkg-config"
PKG_CONFIG_PATH="$root/build/install/lib/pkgconfig" c++ -std=c++17 modules/explain/test/consumer/main.cpp \
  -o build/consumer/explain_consumer_pc $(PKG_CONFIG_PATH="$root/build/install/lib/pkgconfig" pkg-config --cflags --libs opencv_explain)
LD_LIBRARY_PATH="$root/build/install/lib" build/consumer/explain_consumer_pc
echo "== the installed samples, moved to another prefix: the library through RPATH, the data from share/"
rm -rf build/prefix-moved && cp -r build/install build/prefix-moved
(cd /tmp && env -u EXPLAIN_DATA_DIR "$root/build/prefix-moved/bin/example_explain_gradcam" \
   --headless --out="$root/build/prefix-moved/out") | tee build/prefix-moved/log.txt
grep -q "model: *$root/build/prefix-moved/share/opencv_explain/default_model.onnx" build/prefix-moved/log.txt
ls build/prefix-moved/out/gradcam.png >/dev/null

echo "== the module inside OpenCV 5.0's build: opencv_test_explain (ts; the references of step 2 too), perf sanity, cv2.explain"
EXPLAIN_SAMPLE_GRADCAM="$root/build/samples/example_explain_gradcam" scripts/test_opencv_contrib.sh

wheel_cache=${EXPLAIN_OPENCV_CACHE:-/var/cache/explain-opencv}/5.0.0.93-wheel
if [ -f "$wheel_cache/.built" ]; then
  echo "== the cv2 wheel with cv2.explain (its build cache is here): rebuilt, installed into a fresh venv, Python tests"
  EXPLAIN_SAMPLE_GRADCAM="$root/build/samples/example_explain_gradcam" scripts/test_wheel.sh
else
  echo "== the cv2 wheel: skipped (no wheel built on this machine yet; scripts/test_wheel.sh builds and tests it)"
fi

if [ -f "${EXPLAIN_OPENCV_CACHE:-/var/cache/explain-opencv}/4.14.0.94/install/.complete" ]; then
  echo "== the C++ tests against OpenCV 4.14 (built in the cache)"
  scripts/test_opencv.sh 4.14.0.94
else
  echo "== OpenCV 4.14: skipped (not built on this machine yet; scripts/test_opencv.sh 4.14.0.94 builds and tests it)"
fi
