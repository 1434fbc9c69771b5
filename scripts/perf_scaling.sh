#!/usr/bin/env bash
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# Time and peak memory of the plain cv::dnn forward, Grad-CAM and Guided Grad-CAM against input size
# (224, 448, 896), batch size (1, 4, 16) and number of classes (1, 5, 20), on ResNet-50 and MobileNetV2.
#
#   scripts/perf_scaling.sh [--models resnet50,mobilenet_v2] [--repeats 3] [--samples 3] [--max-time 10]
#                           [--out DIR] [--no-build]
#   EXPLAIN_BUILD_DIR=build-perf scripts/perf_scaling.sh ...     (default build dir: build)
#   EXPLAIN_PERF_MODELS=DIR: the models directory (default $BUILD/models)
#
#  1. exports the models (random weights) to $BUILD/models with tools/make_references.py if missing;
#  2. builds opencv_explain_perf (Release);
#  3. runs every case of modules/explain/perf/perf_scaling.cpp (DISABLED_ in the normal suite) in a fresh process:
#     one untimed warm-up, then --samples samples, fewer once --max-time seconds are spent (at least
#     one); the process reports its median and its peak RSS (see modules/explain/perf/perf_scaling.cpp). The cases are
#     run --repeats times, each repeat going over all cases with the three methods of a case back to
#     back (their order rotating), so that load from other users of the machine falls on all alike.
#     Raw lines (with the 1-minute load average when each case started): DIR/scaling_raw.txt;
#  4. makes the table (medians over the repeats; ratios to the plain forward of the same model, size
#     and batch) in DIR/scaling.md, printed at the end, and the plot DIR/scaling.png (Debian's
#     python3-matplotlib).  DIR defaults to $BUILD/scaling.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build="${EXPLAIN_BUILD_DIR:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
models_list="resnet50,mobilenet_v2"
repeats=3
samples=3
max_time=10
out=""
do_build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --models) models_list="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    --samples) samples="$2"; shift 2 ;;
    --max-time) max_time="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --no-build) do_build=0; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done
out="${out:-$build/scaling}"
models="${EXPLAIN_PERF_MODELS:-$build/models}"
mkdir -p "$out"

