# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
"""Small vision-transformer-shaped models for the token-grid tests (GradCAM::setTokenGrid): patch
embedding -> leading tokens (class; class + distillation) -> token-mixing and channel-mixing blocks
(MLP-Mixer style: the attention of ViT needs a MatMul of two tensors, which cv::dnn 4.6 cannot run) ->
the class token -> a linear head. Random weights from a fixed seed.

tiny_vit:  16 x 16 input, 4 x 4 patches of 4 x 4 pixels, 1 class token  (T = 17, C = 16)
tiny_deit: 24 x 24 input, 6 x 6 patches of 4 x 4 pixels, class + distillation tokens (T = 38, C = 12)

The target layer is the output of the first block: the last block's token mixing carries the gradient
of the class token's score to every patch token (at the last block's output only the class token has a
gradient, so every map there is zero: the reason pytorch-grad-cam's ViT example targets an earlier
layer too). reshape_transform() is pytorch-grad-cam's for ViT: drop the leading tokens, tokens -> H x W.

torchvision's own VisionTransformer and SwinTransformer (TORCHVISION: random weights perturbed like the CNN
zoo of make_references.py) need the Attention, LayerNormalization and Gelu layers of OpenCV 5's classic
importer; cv::dnn 4.6 does not import them. OpenCV 5.0's ONNX importer crashes on the ViT export as torch
writes it (its attention pattern matcher reads the head Reshape's shape, a Shape/Gather/Concat chain, as a
constant), so the ViT export is simplified by onnxsim first (tools/setup_onnxsim_venv.sh). Swin's reads
the (N, H, W, C) output of a block's norm1: reshape_transform() only moves C first, as pytorch-grad-cam's
Swin example does.
  vit_torchvision:  32 x 32 input, 8 x 8 patches, 2 layers, 2 heads, hidden 32: 4 x 4 grid + class token
  deit_torchvision: the same with DeiT's distillation token and second head (DeiT class): 2 prefix tokens
  swin_torchvision: 64 x 64 input, 4 x 4 patches, depths (2, 2), windows of 4 (shifted in the second block
                    of each stage): the last stage's 8 x 8 grid
  vit_b_16, swin_t: the full-size ImageNet configurations (224 x 224; 14 x 14 and 7 x 7 grids)
"""
import os
import subprocess

import numpy as np
import torch
import torch.nn as nn
import torchvision.models as tvm
from torchvision.models.swin_transformer import SwinTransformer
from torchvision.models.vision_transformer import VisionTransformer


class MixerBlock(nn.Module):
    def __init__(self, tokens, channels):
        super().__init__()
        self.token_mix = nn.Linear(tokens, tokens)
        self.channel_up = nn.Linear(channels, 2 * channels)
        self.channel_down = nn.Linear(2 * channels, channels)

    def forward(self, x):  # N x T x C
        x = x + self.token_mix(x.transpose(1, 2)).transpose(1, 2)
        return x + self.channel_down(torch.relu(self.channel_up(x)))


class TinyTokenNet(nn.Module):
    def __init__(self, grid, prefix, channels, classes=5):
        super().__init__()
        self.grid, self.prefix = grid, prefix
        self.patch = nn.Conv2d(3, channels, 4, 4)
        self.lead = nn.Parameter(torch.randn(1, prefix, channels))  # batch 1: cv::dnn 4.6 cannot Expand it
        tokens = prefix + grid * grid
        self.blocks = nn.Sequential(MixerBlock(tokens, channels), MixerBlock(tokens, channels))
        self.act = nn.ReLU()
        self.head = nn.Linear(channels, classes)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.lead, t], 1)
        t = self.act(self.blocks(t))
        return self.head(t[:, 0])


# name: (grid, prefix tokens, channels)
TOKEN_MODELS = {"tiny_vit": (4, 1, 16), "tiny_deit": (6, 2, 12)}
TARGET = "blocks.0"

