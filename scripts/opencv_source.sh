#!/usr/bin/env bash
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# Downloads the source distribution that PyPI serves as opencv-python-headless (OpenCV's full source in
# opencv/, plus the wheel's setup.py) once into the cache folder, and prints its folder.
#
#   scripts/opencv_source.sh 5.0.0.93      # -> <cache>/5.0.0.93/src
#
# Cache folder: $EXPLAIN_OPENCV_CACHE (default /var/cache/explain-opencv). Safe to run from several clones
# at once (a lock per version). pip is used only to download.
set -euo pipefail
version=${1:?usage: scripts/opencv_source.sh <opencv-python-headless version, e.g. 5.0.0.93>}
dir=${EXPLAIN_OPENCV_CACHE:-/var/cache/explain-opencv}/$version
python=${EXPLAIN_PYTHON:-/usr/bin/python3}
mkdir -p "$dir"
(
  flock 8
  if [ ! -d "$dir/src/opencv" ]; then
    rm -rf "$dir/dl" "$dir/src"
    "$python" -m pip download -q --disable-pip-version-check --no-binary opencv-python-headless --no-deps \
      -d "$dir/dl" "opencv-python-headless==$version" >&2
    mkdir -p "$dir/src"
    tar -xzf "$dir"/dl/*.tar.gz -C "$dir/src" --strip-components=1
    rm -rf "$dir/dl"
  fi
) 8>"$dir/.download.lock"
echo "$dir/src"
