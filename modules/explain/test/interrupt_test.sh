#!/bin/sh
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# ctest's sample.gradcam.interrupt: Ctrl-C (SIGINT) while a video is written ends the loop and leaves a
# whole video of the frames so far, as when a camera recording is stopped.
#   interrupt_test.sh <example_explain_gradcam> <explain_sample_files> <long video> <work folder>
set -u
gradcam=$1 files=$2 video=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
"$gradcam" --input="$video" --headless --out="$work" >"$work/log" 2>&1 &
pid=$!
i=0
until grep -q "^frame_000000: " "$work/log"; do  # explaining: send Ctrl-C
    i=$((i + 1)); [ $i -lt 300 ] || { echo "FAILED: no frame explained"; kill $pid; cat "$work/log"; exit 1; }; sleep 0.1
done
kill -INT $pid
wait $pid
code=$?
cat "$work/log"
[ $code = 0 ] || { echo "FAILED: exit code $code"; exit 1; }
n=$(sed -n 's/^interrupted after \([0-9]*\) frames$/\1/p' "$work/log")
[ -n "$n" ] && [ "$n" -lt 1000 ] || { echo "FAILED: not interrupted (the video has 1000 frames)"; exit 1; }
grep -q "^wrote .*/long_gradcam.avi ($n frames, MJPG)" "$work/log" || { echo "FAILED: no video of $n frames written"; exit 1; }
"$files" video "$work/long_gradcam.avi" "$n" 360
