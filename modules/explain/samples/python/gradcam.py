#!/usr/bin/env python3
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
'''Grad-CAM, counterfactual, guided backpropagation and Guided Grad-CAM for a cv::dnn model and an image:
the Python twin of samples/gradcam.cpp (the same flags, output files and --raw layout), on cv2.explain.

    python3 gradcam.py --model=resnet18.onnx --input=cat.jpg --width=224 --height=224 \\
        --scale=0.017 --mean="123.7 116.3 103.5" --rgb --out=out

Without --model and --input it explains the bundled synthetic-shapes model on the bundled image (data/ of
the repository, or $EXPLAIN_DATA_DIR). Other targets than a class score: --target=mask --output=<layer>
--mask=<png> (the class logits of <layer> summed over the mask), --target=box --output=<layer>
(--cell=<row>,<col> | --box=<index>) (one detection's class logit of a raw single-shot head), --target=word
--output=<layer> --word=<t> (word --class, or the top word, at step t of a T x 1 x V sequence, e.g. a
caption's log-probabilities). Multi-input nets: --input2=<file> --input-names=<image>,<second> feeds the
second input, held fixed (a text file of numbers, or a FileStorage file whose first node is the blob).
The model is read with cv2.explain.readNet: on OpenCV 5 its classic engine (cv2.dnn.ENGINE_CLASSIC),
as the explainers refuse the new engine's Nets.
'''
import argparse
import os
import re
import sys

import numpy as np
import cv2 as cv

METHODS = ('gradcam', 'counterfactual', 'guided', 'guided_gradcam')
DATA_DIR = os.environ.get('EXPLAIN_DATA_DIR', os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                           '..', '..', '..', '..', 'data'))


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--version', action='version',
                   version='explain %s, OpenCV %s' % (cv.explain.getVersionString(), cv.__version__))
    p.add_argument('--model', '-m', help='model file; default: the bundled model')
    p.add_argument('--config', '-c', default='', help='optional config file (.prototxt, .pbtxt, .cfg)')
    p.add_argument('--input', '-i', help='input image; default: the bundled image')
    p.add_argument('--layer', '-l', default='', help='Grad-CAM target layer; default: the last spatial layer')
    p.add_argument('--tokens', default='',
                   help='read the target layer as tokens on a grid: <H>x<W>[+<leading tokens dropped>], e.g. 14x14+1')
    p.add_argument('--class', dest='class_id', type=int, default=-1, help='class index; default: the top-1 class')
    p.add_argument('--methods', default=','.join(METHODS), help='comma list of maps to compute')
    p.add_argument('--width', type=int, help='input width; default: 64 for the bundled model, else 224')
    p.add_argument('--height', type=int, help='input height; default: 64 for the bundled model, else 224')
    p.add_argument('--scale', type=float, help='pixel multiplier; default: 1/255 for the bundled model, else 1')
    p.add_argument('--mean', default='', help='mean subtracted before scaling: 1 to 4 numbers')
    p.add_argument('--rgb', action='store_true', help='swap R and B; implied for the bundled model')
    p.add_argument('--labels', help='optional file with one class name per line')
    p.add_argument('--out', '-o', default='.', help='existing directory for the PNG images')
    p.add_argument('--raw', default='', help='optional FileStorage file (.yml, .yml.gz, .json) for the float maps')
    p.add_argument('--target', default='class', choices=('class', 'mask', 'box', 'word'), help='what is explained')
    p.add_argument('--output', default='', help='layer of the scores, logits (mask), detection head (box) or '
                   'T x 1 x V sequence (word)')
    p.add_argument('--mask', default='', help='--target=mask: PNG whose nonzero pixels are the region')
    p.add_argument('--cell', default='', help='--target=box: grid cell <row>,<col>')
    p.add_argument('--box', type=int, default=-1, help='--target=box: the detection ranked <index> by objectness')
    p.add_argument('--word', type=int, default=-1, help='--target=word: the step whose word is explained')
    p.add_argument('--input2', default='', help='second net input, held fixed: a text file of numbers (1 x n) '
                   'or a FileStorage file whose first node is the blob')
    p.add_argument('--input-names', dest='input_names', default='',
                   help="net input names, comma list: the image's (explained) first, then --input2's")
    p.add_argument('--device', default='cpu', choices=('cpu', 'opencl'), help='where the Net and the maps run')
    o = p.parse_args(argv)
    o.bundled = o.model is None
    o.model = o.model or os.path.join(DATA_DIR, 'default_model.onnx')
    o.input = o.input or os.path.join(DATA_DIR, 'default_image.png')
    if o.labels is None and o.bundled:
        o.labels = os.path.join(DATA_DIR, 'default_labels.txt')
    o.width = o.width or (64 if o.bundled else 224)
    o.height = o.height or (64 if o.bundled else 224)
    o.scale = o.scale or (1.0 / 255 if o.bundled else 1.0)
    o.rgb = o.rgb or o.bundled
    o.methods = [m for m in o.methods.split(',') if m]
    unknown = [m for m in o.methods if m not in METHODS]
    if unknown or not o.methods:
        p.error('unknown method in --methods: %s; choose from %s' % (','.join(unknown), ','.join(METHODS)))
    if o.target == 'mask' and not o.mask:
        p.error('--target=mask needs --mask')
    if (o.target == 'word') != (o.word >= 0):
        p.error('--target=word needs --word=<step> (>= 0): the position of the word in the sequence'
                if o.target == 'word' else '--word is for --target=word')
    o.input_names = [n for n in o.input_names.split(',') if n]
    if o.input2 and len(o.input_names) != 2:
        p.error('--input2 needs --input-names=<image input>,<second input>')
    if not o.input2 and len(o.input_names) > 1:
        p.error('--input-names lists two inputs but --input2 is not given')
    o.grid = None
    if o.tokens:
        m = re.fullmatch(r'(\d+)x(\d+)(?:\+(\d+))?', o.tokens)
        if not m or not 1 <= int(m.group(1)) <= 4096 or not 1 <= int(m.group(2)) <= 4096:
            p.error('--tokens=%s is not <H>x<W> or <H>x<W>+<leading tokens> with H, W in [1, 4096]' % o.tokens)
        o.grid = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    return o


