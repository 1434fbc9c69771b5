#!/usr/bin/env bash
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# The cv2 wheel with cv2.explain, as a Python user gets it: builds it (scripts/build_wheel.sh, cached),
# installs it with pip into a new virtual environment (numpy comes from PyPI as the wheel requires), imports
# cv2.explain and runs the Python tests (modules/explain/misc/python/test) against it.
#
#   scripts/test_wheel.sh              # OpenCV 5.0 (5.0.0.93)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
version=${1:-5.0.0.93}
python=${EXPLAIN_PYTHON:-/usr/bin/python3}
SECONDS=0
wheel=$(scripts/build_wheel.sh "$version" | tail -1)
echo "built $wheel in ${SECONDS} s"

venv=$(mktemp -d "${TMPDIR:-/tmp}/explain-wheel-venv.XXXXXX")
trap 'rm -rf "$venv"' EXIT
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel"
echo "== installed: $("$venv/bin/python" -m pip list --disable-pip-version-check 2>/dev/null | grep -i -E '^(opencv|numpy)' | tr -s ' ' | paste -sd, -)"
(cd "$venv" && "$venv/bin/python" -c "import cv2; print('cv2', cv2.__version__, 'from', cv2.__file__); \
print('cv2.explain', cv2.explain.getVersionString())")
# the typing stubs (scripts/build_wheel.sh makes OpenCV's generator work on the minimal module list)
(cd "$venv" && "$venv/bin/python" -c "import cv2, os; stub = os.path.join(os.path.dirname(cv2.__file__), 'explain', \
'__init__.pyi'); text = open(stub).read(); assert 'class GradCAM' in text and 'def smoothGrad' in text, stub; \
print('typing stubs:', stub)")
echo "== Python tests of cv2.explain against the installed wheel"
(cd "$venv" && EXPLAIN_DATA_DIR="$root/data" EXPLAIN_SKIP_KNOWN_FAILURES=1 \
  "$venv/bin/python" "$root/modules/explain/misc/python/test/test_explain.py" -v)