class DeiT(VisionTransformer):
    """DeiT's layout on torchvision's ViT: a distillation token after the class token, and a second head on
    it (the prediction is the mean of both heads, as DeiT's at inference)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        hidden = kw["hidden_dim"]
        self.dist_token = nn.Parameter(0.02 * torch.randn(1, 1, hidden))
        self.encoder.pos_embedding = nn.Parameter(0.02 * torch.randn(1, self.seq_length + 1, hidden))
        self.head_dist = nn.Linear(hidden, kw["num_classes"])

    def forward(self, x):
        t = self._process_input(x)
        n = t.shape[0]
        t = self.encoder(torch.cat([self.class_token.expand(n, -1, -1), self.dist_token.expand(n, -1, -1), t], 1))
        return (self.heads(t[:, 0]) + self.head_dist(t[:, 1])) / 2


# name: (constructor, input size, target module, grid, prefix tokens, simplify the export with onnxsim)
TORCHVISION = {
    "vit_torchvision": (lambda: VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                                  hidden_dim=32, mlp_dim=64, num_classes=5),
                        32, "encoder.layers.encoder_layer_1.ln_1", 4, 1, True),
    "deit_torchvision": (lambda: DeiT(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32,
                                      mlp_dim=64, num_classes=5),
                         32, "encoder.layers.encoder_layer_1.ln_1", 4, 2, True),
    "swin_torchvision": (lambda: SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 2],
                                                 window_size=[4, 4], num_classes=5),
                         64, "features.3.1.norm1", 8, 0, False),
    "vit_b_16": (tvm.vit_b_16, 224, "encoder.layers.encoder_layer_11.ln_1", 14, 1, True),
    "swin_t": (tvm.swin_t, 224, "features.7.1.norm1", 7, 0, False),
}
ALL = list(TOKEN_MODELS) + list(TORCHVISION)


def target(name):
    """The torch module whose output is the token layer explained."""
    return TORCHVISION[name][2] if name in TORCHVISION else TARGET


def simplify(onnx_path):
    """onnxsim in its own venv (its numpy and onnx are not Debian's), in place."""
    tools = os.path.dirname(os.path.abspath(__file__))
    python = subprocess.run([os.path.join(tools, "setup_onnxsim_venv.sh")], check=True, stdout=subprocess.PIPE,
                            universal_newlines=True).stdout.strip().splitlines()[-1]
    subprocess.run([python, "-m", "onnxsim", onnx_path, onnx_path], check=True, stdout=subprocess.DEVNULL)


def build(name, onnx_path):
    """(float32 model, input 1 x 3 x H x W float32 numpy, grid, prefix) with the model exported to onnx_path."""
    if name in TORCHVISION:
        return build_torchvision(name, onnx_path)
    grid, prefix, channels = TOKEN_MODELS[name]
    torch.manual_seed(sum(map(ord, name)))
    model = TinyTokenNet(grid, prefix, channels).eval()
    rng = np.random.RandomState(sum(map(ord, name)))
    best = None
    for _ in range(10):  # an input whose top-1 class is not a near tie
        x = rng.uniform(-1, 1, (1, 3, 4 * grid, 4 * grid)).astype(np.float32)
        with torch.no_grad():
            top = torch.topk(model(torch.from_numpy(x))[0], 2).values
        gap = (top[0] - top[1]).item() / max(abs(top[0].item()), 1.0)
        if best is None or gap > best[0]:
            best = (gap, x)
    x = best[1]
    with torch.no_grad():
        torch.onnx.export(model, torch.from_numpy(x), onnx_path, opset_version=11, do_constant_folding=True,
                          input_names=["input"], output_names=["logits"])
    return model, x, grid, prefix


def build_torchvision(name, onnx_path):
    """build() for TORCHVISION: the zoo's weights (make_references.perturb: no two initializers equal, which
    the exporter would turn into Identity nodes) and inputs (smooth noise, top-1 not a near tie)."""
    import make_references as mr
    ctor, size, _, grid, prefix, simplified = TORCHVISION[name]
    seed = sum(map(ord, name))
    torch.manual_seed(seed)
    model = ctor().eval()
    mr.perturb(model, seed)
    x = mr.clear_input(model, np.random.RandomState(seed), size)
    # with autograd on: under no_grad torch's attention takes its fused fast path, which has no ONNX export
    torch.onnx.export(model, torch.from_numpy(x), onnx_path, opset_version=13, do_constant_folding=True,
                      input_names=["input"], output_names=["logits"])
    if simplified:
        simplify(onnx_path)
    return model, x, grid, prefix


def reshape_transform(grid, prefix):
    """pytorch-grad-cam's reshape_transform for ViT-style tokens: N x T x C -> N x C x grid x grid; Swin's
    N x H x W x C blocks -> N x C x H x W."""
    def transform(t):
        if t.dim() == 4:
            return t.permute(0, 3, 1, 2)
        n, _, c = t.shape
        return t[:, prefix:, :].reshape(n, grid, grid, c).permute(0, 3, 1, 2)
    return transform


def autograd_gradcam(model64, x64, cls, grid, prefix, target_module=TARGET):
    """Grad-CAM at the target layer straight from float64 autograd (no pytorch-grad-cam): alpha_k = mean of
    dscore/dA over the grid tokens, map = ReLU(sum_k alpha_k A_k) on the grid."""
    store = {}
    module = dict(model64.named_modules())[target_module]
    h = module.register_forward_hook(lambda m, i, o: store.__setitem__("A", o))
    score = model64(x64)[0, cls]
    h.remove()
    a = store["A"]
    g, = torch.autograd.grad(score, a)
    a_grid = reshape_transform(grid, prefix)(a.detach())[0]  # C x H x W
    g_grid = reshape_transform(grid, prefix)(g)[0]
    alpha = g_grid.mean(dim=(1, 2))
    return torch.relu((alpha[:, None, None] * a_grid).sum(0)).numpy()


if __name__ == "__main__":
    # the bundled token model of the samples and the Python tests is data/tokens/tiny_vit.onnx; the others
    # are written for a try with the sample (torchvision's need OpenCV 5)
    import argparse
    ap = argparse.ArgumentParser(description="writes one of the token models as ONNX")
    ap.add_argument("--model", default="tiny_vit", choices=ALL)
    ap.add_argument("out", nargs="?", help="default: data/tokens/tiny_vit.onnx for tiny_vit, else <model>.onnx")
    args = ap.parse_args()
    default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "tokens", "tiny_vit.onnx")
    out = args.out or (default if args.model == "tiny_vit" else args.model + ".onnx")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    _, x, grid, prefix = build(args.model, out)
    print("wrote %s: input 1 x 3 x %d x %d, target '%s' read with a %d x %d token grid, %d prefix token(s)"
          % (out, x.shape[2], x.shape[3], target(args.model), grid, grid, prefix))