def read_net(o):
    '''The Net, on the engine the explainers differentiate (OpenCV 5's classic one).'''
    ## [read]
    net = cv.explain.readNet(o.model, o.config)
    ## [read]
    if o.device == 'opencl':
        if not cv.ocl.useOpenCL():
            raise SystemExit('error: --device=opencl, but no OpenCL device is in use')
        net.setPreferableTarget(cv.dnn.DNN_TARGET_OPENCL)
    return net


def make_blob(o, image):
    mean = [float(v) for v in o.mean.replace(',', ' ').split()] if o.mean else []
    ## [blob]
    blob = cv.dnn.blobFromImage(image, o.scale, (o.width, o.height), tuple(mean + [0] * (4 - len(mean))), o.rgb)
    ## [blob]
    return blob


def read_second_input(path):
    '''--input2: the first node of a FileStorage file, or a text file of numbers as a 1 x n blob.'''
    if re.search(r'\.(yml|yaml|json|xml)(\.gz)?$', path):
        fs = cv.FileStorage(path, cv.FILE_STORAGE_READ)
        first = fs.getFirstTopLevelNode() if fs.isOpened() else None  # (root().at(0) needs a sequence on 5.0)
        blob = first.mat() if first is not None and not first.empty() else None
        if blob is None or blob.size == 0:
            raise SystemExit("error: --input2 '%s': the first node of the FileStorage file is not a matrix" % path)
        return blob.astype(np.float32)
    items = [item for item in re.split(r'[\s,]+', open(path).read()) if item]
    try:
        values = [float(item) for item in items]
    except ValueError as e:
        raise SystemExit("error: --input2 '%s': %s" % (path, e))
    if not values:
        raise SystemExit("error: --input2 '%s' has no numbers" % path)
    return np.array(values, np.float32).reshape(1, -1)


