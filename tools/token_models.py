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
"""
import numpy as np
import torch
import torch.nn as nn


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


def build(name, onnx_path):
    """(float32 model, input 1 x 3 x H x W float32 numpy, grid, prefix) with the model exported to onnx_path."""
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


def reshape_transform(grid, prefix):
    """pytorch-grad-cam's reshape_transform for ViT-style tokens: N x T x C -> N x C x grid x grid."""
    def transform(t):
        n, _, c = t.shape
        return t[:, prefix:, :].reshape(n, grid, grid, c).permute(0, 3, 1, 2)
    return transform


def autograd_gradcam(model64, x64, cls, grid, prefix):
    """Grad-CAM at the target layer straight from float64 autograd (no pytorch-grad-cam): alpha_k = mean of
    dscore/dA over the grid tokens, map = ReLU(sum_k alpha_k A_k) on the grid."""
    store = {}
    module = dict(model64.named_modules())[TARGET]
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
    # the bundled token model of the samples and the Python tests: data/tokens/tiny_vit.onnx
    import os
    import sys
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                               "data", "tokens", "tiny_vit.onnx")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    _, x, grid, prefix = build("tiny_vit", out)
    print("wrote %s: input 1 x 3 x %d x %d, target '%s' read with a %d x %d token grid, %d prefix token"
          % (out, x.shape[2], x.shape[3], TARGET, grid, grid, prefix))
