#!/usr/bin/python3
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
"""Train the small default model of the explain module on synthetic shapes.

Writes (relative to the repository root):
  data/default_model.onnx   logits model, input 1x3x64x64 RGB in [0,1], opset 11
  data/default_image.png    64x64 BGR PNG (as cv2 writes it) with one object
  data/default_labels.txt   one class name per line

Deterministic (fixed seeds, 2 threads). Run with Debian's python:
  /usr/bin/python3 tools/train_default_model.py

The module is importable: make_shape_image() draws the data, load_twin(onnx_path) rebuilds the
exported (BatchNorm-folded) network as a torch module with the weights read from the ONNX
initializers; tools/make_references.py uses it for the autograd references.
"""
import argparse
import os
import sys
import time
from collections import OrderedDict

import numpy as np
import cv2
import torch
import torch.nn as nn
import torch.nn.functional as F

CLASSES = ["circle", "square", "triangle", "cross"]
SIZE = 64
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ----------------------------------------------------------------------------------------------
# data
def _background(rng):
    """Smooth random colour texture plus a few thin random lines (RGB float)."""
    low = rng.uniform(30, 200, size=(4, 4, 3)).astype(np.float32)
    bg = cv2.resize(low, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    for _ in range(rng.randint(0, 3)):  # distractor lines
        p0 = tuple(int(v) for v in rng.randint(0, SIZE, 2))
        p1 = tuple(int(v) for v in rng.randint(0, SIZE, 2))
        col = tuple(float(v) for v in rng.uniform(0, 255, 3))
        cv2.line(bg, p0, p1, col, 1, cv2.LINE_AA)
    return bg


def _polygon(cls, cx, cy, r, theta):
    if cls == 1:    # square
        pts = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
        pts = [(x * r * 0.8, y * r * 0.8) for x, y in pts]
    elif cls == 2:  # triangle
        pts = [(r * np.cos(a), r * np.sin(a)) for a in (-np.pi / 2, np.pi / 6, 5 * np.pi / 6)]
    else:           # cross (plus sign)
        t = r / 3.0
        pts = [(-t, -r), (t, -r), (t, -t), (r, -t), (r, t), (t, t), (t, r), (-t, r), (-t, t),
               (-r, t), (-r, -t), (-t, -t)]
    c, s = np.cos(theta), np.sin(theta)
    pts = [(cx + c * x - s * y, cy + s * x + c * y) for x, y in pts]
    return np.round(np.array(pts) * 16).astype(np.int32)  # 4 fractional bits


def make_shape_image(rng, cls):
    """One RGB uint8 SIZExSIZE image with one object of class cls.
    Returns (image, bbox) with bbox = (x0, y0, x1, y1) inclusive, from the object's mask."""
    bg = _background(rng)
    r = rng.uniform(7, 12)
    cx = rng.uniform(r + 2, SIZE - r - 2)
    cy = rng.uniform(r + 2, SIZE - r - 2)
    theta = rng.uniform(0, np.pi / 2) if cls != 0 else 0.0
    ref = bg[int(cy), int(cx)]
    for _ in range(100):  # colour with enough contrast to the background around the object
        col = rng.uniform(0, 255, 3)
        if np.abs(col - ref).max() > 90:
            break
    mask = np.zeros((SIZE, SIZE), np.float32)
    if cls == 0:
        cv2.circle(mask, (int(round(cx * 16)), int(round(cy * 16))), int(round(r * 0.9 * 16)),
                   1.0, -1, cv2.LINE_AA, 4)
    else:
        cv2.fillPoly(mask, [_polygon(cls, cx, cy, r, theta)], 1.0, cv2.LINE_AA, 4)
    img = bg * (1 - mask[..., None]) + col[None, None, :].astype(np.float32) * mask[..., None]
    img += rng.normal(0, 10, img.shape).astype(np.float32)
    img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    ys, xs = np.nonzero(mask > 0.5)
    return img, (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))


def make_dataset(n, seed):
    rng = np.random.RandomState(seed)
    imgs = np.empty((n, SIZE, SIZE, 3), np.uint8)
    labels = np.empty(n, np.int64)
    boxes = np.empty((n, 4), np.int64)
    for i in range(n):
        labels[i] = i % len(CLASSES)
        imgs[i], boxes[i] = make_shape_image(rng, labels[i])
    return imgs, labels, boxes


