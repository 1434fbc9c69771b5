#!/usr/bin/python3
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
"""Tiny one-operator ONNX models, to find out which cv::dnn 4.6 layer type each ONNX operator becomes,
and for the operator sweep (modules/explain/test/test_operator_sweep.cpp): for every model cv::dnn loads and runs, the
explain module's input gradient must match finite differences through cv::dnn, or be refused with a
cv::Exception that starts with "explain: " and names the layer.

    /usr/bin/python3 tools/make_operator_models.py                 # writes data/operators/
    /usr/bin/python3 tools/make_operator_models.py --out DIR
    /usr/bin/python3 tools/make_operator_models.py --probe         # also loads each one with cv2.dnn and
                                                                   # prints operator -> cv::dnn layer types

Needs only Debian's python3-onnx and python3-numpy (python3-opencv for --probe). Deterministic: fixed
seeds, so the files are byte-identical when written again.

Every model reads the variable input "x" (and "y" for two-input operators), float32, and writes one
output. The manifest operators.txt has one line per model:

    name <TAB> file <TAB> x:1x3x4x5:lo:hi [<TAB> y:...:lo:hi]

lo..hi is the range the sweep draws each input from (Log, Sqrt, Reciprocal, Pow need positive inputs).
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.RandomState(2024)
X4 = [1, 3, 4, 5]


def const(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def weights(shape, scale=0.5):
    return (RNG.uniform(-scale, scale, size=shape)).astype(np.float32)


class Model:
    def __init__(self, name, nodes, inputs, inits=(), opset=11, ranges=None, out_type=TensorProto.FLOAT,
                 declared=None):
        self.name = name
        self.nodes = nodes
        self.inputs = inputs  # [(name, shape)]: the blobs the sweep feeds
        self.declared = declared or {}  # name -> the shape the model declares, when not that one (dynamic axes)
        self.inits = list(inits)
        self.opset = opset
        self.ranges = ranges or {}
        self.out_type = out_type

    def build(self):
        graph = helper.make_graph(
            self.nodes, self.name,
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, self.declared.get(n, s)) for n, s in self.inputs],
            [helper.make_tensor_value_info("out", self.out_type, None)],
            initializer=self.inits)
        model = helper.make_model(graph, producer_name="explain-operator-sweep",
                                  opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = 7
        # the output's shape as ONNX infers it (cv::dnn does not read it, the checker requires it)
        inferred = onnx.shape_inference.infer_shapes(model)
        for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
            if vi.name == "out" and vi.type.tensor_type.HasField("shape"):
                model.graph.output[0].CopyFrom(vi)
        onnx.checker.check_model(model)
        return model


def unary(op, name=None, opset=11, lo=-2.0, hi=2.0, shape=X4, **attrs):
    return Model(name or op, [helper.make_node(op, ["x"], ["out"], **attrs)], [("x", shape)], opset=opset,
                 ranges={"x": (lo, hi)})


def binary(op, name, yshape, opset=11, lo=-2.0, hi=2.0, ylo=None, yhi=None, xshape=X4, out_type=TensorProto.FLOAT):
    return Model(name, [helper.make_node(op, ["x", "y"], ["out"])], [("x", xshape), ("y", yshape)], opset=opset,
                 ranges={"x": (lo, hi), "y": (ylo if ylo is not None else lo, yhi if yhi is not None else hi)},
                 out_type=out_type)


def with_const(op, name, array, lo=-2.0, hi=2.0, opset=11, **attrs):
    return Model(name, [helper.make_node(op, ["x", "c"], ["out"], **attrs)], [("x", X4)],
                 inits=[const("c", array)], opset=opset, ranges={"x": (lo, hi)})


def models():
    m = []
    # element-wise, one input
    m.append(unary("Log", lo=0.5, hi=3.0))
    m.append(unary("Erf"))
    m.append(unary("Sqrt", lo=0.5, hi=3.0))
    m.append(unary("Reciprocal", lo=0.5, hi=3.0))
    m.append(unary("Neg"))
    m.append(unary("Abs"))
    m.append(unary("Sin"))
    m.append(unary("Cos"))
    m.append(unary("Tan", lo=-1.0, hi=1.0))
    m.append(unary("Sinh"))
    m.append(unary("Cosh"))
    m.append(unary("Asin", lo=-0.8, hi=0.8))
    m.append(unary("Acos", lo=-0.8, hi=0.8))
    m.append(unary("Atan"))
    m.append(unary("Asinh"))
    m.append(unary("Acosh", lo=1.5, hi=3.0))
    m.append(unary("Atanh", lo=-0.8, hi=0.8))
    m.append(unary("ThresholdedRelu", opset=10, alpha=0.5))
    m.append(unary("Softplus"))
    m.append(unary("Softsign"))
    m.append(unary("Selu", alpha=1.5, gamma=1.2))
    m.append(unary("Celu", opset=12, alpha=0.7))
    m.append(unary("Elu", alpha=0.8))
    m.append(unary("HardSigmoid", alpha=0.3, beta=0.4))
    m.append(unary("Exp"))
    m.append(unary("Sigmoid"))
    m.append(unary("Tanh"))
    m.append(unary("Relu"))
    m.append(unary("LeakyRelu", alpha=0.2))
    m.append(Model("PRelu", [helper.make_node("PRelu", ["x", "s"], ["out"])], [("x", X4)],
                   inits=[const("s", np.array([0.1, 0.2, 0.3], np.float32).reshape(3, 1, 1))]))
    m.append(Model("Clip", [helper.make_node("Clip", ["x", "lo", "hi"], ["out"])], [("x", X4)],
                   inits=[const("lo", np.float32(-0.5)), const("hi", np.float32(0.5))]))
    m.append(unary("Clip", name="Clip_opset6", opset=6, min=-0.5, max=0.5))
    m.append(unary("Ceil"))
    m.append(unary("Floor"))
    m.append(unary("Round"))
    m.append(unary("Sign"))
    m.append(unary("Identity"))
    m.append(with_const("Pow", "Pow_const2", np.float32(2.0), lo=0.5, hi=2.0))
    m.append(with_const("Pow", "Pow_const0.5", np.float32(0.5), lo=0.5, hi=2.0))
    m.append(with_const("Pow", "Pow_const3", np.float32(3.0), lo=0.5, hi=2.0))
    # element-wise, two variable inputs
    m.append(binary("Min", "Min", X4))
    m.append(binary("Max", "Max", X4))
    m.append(Model("Sum", [helper.make_node("Sum", ["x", "y"], ["out"])], [("x", X4), ("y", X4)]))
    for op in ["Mul", "Add", "Sub", "Div"]:
        pos = op == "Div"
        m.append(binary(op, op + "_same", X4, ylo=0.5 if pos else None, yhi=2.0 if pos else None))
        m.append(binary(op, op + "_bcast_channel", [1, 3, 1, 1], ylo=0.5 if pos else None, yhi=2.0 if pos else None))
        m.append(binary(op, op + "_bcast_last", [1, 1, 1, 5], ylo=0.5 if pos else None, yhi=2.0 if pos else None))
        m.append(with_const(op, op + "_const_channel", RNG.uniform(0.5, 1.5, size=(1, 3, 1, 1)).astype(np.float32)))
        m.append(with_const(op, op + "_const_scalar", np.float32(1.7)))
        m.append(with_const(op, op + "_const_full", RNG.uniform(0.5, 1.5, size=X4).astype(np.float32)))
    for op in ["Equal", "Greater", "Less"]:
        m.append(binary(op, op, X4, out_type=TensorProto.BOOL))
    # matrix products
    m.append(binary("MatMul", "MatMul_two_inputs", [1, 3, 5, 2]))
    m.append(with_const("MatMul", "MatMul_const", weights([5, 2])))
    m.append(Model("Gemm", [helper.make_node("Gemm", ["x", "w", "b"], ["out"], transB=1, alpha=0.7, beta=1.3)],
                   [("x", [2, 6])], inits=[const("w", weights([4, 6])), const("b", weights([4]))]))
    m.append(Model("Gemm_two_inputs", [helper.make_node("Gemm", ["x", "y"], ["out"])], [("x", [2, 6]), ("y", [6, 4])]))
    # normalization
    m.append(Model("InstanceNormalization",
                   [helper.make_node("InstanceNormalization", ["x", "s", "b"], ["out"], epsilon=1e-3)], [("x", X4)],
                   inits=[const("s", weights([3], 1.0) + 1.0), const("b", weights([3]))]))
    m.append(unary("LpNormalization", name="LpNormalization_p2_axis1", axis=1, p=2))
    m.append(unary("LpNormalization", name="LpNormalization_p1_axis1", axis=1, p=1))
    m.append(unary("LpNormalization", name="LpNormalization_p2_axis-1", axis=-1, p=2))
    m.append(unary("MeanVarianceNormalization", name="MeanVarianceNormalization"))
    m.append(unary("MeanVarianceNormalization", name="MeanVarianceNormalization_axes123", opset=13, axes=[1, 2, 3]))
    m.append(Model("BatchNormalization",
                   [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["out"], epsilon=1e-5)],
                   [("x", X4)], inits=[const("s", weights([3]) + 1), const("b", weights([3])),
                                       const("m", weights([3])), const("v", weights([3]) + 1)]))
    m.append(unary("Softmax", axis=1, name="Softmax_axis1"))
    m.append(unary("LogSoftmax", axis=-1, name="LogSoftmax_axis-1"))
    m.append(unary("LRN", size=3, alpha=0.5, beta=0.75, bias=1.5))
    # padding and data movement
    for mode in ["constant", "reflect", "edge"]:
        m.append(Model("Pad_" + mode, [helper.make_node("Pad", ["x", "p"], ["out"], mode=mode)], [("x", X4)],
                       inits=[const("p", np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64))]))
    m.append(Model("Tile", [helper.make_node("Tile", ["x", "r"], ["out"])], [("x", X4)],
                   inits=[const("r", np.array([1, 2, 1, 2], np.int64))]))
    for name, shape in [("Expand_height", [1, 3, 1, 5]), ("Expand_hw", [1, 3, 1, 1]), ("Expand_channel", [1, 1, 4, 5])]:
        m.append(Model(name, [helper.make_node("Expand", ["x", "s"], ["out"])], [("x", shape)],
                       inits=[const("s", np.array(X4, np.int64))]))
    m.append(Model("Gather_scalar", [helper.make_node("Gather", ["x", "i"], ["out"], axis=1)], [("x", X4)],
                   inits=[const("i", np.array(2, np.int64))]))
    m.append(Model("Gather_vector", [helper.make_node("Gather", ["x", "i"], ["out"], axis=3)], [("x", X4)],
                   inits=[const("i", np.array([4, 0, 2], np.int64))]))
    m.append(Model("Slice_plain", [helper.make_node("Slice", ["x", "s", "e", "a"], ["out"])], [("x", X4)],
                   inits=[const("s", np.array([1, 1], np.int64)), const("e", np.array([3, 4], np.int64)),
                          const("a", np.array([2, 3], np.int64))]))
    m.append(Model("Slice_steps_negative_axes", [helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["out"])],
                   [("x", [1, 3, 6, 7])],
                   inits=[const("s", np.array([0, 1], np.int64)), const("e", np.array([6, 7], np.int64)),
                          const("a", np.array([-2, -1], np.int64)), const("t", np.array([2, 3], np.int64))]))
    m.append(Model("Split_negative_axis",
                   [helper.make_node("Split", ["x"], ["a", "b"], axis=-1, split=[2, 3]),
                    helper.make_node("Concat", ["b", "a"], ["out"], axis=-1)], [("x", X4)]))
    m.append(Model("Concat", [helper.make_node("Concat", ["x", "y"], ["out"], axis=1)], [("x", X4), ("y", [1, 2, 4, 5])]))
    # only along the last axis: along another one, cv::dnn 4.6's CumSum returns garbage (NaN, 1e31) and can
    # corrupt the heap, so no such model is written (the refusal is tested in C++ on the rule itself)
    m.append(Model("CumSum", [helper.make_node("CumSum", ["x", "a"], ["out"])], [("x", X4)],
                   inits=[const("a", np.array(3, np.int32))]))
    m.append(Model("CumSum_exclusive_reverse", [helper.make_node("CumSum", ["x", "a"], ["out"], exclusive=1, reverse=1)],
                   [("x", X4)], inits=[const("a", np.array(-1, np.int64))]))
    m.append(Model("CumSum_exclusive", [helper.make_node("CumSum", ["x", "a"], ["out"], exclusive=1)], [("x", X4)],
                   inits=[const("a", np.array(3, np.int32))]))
    m.append(Model("CumSum_reverse", [helper.make_node("CumSum", ["x", "a"], ["out"], reverse=1)], [("x", X4)],
                   inits=[const("a", np.array(-1, np.int32))]))
    m.append(Model("DepthToSpace", [helper.make_node("DepthToSpace", ["x"], ["out"], blocksize=2, mode="CRD")],
                   [("x", [1, 8, 2, 3])]))
    m.append(Model("SpaceToDepth", [helper.make_node("SpaceToDepth", ["x"], ["out"], blocksize=2)], [("x", [1, 2, 4, 6])]))
    # convolution and pooling in 1, 2 and 3 dimensions
    m.append(Model("Conv1d", [helper.make_node("Conv", ["x", "w", "b"], ["out"], kernel_shape=[3], pads=[1, 1])],
                   [("x", [1, 2, 7])], inits=[const("w", weights([3, 2, 3])), const("b", weights([3]))]))
    m.append(Model("Conv2d", [helper.make_node("Conv", ["x", "w", "b"], ["out"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
                   [("x", X4)], inits=[const("w", weights([2, 3, 3, 3])), const("b", weights([2]))]))
    m.append(Model("Conv3d", [helper.make_node("Conv", ["x", "w", "b"], ["out"], kernel_shape=[2, 3, 3],
                                               pads=[0, 1, 1, 0, 1, 1])],
                   [("x", [1, 2, 3, 4, 5])], inits=[const("w", weights([2, 2, 2, 3, 3])), const("b", weights([2]))]))
    m.append(Model("ConvTranspose2d", [helper.make_node("ConvTranspose", ["x", "w"], ["out"], kernel_shape=[2, 2],
                                                        strides=[2, 2])],
                   [("x", X4)], inits=[const("w", weights([3, 2, 2, 2]))]))
    for op in ["MaxPool", "AveragePool"]:
        m.append(Model(op + "1d", [helper.make_node(op, ["x"], ["out"], kernel_shape=[2], strides=[2])], [("x", [1, 2, 8])]))
        m.append(Model(op + "2d", [helper.make_node(op, ["x"], ["out"], kernel_shape=[2, 2], strides=[2, 2])], [("x", X4)]))
        m.append(Model(op + "3d", [helper.make_node(op, ["x"], ["out"], kernel_shape=[2, 2, 2], strides=[2, 2, 2])],
                       [("x", [1, 2, 4, 4, 4])]))
    m.append(unary("GlobalAveragePool"))
    m.append(unary("GlobalMaxPool"))
    # recurrent
    T, B, I, H = 3, 1, 4, 5
    m.append(Model("LSTM", [helper.make_node("LSTM", ["x", "W", "R", "B"], ["out"], hidden_size=H)], [("x", [T, B, I])],
                   inits=[const("W", weights([1, 4 * H, I])), const("R", weights([1, 4 * H, H])),
                          const("B", weights([1, 8 * H]))]))
    m.append(Model("GRU", [helper.make_node("GRU", ["x", "W", "R", "B", "", "h0"], ["out"], hidden_size=H)],
                   [("x", [T, B, I])],
                   inits=[const("W", weights([1, 3 * H, I])), const("R", weights([1, 3 * H, H])),
                          const("B", weights([1, 6 * H])), const("h0", np.zeros([1, B, H], np.float32))]))
    m.append(Model("RNN", [helper.make_node("RNN", ["x", "W", "R", "B"], ["out"], hidden_size=H)], [("x", [T, B, I])],
                   inits=[const("W", weights([1, H, I])), const("R", weights([1, H, H])), const("B", weights([1, 2 * H]))]))
    # shape
    m.append(unary("Flatten", axis=1))
    m.append(Model("Reshape", [helper.make_node("Reshape", ["x", "s"], ["out"])], [("x", X4)],
                   inits=[const("s", np.array([1, 12, 5], np.int64))]))
    m.append(unary("Transpose", perm=[0, 2, 3, 1]))
    m.append(unary("Squeeze", shape=[1, 3, 1, 5], axes=[2]))
    m.append(unary("Unsqueeze", axes=[1]))
    for op in ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
               "ReduceLogSumExp", "ReduceSumSquare"]:
        m.append(unary(op, name=op + "_axes23", axes=[2, 3], keepdims=1, lo=0.5 if op == "ReduceProd" else -2.0))
    m.append(unary("ReduceMean", name="ReduceMean_axis1_nokeep", axes=[1], keepdims=0))
    m.append(unary("ReduceMax", name="ReduceMax_axis1", axes=[1], keepdims=1))
    m.append(Model("Resize_nearest", [helper.make_node("Resize", ["x", "roi", "scales"], ["out"], mode="nearest")],
                   [("x", X4)], inits=[const("roi", np.array([], np.float32)),
                                       const("scales", np.array([1, 1, 2, 2], np.float32))]))
    m.append(Model("Resize_linear", [helper.make_node("Resize", ["x", "roi", "scales"], ["out"], mode="linear")],
                   [("x", X4)], inits=[const("roi", np.array([], np.float32)),
                                       const("scales", np.array([1, 1, 2, 2], np.float32))]))
    # one attention head over 4 tokens of 6 features: softmax(x Wq (x Wk)^T / sqrt(6)) x Wv
    m.append(Model("Attention_single_head", [
        helper.make_node("MatMul", ["x", "wq"], ["q"]),
        helper.make_node("MatMul", ["x", "wk"], ["k"]),
        helper.make_node("MatMul", ["x", "wv"], ["v"]),
        helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["q", "kt"], ["s"]),
        helper.make_node("Mul", ["s", "scale"], ["ss"]),
        helper.make_node("Softmax", ["ss"], ["p"], axis=-1),
        helper.make_node("MatMul", ["p", "v"], ["out"])],
        [("x", [1, 4, 6])], opset=13,
        inits=[const("wq", weights([6, 6])), const("wk", weights([6, 6])), const("wv", weights([6, 6])),
               const("scale", np.float32(1 / np.sqrt(6)))]))
    # dynamic (symbolic) axes, fed at a size of their own: a classifier head as torch.onnx.export writes it
    # with dynamic_axes (cv::dnn's layers learn their shapes in the first forward pass)
    m.append(Model("Dynamic_axes_classifier", [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["out"], transB=1)],
        [("x", [2, 3, 5, 6])], declared={"x": ["N", 3, "H", "W"]},
        inits=[const("w", weights([4, 3, 3, 3])), const("b", weights([4])), const("fw", weights([5, 4])),
               const("fb", weights([5]))]))
    m.append(Model("Dynamic_axes_conv_pool", [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("MaxPool", ["c"], ["out"], kernel_shape=[2, 2], strides=[2, 2])],
        [("x", [1, 3, 9, 7])], declared={"x": ["N", 3, "H", "W"]},
        inits=[const("w", weights([2, 3, 3, 3])), const("b", weights([2]))]))
    # Where(c, x, y) with a constant condition, as a shifted-window attention mask uses it: the gradient goes
    # to x where c holds, else to y (broadcast)
    m.append(Model("Where", [helper.make_node("Where", ["c", "x", "y"], ["out"])], [("x", X4), ("y", [1, 1, 1, 5])],
                   inits=[const("c", np.arange(60).reshape(X4) % 3 == 0)]))
    m.extend(transformer_models())
    # Gemm with op(A) = A^T and a constant B taken as it is (its input gradient reads B by columns)
    m.append(Model("Gemm_transA", [helper.make_node("Gemm", ["x", "w", "b"], ["out"], transA=1, alpha=0.7)],
                   [("x", [6, 2])], inits=[const("w", weights([6, 4])), const("b", weights([4]))]))
    return m


def transformer_models():
    """The transformer blocks as torch.onnx.export (opset 13) writes them for torchvision's ViT, which
    cv::dnn 4.9+ and OpenCV 5's classic importer fuse into single layers (LayerNormalization, Gelu,
    Attention) and 4.6 runs operator by operator; and ONNX's own LayerNormalization (opset 17)."""
    tokens = [1, 4, 6]
    m = [Model("LayerNorm_decomposed", [
        helper.make_node("ReduceMean", ["x"], ["mean"], axes=[-1]),
        helper.make_node("Sub", ["x", "mean"], ["centered"]),
        helper.make_node("Pow", ["centered", "two"], ["squared"]),
        helper.make_node("ReduceMean", ["squared"], ["var"], axes=[-1]),
        helper.make_node("Add", ["var", "eps"], ["var_eps"]),
        helper.make_node("Sqrt", ["var_eps"], ["std"]),
        helper.make_node("Div", ["centered", "std"], ["normed"]),
        helper.make_node("Mul", ["normed", "gamma"], ["scaled"]),
        helper.make_node("Add", ["scaled", "beta"], ["out"])],
        [("x", tokens)], opset=13,
        inits=[const("two", np.float32(2)), const("eps", np.float32(1e-6)),
               const("gamma", 1 + weights([6])), const("beta", weights([6]))])]
    m.append(Model("LayerNormalization", [
        helper.make_node("LayerNormalization", ["x", "gamma", "beta"], ["out"], axis=-1, epsilon=1e-5)],
        [("x", tokens)], opset=17, inits=[const("gamma", 1 + weights([6])), const("beta", weights([6]))]))
    m.append(Model("Gelu_erf", [
        helper.make_node("Div", ["x", "sqrt2"], ["scaled"]),
        helper.make_node("Erf", ["scaled"], ["erf"]),
        helper.make_node("Add", ["erf", "one"], ["cdf2"]),
        helper.make_node("Mul", ["x", "cdf2"], ["xcdf2"]),
        helper.make_node("Mul", ["xcdf2", "half"], ["out"])],
        [("x", X4)], opset=13,
        inits=[const("sqrt2", np.float32(np.sqrt(2))), const("one", np.float32(1)), const("half", np.float32(0.5))]))
    # torch.nn.MultiheadAttention (batch first, 2 heads of 3 features over 4 tokens) without its output
    # projection: one projection to q, k and v, split, heads, softmax(q k^T / sqrt(3)) v, heads merged
    heads, seq, dim = 2, 4, 6
    head_shape = const("head_shape", np.array([seq, heads, dim // heads], np.int64))
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
             helper.make_node("MatMul", ["xt", "w"], ["proj"]),
             helper.make_node("Add", ["b", "proj"], ["qkv"])]
    for i, part in enumerate("qkv"):
        nodes += [helper.make_node("Slice", ["qkv", "start_" + part, "end_" + part, "last"], [part]),
                  helper.make_node("Reshape", [part, "head_shape"], [part + "_heads"])]
    nodes += [helper.make_node("Transpose", ["q_heads"], ["qt"], perm=[1, 0, 2]),
              helper.make_node("Div", ["qt", "sqrt_d"], ["qs"]),
              helper.make_node("Transpose", ["k_heads"], ["kt"], perm=[1, 2, 0]),
              helper.make_node("Transpose", ["v_heads"], ["vt"], perm=[1, 0, 2]),
              helper.make_node("MatMul", ["qs", "kt"], ["scores"]),
              helper.make_node("Softmax", ["scores"], ["p"], axis=-1),
              helper.make_node("MatMul", ["p", "vt"], ["o"]),
              helper.make_node("Transpose", ["o"], ["ot"], perm=[1, 0, 2]),
              helper.make_node("Reshape", ["ot", "merged_shape"], ["out"])]
    inits = [const("w", weights([dim, 3 * dim])), const("b", weights([3 * dim])), head_shape,
             const("last", np.array([-1], np.int64)), const("sqrt_d", np.float32(np.sqrt(dim // heads))),
             const("merged_shape", np.array([seq, dim], np.int64))]
    for i, part in enumerate("qkv"):
        inits += [const("start_" + part, np.array([i * dim], np.int64)),
                  const("end_" + part, np.array([(i + 1) * dim], np.int64))]
    m.append(Model("Attention_torch_mha", nodes, [("x", [1, seq, dim])], opset=13, inits=inits))
    return m


def shape_text(shape):
    return "x".join(str(d) for d in shape)


def error_line(e):
    lines = [l for l in str(e).splitlines() if "error:" in l] or str(e).splitlines() or [""]
    return lines[0].split("error:", 1)[-1].strip()[:200]


def probe(path, model):
    """cv2.dnn's view of one model: (layer types, error)."""
    import cv2
    try:
        net = cv2.dnn.readNetFromONNX(path)
    except cv2.error as e:
        return None, "import: " + error_line(e)
    names = net.getLayerNames()
    types = []
    for n in names:
        layer = net.getLayer(net.getLayerId(n))
        types.append(layer.type)
    if any(len(shape) == 3 for _, shape in model.inputs):
        # cv2's Python binding reads a 3-D array as a 2-D image with channels: the C++ sweep runs these
        return types, "forward: not run here (3-D input)"
    rng = np.random.RandomState(7)
    try:
        for name, shape in model.inputs:
            lo, hi = model.ranges.get(name, (-2.0, 2.0))
            net.setInput(rng.uniform(lo, hi, size=shape).astype(np.float32), name)
        out = net.forward()
    except cv2.error as e:
        return types, "forward: " + error_line(e)
    return types, "ok " + shape_text(out.shape)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "operators"))
    ap.add_argument("--probe", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    lines = []
    for model in models():
        fname = model.name + ".onnx"
        path = os.path.join(args.out, fname)
        with open(path, "wb") as f:
            f.write(model.build().SerializeToString())
        cols = [model.name, fname]
        for name, shape in model.inputs:
            lo, hi = model.ranges.get(name, (-2.0, 2.0))
            cols.append("%s:%s:%g:%g" % (name, shape_text(shape), lo, hi))
        lines.append("\t".join(cols))
        if args.probe:
            types, status = probe(path, model)
            print("%-32s %-48s %s" % (model.name, " ".join(types) if types else "-", status))
            sys.stdout.flush()
    with open(os.path.join(args.out, "operators.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %d models to %s" % (len(lines), os.path.abspath(args.out)))


if __name__ == "__main__":
    main()
