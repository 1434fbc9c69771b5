#!/usr/bin/env bash
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# Throughput (images/s) of example_explain_batch against example_explain_gradcam run once per image (what
# a user of the one-image sample does), on the same images and the same maps (Grad-CAM; then Grad-CAM with
# guided backprop), also against the gradcam sample on the whole folder (one process, one image at a time).
#
#   scripts/perf_batch.sh [--images N] [--single N] [--no-build]
#   EXPLAIN_BUILD_DIR=build-perf scripts/perf_batch.sh             (default build dir: build)
#
# Models: the bundled one (64x64), and ResNet-18 at 224x224 when $EXPLAIN_REFERENCE_DIR/resnet18.onnx (default
# $BUILD/references) exists
# (made by tools/make_references.py, e.g. by scripts/test.sh). Images: --images copies of the bundled image
# (default 256; every image costs the same). The one-image sample runs on the first --single of them
# (default 32): its cost per image does not depend on how many. Each configuration runs 3 times in turn
# (interleaved, so that load from other users falls on all alike); the table gives the median rate, the
# 1-minute load average is logged. Output: $BUILD/perf_batch/perf_batch.md, printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build="${EXPLAIN_BUILD_DIR:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
images=256 single=32 do_build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --images) images="$2"; shift 2 ;;
    --single) single="$2"; shift 2 ;;
    --no-build) do_build=0; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 1 ;;
  esac
done
if [ $do_build = 1 ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j2 --target example_explain_gradcam example_explain_batch >/dev/null
fi
gradcam=$build/samples/example_explain_gradcam batch=$build/samples/example_explain_batch
work=$build/perf_batch
rm -rf "$work"
mkdir -p "$work/images" "$work/single"
for i in $(seq -w 1 "$images"); do cp data/default_image.png "$work/images/img_$i.png"; done
ls "$work/images" | head -n "$single" | sed "s#^#$work/images/#" > "$work/single/list"

models=("bundled|")
r18=${EXPLAIN_REFERENCE_DIR:-$build/references}/resnet18.onnx
[ -f "$r18" ] && models+=("resnet18|--model=$r18 --width=224 --height=224 --scale=0.017 --mean=123.7,116.3,103.5 --rgb")

now() { date +%s.%N; }
rate() { echo "$1 $2 $3" | awk '{ printf "%.1f", $1 / ($3 - $2) }'; }
# one configuration: prints images/s
run() {
  local kind=$1 methods=$2 flags=$3 t0 t1 out=$work/out
  rm -rf "$out"
  t0=$(now)
  case "$kind" in
    single) while read -r f; do "$gradcam" $flags --input="$f" --methods="$methods" --headless --out="$out" >/dev/null; done < "$work/single/list"
            t1=$(now); rate "$single" "$t0" "$t1" ;;
    folder) "$gradcam" $flags --input="$work/images" --methods="$methods" --headless --out="$out" >/dev/null
            t1=$(now); rate "$images" "$t0" "$t1" ;;
    batch*) "$batch" $flags --input="$work/images" --methods="$methods" --batch="${kind#batch}" --out="$out" >/dev/null 2>&1
            t1=$(now); rate "$images" "$t0" "$t1" ;;
  esac
}
configs=(single folder batch1 batch8 batch32)
table=$work/perf_batch.md
{
  echo "| model | maps | one-image sample, a process per image | gradcam sample on the folder | batch --batch=1 | --batch=8 | --batch=32 |"
  echo "|---|---|---|---|---|---|---|"
} > "$table"
for m in "${models[@]}"; do
  name=${m%%|*} flags=${m#*|}
  for methods in gradcam gradcam,guided; do
    declare -A got=()
    for rep in 1 2 3; do
      echo "== $name $methods, round $rep (load $(cut -d' ' -f1 /proc/loadavg))" >&2
      for c in "${configs[@]}"; do got[$c]="${got[$c]:-} $(run "$c" "$methods" "$flags")"; done
    done
    row="| $name | $methods |"
    for c in "${configs[@]}"; do
      row="$row $(echo ${got[$c]} | tr ' ' '\n' | sort -g | sed -n 2p) |"
    done
    echo "$row" >> "$table"
    unset got
  done
done
echo "images/s, median of 3 runs; $images images ($single for the one-image sample), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$table"
cat "$table"
