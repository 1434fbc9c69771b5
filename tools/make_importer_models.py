#!/usr/bin/python3
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
"""One tiny CNN, the same weights, written in every format cv::dnn 4.6 imports: ONNX, Caffe, Darknet and
TensorFlow (frozen GraphDef). No Caffe, Darknet or TensorFlow package is used: the Caffe .caffemodel and
the TensorFlow .pb are protobuf messages encoded here by hand (field numbers from OpenCV 4.6's
opencv-caffe.proto and its copies of TensorFlow's graph/node_def/attr_value/tensor/tensor_shape/types
.proto), the Darknet .weights a flat float32 file.

    /usr/bin/python3 tools/make_importer_models.py            # writes data/importers/
    /usr/bin/python3 tools/make_importer_models.py --out DIR

The network (input 1x3x32x32, NCHW for cv::dnn in every format; TensorFlow's graph itself is NHWC):

    a1 = leaky0.1(bn1(conv1 3x3 3->8))            32x32
    p1 = maxpool2x2(a1)                           16x16
    a2 = relu(bn2(conv2 3x3 8->16))
    s  = leaky0.1(bn3(conv3 3x3 16->8) + p1)      residual add
    p2 = maxpool2x2(s)                            8x8
    a4 = leaky0.1(bn4(conv4 1x1 8->8))
    u  = nearest-upsample x2(a4)                  16x16
    c  = concat(u, s)                             16 channels
    a5 = relu(conv5 3x3 16->16 + bias)            the Grad-CAM target: the last spatial layer
    logits = fc(global-average-pool(a5)) 16->5    (+ softmax in Caffe, Darknet and TensorFlow)

Every format expresses all of it; the nearest upsample is a Resize layer in ONNX, Darknet ([upsample])
and TensorFlow (ResizeNearestNeighbor), but Caffe has no resize that OpenCV 4.6's Caffe importer can read
(Resize needs an `interpolation` and Interp a `zoom_factor`, neither of which opencv-caffe.proto
has, and Debian's OpenCV is built with the external protobuf, which rejects unknown prototxt fields), so
in Caffe it is a depthwise Deconvolution (2x2 kernel of ones, stride 2, no bias), which is exactly a
nearest x2 upsample. BatchNorm uses eps 1e-6 everywhere, because cv::dnn's Darknet importer hard-codes
Darknet's 1e-6.

Each file is read back with cv2.dnn: the logits (the softmax's input where there is one), the softmax and
the target activation must match torch within 1e-4 relative; the cv::dnn layer names and types are
printed. Output is deterministic (fixed seeds, 2 threads).
"""
import argparse
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 1e-6
SIZE = 32
CLASSES = 5


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8, eps=EPS)
        self.act1 = nn.LeakyReLU(0.1)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16, eps=EPS)
        self.act2 = nn.ReLU()
        self.conv3 = nn.Conv2d(16, 8, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(8, eps=EPS)
        self.act3 = nn.LeakyReLU(0.1)
        self.pool2 = nn.MaxPool2d(2)
        self.conv4 = nn.Conv2d(8, 8, 1, bias=False)
        self.bn4 = nn.BatchNorm2d(8, eps=EPS)
        self.act4 = nn.LeakyReLU(0.1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv5 = nn.Conv2d(16, 16, 3, padding=1, bias=True)
        self.act5 = nn.ReLU()
        self.fc = nn.Linear(16, CLASSES)

    def features(self, x):
        p1 = self.pool1(self.act1(self.bn1(self.conv1(x))))
        a2 = self.act2(self.bn2(self.conv2(p1)))
        s = self.act3(self.bn3(self.conv3(a2)) + p1)
        a4 = self.act4(self.bn4(self.conv4(self.pool2(s))))
        c = torch.cat([self.up(a4), s], 1)
        return self.act5(self.conv5(c))

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


def build_model():
    torch.manual_seed(20240611)
    m = Tiny()
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                n = mod.num_features
                mod.weight.copy_(0.5 + torch.rand(n, generator=g))
                mod.bias.copy_(0.4 * torch.rand(n, generator=g) - 0.2)
                mod.running_mean.copy_(0.4 * torch.rand(n, generator=g) - 0.2)
                mod.running_var.copy_(0.5 + torch.rand(n, generator=g))
            elif isinstance(mod, (nn.Conv2d, nn.Linear)):
                mod.weight.mul_(2.0)  # livelier activations than the default init
    return m.eval()


def f32(t):
    return np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32))


