#!/usr/bin/python3
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
"""Autograd references (float64) for the C++ comparison tests of the explain module.

  /usr/bin/python3 tools/make_references.py --out DIR [--models resnet18,resnet50,...]

For each model: DIR/<name>.onnx (what cv::dnn loads) and DIR/<name>.yml.gz (cv::FileStorage) with
model, layer, class_id, score, input, logits, gradcam, counterfactual, vanilla, guided, deconvnet,
guided_gradcam. DIR/index.txt lists the models of DIR that have references. See tools/README.md.
"""
import argparse
import contextlib
import copy
import os
import shutil
import sys
import time
import warnings
import zlib

import numpy as np
import cv2
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.models as tvm

warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
TOOLS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TOOLS)
sys.path.insert(0, TOOLS)

RECTIFIER_LAYER_TYPES = ("ReLU", "ReLU6", "ELU", "PReLU")  # cv::dnn types guided mode changes
RECTIFIER_ONNX_OPS = ("Relu", "Clip", "LeakyRelu", "Elu", "PRelu")


# ----------------------------------------------------------------------------------------------
# guided / deconvnet rectifiers
BACKWARD_MODE = ["exact"]  # read by _Rect.backward when the backward pass runs


class _Rect(torch.autograd.Function):
    """Rectifier whose backward rule is chosen when the backward pass runs (BACKWARD_MODE[0]), so
    one forward serves the exact, guided and deconvnet gradients.
    kind: 'relu', 'clip' (a, b: ReLU6), 'leaky' (slope a), 'elu' (alpha a), 'prelu' (weight a).
    exact  -> R * f'(x)
    guided -> R * f'(x) * [R > 0]
    deconv -> R * [R > 0]"""

    @staticmethod
    def forward(ctx, x, kind, a, b):
        ctx.save_for_backward(x)
        ctx.kind, ctx.a, ctx.b = kind, a, b
        if kind == "relu":
            return torch.clamp(x, min=0)
        if kind == "clip":
            return torch.clamp(x, a, b)
        if kind == "leaky":
            return torch.where(x > 0, x, x * a)
        if kind == "elu":
            return torch.where(x > 0, x, a * (torch.exp(x) - 1))
        if kind == "prelu":
            w = a.reshape(1, -1, *([1] * (x.dim() - 2))) if x.dim() > 1 else a
            return torch.where(x > 0, x, x * w)
        raise ValueError(kind)

    @staticmethod
    def backward(ctx, R):
        x, = ctx.saved_tensors
        mode = BACKWARD_MODE[0]
        pos = (R > 0).to(R.dtype)
        if mode == "deconv":
            return R * pos, None, None, None
        k, a, b = ctx.kind, ctx.a, ctx.b
        if k == "relu":
            d = (x > 0).to(R.dtype)
        elif k == "clip":
            d = ((x > a) & (x < b)).to(R.dtype)
        elif k == "leaky":
            d = torch.where(x > 0, torch.ones_like(x), torch.full_like(x, a))
        elif k == "elu":
            d = torch.where(x > 0, torch.ones_like(x), a * torch.exp(x))
        else:
            w = a.reshape(1, -1, *([1] * (x.dim() - 2))) if x.dim() > 1 else a
            d = torch.where(x > 0, torch.ones_like(x), w.expand_as(x))
        if mode == "guided":
            d = d * pos
        return R * d, None, None, None


