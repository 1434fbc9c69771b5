#!/usr/bin/env bash
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# Builds OpenCV with explain as an extra module (the way opencv_contrib modules are built): a minimal
# OpenCV (core, imgproc, imgcodecs, videoio, highgui, dnn, ts) from the opencv-python-headless source
# distribution on PyPI, with OPENCV_EXTRA_MODULES_PATH=<this clone>/modules, the Python 3 bindings
# (cv2.explain), opencv_test_explain and opencv_perf_explain.
#
#   scripts/build_opencv_contrib.sh             # OpenCV 5.0 (5.0.0.93)
#   scripts/build_opencv_contrib.sh 4.14.0.94   # another version of the sdist
#
# The build folder is a cache outside the clone, <cache>/<version>-inTree/build (cache:
# $EXPLAIN_OPENCV_CACHE, default /var/cache/explain-opencv), configured again with the calling clone's
# modules/ on every run, so that a later run recompiles only what changed (the module, mostly). The
# source is shared with scripts/build_opencv.sh (<cache>/<version>/src). No ccache: the build folder is the
# cache, and turning ccache on later would change every compile command and rebuild it all. Jobs: $EXPLAIN_OPENCV_JOBS (default: the number of cores).
# Prints the build folder on the last line; there: bin/opencv_test_explain, bin/opencv_perf_explain and
# the cv2 module in lib/python3 (PYTHONPATH=<build>/lib/python3).
set -euo pipefail
version=${1:-5.0.0.93}
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${EXPLAIN_OPENCV_CACHE:-/var/cache/explain-opencv}
build=$cache/$version-inTree/build
python=${EXPLAIN_PYTHON:-/usr/bin/python3}

"$here/scripts/install_deps.sh" --bindings
mkdir -p "$build"
# One build at a time per cache folder (other clones may share it).
exec 9>"$cache/$version-inTree/.lock"
flock 9

src=$("$here/scripts/opencv_source.sh" "$version")

# Minimal: the modules explain and its tests need, one SIMD dispatch target (AVX2; the baseline stays
# SSE3), no IPP, no bundled codecs but PNG/JPEG from the system, protobuf for the ONNX importer.
cmake -S "$src/opencv" -B "$build" -G "Unix Makefiles" -Wno-dev \
  -DCMAKE_BUILD_TYPE=Release \
  -DOPENCV_EXTRA_MODULES_PATH="$here/modules" \
  -DBUILD_LIST=core,imgproc,imgcodecs,videoio,highgui,dnn,ts,python3,explain \
  -DBUILD_TESTS=ON -DBUILD_PERF_TESTS=ON \
  -DOPENCV_BUILD_TEST_MODULES_LIST=explain -DOPENCV_BUILD_PERF_TEST_MODULES_LIST=explain \
  -DBUILD_EXAMPLES=OFF -DBUILD_opencv_apps=OFF -DBUILD_JAVA=OFF -DBUILD_DOCS=OFF \
  -DBUILD_opencv_python2=OFF -DBUILD_opencv_python3=ON -DPYTHON3_EXECUTABLE="$python" \
  -DENABLE_CCACHE=OFF -DENABLE_PRECOMPILED_HEADERS=OFF -DCPU_DISPATCH=AVX2 \
  -DWITH_EIGEN=ON -DWITH_OPENCL=ON -DWITH_PROTOBUF=ON -DBUILD_PROTOBUF=ON \
  -DWITH_IPP=OFF -DWITH_ITT=OFF -DWITH_LAPACK=OFF -DWITH_OPENEXR=OFF -DWITH_JASPER=OFF -DWITH_OPENJPEG=OFF \
  -DWITH_WEBP=OFF -DWITH_TIFF=OFF -DWITH_AVIF=OFF -DWITH_JPEGXL=OFF -DWITH_SPNG=OFF -DWITH_FFMPEG=OFF \
  -DWITH_GSTREAMER=OFF -DWITH_V4L=OFF -DWITH_OBSENSOR=OFF -DWITH_VA=OFF -DWITH_VA_INTEL=OFF \
  -DWITH_GTK=OFF -DWITH_QT=OFF -DWITH_VTK=OFF -DWITH_OPENCLAMDBLAS=OFF -DWITH_OPENCLAMDFFT=OFF \
  -DWITH_UNIFONT=OFF -DCV_TRACE=OFF -DOPENCV_GENERATE_PKGCONFIG=OFF >"$build/configure.log"
if ! grep -Eq "To be built:.* explain( |$)" "$build/configure.log"; then
  grep -i "explain" "$build/configure.log" || true
  echo "error: OpenCV's configure step left the explain module out (log: $build/configure.log)" >&2
  exit 1
fi
jobs=${EXPLAIN_OPENCV_JOBS:-$(nproc)}
cmake --build "$build" -j"$jobs"
echo "$build"
