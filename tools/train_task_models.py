#!/usr/bin/python3
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
"""Train the small task models of the explain module: segmentation, detection and multi-input (VQA).

All three learn on the synthetic 64x64 shapes of train_default_model.py (its image generator is
imported; the object's mask is rebuilt from the same random draws) and are exported to ONNX opset 11
in data/tasks/ (relative to the repository root):

  segmentation.onnx   input `input` 1x3x64x64 RGB in [0,1] -> `logits` 1x5x64x64
                      (per-pixel logits: 0 background, 1 circle, 2 square, 3 triangle, 4 cross)
  detection.onnx      input `input` 1x3x64x64 -> `raw` 1x9x8x8, one cell per 8x8 pixels, channels
                      0 objectness logit, 1-4 box (tx, ty, tw, th), 5-8 class logits; no NMS
  vqa.onnx            inputs `image` 1x3x64x64 and `question` 1x4 (one-hot of the asked shape,
                      "is there a <shape>?") -> `answer` 1x2 logits (0 no, 1 yes)
  *_labels.txt        class names, one per line
  segmentation.png, segmentation_mask.png (255 on the object), detection.png, vqa.png,
  question_<shape>.txt (the one-hot question as a text file of numbers)

Box decoding of detection.onnx (cell row r, column c, 8 pixels per cell):
  centre x = 8 (c + sigmoid(tx)), centre y = 8 (r + sigmoid(ty)), width = 64 sigmoid(tw),
  height = 64 sigmoid(th).

Deterministic (fixed seeds, 2 threads). Run with Debian's python:
  /usr/bin/python3 tools/train_task_models.py [--tasks segmentation,detection,vqa] [--out DIR]
"""
import argparse
import copy
import os
import sys
import time

import numpy as np
import cv2
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_default_model as tdm  # noqa: E402

CLASSES = tdm.CLASSES
SIZE = tdm.SIZE
GRID = 8
CELL = SIZE // GRID
REPO = tdm.REPO


# ----------------------------------------------------------------------------------------------
# data
def make_shape_sample(rng, cls):
    """tdm.make_shape_image() plus the object's mask (float, anti-aliased, as the image was drawn).
    The mask is redrawn from the same random draws as make_shape_image (background first, then
    radius, centre and angle); the bounding box is checked against the generator's."""
    state = rng.get_state()
    img, box = tdm.make_shape_image(rng, cls)
    after = rng.get_state()
    rng.set_state(state)
    tdm._background(rng)
    r = rng.uniform(7, 12)
    cx = rng.uniform(r + 2, SIZE - r - 2)
    cy = rng.uniform(r + 2, SIZE - r - 2)
    theta = rng.uniform(0, np.pi / 2) if cls != 0 else 0.0
    rng.set_state(after)
    mask = np.zeros((SIZE, SIZE), np.float32)
    if cls == 0:
        cv2.circle(mask, (int(round(cx * 16)), int(round(cy * 16))), int(round(r * 0.9 * 16)),
                   1.0, -1, cv2.LINE_AA, 4)
    else:
        cv2.fillPoly(mask, [tdm._polygon(cls, cx, cy, r, theta)], 1.0, cv2.LINE_AA, 4)
    ys, xs = np.nonzero(mask > 0.5)
    assert (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())) == tuple(box), "mask differs"
    return img, box, mask > 0.5


def make_dataset(n, seed):
    rng = np.random.RandomState(seed)
    imgs = np.empty((n, SIZE, SIZE, 3), np.uint8)
    labels = np.empty(n, np.int64)
    boxes = np.empty((n, 4), np.int64)
    masks = np.empty((n, SIZE, SIZE), bool)
    for i in range(n):
        labels[i] = i % len(CLASSES)
        imgs[i], boxes[i], masks[i] = make_shape_sample(rng, labels[i])
    return imgs, labels, boxes, masks


def seg_targets(labels, masks):
    return torch.from_numpy(masks.astype(np.int64) * (labels[:, None, None] + 1))