@contextlib.contextmanager
def rectifiers(counter):
    """Route the functional ReLU family (what nn.ReLU/ReLU6/LeakyReLU/ELU/PReLU modules and
    torchvision's F.relu calls use) through _Rect during a forward. counter[0] counts calls."""
    def mk(kind, fa=None, fb=None):
        def f(x, *args, **kw):
            counter[0] += 1
            a = fa(args, kw) if fa else None
            b = fb(args, kw) if fb else None
            return _Rect.apply(x, kind, a, b)
        return f

    def arg(i, name, default):
        return lambda args, kw: args[i] if len(args) > i else kw.get(name, default)

    relu = mk("relu")
    patches = {
        (F, "relu"): relu, (F, "relu_"): relu, (torch, "relu"): relu, (torch, "relu_"): relu,
        (F, "relu6"): mk("clip", lambda a, k: 0.0, lambda a, k: 6.0),
        (F, "hardtanh"): mk("clip", arg(0, "min_val", -1.0), arg(1, "max_val", 1.0)),
        (F, "leaky_relu"): mk("leaky", arg(0, "negative_slope", 0.01)),
        (F, "elu"): mk("elu", arg(0, "alpha", 1.0)),
        (F, "prelu"): mk("prelu", arg(0, "weight", None)),
    }
    saved = {k: getattr(*k) for k in patches}
    try:
        for (mod, name), fn in patches.items():
            setattr(mod, name, fn)
        yield
    finally:
        for (mod, name), fn in saved.items():
            setattr(mod, name, fn)


