#!/usr/bin/python3
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
"""Train the small image captioner of the explain module (Grad-CAM for one word of a caption, as in the
Grad-CAM paper's captioning section): a CNN whose features are the first input of an LSTM, which then reads
the caption word by word (teacher forcing) and gives each next word's log-probability.

Images are 64x64 with two of the synthetic shapes of train_default_model.py side by side; the caption says
which is where: "<left shape> left of <right shape> <end>". Written to data/tasks/ (relative to the
repository root), ONNX opset 11:

  caption.onnx          inputs `image` 1x3x64x64 RGB in [0,1] and `words` 4x7 (one-hot, the caption's
                        first four words: the LSTM's inputs after the image) -> `logprobs` 5x1x7 (step t:
                        the log-probabilities of caption word t; step 0 reads the image)
  caption_vocab.txt     the 7 words, one per line (index = one-hot position)
  caption.png           an example image; caption_words.yml its caption's `words` input (FileStorage)
  caption_gradcam.yml   the reference: float64 autograd Grad-CAM at the last convolution (16x16) for each
                        word of that caption (`gradcam_<t>` for step t, the caption's word t as target)

Deterministic (fixed seeds, 2 threads). Run with Debian's python:
  /usr/bin/python3 tools/train_caption_model.py [--out DIR]
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
import train_task_models as ttm  # noqa: E402

SHAPES = tdm.CLASSES
VOCAB = ["<end>"] + SHAPES + ["left", "of"]
STEPS = 5            # predicted words: left shape, "left", "of", right shape, <end>
SIZE = tdm.SIZE
TARGET = "conv3_relu"  # the Grad-CAM layer (16x16)


# ----------------------------------------------------------------------------------------------
# data
def draw_shape(img, rng, cls, x_range):
    """Draws one shape of class cls into img (RGB float) with its centre x in x_range."""
    r = rng.uniform(6, 9)
    cx = rng.uniform(*x_range)
    cy = rng.uniform(r + 2, SIZE - r - 2)
    theta = rng.uniform(0, np.pi / 2) if cls != 0 else 0.0
    ref = img[int(cy), int(cx)]
    for _ in range(100):  # enough contrast to the background around the object
        col = rng.uniform(0, 255, 3)
        if np.abs(col - ref).max() > 90:
            break
    mask = np.zeros((SIZE, SIZE), np.float32)
    if cls == 0:
        cv2.circle(mask, (int(round(cx * 16)), int(round(cy * 16))), int(round(r * 0.9 * 16)), 1.0, -1,
                   cv2.LINE_AA, 4)
    else:
        cv2.fillPoly(mask, [tdm._polygon(cls, cx, cy, r, theta)], 1.0, cv2.LINE_AA, 4)
    img[:] = img * (1 - mask[..., None]) + col[None, None, :].astype(np.float32) * mask[..., None]


def make_image(rng, left, right):
    img = tdm._background(rng)
    draw_shape(img, rng, left, (11, 22))
    draw_shape(img, rng, right, (42, 53))
    img += rng.normal(0, 10, img.shape).astype(np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def caption_of(left, right):
    """The caption's word indices: the STEPS words the model predicts."""
    return [VOCAB.index(SHAPES[left]), VOCAB.index("left"), VOCAB.index("of"), VOCAB.index(SHAPES[right]), 0]


def words_input(caption):
    """The LSTM's inputs after the image: the first STEPS - 1 words, one-hot (STEPS-1) x V."""
    w = np.zeros((STEPS - 1, len(VOCAB)), np.float32)
    w[np.arange(STEPS - 1), caption[:STEPS - 1]] = 1
    return w


def make_dataset(n, seed):
    rng = np.random.RandomState(seed)
    imgs = np.empty((n, SIZE, SIZE, 3), np.uint8)
    captions = np.empty((n, STEPS), np.int64)
    for i in range(n):
        left = i % len(SHAPES)
        right = (left + 1 + rng.randint(len(SHAPES) - 1)) % len(SHAPES)
        imgs[i] = make_image(rng, left, right)
        captions[i] = caption_of(left, right)
    return imgs, captions