def det_targets(boxes):
    """Per image: the cell (row, col) of the box centre and the box values (sigmoid space)."""
    cx = (boxes[:, 0] + boxes[:, 2] + 1) / 2.0
    cy = (boxes[:, 1] + boxes[:, 3] + 1) / 2.0
    col = np.minimum((cx // CELL).astype(np.int64), GRID - 1)
    row = np.minimum((cy // CELL).astype(np.int64), GRID - 1)
    w = (boxes[:, 2] - boxes[:, 0] + 1) / float(SIZE)
    h = (boxes[:, 3] - boxes[:, 1] + 1) / float(SIZE)
    vals = np.stack([cx / CELL - col, cy / CELL - row, w, h], 1).astype(np.float32)
    return torch.from_numpy(row), torch.from_numpy(col), torch.from_numpy(np.clip(vals, 0.02, 0.98))


# ----------------------------------------------------------------------------------------------
# models (named modules give readable cv::dnn layer names, e.g. onnx_node!/enc3_relu/Relu)
class SegNet(nn.Module):
    """U-Net-like: encoder (conv stride 2, max pooling) to 8x8, decoder up with a ConvTranspose
    (8 -> 16) and bilinear Resizes (16 -> 32, and the logits 32 -> 64), skips by concatenation."""

    def __init__(self):
        super().__init__()
        self.enc1 = nn.Conv2d(3, 16, 3, stride=2, padding=1)     # 32x32
        self.enc1_bn = nn.BatchNorm2d(16)
        self.enc1_relu = nn.ReLU()
        self.enc2 = nn.Conv2d(16, 32, 3, padding=1)
        self.enc2_bn = nn.BatchNorm2d(32)
        self.enc2_relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.enc3 = nn.Conv2d(32, 48, 3, padding=1)              # 16x16
        self.enc3_bn = nn.BatchNorm2d(48)
        self.enc3_relu = nn.ReLU()
        self.enc4 = nn.Conv2d(48, 64, 3, padding=1)              # 8x8
        self.enc4_bn = nn.BatchNorm2d(64)
        self.enc4_relu = nn.ReLU()                               # the Grad-CAM layer
        self.up1 = nn.ConvTranspose2d(64, 32, 2, stride=2)      # 16x16
        self.up1_relu = nn.ReLU()
        self.dec1 = nn.Conv2d(32 + 48, 32, 3, padding=1)
        self.dec1_bn = nn.BatchNorm2d(32)
        self.dec1_relu = nn.ReLU()
        self.up2 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)  # 32x32
        self.dec2 = nn.Conv2d(32 + 32, 16, 3, padding=1)
        self.dec2_bn = nn.BatchNorm2d(16)
        self.dec2_relu = nn.ReLU()
        self.head = nn.Conv2d(16, len(CLASSES) + 1, 1)
        self.up3 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)  # 64x64

    def block(self, name, x):
        return getattr(self, name + "_relu")(getattr(self, name + "_bn")(getattr(self, name)(x)))

    def forward(self, x):
        e2 = self.block("enc2", self.block("enc1", x))
        e3 = self.block("enc3", self.pool(e2))
        e4 = self.block("enc4", self.pool(e3))
        d1 = self.block("dec1", torch.cat([self.up1_relu(self.up1(e4)), e3], 1))
        d2 = self.block("dec2", torch.cat([self.up2(d1), e2], 1))
        return self.up3(self.head(d2))


def backbone(prefix, module, bn=True):
    """conv3x3(16)-relu-pool, conv(32)-relu-pool, conv(64)-relu-pool, conv(64)-relu: 8x8x64 (the
    default model's feature extractor), with BatchNorm after each conv or without (nn.Identity)."""
    cin = 3
    for i, c in enumerate([16, 32, 64, 64], 1):
        setattr(module, "%s%d" % (prefix, i), nn.Conv2d(cin, c, 3, padding=1))
        setattr(module, "%s%d_bn" % (prefix, i), nn.BatchNorm2d(c) if bn else nn.Identity())
        setattr(module, "%s%d_relu" % (prefix, i), nn.ReLU())
        cin = c
    module.pool = nn.MaxPool2d(2)


def run_backbone(prefix, module, x):
    for i in range(1, 5):
        name = "%s%d" % (prefix, i)
        x = getattr(module, name + "_relu")(getattr(module, name + "_bn")(getattr(module, name)(x)))
        if i < 4:
            x = module.pool(x)
    return x


class DetNet(nn.Module):
    """Backbone to 8x8, a 3x3 head conv, then a 1x1 conv to 5 + classes raw values per cell."""

    def __init__(self):
        super().__init__()
        backbone("conv", self)
        self.head1 = nn.Conv2d(64, 64, 3, padding=1)
        self.head1_bn = nn.BatchNorm2d(64)
        self.head1_relu = nn.ReLU()
        self.head2 = nn.Conv2d(64, 5 + len(CLASSES), 1)

    def forward(self, x):
        return self.head2(self.head1_relu(self.head1_bn(self.head1(run_backbone("conv", self, x)))))


class VqaNet(nn.Module):
    """image -> backbone -> global average pool (64); question (one-hot 4) -> fc (64);
    product -> fc (32) -> relu -> fc (2: no, yes). The backbone (no BatchNorm) starts from the bundled
    default model's convolutions (data/default_model.onnx, the same architecture with BN folded) and is
    fine-tuned; training also classifies the shape from the image features (`aux`, the default model's
    classifier at the start; not exported)."""

    def __init__(self):
        super().__init__()
        backbone("conv", self, bn=False)
        self.aux = nn.Linear(64, len(CLASSES))
        twin = tdm.load_twin(os.path.join(REPO, "data", "default_model.onnx"))
        with torch.no_grad():
            for i in range(1, 5):
                getattr(self, "conv%d" % i).load_state_dict(getattr(twin, "conv%d" % i).state_dict())
            self.aux.load_state_dict(twin.fc.state_dict())
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.question_fc = nn.Linear(len(CLASSES), 64)
        self.fc1 = nn.Linear(64, 32)
        self.fc1_relu = nn.ReLU()
        self.fc2 = nn.Linear(32, 2)

    def features(self, image):
        return self.flatten(self.gap(run_backbone("conv", self, image)))

    def answer(self, f, question):
        return self.fc2(self.fc1_relu(self.fc1(f * self.question_fc(question))))

    def forward(self, image, question):
        return self.answer(self.features(image), question)


def fold_bn(model):
    """The deploy copy: every BatchNorm `<name>_bn` folded into the convolution `<name>` before it
    and replaced by an nn.Identity (which exports no node)."""
    model = copy.deepcopy(model).eval()
    with torch.no_grad():
        for name, bn in list(model.named_children()):
            if isinstance(bn, nn.BatchNorm2d):
                conv = getattr(model, name[:-3])
                s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                conv.weight.mul_(s[:, None, None, None])
                conv.bias.copy_(bn.bias + (conv.bias - bn.running_mean) * s)
                setattr(model, name, nn.Identity())
    return model


def deploy(trained, *inputs):
    """fold_bn(), checked against the trained model on some inputs."""
    model = fold_bn(trained)
    with torch.no_grad():
        a, b = trained(*inputs), model(*inputs)
    assert torch.allclose(a, b, atol=1e-4 * max(1.0, a.abs().max().item())), "BN folding changed the outputs"
    return model


def decode_cell(raw, row, col):
    """Box (x0, y0, x1, y1) in pixels from the raw values of one cell (numpy C x 8 x 8)."""
    s = 1 / (1 + np.exp(-raw[1:5, row, col]))
    cx, cy, w, h = CELL * (col + s[0]), CELL * (row + s[1]), SIZE * s[2], SIZE * s[3]
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# ----------------------------------------------------------------------------------------------
# training
def train(model, batches, loss_fn, epochs, lr, t0, evaluate):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * len(batches(None))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    gen = torch.Generator().manual_seed(0)
    for ep in range(epochs):
        model.train()
        tot, n = 0.0, 0
        for b in batches(gen):
            loss = loss_fn(model, b)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item()
            n += 1
        model.eval()
        with torch.no_grad():
            print("  epoch %d  loss %.4f  %s  (%.0f s)" % (ep + 1, tot / n, evaluate(model), time.time() - t0))
            sys.stdout.flush()
    return model.eval()


def index_batches(n, bs):
    def make(gen):
        if gen is None:
            return range((n + bs - 1) // bs)
        perm = torch.randperm(n, generator=gen)
        return [perm[i:i + bs] for i in range(0, n, bs)]
    return make


def grad_cam(acts, grads):
    return F.relu((grads.mean((2, 3), keepdim=True) * acts).sum(1))


def export(model, args, path, input_names, output_names):
    torch.onnx.export(model, args, path, opset_version=11, do_constant_folding=True,
                      input_names=input_names, output_names=output_names)
    import onnx
    m = onnx.load(path)
    onnx.checker.check_model(m)
    ops = [n.op_type for n in m.graph.node]
    assert "Identity" not in ops, "Identity nodes in the ONNX graph"
    size = os.path.getsize(path)
    assert size < 1 << 20, "%s is %d bytes" % (path, size)
    print("  ONNX nodes:", " ".join(ops))
    print("  %s: %d bytes" % (path, size))


def check_dnn(path, inputs, torch_out, names=None):
    """cv2.dnn's output vs torch's, on each sample; prints the cv::dnn layers."""
    net = cv2.dnn.readNet(path)
    worst = 0.0
    for i in range(len(inputs[0])):
        for k, x in enumerate(inputs):
            net.setInput(x[i:i + 1].numpy(), names[k] if names else "")
        out = net.forward()
        ref = torch_out[i:i + 1].numpy()
        worst = max(worst, np.abs(out - ref).max() / max(np.abs(ref).max(), 1e-6))
    print("  cv2.dnn vs torch, max abs diff / max abs value: %.2e" % worst)
    assert worst < 1e-4, "cv::dnn differs from torch"
    print("  cv::dnn layers (name : type):", ", ".join("%s : %s" % (n, net.getLayer(n).type)
                                                       for n in net.getLayerNames()))
    return net


def blob_of(img_rgb):
    return tdm.to_tensor(img_rgb[None])


def write_png(path, img):
    cv2.imwrite(path, img)
    assert np.array_equal(cv2.imread(path, cv2.IMREAD_UNCHANGED), img)


def example_image(seed, cls, accept):
    """The first image of class cls from RandomState(seed) with its object away from the centre that
    accept(img_rgb, box, mask) takes."""
    rng = np.random.RandomState(seed)
    for _ in range(2000):
        img, box, mask = make_shape_sample(rng, cls)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        if abs(cx - SIZE / 2) < 10 or abs(cy - SIZE / 2) < 8:
            continue
        if accept(img, box, mask):
            return img, box, mask
    sys.exit("no example image found")


# ----------------------------------------------------------------------------------------------
def task_segmentation(data, val, out, t0):
    print("segmentation")
    xtr, ytr, _, mtr = data
    xva, yva, _, mva = val
    Xtr, Ttr = tdm.to_tensor(xtr), seg_targets(ytr, mtr)
    Xva, Tva = tdm.to_tensor(xva), seg_targets(yva, mva)
    weight = torch.tensor([0.5] + [1.0] * len(CLASSES))

    def loss_fn(model, idx):
        return F.cross_entropy(model(Xtr[idx]), Ttr[idx], weight=weight)

    def miou(model):
        pred = torch.cat([model(Xva[i:i + 250]).argmax(1) for i in range(0, len(Xva), 250)])
        ious = []
        for c in range(1, len(CLASSES) + 1):
            inter = ((pred == c) & (Tva == c)).sum().item()
            union = ((pred == c) | (Tva == c)).sum().item()
            ious.append(inter / max(union, 1))
        return pred, ious

    def evaluate(model):
        _, ious = miou(model)
        return "val IoU per class %s, mean %.3f" % (" ".join("%.3f" % v for v in ious), np.mean(ious))

    torch.manual_seed(1)
    model = deploy(train(SegNet(), index_batches(len(Xtr), 32), loss_fn, 6, 3e-3, t0, evaluate), Xva[:8])
    with torch.no_grad():
        _, ious = miou(model)
    if np.mean(ious) < 0.6:
        sys.exit("segmentation IoU too low")

    path = os.path.join(out, "segmentation.onnx")
    export(model, torch.zeros(1, 3, SIZE, SIZE), path, ["input"], ["logits"])
    with torch.no_grad():
        check_dnn(path, [Xva[:4]], model(Xva[:4]))
    with open(os.path.join(out, "segmentation_labels.txt"), "w") as f:
        f.write("\n".join(["background"] + CLASSES) + "\n")

    def cam_of(x, mask, cls):
        acts = {}
        h = model.enc4_relu.register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
        logits = model(x)
        h.remove()
        y = (logits[0, cls + 1] * torch.from_numpy(mask.astype(np.float32))).sum()
        g, = torch.autograd.grad(y, acts["a"])
        return grad_cam(acts["a"], g)[0].detach().numpy(), logits

    def accept(img, box, mask):
        cam, logits = cam_of(blob_of(img), mask, cls)
        pred = logits[0].argmax(0).numpy()
        inter, union = ((pred == cls + 1) & mask).sum(), ((pred == cls + 1) | mask).sum()
        up = cv2.resize(cam, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
        yx = np.unravel_index(up.argmax(), up.shape)
        return inter / union > 0.85 and mask[yx] and cam.max() > 0

    cls = 2  # triangle
    img, box, mask = example_image(3031, cls, accept)
    cam, _ = cam_of(blob_of(img), mask, cls)
    write_png(os.path.join(out, "segmentation.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    write_png(os.path.join(out, "segmentation_mask.png"), mask.astype(np.uint8) * 255)
    print("  segmentation.png: %s (class %d in the net), box %s, mask %d pixels" %
          (CLASSES[cls], cls + 1, box, mask.sum()))
    print("  Grad-CAM (enc4_relu, 8x8) of the mask target, max at", np.unravel_index(cam.argmax(), cam.shape))


def task_detection(data, val, out, t0):
    print("detection")
    xtr, ytr, btr, _ = data
    xva, yva, bva, _ = val
    Xtr, Ytr = tdm.to_tensor(xtr), torch.from_numpy(ytr)
    Xva = tdm.to_tensor(xva)
    rtr, ctr, vtr = det_targets(btr)

    def loss_fn(model, idx):
        raw = model(Xtr[idx])
        n = torch.arange(len(idx))
        obj = torch.zeros(len(idx), GRID, GRID)
        obj[n, rtr[idx], ctr[idx]] = 1
        cell = raw[n, :, rtr[idx], ctr[idx]]  # B x C
        return (F.binary_cross_entropy_with_logits(raw[:, 0], obj, pos_weight=torch.tensor(8.0)) +
                5 * F.mse_loss(torch.sigmoid(cell[:, 1:5]), vtr[idx]) +
                F.cross_entropy(cell[:, 5:], Ytr[idx]))

    def scores(model):
        raw = torch.cat([model(Xva[i:i + 250]) for i in range(0, len(Xva), 250)]).numpy()
        hits, ious = 0, []
        for i in range(len(raw)):
            r, c = np.unravel_index(raw[i, 0].argmax(), (GRID, GRID))
            b = bva[i]
            j = iou(decode_cell(raw[i], r, c), (b[0], b[1], b[2] + 1, b[3] + 1))
            ious.append(j)
            hits += j > 0.5 and raw[i, 5:, r, c].argmax() == yva[i]
        return hits / len(raw), np.mean(ious)

    def evaluate(model):
        return "val detections with IoU > 0.5 and the right class %.3f, mean IoU %.3f" % scores(model)

    torch.manual_seed(2)
    model = deploy(train(DetNet(), index_batches(len(Xtr), 64), loss_fn, 8, 3e-3, t0, evaluate), Xva[:8])
    with torch.no_grad():
        ap, _ = scores(model)
    if ap < 0.8:
        sys.exit("detection accuracy too low")

    path = os.path.join(out, "detection.onnx")
    export(model, torch.zeros(1, 3, SIZE, SIZE), path, ["input"], ["raw"])
    with torch.no_grad():
        check_dnn(path, [Xva[:4]], model(Xva[:4]))
    with open(os.path.join(out, "detection_labels.txt"), "w") as f:
        f.write("\n".join(CLASSES) + "\n")

    def cam_of(x):
        acts = {}
        h = model.conv4_relu.register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
        raw = model(x)
        h.remove()
        r, c = np.unravel_index(raw[0, 0].detach().numpy().argmax(), (GRID, GRID))
        k = raw[0, 5:, r, c].argmax().item()
        g, = torch.autograd.grad(raw[0, 5 + k, r, c], acts["a"])
        return grad_cam(acts["a"], g)[0].detach().numpy(), raw[0].detach().numpy(), r, c, k

    def accept(img, box, mask):
        cam, raw, r, c, k = cam_of(blob_of(img))
        j = iou(decode_cell(raw, r, c), (box[0], box[1], box[2] + 1, box[3] + 1))
        yx = np.unravel_index(cam.argmax(), cam.shape)
        return j > 0.7 and k == cls and max(abs(yx[0] - r), abs(yx[1] - c)) <= 1

    cls = 3  # cross
    img, box, _ = example_image(3032, cls, accept)
    cam, raw, r, c, k = cam_of(blob_of(img))
    write_png(os.path.join(out, "detection.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    print("  detection.png: %s, box %s; best cell row %d col %d (objectness %.3f), class %d, decoded box %s" %
          (CLASSES[cls], box, r, c, 1 / (1 + np.exp(-raw[0, r, c])), k,
           tuple(round(float(v), 1) for v in decode_cell(raw, r, c))))
    print("  Grad-CAM (conv4_relu, 8x8) of that class logit, max at", np.unravel_index(cam.argmax(), cam.shape))


def task_vqa(data, val, out, t0):
    print("multi-input (VQA)")
    xtr, ytr, _, _ = data
    xva, yva, _, _ = val
    Xtr, Ytr = tdm.to_tensor(xtr), torch.from_numpy(ytr)
    Xva, Yva = tdm.to_tensor(xva), torch.from_numpy(yva)
    eye = torch.eye(len(CLASSES))
    qgen = torch.Generator().manual_seed(3)

    def questions(labels, gen):
        """Half the questions ask for the shown shape (yes), half for another one (no)."""
        yes = torch.rand(len(labels), generator=gen) < 0.5
        other = (labels + torch.randint(1, len(CLASSES), (len(labels),), generator=gen)) % len(CLASSES)
        asked = torch.where(yes, labels, other)
        return eye[asked], yes.long()

    def loss_fn(model, idx):
        q, a = questions(Ytr[idx], qgen)
        f = model.features(Xtr[idx])
        return F.cross_entropy(model.answer(f, q), a) + F.cross_entropy(model.aux(f), Ytr[idx])

    def evaluate(model):
        acc = []
        for asked in range(len(CLASSES)):
            q = eye[torch.full((len(Xva),), asked)]
            acc.append((model(Xva, q).argmax(1) == (Yva == asked).long()).float().mean().item())
        return "val accuracy per asked shape %s" % " ".join("%.3f" % v for v in acc)

    torch.manual_seed(3)
    model = deploy(train(VqaNet(), index_batches(len(Xtr), 64), loss_fn, 8, 2e-3, t0, evaluate),
                   Xva[:8], eye[Yva[:8]])
    with torch.no_grad():
        acc = np.mean([(model(Xva, eye[torch.full((len(Xva),), a)]).argmax(1) == (Yva == a).long())
                       .float().mean().item() for a in range(len(CLASSES))])
    print("  val accuracy over all questions %.4f" % acc)
    if acc < 0.95:
        sys.exit("VQA accuracy too low")

    path = os.path.join(out, "vqa.onnx")
    export(model, (torch.zeros(1, 3, SIZE, SIZE), torch.zeros(1, len(CLASSES))), path,
           ["image", "question"], ["answer"])
    with torch.no_grad():
        qs = eye[torch.arange(4)]
        check_dnn(path, [Xva[:4], qs], model(Xva[:4], qs), ["image", "question"])
    with open(os.path.join(out, "vqa_labels.txt"), "w") as f:
        f.write("no\nyes\n")
    for k, name in enumerate(CLASSES):
        with open(os.path.join(out, "question_%s.txt" % name), "w") as f:
            f.write(" ".join("1" if j == k else "0" for j in range(len(CLASSES))) + "\n")

    def answers(img):
        with torch.no_grad():
            return F.softmax(model(blob_of(img).repeat(len(CLASSES), 1, 1, 1), eye), 1)[:, 1].numpy()

    def accept(img, box, mask):
        p = answers(img)
        return p[cls] > 0.99 and np.delete(p, cls).max() < 0.01

    cls = 1  # square
    img, box, _ = example_image(3033, cls, accept)
    write_png(os.path.join(out, "vqa.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    print("  vqa.png: %s, box %s; p(yes) for each question: %s" %
          (CLASSES[cls], box, " ".join("%s %.4f" % (n, v) for n, v in zip(CLASSES, answers(img)))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(REPO, "data", "tasks"))
    ap.add_argument("--tasks", default="segmentation,detection,vqa")
    ap.add_argument("--ntrain", type=int, default=3000)
    args = ap.parse_args()
    t0 = time.time()
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    cv2.setNumThreads(1)
    data = make_dataset(args.ntrain, seed=11)
    val = make_dataset(500, seed=12)
    print("data: %d train, %d val images (%.1f s)" % (len(data[0]), len(val[0]), time.time() - t0))
    os.makedirs(args.out, exist_ok=True)
    tasks = {"segmentation": task_segmentation, "detection": task_detection, "vqa": task_vqa}
    for name in args.tasks.split(","):
        if name not in tasks:
            sys.exit("unknown task '%s'" % name)
        t = time.time()
        tasks[name](data, val, args.out, t0)
        print("  %s: %.0f s" % (name, time.time() - t))
    print("total time %.1f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
