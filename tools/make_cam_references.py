# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
"""CAM-family references from pytorch-grad-cam (PyPI `grad-cam`) for modules/explain/test/test_cam_reference.cpp.

  tools/setup_gradcam_venv.sh        # once: build/venv-gradcam (Debian's torch + grad-cam)
  build/venv-gradcam/bin/python tools/make_cam_references.py --out DIR [--models default,resnet18,mobilenet_v2]

For each model: DIR/<name>.onnx (the very file tools/make_references.py writes, from its build()) and
DIR/<name>_cams.yml.gz (cv::FileStorage) with model, layer, class_id, input and one raw 2D float32 map
per method at the target layer's resolution (after the ReLU, before pytorch-grad-cam's scaling):
gradcam gradcampp xgradcam hirescam elementwise layercam eigencam eigengradcam [scorecam ablationcam], plus
eigencam_neg / eigengradcam_neg (the maps of the flipped principal component). See tools/README.md.
"""
import argparse
import copy
import importlib.metadata
import os
import sys
import time

import numpy as np
import cv2
import torch

TOOLS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TOOLS)
import make_references as mr  # noqa: E402  (models, weights, inputs, ONNX export, helpers)
import token_models as tm  # noqa: E402  (transformer-shaped models read with a token grid)
import train_caption_model as tc  # noqa: E402  (the bundled captioner's torch twin)

try:
    from pytorch_grad_cam import (GradCAM, GradCAMPlusPlus, XGradCAM, HiResCAM, GradCAMElementWise,
                                  LayerCAM, EigenCAM, EigenGradCAM, ScoreCAM, AblationCAM)
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from pytorch_grad_cam.utils.image import scale_cam_image
except ImportError as e:
    sys.exit("%s\nrun tools/setup_gradcam_venv.sh and use build/venv-gradcam/bin/python" % e)

# key in the .yml.gz: pytorch-grad-cam class (the C++ enum is in modules/explain/test/test_cam_reference.cpp)
METHODS = [("gradcam", GradCAM), ("gradcampp", GradCAMPlusPlus), ("xgradcam", XGradCAM),
           ("hirescam", HiResCAM), ("elementwise", GradCAMElementWise), ("layercam", LayerCAM),
           ("eigencam", EigenCAM), ("eigengradcam", EigenGradCAM), ("scorecam", ScoreCAM),
           ("ablationcam", AblationCAM)]
SIGNED = ("eigencam", "eigengradcam")  # principal component: the sign is numpy's SVD sign
MODELS = ["caption", "default", "resnet18", "mobilenet_v2", "tiny_vit", "tiny_deit", "vit_torchvision", "deit_torchvision",
          "swin_torchvision"]
KNOWN = ["caption"] + mr.ALL + tm.ALL
# a second, earlier target layer (torch module) for the multi-layer comparison
SECOND_LAYER = {"default": "relu3", "resnet18": "layer3"}


def raw_cam(cam_class, model, layer_module, x, cls, reshape_transform=None):
    """pytorch-grad-cam's map for logit `cls` (or the score a callable `cls` takes from the output) before its ReLU, at the target layer's resolution (H x W,
    float64 for the weighted-sum methods; the Eigen methods' get_2d_projection returns float32).

    Hook: BaseCAM.compute_cam_per_layer() does, per target layer,
        cam = self.get_cam_image(...); cam = np.maximum(cam, 0); scaled = scale_cam_image(cam, size)
    and aggregate_multi_layers() then min-max scales again. Every method (weight-based ones through
    BaseCAM.get_cam_image, the element-wise and Eigen ones by overriding it) produces its map in
    get_cam_image(), so wrapping that bound method on the instance taps the raw map while the library
    runs its own unmodified __call__ (hooks, target, backward, weights). The tapped map is checked to
    reproduce the library's scaled output exactly. For the Eigen methods the tap is the signed
    projection p, so ReLU(-p) (the other SVD sign) comes for free."""
    cam = cam_class(model=model, target_layers=[layer_module], reshape_transform=reshape_transform)
    taps = []
    orig = cam.get_cam_image

    def tap(*args, **kw):
        r = orig(*args, **kw)
        taps.append(np.array(r, copy=True))
        return r

    cam.get_cam_image = tap
    with cam:
        target = cls if callable(cls) else ClassifierOutputTarget(cls)
        out = cam(input_tensor=x, targets=[target], aug_smooth=False,
                  eigen_smooth=False)
    if len(taps) != 1 or taps[0].ndim != 3 or taps[0].shape[0] != 1:
        raise RuntimeError("%s: unexpected get_cam_image calls %s" % (cam_class.__name__,
                                                                       [t.shape for t in taps]))
    pre = taps[0]
    size = (x.shape[-1], x.shape[-2])
    again = scale_cam_image(scale_cam_image(np.maximum(pre, 0), size))
    if not np.allclose(again, out, rtol=0, atol=1e-6):
        raise RuntimeError("%s: the tapped map does not reproduce pytorch-grad-cam's output (%.3g)"
                           % (cam_class.__name__, np.abs(again - out).max()))
    return pre[0].astype(np.float64)


