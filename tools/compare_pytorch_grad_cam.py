#!/usr/bin/env python3
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
"""Times pytorch-grad-cam against the explain module on the same models, weights and input.

  tools/setup_gradcam_venv.sh        # once: build/venv-gradcam with grad-cam 1.5.7 on Debian's torch
  cmake --build build --target opencv_explain_compare
  build/venv-gradcam/bin/python tools/compare_pytorch_grad_cam.py \
      --bin build/perf/opencv_explain_compare --out build/compare [--models resnet50,mobilenet_v2,resnet18]
      [--rounds 10] [--threads 2]

For each model, make_references.build() gives the torch model (random weights, fixed seed), its input
(1x3x224x224) and the ONNX export that cv::dnn reads, so both sides compute the same function.
Both run on --threads threads (torch.set_num_threads, cv::setNumThreads). Our side is one
`opencv_explain_compare --serve` process per model (modules/explain/perf/compare_main.cpp; every method has its own
Net and explainer, set up and warmed up before timing); pytorch-grad-cam runs in this process.
Measurements are interleaved: every round takes one sample of each method on each side, alternating
which side goes first, so that load from other users of the machine hits both alike. Reported:
medians over the rounds, the spread (interquartile range / median), ours/theirs ratios of medians
and, as the least disturbed estimate, of minimums, and the 1-minute load average during the rounds.
Load does not hit both alike in effect: torch's OpenMP threads (spinning barriers) slow down far more
than OpenCV's TBB pool when the cores are oversubscribed, so ratios on a loaded machine favour ours;
compare runs at similar load.

What one sample is (a new image explained from scratch, top-1 class):
  forward          ours: net.setInput + net.forward          theirs: model(x) under torch.no_grad()
  gradcam          ours: GradCAM::forward + compute(-1) + resizeMap to 224x224 (normalized)
                   theirs: `with GradCAM(model, [layer]) as cam: cam(x)` (forward, loss.backward(),
                   map, ReLU, min-max scaling, cv2.resize to 224x224)
  gradcampp        the same with CAM_GRADCAM_PLUS_PLUS / GradCAMPlusPlus
  guided           ours: GradCAM::forward + inputGradient(-1, RECTIFIER_GUIDED)
                   theirs: GuidedBackpropReLUModel(model)(x) (its own ReLU swap, forward, backward)
  guided_gradcam   ours: GradCAM::forward + guidedGradCAM(-1)
                   theirs: as their cam.py: GradCAM map, then GuidedBackpropReLUModel, then
                   cv2.merge([cam] * 3) * gb (deprocess_image, a visualization, left out)
pytorch-grad-cam used as documented leaves the weights' requires_grad on, so its backward also
computes every weight gradient; the "frozen" columns repeat gradcam and guided with
requires_grad_(False) on the weights (and BaseCAM's compute_input_gradient=True for GradCAM, which
needs a graph to hook), its cheapest correct use. The check columns compare the maps of both sides (rel. L2).
"""
import argparse
import copy
import os
import subprocess
import sys
import time

import numpy as np
import cv2
import torch
import torch.nn as nn

TOOLS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TOOLS)
import make_references as mr  # noqa: E402

from pytorch_grad_cam import GradCAM, GradCAMPlusPlus  # noqa: E402
from pytorch_grad_cam.guided_backprop import GuidedBackpropReLUModel  # noqa: E402

METHODS = ["forward", "gradcam", "gradcampp", "guided", "guided_gradcam"]
TARGETS = {"gradcam": 0.45, "guided": 0.7}  # ours/theirs wanted at most
FROZEN_TARGETS = {"guided": 1.0}  # ours/theirs-with-frozen-weights wanted at most