def bn_parts(bn):
    return f32(bn.weight), f32(bn.bias), f32(bn.running_mean), f32(bn.running_var)


# ---------------------------------------------------------------- protobuf wire format, by hand
def varint(n):
    n &= (1 << 64) - 1  # negative int64 as two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wire):
    return varint((field << 3) | wire)


def pb_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return key(field, 2) + varint(len(data)) + data


def pb_varint(field, n):
    return key(field, 0) + varint(int(n))


def pb_float(field, x):
    return key(field, 5) + struct.pack("<f", x)


def pb_packed_varints(field, values):
    return pb_bytes(field, b"".join(varint(int(v)) for v in values))


def pb_packed_floats(field, values):
    values = np.asarray(values, dtype="<f4").ravel()
    return pb_bytes(field, values.tobytes())


# ---------------------------------------------------------------- ONNX
def write_onnx(model, path):
    x = torch.zeros(1, 3, SIZE, SIZE)
    torch.onnx.export(model, x, path, opset_version=11, input_names=["input"], output_names=["logits"],
                      do_constant_folding=True)


# ---------------------------------------------------------------- Caffe
# caffe.NetParameter: name 1, layer 100; LayerParameter: name 1, type 2, bottom 3, top 4, blobs 7;
# BlobProto: data 5 (packed float), shape 7; BlobShape: dim 1 (packed int64).
def caffe_blob(arr):
    arr = np.asarray(arr, dtype=np.float32)
    return pb_bytes(7, pb_packed_varints(1, arr.shape)) + pb_packed_floats(5, arr)