def rel_l2_signed(a, b, signed):
    """rel. L2 of maps; for the principal-component methods up to the sign of the component."""
    if not signed:
        return mr.rel_l2(a, b)
    return min(mr.rel_l2(a, b), mr.rel_l2(a, -b))


def process(name, outdir, scorecam):
    t0 = time.time()
    reshape, tokens = None, None
    if name in tm.ALL:
        # a token layer read on a grid: pytorch-grad-cam's reshape_transform, GradCAM::setTokenGrid in C++
        onnx_name, target = name + ".onnx", tm.target(name)
        model, x, grid, prefix = tm.build(name, os.path.join(outdir, onnx_name))
        reshape, tokens = tm.reshape_transform(grid, prefix), (grid, grid, prefix)
        scorecam = False  # Score-CAM and Ablation-CAM do not read token layers
    else:
        model, x, target, onnx_name = mr.build(name, outdir)
    if name in tm.TORCHVISION:
        # cv::dnn 4.6 does not import them: the test finds the layer by this activation on its OpenCV
        layer, act = "", mr.torch_activation(model, x, target)
    else:
        layer, act, _ = mr.dnn_target_layer(model, x, target, os.path.join(outdir, onnx_name))
    shape = act.shape
    map_shape = tokens[:2] if tokens else tuple(shape[2:])
    t_build = time.time() - t0
    print("  target: torch %s %s -> cv::dnn '%s'%s" % (target, tuple(shape), layer,
                                                      " (token grid %d x %d, %d prefix)" % tokens if tokens else ""))
    m64 = copy.deepcopy(model).double()
    # ActivationsAndGradients hooks only outputs that require grad: let the input require it rather
    # than the parameters, so that the backward pass computes no weight gradients (half the work)
    x32 = torch.from_numpy(x).requires_grad_(True)
    x64 = x32.detach().double().requires_grad_(True)
    for m in (model, m64):
        for p in m.parameters():
            p.requires_grad_(False)
    with torch.no_grad():
        logits = m64(x64)[0]
    cls = int(logits.argmax())
    print("  top-1 class %d (logit %.6g)" % (cls, logits[cls].item()))

    maps, floor, times = {}, {}, {}
    for key, cls_ in METHODS:
        if key in ("scorecam", "ablationcam") and not scorecam:
            continue  # forward-pass methods: one run per channel batch
        t1 = time.time()
        p64 = raw_cam(cls_, m64, mr.get_module(m64, target), x64, cls, reshape)
        times[key] = time.time() - t1
        p32 = raw_cam(cls_, model, mr.get_module(model, target), x32, cls, reshape)
        if p64.shape != map_shape:
            raise RuntimeError("%s: map %s, layer %s" % (key, p64.shape, shape))
        maps[key] = np.maximum(p64, 0)
        if key in SIGNED:
            maps[key + "_neg"] = np.maximum(-p64, 0)
        floor[key] = rel_l2_signed(p32, p64, key in SIGNED) if np.abs(p64).max() > 0 else 0.0
    print("  float32 vs float64 pytorch-grad-cam (rel. L2 of the signed map): %s" % ", ".join(
        "%s %.1e" % kv for kv in floor.items()))
    print("  time per method (float64): %s" % ", ".join("%s %.2f s" % kv for kv in times.items()))
    empty = [k for k, v in maps.items() if not v.any()]
    if empty:
        print("  note: all-zero maps: %s" % " ".join(empty))

    if tokens:
        # the same Grad-CAM from float64 autograd without pytorch-grad-cam
        maps["gradcam_autograd"] = tm.autograd_gradcam(m64, x64, cls, tokens[0], tokens[2], target)
        d = mr.rel_l2(maps["gradcam_autograd"], maps["gradcam"])
        print("  Grad-CAM from autograd vs pytorch-grad-cam (float64): rel. L2 %.1e" % d)
        if not d < 1e-9:
            raise RuntimeError("autograd and pytorch-grad-cam disagree on the token Grad-CAM (%.3g)" % d)

    # aug_smooth and multi-layer Grad-CAM: pytorch-grad-cam's scaled maps at the input size
    extra_layer = None
    if name in SECOND_LAYER:
        cam = GradCAM(model=m64, target_layers=[mr.get_module(m64, target)])
        with cam:
            maps["gradcam_aug"] = cam(input_tensor=x64, targets=[ClassifierOutputTarget(cls)],
                                      aug_smooth=True)[0]
        second = SECOND_LAYER[name]
        extra_layer, _, _ = mr.dnn_target_layer(model, x, second, os.path.join(outdir, onnx_name))
        cam = GradCAM(model=m64, target_layers=[mr.get_module(m64, second), mr.get_module(m64, target)])
        with cam:
            maps["gradcam_layers"] = cam(input_tensor=x64, targets=[ClassifierOutputTarget(cls)])[0]
        print("  aug_smooth and two-layer (%s, %s) Grad-CAM computed" % (second, target))

    path = os.path.join(outdir, name + "_cams.yml.gz")
    fs = cv2.FileStorage(path, cv2.FILE_STORAGE_WRITE)
    fs.write("model", onnx_name)
    fs.write("layer", layer)
    if not layer:
        fs.write("activation", np.ascontiguousarray(act.reshape(1, -1), np.float32))
    if extra_layer:
        fs.write("layer2", extra_layer)
    if tokens:
        fs.write("grid_h", tokens[0])
        fs.write("grid_w", tokens[1])
        fs.write("prefix_tokens", tokens[2])
    fs.write("class_id", cls)
    fs.write("grad_cam_version", importlib.metadata.version("grad-cam"))
    fs.write("torch_version", torch.__version__)
    fs.write("precision", "float64")
    fs.write("input", x)
    data = {k: np.ascontiguousarray(v.astype(np.float32)) for k, v in maps.items()}
    for k, v in data.items():
        fs.write(k, v)
    for k, v in floor.items():
        fs.write("floor_" + k, float(v))
    fs.release()
    fs = cv2.FileStorage(path, cv2.FILE_STORAGE_READ)
    ok = (fs.getNode("layer").string() == layer and int(fs.getNode("class_id").real()) == cls
          and np.array_equal(fs.getNode("input").mat(), x))
    for k, v in data.items():
        ok = ok and np.array_equal(fs.getNode(k).mat(), v)
    fs.release()
    if not ok:
        raise RuntimeError("FileStorage read-back differs")
    print("  wrote %s (%d KB); time: build+export %.1f s, total %.1f s" % (
        os.path.basename(path), os.path.getsize(path) // 1024, t_build, time.time() - t0))


class WordsFixed(torch.nn.Module):
    """The captioner with its words input held fixed, batch first (1 x T x V), as pytorch-grad-cam calls it."""

    def __init__(self, captioner, words):
        super().__init__()
        self.captioner, self.words = captioner, words

    def forward(self, image):
        return self.captioner(image, self.words).transpose(0, 1)


def process_caption(outdir):
    """The gradient methods on the bundled captioner (data/tasks/caption*), one map per caption word: the
    target is word t's log-probability with the caption fed in (teacher forcing), at conv3_relu."""
    t0 = time.time()
    model = tc.load_twin(os.path.join(mr.REPO, "data", "tasks", "caption.onnx"))
    img = cv2.imread(os.path.join(mr.REPO, "data", "tasks", "caption.png"))
    x = cv2.dnn.blobFromImage(img, 1.0 / 255, (img.shape[1], img.shape[0]), 0, swapRB=True, crop=False)
    fs = cv2.FileStorage(os.path.join(mr.REPO, "data", "tasks", "caption_words.yml"), cv2.FILE_STORAGE_READ)
    words = fs.getNode("words").mat()
    fs.release()
    caption = [int(np.argmax(w)) for w in words] + [0]  # ... <end>
    for p in model.parameters():
        p.requires_grad_(False)
    fixed32 = WordsFixed(model, torch.from_numpy(words))
    fixed64 = WordsFixed(copy.deepcopy(model).double(), torch.from_numpy(words).double())
    x32 = torch.from_numpy(x).requires_grad_(True)
    x64 = x32.detach().double().requires_grad_(True)
    maps, floor = {}, {}
    for key, cls_ in METHODS:
        if key in ("scorecam", "ablationcam"):
            continue
        for t, word in enumerate(caption):
            score = (lambda t, word: lambda out: out[t, word])(t, word)
            p64 = raw_cam(cls_, fixed64, fixed64.captioner.conv3_relu, x64, score)
            p32 = raw_cam(cls_, fixed32, fixed32.captioner.conv3_relu, x32, score)
            maps["%s_%d" % (key, t)] = np.maximum(p64, 0)
            if key in SIGNED:
                maps["%s_%d_neg" % (key, t)] = np.maximum(-p64, 0)
            floor["%s_%d" % (key, t)] = rel_l2_signed(p32, p64, key in SIGNED) if np.abs(p64).max() > 0 else 0.0
    maps["gradcam_autograd"] = np.stack(tc.autograd_gradcam(model, x32, torch.from_numpy(words), caption))
    d = max(mr.rel_l2(maps["gradcam_autograd"][t], maps["gradcam_%d" % t]) for t in range(len(caption)))
    print("  Grad-CAM from autograd vs pytorch-grad-cam (float64, worst word): rel. L2 %.1e" % d)
    if not d < 1e-9:
        raise RuntimeError("autograd and pytorch-grad-cam disagree on the caption's Grad-CAM (%.3g)" % d)
    del maps["gradcam_autograd"]
    path = os.path.join(outdir, "caption_cams.yml.gz")
    fs = cv2.FileStorage(path, cv2.FILE_STORAGE_WRITE)
    fs.write("words", len(caption))
    fs.write("grad_cam_version", importlib.metadata.version("grad-cam"))
    for k, v in maps.items():
        fs.write(k, np.ascontiguousarray(v.astype(np.float32)))
    for k, v in floor.items():
        fs.write("floor_" + k, float(v))
    fs.release()
    print("  wrote %s (%d maps); total %.1f s" % (os.path.basename(path), len(maps), time.time() - t0))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default=",".join(MODELS),
                    help="comma list of: " + ",".join(KNOWN) + " (default %(default)s)")
    ap.add_argument("--scorecam", default="default",
                    help="models that also get Score-CAM (K forward passes; default %(default)s)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    cv2.setNumThreads(2)
    torch.manual_seed(0)
    np.random.seed(0)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    bad = [n for n in names if n not in KNOWN]
    if bad:
        sys.exit("unknown models: %s (known: %s)" % (bad, ",".join(KNOWN)))
    scorecam = set(n.strip() for n in args.scorecam.split(","))
    os.makedirs(args.out, exist_ok=True)
    print("grad-cam %s, torch %s" % (importlib.metadata.version("grad-cam"), torch.__version__))
    t0 = time.time()
    failed = {}
    for name in names:
        print("[%s]" % name, flush=True)
        try:
            if name == "caption":
                process_caption(args.out)
            else:
                process(name, args.out, name in scorecam)
        except Exception as e:  # keep going, report at the end
            import traceback
            traceback.print_exc()
            failed[name] = str(e)
            stale = os.path.join(args.out, name + "_cams.yml.gz")
            if os.path.exists(stale):
                os.remove(stale)
        sys.stdout.flush()
    print("total %.1f s" % (time.time() - t0))
    if failed:
        sys.exit("FAILED: " + "; ".join("%s: %s" % kv for kv in failed.items()))


if __name__ == "__main__":
    main()
