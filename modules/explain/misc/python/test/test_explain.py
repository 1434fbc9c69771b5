#!/usr/bin/env python
'''Tests of cv2.explain, the Python bindings OpenCV's build generates from the module's headers, on the
bundled model and image (data/ of the repository, or $EXPLAIN_DATA_DIR).

The bundled model ends in conv4 -> ReLU -> global average pooling -> Gemm, so its Grad-CAM at the ReLU
has a closed form that numpy computes from the Net's own activations and weights:
  score_c = sum_k W[c, k] mean_ij A_kij + b_c  =>  dscore_c / dA_kij = W[c, k] / HW,
  Grad-CAM = ReLU(sum_k W[c, k] / HW A_k), counterfactual = ReLU(-sum_k W[c, k] / HW A_k).
With $EXPLAIN_SAMPLE_GRADCAM (the C++ sample example_explain_gradcam), the Python sample's --raw maps
are compared with the C++ sample's.

Run: PYTHONPATH=<OpenCV build>/lib/python3:<OpenCV source>/modules/python/test python3 test_explain.py
(OpenCV 5: the Net is read with the classic engine; the module does not read the new engine's graphs yet.)
'''
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import cv2 as cv

try:
    from tests_common import NewOpenCVTests
except ImportError:  # outside OpenCV's python test runner
    NewOpenCVTests = unittest.TestCase

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.environ.get('EXPLAIN_DATA_DIR', os.path.join(HERE, '..', '..', '..', '..', '..', 'data'))
SAMPLE_PY = os.path.join(HERE, '..', '..', '..', 'samples', 'python', 'gradcam.py')
MODEL = os.path.join(DATA_DIR, 'default_model.onnx')
IMAGE = os.path.join(DATA_DIR, 'default_image.png')


def read_net(path=MODEL):
    '''A Net on the classic engine where OpenCV 5 offers a choice.'''
    if hasattr(cv.dnn, 'ENGINE_CLASSIC'):
        return cv.dnn.readNet(path, engine=cv.dnn.ENGINE_CLASSIC)
    return cv.dnn.readNet(path)


def bundled_blob(images=1):
    '''The bundled image as the bundled model takes it (64 x 64, RGB, [0, 1]), `images` times.'''
    image = cv.imread(IMAGE)
    return cv.dnn.blobFromImages([image] * images, 1.0 / 255, (64, 64), swapRB=True)


def rel_diff(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12)