def to_tensor(imgs_rgb):
    """RGB uint8 NHWC -> float NCHW in [0,1]; equals blobFromImage(bgr, 1/255, swapRB=true)."""
    x = imgs_rgb.astype(np.float32) * np.float32(1.0 / 255)  # bit-identical to blobFromImage
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


# ----------------------------------------------------------------------------------------------
# models
CHANNELS = [16, 32, 64, 64]


def build_model(bn=True):
    """bn=True: the training network; bn=False: the exported one (BN folded into conv bias)."""
    layers = OrderedDict()
    cin = 3
    for i, c in enumerate(CHANNELS, 1):
        layers["conv%d" % i] = nn.Conv2d(cin, c, 3, padding=1, bias=not bn)
        if bn:
            layers["bn%d" % i] = nn.BatchNorm2d(c)
        layers["relu%d" % i] = nn.ReLU()
        if i < len(CHANNELS):
            layers["pool%d" % i] = nn.MaxPool2d(2)
        cin = c
    layers["gap"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    layers["fc"] = nn.Linear(cin, len(CLASSES))
    return nn.Sequential(layers)


def fold_bn(model):
    """Deploy copy of a trained BN model: conv weights and biases with BN folded in."""
    dep = build_model(bn=False)
    with torch.no_grad():
        for i in range(1, len(CHANNELS) + 1):
            conv, bn = getattr(model, "conv%d" % i), getattr(model, "bn%d" % i)
            s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            getattr(dep, "conv%d" % i).weight.copy_(conv.weight * s[:, None, None, None])
            getattr(dep, "conv%d" % i).bias.copy_(bn.bias - bn.running_mean * s)
        dep.fc.load_state_dict(model.fc.state_dict())
    return dep.eval()


def load_twin(onnx_path):
    """Torch twin of data/default_model.onnx: the deploy architecture with the weights taken from
    the ONNX initializers (Conv and Gemm nodes in graph order)."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(onnx_path)
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    params = []
    for node in m.graph.node:
        if node.op_type in ("Conv", "Gemm"):
            params.append([inits[n] for n in node.input[1:]])
    dep = build_model(bn=False)
    mods = [getattr(dep, "conv%d" % i) for i in range(1, len(CHANNELS) + 1)] + [dep.fc]
    assert len(params) == len(mods), "unexpected ONNX graph"
    with torch.no_grad():
        for mod, (w, b) in zip(mods, params):
            assert tuple(w.shape) == tuple(mod.weight.shape), (w.shape, mod.weight.shape)
            mod.weight.copy_(torch.from_numpy(w.copy()))
            mod.bias.copy_(torch.from_numpy(b.copy()))
    return dep.eval()


def torch_gradcam(model, x, cls):
    """Grad-CAM on relu4 (plain autograd), for checking localization."""
    acts = {}
    h = model.relu4.register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
    logits = model(x)
    h.remove()
    a = acts["a"]
    y = logits[torch.arange(len(cls)), cls].sum()
    g, = torch.autograd.grad(y, a)
    return F.relu((g.mean((2, 3), keepdim=True) * a).sum(1)), logits


# ----------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(REPO, "data"))
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--ntrain", type=int, default=8000)
    args = ap.parse_args()
    t0 = time.time()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    np.random.seed(0)
    torch.use_deterministic_algorithms(True)
    cv2.setNumThreads(1)

    xtr, ytr, _ = make_dataset(args.ntrain, seed=1)
    xva, yva, bva = make_dataset(1000, seed=2)
    Xtr, Ytr = to_tensor(xtr), torch.from_numpy(ytr)
    Xva, Yva = to_tensor(xva), torch.from_numpy(yva)
    print("data: %d train, %d val images (%.1f s)" % (len(Xtr), len(Xva), time.time() - t0))

    model = build_model(bn=True)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    bs = 64
    steps = args.epochs * ((len(Xtr) + bs - 1) // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    gen = torch.Generator().manual_seed(0)
    for ep in range(args.epochs):
        model.train()
        perm = torch.randperm(len(Xtr), generator=gen)
        tot = 0.0
        for i in range(0, len(Xtr), bs):
            idx = perm[i:i + bs]
            xb = Xtr[idx]
            if torch.rand(1, generator=gen).item() < 0.5:  # flip augmentation
                xb = xb.flip(3)
            loss = F.cross_entropy(model(xb), Ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            acc = (model(Xva).argmax(1) == Yva).float().mean().item()
        print("epoch %d  loss %.4f  val acc %.4f  (%.0f s)" % (ep + 1, tot / len(Xtr), acc,
                                                              time.time() - t0))

    dep = fold_bn(model.eval())
    with torch.no_grad():
        lv = dep(Xva)
        assert torch.allclose(lv, model(Xva), atol=1e-4)
        acc = (lv.argmax(1) == Yva).float().mean().item()
    print("final val accuracy: %.4f" % acc)
    if acc < 0.95:
        sys.exit("accuracy too low")

    # localization check: pointing game of Grad-CAM (relu4, 8x8) on the val set
    cam, _ = torch_gradcam(dep, Xva, Yva)
    hits = 0
    for i in range(len(Xva)):
        yx = np.unravel_index(cam[i].detach().numpy().argmax(), cam[i].shape)
        scale = SIZE / cam.shape[-1]
        cy, cx = (yx[0] + 0.5) * scale, (yx[1] + 0.5) * scale
        x0, y0, x1, y1 = bva[i]
        hits += (x0 - scale / 2 <= cx <= x1 + 1 + scale / 2) and (y0 - scale / 2 <= cy <= y1 + 1 + scale / 2)
    print("Grad-CAM (relu4) pointing game on val: %.4f" % (hits / len(Xva)))

    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, "default_model.onnx")
    torch.onnx.export(dep, torch.zeros(1, 3, SIZE, SIZE), onnx_path, opset_version=11,
                      do_constant_folding=True, input_names=["input"], output_names=["logits"])
    import onnx
    m = onnx.load(onnx_path)
    onnx.checker.check_model(m)
    ops = [n.op_type for n in m.graph.node]
    assert "Identity" not in ops, "Identity nodes in the ONNX graph"
    print("ONNX nodes:", " ".join(ops))
    print("%s: %d bytes" % (onnx_path, os.path.getsize(onnx_path)))

    with open(os.path.join(args.out, "default_labels.txt"), "w") as f:
        f.write("\n".join(CLASSES) + "\n")

    # default image: correctly and confidently classified, object away from the centre
    rng = np.random.RandomState(2024)
    twin = load_twin(onnx_path)
    net = cv2.dnn.readNet(onnx_path)
    for attempt in range(1000):
        cls = attempt % len(CLASSES) if attempt else 2  # start with a triangle
        img, box = make_shape_image(rng, cls)
        cxo, cyo = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        if abs(cxo - SIZE / 2) < 12 or abs(cyo - SIZE / 2) < 8:
            continue
        bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        blob = cv2.dnn.blobFromImage(bgr, 1.0 / 255, (SIZE, SIZE), 0, swapRB=True, crop=False)
        assert np.array_equal(blob, to_tensor(img[None]).numpy())
        with torch.no_grad():
            lt = twin(torch.from_numpy(blob))
        p = F.softmax(lt, 1)[0]
        if p.argmax().item() != cls or p[cls].item() < 0.99:
            continue
        cam, _ = torch_gradcam(twin, torch.from_numpy(blob), torch.tensor([cls]))
        yx = np.unravel_index(cam[0].detach().numpy().argmax(), cam[0].shape)
        if not (box[0] <= (yx[1] + 0.5) * 8 <= box[2] + 1 and box[1] <= (yx[0] + 0.5) * 8 <= box[3] + 1):
            continue
        break
    png = os.path.join(args.out, "default_image.png")
    cv2.imwrite(png, bgr)
    assert np.array_equal(cv2.imread(png), bgr)
    print("%s: class %d (%s), p=%.4f, object bbox x0,y0,x1,y1 = %s" % (png, cls, CLASSES[cls],
                                                                      p[cls].item(), box))
    print("  Grad-CAM (relu4, 8x8) on it:\n", np.round(cam[0].detach().numpy() / cam.max().item(), 2))

    # cv::dnn check
    with torch.no_grad():
        for i, x in enumerate([torch.from_numpy(blob), Xva[:1], Xva[1:2]]):
            net.setInput(x.numpy())
            d = np.abs(net.forward() - twin(x).numpy()).max()
            print("cv2.dnn vs torch logits max abs diff: %.2e" % d)
            assert d < 1e-4
    print("cv::dnn layers (name : type):")
    for name in net.getLayerNames():
        print("  %-40s %s" % (name, net.getLayer(name).type))
    print("total time %.1f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
