#!/usr/bin/env bash
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# Builds a minimal OpenCV (core, imgproc, imgcodecs, videoio, highgui, dnn, ts) from the source distribution
# that PyPI serves as opencv-python-headless, and installs it into a cache folder outside the clone,
# so that later runs (and other clones) reuse it. Prints the install prefix on the last line.
#
#   scripts/build_opencv.sh 5.0.0.93        # OpenCV 5.0
#   scripts/build_opencv.sh 4.14.0.94       # OpenCV 4.14
#
# Cache folder: $EXPLAIN_OPENCV_CACHE (default /var/cache/explain-opencv), one subfolder per version;
# a finished build leaves <version>/install/.complete and is not built again.
# Then: cmake -S . -B build-5.0 -DOpenCV_DIR=<prefix>/lib/cmake/opencv5 (see README).
set -euo pipefail
version=${1:?usage: scripts/build_opencv.sh <opencv-python-headless version, e.g. 5.0.0.93>}
cache=${EXPLAIN_OPENCV_CACHE:-/var/cache/explain-opencv}/$version
prefix=$cache/install
if [ -f "$prefix/.complete" ]; then
  echo "$prefix"
  exit 0
fi
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$cache"
cd "$cache"

src=$("$here/opencv_source.sh" "$version")

jobs=${EXPLAIN_OPENCV_JOBS:-$(nproc)}
cmake -S "$src/opencv" -B build -G "Unix Makefiles" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DBUILD_LIST=core,imgproc,imgcodecs,videoio,highgui,dnn,ts \
  -DBUILD_TESTS=OFF -DBUILD_PERF_TESTS=OFF -DBUILD_EXAMPLES=OFF -DBUILD_opencv_apps=OFF \
  -DBUILD_JAVA=OFF -DBUILD_opencv_python2=OFF -DBUILD_opencv_python3=OFF -DBUILD_DOCS=OFF \
  -DWITH_IPP=OFF -DWITH_ITT=OFF -DWITH_OPENEXR=OFF -DWITH_JASPER=OFF -DWITH_OPENJPEG=OFF \
  -DWITH_WEBP=OFF -DWITH_TIFF=OFF -DWITH_FFMPEG=OFF -DWITH_GSTREAMER=OFF -DWITH_V4L=OFF \
  -DWITH_GTK=OFF -DWITH_QT=OFF -DWITH_VTK=OFF -DWITH_PROTOBUF=ON -DBUILD_PROTOBUF=ON \
  -DWITH_OPENCL=ON -DWITH_EIGEN=OFF -DOPENCV_GENERATE_PKGCONFIG=ON -DINSTALL_CREATE_DISTRIB=OFF \
  -DCV_TRACE=OFF -DENABLE_CCACHE=OFF >/dev/null
cmake --build build -j"$jobs"
cmake --install build >/dev/null
touch "$prefix/.complete"
echo "$prefix"
