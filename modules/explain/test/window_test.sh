#!/bin/sh
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# ctest's sample.gradcam.window: the sample with a display (Xvfb), driven by keys (xdotool) as a person would.
# On the bundled image the window opens after the files are written; the keys 2 (top-2 class), m (next
# method), l (next layer), p (panel) each explain the image again, q quits. Exit code 77 (skipped) without
# Xvfb or xdotool (scripts/install_deps.sh installs both), or with an OpenCV whose highgui has no GUI backend
# (the minimal builds of scripts/build_opencv.sh).
#   window_test.sh <example_explain_gradcam> <work folder>
set -u
gradcam=$1 work=$2
if ! command -v Xvfb >/dev/null || ! command -v xdotool >/dev/null; then
    echo "skipped: no Xvfb or xdotool"
    exit 77
fi
rm -rf "$work" && mkdir -p "$work"
# Xvfb picks a free display itself and writes its number to fd 3: another X server (another test, or one
# only visible through its abstract socket) can never share ours
Xvfb -displayfd 3 -screen 0 1024x768x24 3>"$work/display" >"$work/xvfb.log" 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null' EXIT
i=0
until [ -s "$work/display" ]; do
    i=$((i + 1)); [ $i -lt 100 ] && kill -0 $xvfb 2>/dev/null ||
        { echo "FAILED: Xvfb did not start"; cat "$work/xvfb.log"; exit 1; }
    sleep 0.2
done
export DISPLAY=:$(head -1 "$work/display")
# in the ASan build: Qt's D-Bus and fontconfig keep memory to the end, which LeakSanitizer reports
export LSAN_OPTIONS="suppressions=$(dirname "$0")/lsan_window.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
i=0
until xdotool getmouselocation >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 50 ] || { echo "FAILED: Xvfb on $DISPLAY does not answer"; cat "$work/xvfb.log"; exit 1; }; sleep 0.2
done
"$gradcam" --out="$work/out" >"$work/sample.log" 2>&1 &
sample=$!
window=""
i=0
while [ -z "$window" ]; do  # up to 60 s: under AddressSanitizer Qt takes a while to open it
    i=$((i + 1)); [ $i -lt 300 ] || { echo "FAILED: no window"; cat "$work/sample.log"; kill $sample; exit 1; }
    if ! kill -0 $sample 2>/dev/null; then
        if grep -q "^note:    no window (.*not implemented" "$work/sample.log"; then
            echo "skipped: this OpenCV's highgui has no GUI backend"; grep "^note:" "$work/sample.log"; exit 77
        fi
        kill -0 $xvfb 2>/dev/null && state=running || state=gone
        echo "FAILED: the sample ended before its window opened (Xvfb on $DISPLAY: $state)"
        cat "$work/sample.log" "$work/xvfb.log"; exit 1
    fi
    sleep 0.2
    window=$(xdotool search --name "^explain: " 2>/dev/null | head -1)
done
for key in 2 m l p q; do
    sleep 0.7
    xdotool key --window "$window" $key 2>/dev/null
done
i=0
while kill -0 $sample 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 50 ] || { echo "FAILED: q did not quit"; kill $sample; cat "$work/sample.log"; exit 1; }; sleep 0.2
done
wait $sample
code=$?
grep -v "XDG_RUNTIME_DIR\|XGetInputFocus" "$work/sample.log"
[ $code = 0 ] || { echo "FAILED: exit code $code"; exit 1; }
# the files first, then the window: top-1 at first, then top-2 for each key that changes the view (2 m l p)
grep -q "^wrote .*/guided_gradcam.png" "$work/sample.log" &&
grep -q "^keys: 1-5 class" "$work/sample.log" &&
[ "$(grep -c '^default_image: class 2 (triangle)' "$work/sample.log")" = 4 ] ||
    { echo "FAILED: the output is not that of the keys 2 m l p q"; exit 1; }
echo "the window opened and followed the keys 2 m l p q"