def write_caffe(model, proto_path, weights_path):
    layers = []  # (name, type, bottoms, tops, param text, blobs)

    def add(name, typ, bottoms, tops, params="", blobs=()):
        layers.append((name, typ, list(bottoms), list(tops), params, list(blobs)))

    def conv_bn(idx, conv, bn, bottom, act):
        k = conv.kernel_size[0]
        add("conv%d" % idx, "Convolution", [bottom], ["conv%d" % idx],
            "convolution_param { num_output: %d kernel_size: %d pad: %d stride: 1 bias_term: false }"
            % (conv.out_channels, k, k // 2), [f32(conv.weight)])
        w, b, mean, var = bn_parts(bn)
        add("bn%d" % idx, "BatchNorm", ["conv%d" % idx], ["conv%d" % idx],
            "batch_norm_param { use_global_stats: true eps: %g }" % EPS, [mean, var, np.ones(1, np.float32)])
        add("scale%d" % idx, "Scale", ["conv%d" % idx], ["conv%d" % idx], "scale_param { bias_term: true }", [w, b])
        if act == "leaky":
            add("relu%d" % idx, "ReLU", ["conv%d" % idx], ["conv%d" % idx], "relu_param { negative_slope: 0.1 }")
        elif act == "relu":
            add("relu%d" % idx, "ReLU", ["conv%d" % idx], ["conv%d" % idx])
        return "conv%d" % idx

    m = model
    t = conv_bn(1, m.conv1, m.bn1, "data", "leaky")
    add("pool1", "Pooling", [t], ["pool1"], "pooling_param { pool: MAX kernel_size: 2 stride: 2 }")
    t = conv_bn(2, m.conv2, m.bn2, "pool1", "relu")
    t = conv_bn(3, m.conv3, m.bn3, t, None)
    add("add", "Eltwise", [t, "pool1"], ["add"], "eltwise_param { operation: SUM }")
    add("relu_add", "ReLU", ["add"], ["add"], "relu_param { negative_slope: 0.1 }")
    add("pool2", "Pooling", ["add"], ["pool2"], "pooling_param { pool: MAX kernel_size: 2 stride: 2 }")
    t = conv_bn(4, m.conv4, m.bn4, "pool2", "leaky")
    add("up", "Deconvolution", [t], ["up"],
        "convolution_param { num_output: 8 group: 8 kernel_size: 2 stride: 2 bias_term: false }",
        [np.ones((8, 1, 2, 2), np.float32)])
    add("concat", "Concat", ["up", "add"], ["concat"], "concat_param { axis: 1 }")
    add("conv5", "Convolution", ["concat"], ["conv5"],
        "convolution_param { num_output: 16 kernel_size: 3 pad: 1 stride: 1 }",
        [f32(m.conv5.weight), f32(m.conv5.bias)])
    add("relu5", "ReLU", ["conv5"], ["conv5"])
    add("gap", "Pooling", ["conv5"], ["gap"], "pooling_param { pool: AVE global_pooling: true }")
    add("fc", "InnerProduct", ["gap"], ["fc"], "inner_product_param { num_output: %d }" % CLASSES,
        [f32(m.fc.weight), f32(m.fc.bias)])
    add("prob", "Softmax", ["fc"], ["prob"])

    txt = ['name: "tiny"',
           'layer { name: "data" type: "Input" top: "data" '
           'input_param { shape { dim: 1 dim: 3 dim: %d dim: %d } } }' % (SIZE, SIZE)]
    for name, typ, bottoms, tops, params, _ in layers:
        s = 'layer { name: "%s" type: "%s"' % (name, typ)
        s += "".join(' bottom: "%s"' % b for b in bottoms) + "".join(' top: "%s"' % tp for tp in tops)
        txt.append(s + (" " + params if params else "") + " }")
    with open(proto_path, "w") as f:
        f.write("\n".join(txt) + "\n")

    msg = pb_bytes(1, "tiny")
    for name, typ, bottoms, tops, _, blobs in layers:
        lp = pb_bytes(1, name) + pb_bytes(2, typ)
        lp += b"".join(pb_bytes(3, b) for b in bottoms) + b"".join(pb_bytes(4, tp) for tp in tops)
        lp += b"".join(pb_bytes(7, caffe_blob(b)) for b in blobs)
        msg += pb_bytes(100, lp)
    with open(weights_path, "wb") as f:
        f.write(msg)


# ---------------------------------------------------------------- Darknet
DARKNET_CFG = """[net]
width=32
height=32
channels=3

# 0
[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

# 1
[maxpool]
size=2
stride=2

# 2
[convolutional]
batch_normalize=1
filters=16
size=3
stride=1
pad=1
activation=relu

# 3
[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=linear

# 4: + layer 1
[shortcut]
from=-3
activation=leaky

# 5
[maxpool]
size=2
stride=2

# 6
[convolutional]
batch_normalize=1
filters=8
size=1
stride=1
pad=1
activation=leaky

# 7
[upsample]
stride=2

# 8: concat(7, 4)
[route]
layers=-1,4

# 9: the Grad-CAM target
[convolutional]
filters=16
size=3
stride=1
pad=1
activation=relu

# 10
[avgpool]

# 11
[connected]
output=5
activation=linear

# 12
[softmax]
groups=1
"""


def write_darknet(model, cfg_path, weights_path):
    m = model
    with open(cfg_path, "w") as f:
        f.write(DARKNET_CFG)
    out = [struct.pack("<iii", 0, 2, 0), struct.pack("<q", 0)]  # major, minor, revision; seen is int64 from 0.2
    for conv, bn in ((m.conv1, m.bn1), (m.conv2, m.bn2), (m.conv3, m.bn3), (m.conv4, m.bn4)):
        w, b, mean, var = bn_parts(bn)
        out += [b.tobytes(), w.tobytes(), mean.tobytes(), var.tobytes(), f32(conv.weight).tobytes()]
    out += [f32(m.conv5.bias).tobytes(), f32(m.conv5.weight).tobytes()]
    out += [f32(m.fc.bias).tobytes(), f32(m.fc.weight).tobytes()]  # [connected]: biases, weights [out, in]
    with open(weights_path, "wb") as f:
        f.write(b"".join(out))


# ---------------------------------------------------------------- TensorFlow frozen GraphDef
# GraphDef: node 1; NodeDef: name 1, op 2, input 3, attr 5 (map entry: key 1, value 2);
# AttrValue: list 1, s 2, i 3, f 4, b 5, type 6, shape 7, tensor 8; ListValue: i 3 (packed);
# TensorProto: dtype 1, tensor_shape 2, tensor_content 4, int_val 7 (packed);
# TensorShapeProto: dim 2; Dim: size 1. DT_FLOAT 1, DT_INT32 3.
DT_FLOAT, DT_INT32 = 1, 3


def tf_shape(dims):
    return b"".join(pb_bytes(2, pb_varint(1, d)) for d in dims)


def tf_attr(value):
    kind, v = value
    if kind == "s":
        return pb_bytes(2, v)
    if kind == "i":
        return pb_varint(3, v)
    if kind == "f":
        return pb_float(4, v)
    if kind == "b":
        return pb_varint(5, 1 if v else 0)
    if kind == "type":
        return pb_varint(6, v)
    if kind == "shape":
        return pb_bytes(7, tf_shape(v))
    if kind == "tensor":
        return pb_bytes(8, v)
    if kind == "ilist":
        return pb_bytes(1, pb_packed_varints(3, v))
    raise ValueError(kind)


def tf_tensor_float(arr):
    arr = np.ascontiguousarray(arr, dtype="<f4")
    return pb_varint(1, DT_FLOAT) + pb_bytes(2, tf_shape(arr.shape)) + pb_bytes(4, arr.tobytes())


def tf_tensor_int(values, shape):
    # int_val, not tensor_content: cv::dnn reads a ConcatV2 axis with int_val().Get(0)
    return pb_varint(1, DT_INT32) + pb_bytes(2, tf_shape(shape)) + pb_packed_varints(7, values)


def tf_node(name, op, inputs=(), attrs=None):
    s = pb_bytes(1, name) + pb_bytes(2, op) + b"".join(pb_bytes(3, i) for i in inputs)
    for k in sorted(attrs or {}):
        s += pb_bytes(5, pb_bytes(1, k) + pb_bytes(2, tf_attr(attrs[k])))
    return pb_bytes(1, s)


def write_tensorflow(model, path):
    m = model
    nodes = []
    T = {"T": ("type", DT_FLOAT)}

    def const_f(name, arr):
        nodes.append(tf_node(name, "Const", [], {"dtype": ("type", DT_FLOAT), "value": ("tensor", tf_tensor_float(arr))}))
        return name

    def const_i(name, values, shape):
        nodes.append(tf_node(name, "Const", [], {"dtype": ("type", DT_INT32),
                                                 "value": ("tensor", tf_tensor_int(values, shape))}))
        return name

    def op(name, typ, inputs, attrs=None):
        a = dict(T)
        a.update(attrs or {})
        nodes.append(tf_node(name, typ, inputs, a))
        return name

    def conv(name, x, c, bias=None):
        w = const_f(name + "/weights", f32(c.weight).transpose(2, 3, 1, 0))  # OIHW -> HWIO
        y = op(name + "/Conv2D", "Conv2D", [x, w], {"data_format": ("s", "NHWC"), "padding": ("s", "SAME"),
                                                     "strides": ("ilist", [1, 1, 1, 1]),
                                                     "dilations": ("ilist", [1, 1, 1, 1])})
        if bias is not None:
            y = op(name + "/BiasAdd", "BiasAdd", [y, const_f(name + "/bias", f32(bias))], {"data_format": ("s", "NHWC")})
        return y

    def bn(name, x, b):
        w, beta, mean, var = bn_parts(b)
        ins = [x, const_f(name + "/gamma", w), const_f(name + "/beta", beta), const_f(name + "/moving_mean", mean),
               const_f(name + "/moving_variance", var)]
        return op(name + "/FusedBatchNormV3", "FusedBatchNormV3", ins,
                  {"U": ("type", DT_FLOAT), "epsilon": ("f", EPS), "is_training": ("b", False),
                   "data_format": ("s", "NHWC")})

    def leaky(name, x):
        return op(name, "LeakyRelu", [x], {"alpha": ("f", 0.1)})

    def maxpool(name, x):
        return op(name, "MaxPool", [x], {"data_format": ("s", "NHWC"), "padding": ("s", "VALID"),
                                         "ksize": ("ilist", [1, 2, 2, 1]), "strides": ("ilist", [1, 2, 2, 1])})

    nodes.append(tf_node("input", "Placeholder", [], {"dtype": ("type", DT_FLOAT), "shape": ("shape", [1, SIZE, SIZE, 3])}))
    p1 = maxpool("pool1", leaky("block1/LeakyRelu", bn("block1/bn", conv("block1/conv", "input", m.conv1), m.bn1)))
    a2 = op("block2/Relu", "Relu", [bn("block2/bn", conv("block2/conv", p1, m.conv2), m.bn2)])
    b3 = bn("block3/bn", conv("block3/conv", a2, m.conv3), m.bn3)
    s = leaky("add/LeakyRelu", op("add/add", "AddV2", [b3, p1]))
    a4 = leaky("block4/LeakyRelu", bn("block4/bn", conv("block4/conv", maxpool("pool2", s), m.conv4), m.bn4))
    up = op("up/ResizeNearestNeighbor", "ResizeNearestNeighbor", [a4, const_i("up/size", [SIZE // 2, SIZE // 2], [2])],
            {"align_corners": ("b", False), "half_pixel_centers": ("b", False)})
    cat = op("concat", "ConcatV2", [up, s, const_i("concat/axis", [3], [])],
             {"N": ("i", 2), "Tidx": ("type", DT_INT32)})
    a5 = op("block5/Relu", "Relu", [conv("block5/conv", cat, m.conv5, m.conv5.bias)])
    gap = op("gap/Mean", "Mean", [a5, const_i("gap/indices", [1, 2], [2])],
             {"Tidx": ("type", DT_INT32), "keep_dims": ("b", False)})
    mm = op("fc/MatMul", "MatMul", [gap, const_f("fc/weights", f32(m.fc.weight).T)],
            {"transpose_a": ("b", False), "transpose_b": ("b", False)})
    logits = op("fc/BiasAdd", "BiasAdd", [mm, const_f("fc/bias", f32(m.fc.bias))], {"data_format": ("s", "NHWC")})
    op("prob", "Softmax", [logits])
    with open(path, "wb") as f:
        f.write(b"".join(nodes) + pb_bytes(4, pb_varint(1, 27)))  # versions { producer: 27 }


# ---------------------------------------------------------------- checks
FORMATS = {
    # format: (files, reader, target layer (the last spatial layer), logits layer)
    "onnx": (("tiny.onnx",), "readNetFromONNX", "onnx_node!/act5/Relu", None),
    "caffe": (("tiny.prototxt", "tiny.caffemodel"), "readNetFromCaffe", "relu5", "fc"),
    "darknet": (("tiny.cfg", "tiny.weights"), "readNetFromDarknet", "relu_10", "fullyConnected_11"),
    "tensorflow": (("tiny.pb",), "readNetFromTensorflow", "block5/Relu", "fc/MatMul"),
}


def rel(a, b):
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def check(model, out_dir):
    import cv2
    rng = np.random.RandomState(3)
    x = rng.uniform(-1, 1, (1, 3, SIZE, SIZE)).astype(np.float32)
    with torch.no_grad():
        xt = torch.from_numpy(x)
        feat = model.features(xt).numpy()
        logits = model(xt).numpy()
        prob = F.softmax(torch.from_numpy(logits), 1).numpy()
    ok = True
    for fmt, (files, reader, target, logit_layer) in FORMATS.items():
        paths = [os.path.join(out_dir, f) for f in files]
        if fmt == "caffe":
            net = cv2.dnn.readNetFromCaffe(*paths)
        elif fmt == "darknet":
            net = cv2.dnn.readNetFromDarknet(*paths)
        elif fmt == "tensorflow":
            net = cv2.dnn.readNetFromTensorflow(*paths)
        else:
            net = cv2.dnn.readNetFromONNX(*paths)
        names = list(net.getLayerNames())
        types = [net.getLayer(n).type for n in names]
        net.setInput(x)
        last = names[-1]
        wanted = [target, logit_layer or last, last]
        outs = net.forward(wanted)
        errs = {"target": rel(outs[0], feat), "logits": rel(outs[1], logits)}
        if logit_layer:
            errs["softmax"] = rel(outs[2], prob)
        good = all(e <= 1e-4 for e in errs.values()) and outs[0].shape == feat.shape
        ok &= good
        print("%-10s %-22s %s  %s" % (fmt, reader, " ".join(files), "OK" if good else "MISMATCH"))
        print("  rel. L2 vs torch: " + ", ".join("%s %.2e" % kv for kv in errs.items()))
        print("  target layer %s %s, logits layer %s" % (target, "x".join(map(str, outs[0].shape)), logit_layer or last))
        for n, t in zip(names, types):
            print("    %-40s %s" % (n, t))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "data", "importers"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(args.out, exist_ok=True)
    model = build_model()
    o = lambda f: os.path.join(args.out, f)
    write_onnx(model, o("tiny.onnx"))
    write_caffe(model, o("tiny.prototxt"), o("tiny.caffemodel"))
    write_darknet(model, o("tiny.cfg"), o("tiny.weights"))
    write_tensorflow(model, o("tiny.pb"))
    for f in sorted(os.listdir(args.out)):
        print("%-16s %7d bytes" % (f, os.path.getsize(o(f))))
    if not check(model, args.out):
        sys.exit("cv2.dnn disagrees with torch on some format")


if __name__ == "__main__":
    main()