# ----------------------------------------------------------------------------------------------
# model
class Captioner(nn.Module):
    """conv1-3 (ReLU, max pooling) to 8x8x32, a 1x1 conv to 8 channels, flattened (the positions stay) and
    projected to the LSTM's first input; the words enter through a linear embedding of their one-hot."""
    def __init__(self, embed=32, hidden=64):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv1_bn = nn.BatchNorm2d(16)
        self.conv1_relu = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv2_bn = nn.BatchNorm2d(32)
        self.conv2_relu = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(32, 32, 3, padding=1)
        self.conv3_bn = nn.BatchNorm2d(32)
        self.conv3_relu = nn.ReLU()
        self.pool3 = nn.MaxPool2d(2)
        self.squeeze = nn.Conv2d(32, 8, 1)
        self.squeeze_relu = nn.ReLU()
        self.image_fc = nn.Linear(8 * 8 * 8, embed)
        # training only (not in the export): which shape is left and which right, from the same features
        self.aux = nn.Linear(8 * 8 * 8, 2 * len(SHAPES))
        self.embed = nn.Linear(len(VOCAB), embed, bias=False)
        self.lstm = nn.LSTM(embed, hidden)
        self.out = nn.Linear(hidden, len(VOCAB))

    def features(self, image):
        x = self.pool1(self.conv1_relu(self.conv1_bn(self.conv1(image))))
        x = self.pool2(self.conv2_relu(self.conv2_bn(self.conv2(x))))
        return self.conv3_relu(self.conv3_bn(self.conv3(x)))  # TARGET: 16x16

    def image_code(self, image):
        """The squeezed features of the image, flattened: N x 512."""
        x = self.squeeze_relu(self.squeeze(self.pool3(self.features(image))))
        return torch.flatten(x, 1)

    def log_probs(self, code, rest):
        """T x N x V: the LSTM fed the projected image code, then the embedded words rest ((T-1) x N x E)."""
        y, _ = self.lstm(torch.cat([self.image_fc(code).unsqueeze(0), rest], 0))
        return torch.log_softmax(self.out(y), -1)

    def forward(self, image, words):
        """The exported form: words (T-1) x V one-hot, one image (N = 1)."""
        return self.log_probs(self.image_code(image), self.embed(words).unsqueeze(1))


def forward_batch(model, image, words):
    """Training form: words N x (T-1) x V, the LSTM run time-major over the batch. Also the auxiliary
    logits (N x 2 x shapes: the left and the right shape)."""
    code = model.image_code(image)
    return model.log_probs(code, model.embed(words).transpose(0, 1)), model.aux(code).reshape(-1, 2, len(SHAPES))


def load_twin(onnx_path):
    """The deploy Captioner (BatchNorms folded into the convolutions) with the weights of caption.onnx: the
    torch model behind a committed export, for tools/make_cam_references.py."""
    import onnx
    from onnx import numpy_helper
    graph = onnx.load(onnx_path).graph
    inits = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
    model = Captioner().eval()
    for name in ("conv1", "conv2", "conv3"):
        setattr(model, name + "_bn", nn.Identity())
    nodes = {n.op_type: [] for n in graph.node}
    for n in graph.node:
        nodes[n.op_type].append([inits.get(i) for i in n.input])
    hidden = model.lstm.hidden_size
    w, r, b = nodes["LSTM"][0][1:4]
    gates = torch.cat([torch.arange(k * hidden, (k + 1) * hidden) for k in (0, 2, 3, 1)])  # ONNX iofc -> ifgo
    (_, embed), (_, out) = nodes["MatMul"]
    out_bias = [i for i in nodes["Add"][0] if i is not None][0]
    with torch.no_grad():
        for conv, (_, weight, bias) in zip((model.conv1, model.conv2, model.conv3, model.squeeze), nodes["Conv"]):
            conv.weight.copy_(weight)
            conv.bias.copy_(bias)
        model.image_fc.weight.copy_(nodes["Gemm"][0][1])
        model.image_fc.bias.copy_(nodes["Gemm"][0][2])
        model.embed.weight.copy_(embed.t())
        model.lstm.weight_ih_l0.copy_(w[0][gates])
        model.lstm.weight_hh_l0.copy_(r[0][gates])
        model.lstm.bias_ih_l0.copy_(b[0, :4 * hidden][gates])
        model.lstm.bias_hh_l0.copy_(b[0, 4 * hidden:][gates])
        model.out.weight.copy_(out.t())
        model.out.bias.copy_(out_bias)
    return model


