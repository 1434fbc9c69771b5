#!/usr/bin/env python
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
'''Tests of cv2.explain, the Python bindings OpenCV's build generates from the module's headers, on the
bundled model and image (data/ of the repository, or $EXPLAIN_DATA_DIR), each checked against numpy.

- At the target layer itself a seed gradient S gives Grad-CAM = ReLU(sum_k mean_ij S_kij A_k) from the
  layer's activations A (read with a plain forward pass of another Net), without any backward rule.
- The bundled model ends in conv4 -> ReLU -> global average pooling -> Gemm, so the Grad-CAM of a class c
  has a closed form from the Gemm weights W: dscore_c / dA_kij = W[c, k] / HW,
  Grad-CAM = ReLU(sum_k W[c, k] / HW A_k), counterfactual = ReLU(-sum_k W[c, k] / HW A_k).
- Input gradients at the first convolution against a difference of the Net's own forward passes.
- With $EXPLAIN_SAMPLE_GRADCAM (the C++ sample example_explain_gradcam) the Python sample's --raw maps are
  compared with the C++ sample's.

Run: PYTHONPATH=<OpenCV build>/lib/python3:<OpenCV source>/modules/python/test python3 test_explain.py
On OpenCV 5 the Nets are read with the classic engine (cv.explain.readNet), but in test_new_engine_net, which
reads the bundled model with the new engine; EXPLAIN_SKIP_KNOWN_FAILURES=1 skips the tests listed in modules/explain/test/opencv5_known_failures.txt.
'''
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
trapezoid = getattr(np, 'trapezoid', None) or np.trapz  # numpy 2 renamed trapz (and 2.4 removed it)
import cv2 as cv

try:
    from tests_common import NewOpenCVTests
except ImportError:  # outside OpenCV's python test runner
    NewOpenCVTests = unittest.TestCase

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE_DIR = os.path.join(HERE, '..', '..', '..')
DATA_DIR = os.environ.get('EXPLAIN_DATA_DIR', os.path.join(MODULE_DIR, '..', '..', 'data'))
SAMPLE_PY = os.path.join(MODULE_DIR, 'samples', 'python', 'gradcam.py')
MODEL = os.path.join(DATA_DIR, 'default_model.onnx')
TOKEN_MODEL = os.path.join(DATA_DIR, 'tokens', 'tiny_vit.onnx')  # tools/token_models.py: 4 x 4 grid, class token
TOKEN_LAYER = 'onnx_node!/blocks/blocks.0/Add_1'  # N x 17 x 16
IMAGE = os.path.join(DATA_DIR, 'default_image.png')


def known_failures():
    '''{test name: reason} of the Python tests known to fail on this OpenCV, when asked to skip them.'''
    if os.environ.get('EXPLAIN_SKIP_KNOWN_FAILURES') != '1' or int(cv.__version__.split('.')[0]) < 5:
        return {}
    failures = {}
    with open(os.path.join(MODULE_DIR, 'test', 'opencv5_known_failures.txt')) as f:
        for line in f:
            if line.startswith('python:'):
                name, reason = line[len('python:'):].split(None, 1)
                failures[name] = reason.strip()
    return failures


KNOWN_FAILURES = known_failures()


def read_net(path=MODEL):
    '''A Net the explainers take: cv.explain.readNet (OpenCV 5's classic engine).'''
    return cv.explain.readNet(path)


def bundled_blob(images=1):
    '''The bundled image as the bundled model takes it (64 x 64, RGB, [0, 1]), `images` times.'''
    image = cv.imread(IMAGE)
    return cv.dnn.blobFromImages([image] * images, 1.0 / 255, (64, 64), swapRB=True)


def layer_output(blob, layer):
    '''The output of `layer` from a plain forward pass on a Net of its own.'''
    net = read_net()
    net.setInput(blob)
    return net.forward(layer)


def rel_diff(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12)


