#!/usr/bin/env bash
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# Builds a pip-installable cv2 wheel with cv2.explain in it, from the opencv-python-headless source
# distribution on PyPI (its setup.py, scikit-build, with this clone's modules/ as an extra module path and
# a minimal module list: core, imgproc, imgcodecs, dnn, explain, the Python 3 bindings). Prints the wheel's
# path on the last line.
#
#   scripts/build_wheel.sh              # OpenCV 5.0 (5.0.0.93)
#   scripts/build_wheel.sh 4.14.0.94    # another version of the sdist
#
# The build is cached outside the clone in <cache>/<version>-wheel (cache: $EXPLAIN_OPENCV_CACHE, default
# /var/cache/explain-opencv): a copy of the sdist with scikit-build's _skbuild folder, a virtual environment
# with the build requirements of the sdist's pyproject.toml, and dist/ with the wheel. A later run
# recompiles only what changed (the module, mostly). Jobs: $EXPLAIN_OPENCV_JOBS (default: the number of
# cores). Then: scripts/test_wheel.sh installs it into a fresh virtual environment and runs the Python tests.
set -euo pipefail
version=${1:-5.0.0.93}
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${EXPLAIN_OPENCV_CACHE:-/var/cache/explain-opencv}
work=$cache/$version-wheel
python=${EXPLAIN_PYTHON:-/usr/bin/python3}

"$here/scripts/install_deps.sh" --wheel >&2
mkdir -p "$work"
exec 9>"$work/.lock"
flock 9

if [ ! -f "$work/src/setup.py" ]; then
  src=$("$here/scripts/opencv_source.sh" "$version")
  rm -rf "$work/src"
  cp -a "$src" "$work/src"
fi

# OpenCV's typing-stub generator assumes modules this minimal build leaves out (features: the Feature2D aliases;
# features, 3d, calib: the functions it refines), fails, and setup.py then misses cv2/py.typed. In this copy
# of the sdist: the aliases require their module, and refinements of absent functions are skipped, so that
# the stubs (cv2.explain's included) are generated.
"$python" - "$work/src/opencv/modules/python/src2/typing_stubs_generation" <<'PATCH'
import os, sys
folder = sys.argv[1]
def patch(name, old, new):
    path = os.path.join(folder, name)
    text = open(path).read()
    if new in text:
        return
    if old not in text:
        sys.exit("error: %s has changed; the typing-stub patch of scripts/build_wheel.sh does not apply" % path)
    open(path, "w").write(text.replace(old, new))
for alias in ("FeatureDetector", "DescriptorExtractor", "FeatureExtractor"):
    patch("predefined_types.py", 'AliasTypeNode.class_("%s", "Feature2D",' % alias,
          'AliasTypeNode.class_("%s", "Feature2D", required_modules=("features",),' % alias)
patch("api_refinement.py", "from .ast_utils import (find_function_node, SymbolName,",
      "from .ast_utils import (find_function_node, SymbolName, ScopeNotFoundError, SymbolNotFoundError,")
patch("api_refinement.py", "        refine_symbol(root, symbol_name)\n",
      "        try:\n            refine_symbol(root, symbol_name)\n"
      "        except (ScopeNotFoundError, SymbolNotFoundError):\n            pass  # a module this build leaves out\n")
PATCH

# The build requirements of pyproject.toml, once (build isolation would make a new environment, with new
# paths for CMake to see, on every run)
if [ ! -f "$work/venv/.complete" ]; then
  rm -rf "$work/venv"
  "$python" -m venv "$work/venv"
  "$work/venv/bin/python" -m pip install -q --disable-pip-version-check "numpy==2.0.2" packaging \
    "scikit-build>=0.14.0" "setuptools==59.2.0" wheel >&2
  touch "$work/venv/.complete"
fi

# Debian's python3-numpy puts its numpy 1.x headers into Python's include folder (python3.11/numpy), where the
# compiler finds them before the build's numpy 2, and the wheel would then need numpy 1.x at run time: the
# build gets that folder without them.
pyinclude=$work/python-include
if [ ! -f "$pyinclude/Python.h" ]; then
  rm -rf "$pyinclude" && mkdir -p "$pyinclude"
  for f in "$("$work/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['include'])")"/*; do
    [ "$(basename "$f")" = numpy ] || ln -s "$f" "$pyinclude/"
  done
fi

# Appended by scikit-build to setup.py's own arguments, so these win. Minimal and quick to build on few
# cores: one SIMD dispatch target, no IPP, only PNG/JPEG (the system's) among the image codecs.
export CMAKE_ARGS="-DOPENCV_EXTRA_MODULES_PATH=$here/modules -DPYTHON3_INCLUDE_DIR=$pyinclude -DPYTHON3_INCLUDE_PATH=$pyinclude \
 -DBUILD_LIST=core,imgproc,imgcodecs,dnn,python3,explain -DPYTHON3_LIMITED_API=ON \
 -DINSTALL_CREATE_DISTRIB=OFF -DCPU_DISPATCH=AVX2 -DENABLE_CCACHE=OFF -DENABLE_PRECOMPILED_HEADERS=OFF -DCV_TRACE=OFF \
 -DWITH_EIGEN=ON -DWITH_OPENCL=ON -DWITH_PROTOBUF=ON -DBUILD_PROTOBUF=ON \
 -DWITH_IPP=OFF -DWITH_ITT=OFF -DWITH_LAPACK=OFF -DWITH_OPENEXR=OFF -DBUILD_OPENEXR=OFF -DWITH_JASPER=OFF \
 -DWITH_OPENJPEG=OFF -DWITH_WEBP=OFF -DWITH_TIFF=OFF -DWITH_AVIF=OFF -DWITH_JPEGXL=OFF -DWITH_SPNG=OFF \
 -DWITH_FFMPEG=OFF -DWITH_GSTREAMER=OFF -DWITH_V4L=OFF -DWITH_OBSENSOR=OFF -DWITH_VA=OFF -DWITH_VA_INTEL=OFF \
 -DWITH_OPENCLAMDBLAS=OFF -DWITH_OPENCLAMDFFT=OFF -DWITH_UNIFONT=OFF"
export ENABLE_HEADLESS=1 CMAKE_BUILD_PARALLEL_LEVEL=${EXPLAIN_OPENCV_JOBS:-$(nproc)}
rm -rf "$work/dist"
(cd "$work/src" && "$work/venv/bin/python" -m pip wheel -v --disable-pip-version-check --no-build-isolation --no-deps \
   -w "$work/dist" . >"$work/build.log" 2>&1) || {
  tail -n 40 "$work/build.log" >&2
  echo "error: the wheel build failed (log: $work/build.log)" >&2
  exit 1
}
# the module list of the configure step (in the log when it ran, in the CMake cache when it did not need to)
cache_file=$(ls "$work"/src/_skbuild/*/cmake-build/CMakeCache.txt 2>/dev/null | head -1)
if ! grep -Eq "To be built:.* explain( |$)" "$work/build.log" &&
   ! grep -Eq "^OPENCV_MODULES_BUILD:INTERNAL=(.*;)?opencv_explain(;|$)" "${cache_file:-/dev/null}"; then
  grep -i "explain" "$work/build.log" | head -n 20 >&2 || true
  echo "error: OpenCV's configure step left the explain module out (log: $work/build.log)" >&2
  exit 1
fi
touch "$work/.built"  # a wheel was built from this cache once (scripts/test.sh then tests it on every run)
ls "$work"/dist/*.whl