def net_inputs(o, blob):
    '''(blob, name) for each net input: the image's, then --input2's.'''
    if not o.input2:
        return [(blob, o.input_names[0] if o.input_names else '')]
    return [(blob, o.input_names[0]), (read_second_input(o.input2), o.input_names[1])]


def layer_output(o, inputs, layer):
    '''The output of `layer` from a plain forward pass, on a Net of its own (the explainer's is left alone).'''
    net = read_net(o)
    for blob, name in inputs:
        net.setInput(blob, name)
    return net.forward(layer)


def choose_class(o, scores, labels):
    order = np.argsort(-scores[0], kind='stable')
    print('top-5:')
    for k in order[:5]:
        print('  %d  %g%s' % (k, scores[0, k], '  ' + labels[k] if k < len(labels) else ''))
    class_id = o.class_id if o.class_id >= 0 else int(order[0])
    if class_id >= scores.shape[1]:
        raise SystemExit('error: --class %d is out of range [0, %d)' % (class_id, scores.shape[1]))
    return class_id, float(scores[0, class_id]), None


def choose_mask_target(o, out):
    mask = cv.imread(o.mask, cv.IMREAD_GRAYSCALE)
    if mask is None:
        raise SystemExit("error: --mask '%s' is not a readable image" % o.mask)
    region = cv.resize(mask, (out.shape[3], out.shape[2]), interpolation=cv.INTER_NEAREST) != 0
    votes = np.bincount(out[0].argmax(axis=0)[region], minlength=out.shape[1])
    class_id = o.class_id if o.class_id >= 0 else int(votes.argmax())
    seed = cv.explain.maskTarget(out, class_id, mask)
    return class_id, float((out * seed).sum()), seed


def choose_box_target(o, out):
    grid = out.ndim == 4
    values = out[0].reshape(out.shape[1], -1).T if grid else out[0]  # one row per cell: objectness, box, logits
    if o.cell:
        row, col = (int(v) for v in o.cell.split(','))
        cell = row * out.shape[3] + col
    else:
        cell = int(np.argsort(-values[:, 0], kind='stable')[max(o.box, 0)])
    class_id = o.class_id if o.class_id >= 0 else int(values[cell, 5:].argmax())
    seed = cv.explain.boxTarget(out, class_id, cell)
    return class_id, float(values[cell, 5 + class_id]), seed


def choose_word_target(o, out, labels):
    '''The word --class (or the top word) at step --word of a T x 1 x V output; prints each step's top word.'''
    if out.ndim != 3 or out.shape[1] != 1:
        raise SystemExit('error: --target=word needs a T x 1 x V output (steps, image, vocabulary); the --output '
                         'layer gives %s' % ' x '.join(str(d) for d in out.shape))
    steps, vocabulary = out.shape[0], out.shape[2]
    if o.word >= steps:
        raise SystemExit("error: --word %d is out of range [0, %d) of the output's steps" % (o.word, steps))
    top = out[:, 0].argmax(axis=1)
    print('words (step: top word, value):' + ''.join(
        '  %d: %d%s %g' % (s, top[s], ' (%s)' % labels[top[s]] if top[s] < len(labels) else '', out[s, 0, top[s]])
        for s in range(steps)))
    if o.class_id >= vocabulary:
        raise SystemExit("error: --class %d is out of range [0, %d) of the output's words" % (o.class_id, vocabulary))
    word = o.class_id if o.class_id >= 0 else int(top[o.word])
    seed = cv.explain.wordTarget(out, o.word, word)
    print('step:    %d' % o.word)
    return word, float(out[o.word, 0, word]), seed