class explain_test(NewOpenCVTests):

    def setUp(self):
        super(explain_test, self).setUp()
        if self._testMethodName in KNOWN_FAILURES:
            self.skipTest('known to fail on OpenCV %s: %s' % (cv.__version__, KNOWN_FAILURES[self._testMethodName]))
        self.blob = bundled_blob()
        self.cam = cv.explain.GradCAM_create(read_net())
        self.scores = self.cam.forward(self.blob)
        self.layer = self.cam.getLayerName()

    def seed_at_layer(self):
        activations = layer_output(self.blob, self.layer)
        return activations, np.random.RandomState(3).randn(*activations.shape).astype(np.float32)

    def closed_form(self, class_id):
        '''numpy Grad-CAM and counterfactual maps of the bundled model for a class (module docstring).'''
        activations = layer_output(self.blob, self.layer)[0]  # K x H x W
        net = read_net()
        weights = [net.getLayer(name).blobs[0] for name in net.getLayerNames()
                   if len(net.getLayer(name).blobs) and net.getLayer(name).blobs[0].ndim == 2][-1]
        if weights.shape[0] != self.scores.shape[1]:  # classes x K, or K x classes
            weights = weights.T
        k, h, w = activations.shape
        linear = np.tensordot(weights[class_id] / (h * w), activations, axes=1)
        return np.maximum(linear, 0), np.maximum(-linear, 0)

    # --- through the bindings, independent of which layers have backward rules

    def test_module(self):
        for name in ('GradCAM_create', 'InputAttribution_create', 'computeCAM', 'resizeMap', 'applyMapOverlay',
                     'gradientToImage', 'gradientToSaliency', 'combineGuidedGradCAM', 'mapToBoundingBox',
                     'pointingGame', 'deletionInsertion', 'averageDropIncrease', 'road', 'faithfulness',
                     'spearmanCorrelation', 'classTarget', 'maskTarget', 'boxTarget', 'getVersionString'):
            self.assertTrue(hasattr(cv.explain, name), name)
        self.assertEqual(cv.explain.RECTIFIER_GUIDED, 1)
        self.assertEqual(cv.explain.CAM_ABLATIONCAM, 9)
        self.assertRegex(cv.explain.getVersionString(), r'^\d+\.\d+\.\d+$')
        self.assertEqual(self.scores.shape, (1, 4))
        self.assertEqual(self.scores.dtype, np.float32)

    def test_gradcam_at_the_target_layer(self):
        activations, seed = self.seed_at_layer()
        maps, counterfactual = self.cam.computeFromGradient(self.layer, seed)
        linear = np.tensordot(seed[0].mean(axis=(1, 2)), activations[0], axes=1)
        self.assertEqual(maps[0].shape, linear.shape)
        self.assertLess(rel_diff(maps[0], np.maximum(linear, 0)), 1e-5)
        self.assertLess(rel_diff(counterfactual[0], np.maximum(-linear, 0)), 1e-5)

    def test_input_gradient_of_the_first_convolution(self):
        # sum(S * conv1(x)) is linear in x, so a difference of two forward passes gives <grad, d> exactly
        # (up to float rounding) for any step d, without the kinks of deeper layers
        net = read_net()
        conv1 = [name for name in net.getLayerNames() if net.getLayer(name).type == 'Convolution'][0]
        rng = np.random.RandomState(5)
        seed = rng.randn(*layer_output(self.blob, conv1).shape).astype(np.float32)
        grad = self.cam.inputGradientFromGradient(conv1, seed, mode=cv.explain.RECTIFIER_EXACT)
        self.assertEqual(grad.shape, self.blob.shape)
        base = (seed * layer_output(self.blob, conv1)).sum(dtype=np.float64)
        for _ in range(3):
            step = rng.randn(*self.blob.shape).astype(np.float32)
            numeric = (seed * layer_output(self.blob + step, conv1)).sum(dtype=np.float64) - base
            analytic = (grad * step).sum(dtype=np.float64)
            self.assertLess(abs(numeric - analytic), 1e-4 * max(abs(analytic), 1.0))
        relu_seed = np.abs(rng.randn(*layer_output(self.blob, self.layer).shape)).astype(np.float32)
        guided = self.cam.inputGradientFromGradient(self.layer, -relu_seed)  # RECTIFIER_GUIDED by default
        exact = self.cam.inputGradientFromGradient(self.layer, -relu_seed, mode=cv.explain.RECTIFIER_EXACT)
        self.assertEqual(np.abs(guided).max(), 0)  # guided: negative gradients stop at the ReLUs
        self.assertGreater(np.abs(exact).max(), 0)

    def test_compute_cam_on_numpy(self):
        rng = np.random.RandomState(7)
        a = rng.rand(2, 5, 4, 3).astype(np.float32)
        g = rng.randn(2, 5, 4, 3).astype(np.float32)
        maps = cv.explain.computeCAM(cv.explain.CAM_GRADCAM, a, g)
        self.assertEqual(len(maps), 2)
        for n in range(2):
            expected = np.maximum(np.tensordot(g[n].mean(axis=(1, 2)), a[n], axes=1), 0)
            np.testing.assert_allclose(maps[n], expected, rtol=1e-5, atol=1e-6)
        layercam = cv.explain.computeCAM(cv.explain.CAM_LAYERCAM, a, g)
        np.testing.assert_allclose(layercam[0], np.maximum((np.maximum(g[0], 0) * a[0]).sum(axis=0), 0),
                                   rtol=1e-5, atol=1e-6)

    def test_helpers(self):
        rng = np.random.RandomState(11)
        small = rng.rand(4, 6).astype(np.float32)
        heat = cv.explain.resizeMap(small, (24, 16))
        up = cv.resize(small, (24, 16), interpolation=cv.INTER_LINEAR)
        np.testing.assert_allclose(heat, (up - up.min()) / (up.max() - up.min()), rtol=0, atol=1e-5)
        image = cv.imread(IMAGE)
        shown = cv.explain.applyMapOverlay(image, cv.resize(heat, (image.shape[1], image.shape[0])))
        self.assertEqual((shown.shape, shown.dtype), (image.shape, np.uint8))
        grad = rng.randn(2, 3, 16, 24).astype(np.float32)
        self.assertEqual(cv.explain.gradientToImage(grad, index=1).shape, (16, 24, 3))
        np.testing.assert_array_equal(cv.explain.gradientToSaliency(grad, index=1), np.abs(grad[1]).max(axis=0))
        maps = [rng.rand(4, 6).astype(np.float32) for _ in range(2)]
        combined = cv.explain.combineGuidedGradCAM(maps, grad)
        for n in range(2):
            expected = cv.resize(maps[n], (24, 16), interpolation=cv.INTER_LINEAR)[None] * grad[n]
            np.testing.assert_allclose(combined[n], expected, rtol=1e-5, atol=1e-6)

    def test_metrics(self):
        blob_map = np.zeros((16, 16), np.float32)
        blob_map[4:8, 10:14] = 1
        up = cv.resize(blob_map, (64, 64), interpolation=cv.INTER_LINEAR)  # bilinear, then 15% of the maximum
        ys, xs = np.nonzero(up >= 0.15 * up.max())
        box = (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
        self.assertEqual(tuple(cv.explain.mapToBoundingBox(blob_map, (64, 64))), box)
        self.assertTrue(cv.explain.pointingGame(blob_map, (64, 64), [(38, 14, 20, 20)]))
        self.assertFalse(cv.explain.pointingGame(blob_map, (64, 64), [(0, 0, 8, 8)]))
        a = np.array([[3, 1, 4, 1.5, 5, 9, 2, 6]], np.float32)
        b = np.array([[2, 7, 1, 8, 2.5, 8.5, 0.5, 3]], np.float32)
        ranks = [np.argsort(np.argsort(v[0])) for v in (a, b)]
        self.assertAlmostEqual(cv.explain.spearmanCorrelation(a, b), np.corrcoef(*ranks)[0, 1], places=6)
        mask = np.zeros((64, 64), np.uint8)
        mask[20:30, 20:30] = 1
        imputed = cv.explain.noisyLinearImputation(self.blob, mask, noiseStd=0)
        kept = np.broadcast_to(mask == 0, self.blob.shape)
        np.testing.assert_array_equal(imputed[kept], self.blob[kept])

    def test_metrics_on_the_model(self):
        _, seed = self.seed_at_layer()
        maps, _ = self.cam.computeFromGradient(self.layer, seed)
        top = int(self.scores[0].argmax())
        saliency = cv.explain.resizeMap(maps[0], (64, 64))
        curve = cv.explain.deletionInsertion(read_net(), self.blob, saliency, top, steps=8)
        self.assertEqual((len(curve.fractions), len(curve.scores)), (9, 9))
        self.assertAlmostEqual(curve.auc, trapezoid(curve.scores, curve.fractions), places=6)
        drop, increase, pairs = cv.explain.averageDropIncrease(read_net(), self.blob, maps, [top])
        self.assertEqual(pairs.shape, (1, 2))
        self.assertAlmostEqual(drop, max(0.0, (pairs[0, 0] - pairs[0, 1]) / pairs[0, 0] * 100), places=4)
        self.assertIn(increase, (0.0, 100.0))

    def test_errors_are_cv_errors(self):
        with self.assertRaises(cv.error) as e:
            cv.explain.GradCAM_create(read_net(), 'nope')
        self.assertIn("explain: the Net has no layer named 'nope'", str(e.exception))
        with self.assertRaises(cv.error) as e:
            cv.explain.GradCAM_create(read_net()).compute(0)
        self.assertIn('explain: call GradCAM::forward() with an input blob first', str(e.exception))
        with self.assertRaises(cv.error) as e:
            self.cam.forward(np.full(self.blob.shape, np.nan, np.float32))
        self.assertIn('explain: the input blob contains NaN or Inf values', str(e.exception))

    # --- class scores through the whole model (the classifier's Gemm layer included)

    def test_gradcam_matches_closed_form(self):
        top = int(self.scores[0].argmax())
        for class_id in (-1, 0, 1, 2, 3):
            maps, counterfactual = self.cam.compute(class_id)
            self.assertEqual((len(maps), len(counterfactual), maps[0].dtype), (1, 1, np.float32))
            expected, expected_cf = self.closed_form(top if class_id < 0 else class_id)
            self.assertEqual(maps[0].shape, expected.shape)
            self.assertLess(rel_diff(maps[0], expected), 1e-5, 'class %d' % class_id)
            self.assertLess(rel_diff(counterfactual[0], expected_cf), 1e-5, 'class %d' % class_id)
        with self.assertRaises(cv.error) as e:
            self.cam.compute(7)
        self.assertIn('class index 7 is out of range [0, 4)', str(e.exception))

    def test_new_engine_net(self):
        '''OpenCV 5: a Net read with cv.dnn.readNet's default (the new engine) gives the same maps at a layer
        after its last convolution, and refuses gradients through one, naming it.'''
        if int(cv.__version__.split('.')[0]) < 5:
            self.skipTest('OpenCV %s has no new DNN engine' % cv.__version__)
        cam = cv.explain.GradCAM_create(cv.dnn.readNet(MODEL))
        scores = cam.forward(self.blob)
        self.assertLess(rel_diff(scores, self.scores), 1e-5)
        # the closed form reads the classic engine's activations: the new engine's fused convolution sums in
        # another order (measured: the maps differ by up to 1.5e-5)
        for class_id in (0, 1, 2, 3):
            maps, counterfactual = cam.compute(class_id)
            expected, expected_cf = self.closed_form(class_id)
            self.assertLess(rel_diff(maps[0], expected), 1e-4, 'class %d' % class_id)
            self.assertLess(rel_diff(counterfactual[0], expected_cf), 1e-4, 'class %d' % class_id)
        with self.assertRaises(cv.error) as e:
            cam.inputGradient(-1)
        self.assertIn("layer '/conv4/Conv' (Conv2) keeps its weights private on OpenCV 5's new engine",
                      str(e.exception))

    def test_batch(self):
        cam = cv.explain.GradCAM_create(read_net())
        self.assertEqual(cam.forward(bundled_blob(2)).shape, (2, 4))
        maps, _ = cam.compute(-1)
        self.assertEqual(len(maps), 2)
        np.testing.assert_array_equal(maps[0], maps[1])

    def test_input_gradients(self):
        guided = self.cam.inputGradient(-1)  # RECTIFIER_GUIDED by default
        exact = self.cam.inputGradient(-1, mode=cv.explain.RECTIFIER_EXACT)
        attribution = cv.explain.InputAttribution_create(read_net())
        attribution.forward(self.blob)
        np.testing.assert_allclose(attribution.gradient(-1), exact, rtol=0, atol=1e-6)
        np.testing.assert_allclose(attribution.inputTimesGradient(-1), exact * self.blob, rtol=0, atol=1e-6)
        ig = attribution.integratedGradients(-1, steps=64)
        zero_scores = cv.explain.InputAttribution_create(read_net()).forward(np.zeros_like(self.blob))
        top = int(self.scores[0].argmax())
        completeness = self.scores[0, top] - zero_scores[0, top]  # Integrated Gradients sum to about this
        self.assertAlmostEqual(ig.sum(), completeness, delta=0.05 * abs(self.scores[0, top]))
        maps, _ = self.cam.compute(-1)
        np.testing.assert_allclose(self.cam.guidedGradCAM(-1), cv.explain.combineGuidedGradCAM(maps, guided),
                                   rtol=0, atol=1e-6)

    def test_cam_methods(self):
        without_counterfactual = []
        for method in range(cv.explain.CAM_GRADCAM, cv.explain.CAM_ABLATIONCAM + 1):
            self.cam.setMethod(method)
            self.assertEqual(self.cam.getMethod(), method)
            maps = self.cam.computeMaps(-1)
            self.assertTrue(np.isfinite(maps[0]).all() and (maps[0] >= 0).all(), 'method %d' % method)
            self.assertGreater(maps[0].max(), 0, 'method %d' % method)
            try:  # compute() asks for the counterfactual maps too, which some methods do not have
                np.testing.assert_array_equal(self.cam.compute(-1)[0][0], maps[0])
            except cv.error as e:
                self.assertIn('so it has no counterfactual map', e.err)
                without_counterfactual.append(method)
        self.assertIn(cv.explain.CAM_EIGENCAM, without_counterfactual)

    def test_targets(self):
        grad = cv.explain.classTarget(self.scores, 2)
        np.testing.assert_array_equal(grad, np.eye(4, dtype=np.float32)[[2]])
        maps, cf = self.cam.computeFromGradient(self.cam.getScoreLayerName(), grad)
        direct, direct_cf = self.cam.compute(2)
        np.testing.assert_allclose(maps[0], direct[0], rtol=0, atol=1e-6)
        np.testing.assert_allclose(cf[0], direct_cf[0], rtol=0, atol=1e-6)

    def test_token_grid(self):
        # at the token layer itself a seed S gives Grad-CAM = ReLU(sum_c mean_t S[t, c] A[t, c]) over the 16
        # grid tokens (the class token, token 0, dropped), token 1 + 4 y + x at cell (y, x)
        cam = cv.explain.GradCAM_create(read_net(TOKEN_MODEL), TOKEN_LAYER)
        self.assertEqual(tuple(cam.getTokenGrid()), (0, 0))
        cam.setTokenGrid(4, 4, 1)
        self.assertEqual((tuple(cam.getTokenGrid()), cam.getPrefixTokens()), ((4, 4), 1))
        blob = np.random.RandomState(7).uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32)
        cam.forward(blob)
        net = read_net(TOKEN_MODEL)
        net.setInput(blob)
        activations = net.forward(TOKEN_LAYER)
        self.assertEqual(activations.shape, (1, 17, 16))
        seed = np.random.RandomState(8).randn(*activations.shape).astype(np.float32)
        maps, counterfactual = cam.computeFromGradient(TOKEN_LAYER, seed)
        alpha = seed[0, 1:].mean(axis=0)
        linear = (activations[0, 1:] @ alpha).reshape(4, 4)
        self.assertEqual(maps[0].shape, (4, 4))
        self.assertLess(rel_diff(maps[0], np.maximum(linear, 0)), 1e-5)
        self.assertLess(rel_diff(counterfactual[0], np.maximum(-linear, 0)), 1e-5)
        maps, _ = cam.compute(-1)  # through the net's second block to the class token's score
        self.assertEqual(maps[0].shape, (4, 4))
        self.assertGreater(np.abs(maps[0]).max(), 0)
        cam.setTokenGrid(4, 4, 0)
        with self.assertRaises(cv.error) as e:
            cam.compute(-1)
        self.assertIn('the token grid 4 x 4 with 0 prefix token(s) reads N x 16 x C tokens', str(e.exception))

    def test_python_sample_matches_cpp_sample(self):
        sample_cpp = os.environ.get('EXPLAIN_SAMPLE_GRADCAM', '')
        if not sample_cpp:
            self.skipTest('set EXPLAIN_SAMPLE_GRADCAM to the C++ sample example_explain_gradcam')
        # the bundled model, and the bundled token model read on its grid
        token_flags = ['--model=' + TOKEN_MODEL, '--layer=' + TOKEN_LAYER, '--tokens=4x4+1', '--width=16',
                       '--height=16', '--scale=0.00392156862745098', '--rgb']
        # two task models with a second input held fixed: the VQA model's question, the captioner's words
        # (the word at step 3 of "triangle left of circle <end>" is "circle", id 1)
        tasks = os.path.join(DATA_DIR, 'tasks')
        task_flags = ['--width=64', '--height=64', '--scale=0.00392156862745098', '--rgb']
        vqa_flags = task_flags + ['--model=' + os.path.join(tasks, 'vqa.onnx'), '--input=' + os.path.join(tasks, 'vqa.png'),
                                  '--input2=' + os.path.join(tasks, 'question_square.txt'), '--input-names=image,question']
        caption_flags = task_flags + [
            '--model=' + os.path.join(tasks, 'caption.onnx'), '--input=' + os.path.join(tasks, 'caption.png'),
            '--layer=onnx_node!/conv3_relu/Relu', '--input2=' + os.path.join(tasks, 'caption_words.yml'),
            '--input-names=image,words', '--target=word', '--output=logprobs', '--word=3']
        for case, flags in (('bundled', []), ('tokens', token_flags), ('vqa', vqa_flags), ('caption', caption_flags)):
            tmp = tempfile.mkdtemp()
            for name, command in (('cpp', [sample_cpp, '--headless']), ('py', [sys.executable, SAMPLE_PY])):
                os.mkdir(os.path.join(tmp, name))
                subprocess.check_call(command + flags + ['--out=' + os.path.join(tmp, name),
                                                         '--raw=' + os.path.join(tmp, name, 'maps.yml.gz')],
                                      stdout=subprocess.DEVNULL)
            cpp = cv.FileStorage(os.path.join(tmp, 'cpp', 'maps.yml.gz'), cv.FILE_STORAGE_READ)
            py = cv.FileStorage(os.path.join(tmp, 'py', 'maps.yml.gz'), cv.FILE_STORAGE_READ)
            self.assertEqual(py.getNode('class_id').real(), cpp.getNode('class_id').real(), case)
            if case == 'caption':
                self.assertEqual(py.getNode('class_id').real(), 1)
            for name in ('gradcam', 'counterfactual', 'guided', 'guided_gradcam'):
                self.assertLess(rel_diff(py.getNode(name).mat(), cpp.getNode(name).mat()), 1e-4, case + ' ' + name)


if __name__ == '__main__':
    if NewOpenCVTests is unittest.TestCase:
        unittest.main()
    else:
        NewOpenCVTests.bootstrap()