# ----------------------------------------------------------------------------------------------
def autograd_gradcam(model, image, words, caption):
    """Grad-CAM at TARGET for each step t with the caption's word t as target, in float64."""
    m = copy.deepcopy(model).double().eval()
    maps = []
    for t in range(STEPS):
        acts = {}
        handle = m.conv3_relu.register_forward_hook(lambda mod, i, o: acts.update(a=o))
        logp = m(image.double(), words.double())
        handle.remove()
        a = acts["a"]
        g, = torch.autograd.grad(logp[t, 0, caption[t]], a)
        maps.append(ttm.grad_cam(a, g)[0].detach().numpy())
    return maps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(tdm.REPO, "data", "tasks"))
    ap.add_argument("--ntrain", type=int, default=4000)
    args = ap.parse_args()
    t0 = time.time()
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    cv2.setNumThreads(1)
    xtr, ctr = make_dataset(args.ntrain, seed=21)
    xva, cva = make_dataset(400, seed=22)
    Xtr, Ctr = tdm.to_tensor(xtr), torch.from_numpy(ctr)
    Xva, Cva = tdm.to_tensor(xva), torch.from_numpy(cva)
    Wtr = torch.from_numpy(np.stack([words_input(c) for c in ctr]))
    Wva = torch.from_numpy(np.stack([words_input(c) for c in cva]))
    print("data: %d train, %d val images (%.1f s)" % (len(xtr), len(xva), time.time() - t0))

    def loss_fn(model, idx):
        logp, aux = forward_batch(model, Xtr[idx], Wtr[idx])       # T x N x V
        shapes = torch.stack([Ctr[idx, 0], Ctr[idx, 3]], 1) - 1     # vocabulary index - 1 = shape class
        return (F.nll_loss(logp.reshape(-1, len(VOCAB)), Ctr[idx].t().reshape(-1)) +
                F.cross_entropy(aux.reshape(-1, len(SHAPES)), shapes.reshape(-1)))

    def accuracy(model):
        pred = forward_batch(model, Xva, Wva)[0].argmax(-1).t()    # N x T
        return (pred == Cva).float().mean(0)

    def evaluate(model):
        return "val accuracy per word %s" % " ".join("%.3f" % v for v in accuracy(model))

    torch.manual_seed(5)
    model = ttm.deploy(ttm.train(Captioner(), ttm.index_batches(len(Xtr), 64), loss_fn, 10, 3e-3, t0, evaluate),
                       Xva[:1], Wva[0])
    with torch.no_grad():
        acc = accuracy(model)
    if acc.min() < 0.93:
        sys.exit("caption accuracy too low: %s" % acc)

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "caption.onnx")
    ttm.export(model, (torch.zeros(1, 3, SIZE, SIZE), torch.zeros(STEPS - 1, len(VOCAB))), path,
               ["image", "words"], ["logprobs"])
    net = cv2.dnn.readNet(path)
    worst = 0.0
    for i in range(4):
        with torch.no_grad():
            ref = model(Xva[i:i + 1], Wva[i]).numpy()
        net.setInput(Xva[i:i + 1].numpy(), "image")
        net.setInput(Wva[i].numpy(), "words")
        worst = max(worst, np.abs(net.forward() - ref).max())
    print("  cv2.dnn vs torch, max abs diff of the log-probabilities: %.2e" % worst)
    assert worst < 1e-4, "cv::dnn differs from torch"
    with open(os.path.join(args.out, "caption_vocab.txt"), "w") as f:
        f.write("\n".join(VOCAB) + "\n")

    # the example: a triangle left of a circle, captioned right with high confidence
    rng = np.random.RandomState(2233)
    left, right = SHAPES.index("triangle"), SHAPES.index("circle")
    caption = caption_of(left, right)
    for _ in range(50):
        img = make_image(rng, left, right)
        with torch.no_grad():
            logp = model(tdm.to_tensor(img[None]), torch.from_numpy(words_input(caption)))[:, 0]
        if min(logp[t, caption[t]].item() for t in range(STEPS)) > np.log(0.9):
            break
    ttm.write_png(os.path.join(args.out, "caption.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    fs = cv2.FileStorage(os.path.join(args.out, "caption_words.yml"), cv2.FILE_STORAGE_WRITE)
    fs.write("words", words_input(caption))
    fs.release()
    maps = autograd_gradcam(model, tdm.to_tensor(img[None]), torch.from_numpy(words_input(caption)), caption)
    fs = cv2.FileStorage(os.path.join(args.out, "caption_gradcam.yml"), cv2.FILE_STORAGE_WRITE)
    for t, m in enumerate(maps):
        fs.write("gradcam_%d" % t, m)
    fs.release()
    print("  caption.png: '%s'; word log-probabilities %s" % (
        " ".join(VOCAB[w] for w in caption),
        " ".join("%.4f" % logp[t, caption[t]].item() for t in range(STEPS))))
    print("total time %.1f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