def compute_maps(o, cam, class_id, seed):
    '''The maps of --methods as a dict of arrays (batch of one).'''
    maps = {}
    if {'gradcam', 'counterfactual', 'guided_gradcam'} & set(o.methods):
        if seed is None:
            ## [compute]
            gradcam, counterfactual = cam.compute(class_id)
            ## [compute]
        else:
            gradcam, counterfactual = cam.computeFromGradient(cam.getScoreLayerName(), seed)
        maps['gradcam'], maps['counterfactual'] = gradcam, counterfactual
    if {'guided', 'guided_gradcam'} & set(o.methods):
        if seed is None:
            ## [guided]
            maps['guided'] = cam.inputGradient(class_id, mode=cv.explain.RECTIFIER_GUIDED)
            ## [guided]
        else:
            maps['guided'] = cam.inputGradientFromGradient(cam.getScoreLayerName(), seed,
                                                           mode=cv.explain.RECTIFIER_GUIDED)
    if 'guided_gradcam' in o.methods:
        ## [combine]
        maps['guided_gradcam'] = cv.explain.combineGuidedGradCAM(maps['gradcam'], maps['guided'])
        ## [combine]
    return maps


def write_outputs(o, image, maps, class_id, score, layer, output):
    for name in o.methods:
        if name in ('gradcam', 'counterfactual'):
            ## [overlay]
            heat = cv.explain.resizeMap(maps[name][0], (image.shape[1], image.shape[0]))
            shown = cv.explain.applyMapOverlay(image, heat)
            ## [overlay]
        else:
            shown = cv.explain.gradientToImage(maps[name], index=0, swapRB=o.rgb)
            shown = cv.resize(shown, (image.shape[1], image.shape[0]))  # the net's input size back to the image's
        path = os.path.join(o.out, name + '.png')
        if not cv.imwrite(path, shown):
            raise SystemExit("error: cannot write '%s' (does the --out directory exist?)" % path)
        print('wrote', path)
    if o.raw:
        fs = cv.FileStorage(o.raw, cv.FILE_STORAGE_WRITE)
        if not fs.isOpened():
            raise SystemExit("error: cannot write '%s'" % o.raw)
        for name in o.methods:
            fs.write(name, maps[name][0])
        fs.write('class_id', class_id)
        fs.write('score', score)
        fs.write('layer', layer)
        fs.write('target', o.target)
        fs.write('output', output)
        fs.release()
        print('wrote', o.raw)


def main(argv):
    o = parse_args(argv)
    image = cv.imread(o.input, cv.IMREAD_COLOR)
    if image is None:
        raise SystemExit("error: '%s' is not a readable image" % o.input)
    labels = open(o.labels).read().splitlines() if o.labels else []
    ## [create]
    cam = cv.explain.GradCAM_create(read_net(o), o.layer, o.output)
    ## [create]
    if o.grid:
        cam.setTokenGrid(*o.grid)
    blob = make_blob(o, image)
    inputs = net_inputs(o, blob)
    if o.input2:
        print('input2:  %s (%s) as %s' % (o.input2, ' x '.join(str(d) for d in inputs[1][0].shape), inputs[1][1]))
        scores = cam.forwardInputs([b for b, _ in inputs], [n for _, n in inputs])
    else:
        ## [forward]
        scores = cam.forward(blob, inputName=inputs[0][1])
        ## [forward]
    output = cam.getScoreLayerName()
    print('layer:   %s (%s: %s)' % (cam.getLayerName(), 'scores' if o.target == 'class' else 'output', output))
    if o.target == 'class':
        class_id, score, seed = choose_class(o, scores, labels)
    else:
        out = layer_output(o, inputs, output)
        if o.target == 'word':
            class_id, score, seed = choose_word_target(o, out, labels)
        else:
            chosen = choose_mask_target if o.target == 'mask' else choose_box_target
            class_id, score, seed = chosen(o, out)
    print('class:   %d%s, score %g' % (class_id, ' (%s)' % labels[class_id] if class_id < len(labels) else '', score))
    maps = compute_maps(o, cam, class_id, seed)
    write_outputs(o, image, maps, class_id, score, cam.getLayerName(), output)
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except cv.error as e:
        sys.exit('error: %s' % e.err)