class explain_test(NewOpenCVTests):

    def setUp(self):
        super(explain_test, self).setUp()
        self.net = read_net()
        self.blob = bundled_blob()
        self.cam = cv.explain.GradCAM_create(self.net)
        self.scores = self.cam.forward(self.blob)

    def closed_form(self, class_id):
        '''numpy Grad-CAM and counterfactual maps of the bundled model (module docstring).'''
        net = read_net()
        net.setInput(self.blob)
        activations = net.forward(self.cam.getLayerName())[0]           # K x H x W
        weights = net.getParam(self.cam.getScoreLayerName(), 0)         # classes x K (or transposed)
        if weights.shape[0] != self.scores.shape[1]:
            weights = weights.T
        k, h, w = activations.shape
        linear = np.tensordot(weights[class_id] / (h * w), activations, axes=1)
        return np.maximum(linear, 0), np.maximum(-linear, 0)

    def test_module(self):
        for name in ('GradCAM_create', 'InputAttribution_create', 'computeCAM', 'resizeMap', 'applyMapOverlay',
                     'gradientToImage', 'gradientToSaliency', 'combineGuidedGradCAM', 'mapToBoundingBox',
                     'pointingGame', 'deletionInsertion', 'averageDropIncrease', 'road', 'faithfulness',
                     'spearmanCorrelation', 'classTarget', 'maskTarget', 'boxTarget'):
            self.assertTrue(hasattr(cv.explain, name), name)
        self.assertEqual(cv.explain.RECTIFIER_GUIDED, 1)
        self.assertEqual(cv.explain.CAM_ABLATIONCAM, 9)

    def test_gradcam_matches_closed_form(self):
        self.assertEqual(self.scores.shape, (1, 4))
        top = int(self.scores[0].argmax())
        for class_id in (-1, 0, 1, 2, 3):
            maps, counterfactual = self.cam.compute(class_id)
            self.assertEqual((len(maps), len(counterfactual)), (1, 1))
            self.assertEqual(maps[0].dtype, np.float32)
            expected, expected_cf = self.closed_form(top if class_id < 0 else class_id)
            self.assertEqual(maps[0].shape, expected.shape)
            self.assertLess(rel_diff(maps[0], expected), 1e-5, 'class %d' % class_id)
            self.assertLess(rel_diff(counterfactual[0], expected_cf), 1e-5, 'class %d' % class_id)

    def test_batch(self):
        cam = cv.explain.GradCAM_create(read_net())
        scores = cam.forward(bundled_blob(2))
        self.assertEqual(scores.shape, (2, 4))
        maps, _ = cam.compute(-1)
        self.assertEqual(len(maps), 2)
        np.testing.assert_array_equal(maps[0], maps[1])

    def test_input_gradients(self):
        guided = self.cam.inputGradient(-1)  # RECTIFIER_GUIDED by default
        exact = self.cam.inputGradient(-1, mode=cv.explain.RECTIFIER_EXACT)
        self.assertEqual(guided.shape, self.blob.shape)
        self.assertGreater(np.abs(guided - exact).max(), 0)
        attribution = cv.explain.InputAttribution_create(read_net())
        attribution.forward(self.blob)
        np.testing.assert_allclose(attribution.gradient(-1), exact, rtol=0, atol=1e-6)
        np.testing.assert_allclose(attribution.inputTimesGradient(-1), exact * self.blob, rtol=0, atol=1e-6)
        ig = attribution.integratedGradients(-1, steps=64)
        scores_zero = cv.explain.InputAttribution_create(read_net()).forward(np.zeros_like(self.blob))
        top = int(self.scores[0].argmax())
        self.assertAlmostEqual(ig.sum(), self.scores[0, top] - scores_zero[0, top], delta=0.05 * abs(self.scores[0, top]))
        ggc = self.cam.guidedGradCAM(-1)
        maps, _ = self.cam.compute(-1)
        np.testing.assert_allclose(ggc, cv.explain.combineGuidedGradCAM(maps, guided), rtol=0, atol=1e-6)

    def test_cam_methods(self):
        for method in range(cv.explain.CAM_GRADCAM, cv.explain.CAM_ABLATIONCAM + 1):
            self.cam.setMethod(method)
            self.assertEqual(self.cam.getMethod(), method)
            maps, _ = self.cam.compute(-1)
            self.assertTrue(np.isfinite(maps[0]).all() and (maps[0] >= 0).all(), 'method %d' % method)
            self.assertGreater(maps[0].max(), 0, 'method %d' % method)
        self.cam.setMethod(cv.explain.CAM_GRADCAM)

    def test_compute_cam_on_numpy(self):
        rng = np.random.RandomState(7)
        a = rng.rand(2, 5, 4, 3).astype(np.float32)
        g = rng.randn(2, 5, 4, 3).astype(np.float32)
        maps = cv.explain.computeCAM(cv.explain.CAM_GRADCAM, a, g)
        for n in range(2):
            expected = np.maximum(np.tensordot(g[n].mean(axis=(1, 2)), a[n], axes=1), 0)
            np.testing.assert_allclose(maps[n], expected, rtol=1e-5, atol=1e-6)

    def test_helpers(self):
        maps, _ = self.cam.compute(-1)
        heat = cv.explain.resizeMap(maps[0], (96, 80))
        self.assertEqual(heat.shape, (80, 96))
        self.assertAlmostEqual(float(heat.min()), 0.0)
        self.assertAlmostEqual(float(heat.max()), 1.0, places=5)
        image = cv.imread(IMAGE)
        shown = cv.explain.applyMapOverlay(image, cv.explain.resizeMap(maps[0], (image.shape[1], image.shape[0])))
        self.assertEqual((shown.shape, shown.dtype), (image.shape, np.uint8))
        grad = self.cam.inputGradient(-1)
        self.assertEqual(cv.explain.gradientToImage(grad).shape, (64, 64, 3))
        saliency = cv.explain.gradientToSaliency(grad)
        np.testing.assert_allclose(saliency, np.abs(grad[0]).max(axis=0), rtol=0, atol=1e-7)

    def test_targets(self):
        grad = cv.explain.classTarget(self.scores, 2)
        np.testing.assert_array_equal(grad, np.eye(4, dtype=np.float32)[[2]])
        maps, cf = self.cam.computeFromGradient(self.cam.getScoreLayerName(), grad)
        direct, direct_cf = self.cam.compute(2)
        np.testing.assert_allclose(maps[0], direct[0], rtol=0, atol=1e-6)
        np.testing.assert_allclose(cf[0], direct_cf[0], rtol=0, atol=1e-6)

    def test_metrics(self):
        maps, _ = self.cam.compute(-1)
        x, y, w, h = cv.explain.mapToBoundingBox(maps[0], (64, 64))
        self.assertTrue(w > 0 and h > 0 and x + w <= 64 and y + h <= 64)
        self.assertTrue(cv.explain.pointingGame(maps[0], (64, 64), [(x, y, w, h)]))
        a = np.array([[3, 1, 4, 1.5, 5, 9, 2, 6]], np.float32)
        b = np.array([[2, 7, 1, 8, 2.5, 8.5, 0.5, 3]], np.float32)
        ranks = [np.argsort(np.argsort(v[0])) for v in (a, b)]
        self.assertAlmostEqual(cv.explain.spearmanCorrelation(a, b), np.corrcoef(*ranks)[0, 1], places=6)
        top = int(self.scores[0].argmax())
        saliency = cv.explain.resizeMap(maps[0], (64, 64))
        curve = cv.explain.deletionInsertion(read_net(), self.blob, saliency, top, steps=8)
        self.assertEqual((len(curve.fractions), len(curve.scores)), (9, 9))
        self.assertAlmostEqual(curve.auc, np.trapz(curve.scores, curve.fractions), places=6)
        drop, increase, pairs = cv.explain.averageDropIncrease(read_net(), self.blob, maps, [top])
        self.assertEqual(pairs.shape, (1, 2))
        self.assertAlmostEqual(drop, max(0.0, (pairs[0, 0] - pairs[0, 1]) / pairs[0, 0] * 100), places=4)
        self.assertIn(increase, (0.0, 100.0))

    def test_errors_are_cv_errors(self):
        with self.assertRaises(cv.error) as e:
            self.cam.compute(7)
        self.assertIn('class index 7 is out of range [0, 4)', str(e.exception))
        with self.assertRaises(cv.error) as e:
            cv.explain.GradCAM_create(read_net(), 'nope')
        self.assertIn("explain: the Net has no layer named 'nope'", str(e.exception))
        with self.assertRaises(cv.error) as e:
            self.cam.forward(np.full(self.blob.shape, np.nan, np.float32))
        self.assertIn('explain: the input blob contains NaN or Inf values', str(e.exception))

    def test_python_sample_matches_cpp_sample(self):
        sample_cpp = os.environ.get('EXPLAIN_SAMPLE_GRADCAM', '')
        if not sample_cpp:
            self.skipTest('set EXPLAIN_SAMPLE_GRADCAM to the C++ sample example_explain_gradcam')
        tmp = tempfile.mkdtemp()
        for name, command in (('cpp', [sample_cpp]), ('py', [sys.executable, SAMPLE_PY])):
            os.mkdir(os.path.join(tmp, name))
            subprocess.check_call(command + ['--out=' + os.path.join(tmp, name),
                                             '--raw=' + os.path.join(tmp, name, 'maps.yml.gz')],
                                  stdout=subprocess.DEVNULL)
        cpp = cv.FileStorage(os.path.join(tmp, 'cpp', 'maps.yml.gz'), cv.FILE_STORAGE_READ)
        py = cv.FileStorage(os.path.join(tmp, 'py', 'maps.yml.gz'), cv.FILE_STORAGE_READ)
        self.assertEqual(py.getNode('class_id').real(), cpp.getNode('class_id').real())
        for name in ('gradcam', 'counterfactual', 'guided', 'guided_gradcam'):
            expected = cpp.getNode(name).mat()
            self.assertLess(rel_diff(py.getNode(name).mat(), expected), 1e-4, name)


if __name__ == '__main__':
    if NewOpenCVTests is unittest.TestCase:
        unittest.main()
    else:
        NewOpenCVTests.bootstrap()