class Ours:
    """One opencv_explain_compare --serve process."""

    def __init__(self, binary, model, inp, threads):
        self.p = subprocess.Popen([binary, "--serve", "--model=" + model, "--input=" + inp,
                                   "--threads=%d" % threads, "--methods=" + ",".join(METHODS)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        line = self.p.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError("opencv_explain_compare did not start: %r" % line)
        self.ready = line.strip()

    def ask(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline().strip()
        if not line or line.startswith("error"):
            raise RuntimeError("opencv_explain_compare: %r -> %r" % (cmd, line))
        return line

    def time(self, method):
        return float(self.ask("run %s 1" % method).split()[2])

    def close(self):
        self.p.stdin.write("quit\n")
        self.p.stdin.flush()
        self.p.wait()


class Theirs:
    """pytorch-grad-cam on deep copies of the model (GuidedBackpropReLUModel swaps modules)."""

    def __init__(self, model, target):
        self.copies = {}
        for key in ("forward", "cam", "guided", "guided_gradcam", "frozen"):
            m = copy.deepcopy(model).eval()
            for p in m.parameters():
                p.requires_grad_(key != "frozen")
            self.copies[key] = m
        self.target = target

    def layer(self, key):
        return [mr.get_module(self.copies[key], self.target)]

    def run(self, method, x):
        """One explanation; returns (time in s, result)."""
        x = x.clone()  # GuidedBackpropReLUModel sets requires_grad on (and accumulates into) its input
        t0 = time.perf_counter()
        if method == "forward":
            with torch.no_grad():
                r = self.copies["forward"](x)
        elif method in ("gradcam", "gradcampp"):
            cls = GradCAM if method == "gradcam" else GradCAMPlusPlus
            with cls(model=self.copies["cam"], target_layers=self.layer("cam")) as cam:
                r = cam(input_tensor=x, targets=None)[0]
        elif method == "gradcam_frozen":
            with GradCAM(model=self.copies["frozen"], target_layers=self.layer("frozen")) as cam:
                cam.compute_input_gradient = True  # BaseCAM's option; GradCAM's constructor does not take it
                r = cam(input_tensor=x, targets=None)[0]
        elif method in ("guided", "guided_frozen"):
            gb = GuidedBackpropReLUModel(self.copies["guided" if method == "guided" else "frozen"])
            r = gb(x, target_category=None)
        elif method == "guided_gradcam":
            m = self.copies["guided_gradcam"]
            with GradCAM(model=m, target_layers=[mr.get_module(m, self.target)]) as cam:
                g = cam(input_tensor=x, targets=None)[0]
            gb = GuidedBackpropReLUModel(m)(x.clone(), target_category=None)
            r = cv2.merge([g, g, g]) * gb
        else:
            raise ValueError(method)
        return time.perf_counter() - t0, r


def rel_l2(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def stats(v):
    v = np.asarray(v, np.float64) * 1000.0
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return med, (q3 - q1) / med, v.min()


def compare(name, args, out_lines):
    model, x, target, onnx_name = mr.build(name, args.out)
    onnx_path = os.path.join(args.out, onnx_name)
    inp = os.path.join(args.out, name + "_input.yml")
    fs = cv2.FileStorage(inp, cv2.FILE_STORAGE_WRITE)
    fs.write("input", x)
    fs.release()
    n_relu = sum(isinstance(m, nn.ReLU) for m in model.modules())
    n_relu6 = sum(isinstance(m, nn.ReLU6) for m in model.modules())

    ours = Ours(args.bin, onnx_path, inp, args.threads)
    theirs = Theirs(model, target)
    xt = torch.from_numpy(x)
    keys = METHODS + ["gradcam_frozen", "guided_frozen"]
    for k in keys:  # warm-up (torch allocator, oneDNN primitives)
        theirs.run(k, xt)
        theirs.run(k, xt)

    # correctness of what is timed: the same maps on both sides
    dump = os.path.join(args.out, name + "_ours.yml")
    ours.ask("dump " + dump)
    fs = cv2.FileStorage(dump, cv2.FILE_STORAGE_READ)
    o = {k: fs.getNode(k).mat() for k in ("gradcam", "gradcampp", "guided", "guided_gradcam")}
    o_cls = int(fs.getNode("class_id").real())
    fs.release()
    with torch.no_grad():
        t_cls = int(model(xt)[0].argmax())
    check = {
        "gradcam": rel_l2(o["gradcam"], theirs.run("gradcam", xt)[1]),
        "gradcampp": rel_l2(o["gradcampp"], theirs.run("gradcampp", xt)[1]),
        "guided": rel_l2(o["guided"][0].transpose(1, 2, 0), theirs.run("guided", xt)[1]),
    }
    # ours multiplies the raw upsampled map, theirs the [0,1]-scaled one: compare up to scale
    a = o["guided_gradcam"][0].transpose(1, 2, 0)
    b = theirs.run("guided_gradcam", xt)[1]
    check["guided_gradcam"] = rel_l2(a * (np.vdot(a, b) / max(np.vdot(a, a), 1e-300)), b)

    t_ours = {k: [] for k in METHODS}
    t_theirs = {k: [] for k in keys}
    t0 = time.time()
    loads = []
    for r in range(args.rounds):
        loads.append(float(open("/proc/loadavg").read().split()[0]))
        for k in keys:
            first_ours = (r + keys.index(k)) % 2 == 0
            for side in ((0, 1) if first_ours else (1, 0)):
                if side == 0 and k in t_ours:
                    t_ours[k].append(ours.time(k) / 1000.0)
                elif side == 1:
                    t_theirs[k].append(theirs.run(k, xt)[0])
                time.sleep(0.02)  # let the other side's idle threads go to sleep
    ours.close()
    wall = time.time() - t0

    lines = [""]
    lines.append("### %s (1x3x%dx%d), %d rounds in %.0f s (1-min load average %.1f-%.1f on %d cores); "
                 "top-1 class ours %d, torch %d"
                 % (name, x.shape[2], x.shape[3], args.rounds, wall, min(loads), max(loads), os.cpu_count(),
                    o_cls, t_cls))
    lines.append("")
    lines.append("| method | ours median ms | ours IQR/med | theirs median ms | theirs IQR/med | ours/theirs "
                 "| (by min) | theirs frozen ms | ours/frozen | target | maps rel. L2 |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    result = {}
    for k in METHODS:
        om, oi, omin = stats(t_ours[k])
        tm, ti, tmin = stats(t_theirs[k])
        fz = k + "_frozen"
        fm = stats(t_theirs[fz])[0] if fz in t_theirs else None
        checks = [("", TARGETS.get(k), om / tm), ("frozen ", FROZEN_TARGETS.get(k), om / fm if fm else None)]
        verdict = "; ".join(
            "%s<= %.2g: %s" % (label, tgt, "met" if r <= tgt else "MISSED by %.0f%%" % (100 * (r / tgt - 1)))
            for label, tgt, r in checks if tgt is not None and r is not None)
        lines.append("| %s | %.1f | %.0f%% | %.1f | %.0f%% | **%.2f** | %.2f | %s | %s | %s | %s |" % (
            k, om, 100 * oi, tm, 100 * ti, om / tm, omin / tmin,
            "%.1f" % fm if fm else "", "%.2f" % (om / fm) if fm else "", verdict,
            "%.1e" % check[k] if k in check else ""))
        result[k] = om / tm
    lines.append("")
    lines.append("ours: `%s`; nn.ReLU modules: %d, nn.ReLU6 modules: %d." % (ours.ready, n_relu, n_relu6))
    if n_relu6:
        lines.append("Note: pytorch-grad-cam's GuidedBackpropReLUModel replaces only nn.ReLU modules, so in %s "
                     "its %d nn.ReLU6 keep their exact gradient: its \"guided backprop\" there is %s; ours "
                     "applies the guided rule at ReLU6 too (hence the large guided rel. L2)."
                     % (name, n_relu6, "the plain gradient" if n_relu == 0 else "only partly guided"))
    print("\n".join(lines), flush=True)
    out_lines.extend(lines)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="opencv_explain_compare")
    ap.add_argument("--out", required=True, help="directory for the ONNX files, inputs and results")
    ap.add_argument("--models", default="resnet50,mobilenet_v2,resnet18")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(args.threads)
    import importlib.metadata as md
    lines = ["pytorch-grad-cam %s, torch %s (%d threads), cv2 %s on their side; ours on the OpenCV that "
             "--bin was built with (`opencv=` on each model's `ours:` line); times per explanation of one image"
             % (md.version("grad-cam"), torch.__version__, torch.get_num_threads(), cv2.__version__)]
    print(lines[0], flush=True)
    ratios = {}
    for name in args.models.split(","):
        ratios[name] = compare(name, args, lines)
    summary = [""]
    summary.append("Summary, ours/theirs (median time ratio; targets: Grad-CAM <= 0.45, guided backprop <= 0.7, "
                   "<= 1.0 against their frozen weights):")
    summary.append("")
    summary.append("| model | " + " | ".join(METHODS) + " |")
    summary.append("|---|" + "---|" * len(METHODS))
    for name, r in ratios.items():
        summary.append("| %s | " % name + " | ".join("%.2f" % r[k] for k in METHODS) + " |")
    print("\n".join(summary), flush=True)
    lines.extend(summary)
    with open(os.path.join(args.out, "compare.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("written: %s" % os.path.join(args.out, "compare.md"))


if __name__ == "__main__":
    main()