need_models=0
for m in ${models_list//,/ }; do
  [ -f "$models/$m.onnx" ] || need_models=1
done
if [ "$need_models" = 1 ]; then scripts/install_deps.sh --python; else scripts/install_deps.sh; fi
if [ "$need_models" = 1 ]; then
  echo "== exporting $models_list to $models"
  /usr/bin/python3 tools/make_references.py --out "$models" --models "$models_list"
fi
/usr/bin/python3 -c "import matplotlib" 2>/dev/null || {
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-matplotlib; }

bin="$build/perf/opencv_explain_perf"
if [ "$do_build" = 1 ]; then
  echo "== building (Release) in $build"
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DEXPLAIN_BUILD_PERF=ON >/dev/null
  cmake --build "$build" -j2 --target opencv_explain_perf
fi

# case list: size / batch / classes axes, each varied from 224 x batch 1 x 1 class
cases=()
for s in 224 448 896; do cases+=("s${s}_b1_c1"); done
for b in 4 16; do cases+=("s224_b${b}_c1"); done
for c in 5 20; do cases+=("s224_b1_c${c}"); done
methods=(forward gradcam guided_gradcam)

raw="$out/scaling_raw.txt"
: > "$raw"
{
  echo "# $(date -u '+%Y-%m-%d %H:%M UTC'); $(lscpu | sed -n 's/^Model name: *//p'); $(nproc) cores"
  echo "# $bin --perf_min_samples=$samples --perf_max_time=$max_time, repeats $repeats"
} >> "$raw"
echo "== running $(( repeats * ${#cases[@]} ))x cases of $models_list (raw: $raw)"
start=$(date +%s)
for ((r = 0; r < repeats; r++)); do
  for model in ${models_list//,/ }; do
    for ((ci = 0; ci < ${#cases[@]}; ci++)); do
      c="${cases[$ci]}"
      for ((k = 0; k < 3; k++)); do
        method="${methods[$(( (k + r + ci) % 3 ))]}"
        [ "$method" = forward ] && [ "${c##*_}" != c1 ] && continue
        name="${model}_${method}_${c}"
        load=$(cut -d' ' -f1 /proc/loadavg)
        line=$(EXPLAIN_PERF_MODELS="$models" timeout 1800 "$bin" --gtest_also_run_disabled_tests \
                 --gtest_filter="Explain/Scaling.DISABLED_case/$name" \
                 --perf_min_samples="$samples" --perf_max_time="$max_time" 2>&1 | grep '^\[  SCALING \]' || true)
        if [ -z "$line" ]; then
          echo "FAILED: $name" | tee -a "$raw"
          continue
        fi
        echo "$line repeat=$r load=$load" | tee -a "$raw"
      done
    done
  done
done
echo "== $(( $(date +%s) - start )) s"

/usr/bin/python3 - "$raw" "$out" <<'EOF'
import sys, os, re, statistics
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib import ticker

raw, out = sys.argv[1], sys.argv[2]
rows, header = [], []
for line in open(raw):
    if line.startswith("#"):
        header.append(line[1:].strip())
    if not line.startswith("[  SCALING ]"):
        continue
    d = dict(kv.split("=", 1) for kv in line.split()[3:] if "=" in kv)
    rows.append(d)
groups = {}
for d in rows:
    key = (d["model"], d["method"], int(d["size"]), int(d["batch"]), int(d["classes"]))
    groups.setdefault(key, []).append(d)

def agg(key):
    g = groups.get(key)
    if not g:
        return None
    t = [float(d["median_ms"]) for d in g]
    med = statistics.median(t)
    return dict(ms=med, spread=(max(t) - min(t)) / med if med > 0 else 0, n=len(g),
                total=statistics.median(float(d["total_kb"]) for d in g) / 1024,
                run=statistics.median(float(d["run_kb"]) for d in g) / 1024,
                samples=min(int(d["samples"]) for d in g),
                load=statistics.median(float(d["load"]) for d in g))

models = []
for d in rows:
    if d["model"] not in models:
        models.append(d["model"])
cases = [(s, 1, 1) for s in (224, 448, 896)] + [(224, b, 1) for b in (4, 16)] + [(224, 1, c) for c in (5, 20)]
lines = []
lines += ["Scaling (" + "; ".join(header) + ")", ""]
lines += ["time: median over the repeats of each process's median, ms; (x fwd) = / plain cv::dnn forward of the "
          "same model, size and batch; spread = (max - min) / median of the repeats' medians, over the three methods.",
          "memory: peak RSS increase, MB, median over the repeats: *total* from before the model is read "
          "(ONNX import included), *run* over the loaded model (what forward/explaining adds).", ""]
lines.append("| model | size | batch | classes | forward ms | Grad-CAM ms (x fwd) | Guided Grad-CAM ms (x fwd) "
             "| total MB fwd / Grad-CAM / Guided | total x fwd: Grad-CAM, Guided | run MB fwd / Grad-CAM / Guided "
             "| run x fwd: Grad-CAM, Guided | spread | samples | load |")
lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
table = {}
for model in models:
    for (s, b, c) in cases:
        f = agg((model, "forward", s, b, 1))
        g = agg((model, "gradcam", s, b, c))
        h = agg((model, "guided_gradcam", s, b, c))
        if not (f and g and h):
            continue
        table[(model, s, b, c)] = (f, g, h)
        lines.append("| %s | %d | %d | %d | %.0f | %.0f (%.2f) | %.0f (%.2f) | %.0f / %.0f / %.0f | %.2f, %.2f "
                     "| %.0f / %.0f / %.0f | %.2f, %.2f | %.0f%% | %d | %.1f |" % (
            model, s, b, c, f["ms"], g["ms"], g["ms"] / f["ms"], h["ms"], h["ms"] / f["ms"],
            f["total"], g["total"], h["total"], g["total"] / f["total"], h["total"] / f["total"],
            f["run"], g["run"], h["run"], g["run"] / f["run"], h["run"] / f["run"],
            100 * max(f["spread"], g["spread"], h["spread"]), min(f["samples"], g["samples"], h["samples"]),
            max(f["load"], g["load"], h["load"])))
text = "\n".join(lines) + "\n"
open(os.path.join(out, "scaling.md"), "w").write(text)
print(text)

# plot: time and peak memory (total) against each axis
axes_def = [("input size (px, batch 1, 1 class)", [(s, 1, 1) for s in (224, 448, 896)], 0),
            ("batch size (224 px, 1 class)", [(224, b, 1) for b in (1, 4, 16)], 1),
            ("classes (224 px, batch 1; 1 forward + N maps)", [(224, 1, c) for c in (1, 5, 20)], 2)]
fig, ax = plt.subplots(2, 3, figsize=(15, 8.5))
styles = {"forward": ("k", "plain cv::dnn forward"), "gradcam": ("tab:blue", "Grad-CAM"),
          "guided_gradcam": ("tab:red", "Guided Grad-CAM")}
dashes = ["-", "--", ":"]
for col, (label, pts, k) in enumerate(axes_def):
    for mi, model in enumerate(models):
        xs = [p[k] for p in pts if (model,) + p in table]
        vals = [table[(model,) + p] for p in pts if (model,) + p in table]
        if not vals:
            continue
        for j, meth in enumerate(("forward", "gradcam", "guided_gradcam")):
            color, name = styles[meth]
            ax[0, col].plot(xs, [v[j]["ms"] for v in vals], dashes[mi % 3], color=color, marker="o",
                            label="%s, %s" % (name, model))
            ax[1, col].plot(xs, [v[j]["total"] for v in vals], dashes[mi % 3], color=color, marker="o",
                            label="%s, %s" % (name, model))
    for row in (0, 1):
        a = ax[row, col]
        a.set_xscale("log", base=2)
        a.set_yscale("log")
        a.set_xticks([p[k] for p in pts])
        a.set_xticklabels([str(p[k]) for p in pts])
        a.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        a.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        a.yaxis.set_minor_formatter(ticker.NullFormatter())
        a.grid(True, which="both", alpha=0.3)
        a.set_xlabel(label)
    ax[0, col].set_ylabel("time per call, ms (median)")
    ax[1, col].set_ylabel("peak RSS increase, MB (model import included)")
ax[0, 0].legend(fontsize=8)
fig.suptitle("explain: scaling on %s (%s)" % (", ".join(models), header[0] if header else ""), fontsize=11)
fig.tight_layout()
fig.savefig(os.path.join(out, "scaling.png"), dpi=80)
print("written: %s, %s" % (os.path.join(out, "scaling.md"), os.path.join(out, "scaling.png")))
EOF
