#!/usr/bin/env bash
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# Builds the library and the sample, then explains the bundled model's prediction on the bundled
# image: writes out/gradcam.png, out/counterfactual.png, out/guided.png, out/guided_gradcam.png (--headless:
# no window even on a desktop; without it the sample also shows the maps in a window).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target example_explain_gradcam
mkdir -p out
build/samples/example_explain_gradcam --headless --out=out --raw=out/maps.yml.gz "$@"