# ----------------------------------------------------------------------------------------------
# models
def _channel_shuffle_static(x, groups):
    b, c, h, w = [int(s) for s in x.shape]  # python ints: static Reshape shapes in the ONNX
    x = x.view(b, groups, c // groups, h, w)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(b, -1, h, w)


def _shufflenet_block_forward(self, x):
    if self.stride == 1:
        c = int(x.shape[1])  # static Split sizes instead of chunk's Shape arithmetic
        x1, x2 = torch.split(x, [c // 2, c - c // 2], dim=1)
        out = torch.cat((x1, self.branch2(x2)), dim=1)
    else:
        out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
    return _channel_shuffle_static(out, 2)


torchvision.models.shufflenetv2.channel_shuffle = _channel_shuffle_static
torchvision.models.shufflenetv2.InvertedResidual.forward = _shufflenet_block_forward


def _densenet_forward(self, x):
    out = self.final_relu(self.features(x))  # same graph as torchvision (F.relu), but a module
    out = F.adaptive_avg_pool2d(out, (1, 1))
    return self.classifier(torch.flatten(out, 1))


def _densenet121():
    m = tvm.densenet121(weights=None)
    m.final_relu = nn.ReLU()
    m.forward = _densenet_forward.__get__(m)
    return m


# name: (constructor, input size, target module path, opset)
ZOO = {
    "resnet18": (lambda: tvm.resnet18(weights=None), 224, "layer4", 11),
    "resnet50": (lambda: tvm.resnet50(weights=None), 224, "layer4", 11),
    "vgg16": (lambda: tvm.vgg16(weights=None), 224, "features.29", 11),
    "mobilenet_v2": (lambda: tvm.mobilenet_v2(weights=None), 224, "features", 10),
    "mobilenet_v3_small": (lambda: tvm.mobilenet_v3_small(weights=None), 224, "features", 11),
    "densenet121": (_densenet121, 224, "final_relu", 11),
    "googlenet": (lambda: tvm.googlenet(weights=None, aux_logits=False, init_weights=True), 224,
                  "inception5b", 11),
    "inception_v3": (lambda: tvm.inception_v3(weights=None, aux_logits=False, init_weights=False),
                     299, "Mixed_7c", 11),
    "squeezenet1_1": (lambda: tvm.squeezenet1_1(weights=None), 224, "features", 11),
    "shufflenet_v2_x1_0": (lambda: tvm.shufflenet_v2_x1_0(weights=None), 224, "conv5", 11),
    "efficientnet_b0": (lambda: tvm.efficientnet_b0(weights=None), 224, "features", 11),
    "regnet_x_400mf": (lambda: tvm.regnet_x_400mf(weights=None), 224, "trunk_output", 11),
}
ALL = list(ZOO) + ["default"]
# Models whose reference input is an image (written as <name>.png) read with these blobFromImage
# flags (scale, mean, swapRB=True): tests run the sample on it with --raw.
IMAGE_INPUT = {"resnet18": (1.0 / 58.0, (123.7, 116.3, 103.5))}


def smooth_noise(rng, size):
    """1x3xSxS float32 smooth random field (sum of bicubic-upsampled normal grids), unit std."""
    x = np.zeros((3, size, size), np.float32)
    for c in range(3):
        for grid, w in ((4, 1.0), (8, 0.7), (16, 0.5), (size, 0.3)):
            g = rng.standard_normal((grid, grid)).astype(np.float32)
            x[c] += w * cv2.resize(g, (size, size), interpolation=cv2.INTER_CUBIC)
    return (x / x.std())[None]


def calibrate_bn(model, xb):
    """Set BatchNorm running statistics to the batch statistics of xb (keeps the random network's
    activations normalized, so its last feature maps still depend on the input)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    with torch.no_grad():
        model(xb)
    for m in bns:
        m.eval()


def perturb(model, seed):
    """Small random noise on every float parameter and buffer (running_var stays positive), so
    that no two initializers are identical (the exporter would emit Identity nodes)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if not t.is_floating_point():
                continue
            n = torch.randn(t.shape, generator=g, dtype=t.dtype)
            if name.endswith("running_var"):
                t.mul_(torch.exp(0.1 * n))
            else:
                s = t.std().item() if t.numel() > 1 else 0.0
                t.add_(n * (0.1 * s if s > 0 else 0.1))


def get_module(model, path):
    m = model
    for p in path.split("."):
        m = m[int(p)] if p.isdigit() else getattr(m, p)
    return m


# ----------------------------------------------------------------------------------------------
def maps(model, x, target, cls=None):
    """One forward with routed rectifiers, then backward passes for the exact, guided and deconvnet
    gradients of y = logit[cls] (top-1 if None), and the maps built from them."""
    for p in model.parameters():
        p.requires_grad_(False)
    x = x.clone().requires_grad_(True)
    store = {}
    h = get_module(model, target).register_forward_hook(lambda m, i, o: store.__setitem__("A", o))
    counter = [0]
    with rectifiers(counter):
        logits = model(x)
    h.remove()
    A = store["A"]
    if cls is None:
        cls = int(logits[0].argmax())
    y = logits[0, cls]
    r = dict(cls=cls, score=y.item(), logits=logits.detach(), A=A.detach(), nrect=counter[0])
    try:
        BACKWARD_MODE[0] = "exact"
        g, r["vanilla"] = torch.autograd.grad(y, [A, x], retain_graph=True)
        # alternative class: the one (of up to 50 spread over the ranking) whose linear map
        # sum_k alpha_k A_k is most evenly split in sign, so that both of its maps are non-trivial
        order = torch.argsort(logits[0], descending=True).tolist()[1:]
        best = None
        for c in order[::max(1, len(order) // 50)]:
            gc, = torch.autograd.grad(logits[0, c], A, retain_graph=True)
            lin = (gc.mean((2, 3), keepdim=True) * A).sum(1)
            q = min((lin > 0).double().mean().item(), (lin < 0).double().mean().item())
            if best is None or q > best[0]:
                best = (q, c, gc)
        BACKWARD_MODE[0] = "guided"
        r["guided"], = torch.autograd.grad(y, x, retain_graph=True)
        BACKWARD_MODE[0] = "deconv"
        r["deconvnet"], = torch.autograd.grad(y, x)
    finally:
        BACKWARD_MODE[0] = "exact"
    A = A.detach()
    lin = (g.mean((2, 3), keepdim=True) * A).sum(1)[0]
    r["gradcam"], r["counterfactual"] = F.relu(lin), F.relu(-lin)
    r["up"] = F.interpolate(r["gradcam"][None, None], size=x.shape[2:], mode="bilinear",
                            align_corners=False)
    r["guided_gradcam"] = r["up"] * r["guided"]
    _, c, gc = best
    lin = (gc.mean((2, 3), keepdim=True) * A).sum(1)[0]
    r.update(alt_class_id=c, alt_score=logits[0, c].item(), alt_gradcam=F.relu(lin),
             alt_counterfactual=F.relu(-lin))
    return r


def native_vanilla(model, x, cls):
    """Plain autograd input gradient without any routing (checks the exact mode of _Rect)."""
    x = x.clone().requires_grad_(True)
    logits = model(x)
    return logits.detach(), torch.autograd.grad(logits[0, cls], x)[0]


def rel_l2(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def layer_types(net):
    return [(n, net.getLayer(n).type) for n in net.getLayerNames()]


def torch_activation(model, x, target):
    """The float32 output (numpy) of torch module `target` on the numpy input x."""
    store = {}
    h = get_module(model, target).register_forward_hook(lambda m, i, o: store.__setitem__("A", o))
    with torch.no_grad():
        model(torch.from_numpy(x))
    h.remove()
    return store["A"].numpy()


def clear_input(model, rng, size):
    """Smooth-noise input whose top-1 class is not a near tie: the first of 10 draws with a relative gap
    above 0.01 between the two top logits, else the draw with the widest gap."""
    best = None
    for _ in range(10):
        xi = smooth_noise(rng, size)
        with torch.no_grad():
            top = torch.topk(model(torch.from_numpy(xi))[0], 2).values
        gap = (top[0] - top[1]).item() / max(abs(top[0].item()), 1.0)
        if best is None or gap > best[0]:
            best = (gap, xi)
        if gap > 0.01:
            break
    return best[1]


def dnn_target_layer(model, x, target, onnx_path):
    """The cv::dnn layer whose output equals torch module `target`'s: the first in getLayerNames()
    order (fusion off, all layers forwarded) with that shape and a max difference below 1e-3 max|A|.
    Returns (layer name, the torch activation, [(name, type)] of the net)."""
    a = torch_activation(model, x, target)
    net = cv2.dnn.readNet(onnx_path)
    net.enableFusion(False)
    net.setInput(x)
    lt = layer_types(net)
    names = [n for n, _ in lt]
    for n, o in zip(names, net.forward(names)):
        if o.shape == a.shape and np.abs(o - a).max() < 1e-3 * np.abs(a).max():
            return n, a, lt
    raise RuntimeError("no cv::dnn layer output equals torch %s %s" % (target, a.shape))


def build(name, outdir):
    """Returns (float32 torch model, input float32 numpy, target module path, onnx file name)."""
    seed = zlib.crc32(name.encode()) & 0x7FFFFFFF
    if name == "default":
        import train_default_model as tdm
        src = os.path.join(REPO, "data", "default_model.onnx")
        onnx_name = "default.onnx"
        shutil.copyfile(src, os.path.join(outdir, onnx_name))
        model = tdm.load_twin(src)
        img = cv2.imread(os.path.join(REPO, "data", "default_image.png"))
        x = cv2.dnn.blobFromImage(img, 1.0 / 255, (tdm.SIZE, tdm.SIZE), 0, swapRB=True, crop=False)
        return model, x, "relu4", onnx_name
    ctor, size, target, opset = ZOO[name]
    torch.manual_seed(seed)
    model = ctor().eval()
    rng = np.random.RandomState(seed)
    calibrate_bn(model, torch.from_numpy(np.concatenate([smooth_noise(rng, size) for _ in range(4)])))
    perturb(model, seed)
    x = clear_input(model, rng, size)
    if name in IMAGE_INPUT:
        # The input goes through an 8-bit image and cv::dnn::blobFromImage with the sample's flags,
        # so that modules/explain/samples/gradcam.cpp run on the PNG can be compared with this reference.
        scale, mean = IMAGE_INPUT[name]
        img = np.clip(x[0].transpose(1, 2, 0)[:, :, ::-1] * 40 + 128, 0, 255).astype(np.uint8)
        cv2.imwrite(os.path.join(outdir, name + ".png"), img)
        x = cv2.dnn.blobFromImage(img, scale, (size, size), mean, swapRB=True, crop=False)
    onnx_name = name + ".onnx"
    path = os.path.join(outdir, onnx_name)
    with torch.no_grad():
        torch.onnx.export(model, torch.from_numpy(x), path, opset_version=opset,
                          do_constant_folding=True, input_names=["input"], output_names=["logits"])
    return model, x, target, onnx_name


def process(name, outdir):
    t0 = time.time()
    model, x, target, onnx_name = build(name, outdir)
    onnx_path = os.path.join(outdir, onnx_name)
    import onnx
    ops = [n.op_type for n in onnx.load(onnx_path, load_external_data=False).graph.node]
    if "Identity" in ops:
        raise RuntimeError("ONNX graph has Identity nodes")
    n_onnx_rect = sum(o in RECTIFIER_ONNX_OPS for o in ops)
    t_export = time.time() - t0

    # float32 torch vs cv::dnn
    xt = torch.from_numpy(x)
    with torch.no_grad():
        logits32 = model(xt).numpy()
    net = cv2.dnn.readNet(onnx_path)
    net.setInput(x)
    out = net.forward().reshape(logits32.shape)
    d = np.abs(out - logits32).max()
    scale = np.abs(logits32).max()
    print("  cv2.dnn vs torch logits: max abs diff %.3g (max |logit| %.3g)" % (d, scale))
    if not d <= 1e-3 * max(scale, 1.0):
        raise RuntimeError("cv2.dnn logits do not match torch (%.3g)" % d)

    # target layer in cv::dnn
    layer, A32, lt = dnn_target_layer(model, x, target, onnx_path)
    types = sorted(set(t for _, t in lt))
    n_dnn_rect = sum(t in RECTIFIER_LAYER_TYPES for _, t in lt)
    print("  cv::dnn types: %s" % ", ".join(types))
    print("  target: torch %s %s -> cv::dnn '%s' (%s)" % (target, tuple(A32.shape), layer,
                                                         dict(lt)[layer]))

    # float64 truth, float32 for the noise floor
    t_dnn = time.time() - t0 - t_export
    m64 = copy.deepcopy(model).double()
    r = maps(m64, xt.double(), target)
    del m64
    t_64 = time.time() - t0 - t_export - t_dnn
    r32 = maps(model, xt, target, r["cls"])
    nl, nv = native_vanilla(model, xt, r["cls"])
    d_nat = (rel_l2(r32["logits"].numpy(), nl.numpy()), rel_l2(r32["vanilla"].numpy(), nv.numpy()))
    if max(d_nat) > 1e-5:
        raise RuntimeError("routed rectifiers change the forward/exact gradient: %s" % (d_nat,))
    print("  top-1 class %d (score %.6g); alt class %d (score %.6g): gradcam>0 on %.0f%%, "
          "counterfactual>0 on %.0f%% of the map" % (
              r["cls"], r["score"], r["alt_class_id"], r["alt_score"],
              100 * (r["alt_gradcam"] > 0).double().mean(),
              100 * (r["alt_counterfactual"] > 0).double().mean()))
    if not (r["nrect"] == n_onnx_rect == n_dnn_rect):
        raise RuntimeError("rectifier count mismatch: torch %d, ONNX %d, cv::dnn %d"
                           % (r["nrect"], n_onnx_rect, n_dnn_rect))
    print("  rectifiers (guided): %d (torch calls = ONNX nodes = cv::dnn layers)" % r["nrect"])
    # bilinear upsampling: torch (align_corners=False) vs cv::resize INTER_LINEAR
    H, W = x.shape[2:]
    cvup = cv2.resize(r["gradcam"].numpy(), (W, H), interpolation=cv2.INTER_LINEAR)
    dup = np.abs(cvup - r["up"][0, 0].numpy()).max() / max(r["gradcam"].max().item(), 1e-300)
    if dup > 1e-6:
        raise RuntimeError("torch bilinear != cv::resize (%.3g)" % dup)
    floor = {k: rel_l2(r32[k].numpy(), r[k].numpy())
             for k in ("gradcam", "counterfactual", "vanilla", "guided", "deconvnet",
                       "guided_gradcam", "alt_gradcam", "alt_counterfactual")
             if r[k].abs().max() > 0}
    print("  float32 vs float64 rel. L2: %s" % ", ".join("%s %.1e" % kv for kv in floor.items()))

    # write
    path = os.path.join(outdir, name + ".yml.gz")
    data = dict(input=x, logits=r["logits"].numpy().astype(np.float32).reshape(1, -1))
    for k in ("gradcam", "counterfactual", "vanilla", "guided", "deconvnet", "guided_gradcam",
              "alt_gradcam", "alt_counterfactual"):
        data[k] = np.ascontiguousarray(r[k].numpy().astype(np.float32))
    fs = cv2.FileStorage(path, cv2.FILE_STORAGE_WRITE)
    fs.write("model", onnx_name)
    fs.write("layer", layer)
    fs.write("class_id", int(r["cls"]))
    fs.write("score", float(r["score"]))
    if name in IMAGE_INPUT:
        fs.write("image", name + ".png")
        fs.write("blob_scale", float(IMAGE_INPUT[name][0]))
        fs.write("blob_mean", " ".join("%g" % m for m in IMAGE_INPUT[name][1]))
    for k, v in data.items():
        if k == "alt_gradcam":
            fs.write("alt_class_id", int(r["alt_class_id"]))
            fs.write("alt_score", float(r["alt_score"]))
        fs.write(k, v)
    fs.release()
    fs = cv2.FileStorage(path, cv2.FILE_STORAGE_READ)
    ok = (fs.getNode("model").string() == onnx_name and fs.getNode("layer").string() == layer
          and int(fs.getNode("class_id").real()) == r["cls"]
          and fs.getNode("score").real() == float(r["score"])
          and int(fs.getNode("alt_class_id").real()) == r["alt_class_id"]
          and fs.getNode("alt_score").real() == float(r["alt_score"]))
    for k, v in data.items():
        m = fs.getNode(k).mat()
        ok = ok and m is not None and m.shape == v.shape and m.dtype == v.dtype and np.array_equal(m, v)
    fs.release()
    if not ok:
        raise RuntimeError("FileStorage read-back differs")
    print("  wrote %s (%d KB), %s (%.1f MB); time: export %.1f s, cv::dnn %.1f s, float64 %.1f s,"
          " total %.1f s" % (os.path.basename(path), os.path.getsize(path) // 1024, onnx_name,
                            os.path.getsize(onnx_path) / 1e6, t_export, t_dnn, t_64,
                            time.time() - t0))
    return dict(layer=layer, types=types, floor=floor, time=time.time() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default=",".join(ALL), help="comma list of: " + ",".join(ALL))
    args = ap.parse_args()
    torch.set_num_threads(2)
    cv2.setNumThreads(2)
    torch.manual_seed(0)
    np.random.seed(0)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    bad = [n for n in names if n not in ALL]
    if bad:
        sys.exit("unknown models: %s (known: %s)" % (bad, ",".join(ALL)))
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    failed = {}
    for name in names:
        print("[%s]" % name, flush=True)
        try:
            process(name, args.out)
        except Exception as e:  # keep going, report at the end
            import traceback
            traceback.print_exc()
            failed[name] = str(e)
            stale = os.path.join(args.out, name + ".yml.gz")
            if os.path.exists(stale):
                os.remove(stale)
        sys.stdout.flush()
    done = [n for n in ALL if os.path.exists(os.path.join(args.out, n + ".yml.gz"))]
    with open(os.path.join(args.out, "index.txt"), "w") as f:
        f.write("".join(n + "\n" for n in done))
    print("total %.1f s; index.txt: %s" % (time.time() - t0, " ".join(done)))
    if failed:
        sys.exit("FAILED: " + "; ".join("%s: %s" % kv for kv in failed.items()))


if __name__ == "__main__":
    main()
