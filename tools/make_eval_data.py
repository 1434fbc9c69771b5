#!/usr/bin/python3
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
"""Generate an evaluation set for the bundled model: synthetic shapes with ground-truth boxes.

Draws images exactly like the training data of data/default_model.onnx (make_shape_image() of
tools/train_default_model.py: 64x64, one circle / square / triangle / cross on a textured
background) with a seed the training (1) and validation (2) sets do not use, and writes

  DIR/000000.png ...   64x64 BGR PNG images
  DIR/boxes.csv        header "file,class_id,x,y,w,h", then one ground-truth box per line
                       (x, y, w, h in pixels; the box of the object's mask)

Deterministic. Run with Debian's python (numpy, opencv, torch for the imported module):
  /usr/bin/python3 tools/make_eval_data.py --out build/eval --count 100
"""
import argparse
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_default_model import CLASSES, make_shape_image  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output directory (created)")
    ap.add_argument("--count", type=int, default=100, help="number of images (classes in turn)")
    ap.add_argument("--seed", type=int, default=3, help="random seed (1 and 2 are the training/validation sets)")
    args = ap.parse_args()
    if args.count < 1:
        sys.exit("--count must be >= 1")
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.RandomState(args.seed)
    lines = ["file,class_id,x,y,w,h"]
    for i in range(args.count):
        cls = i % len(CLASSES)
        rgb, (x0, y0, x1, y1) = make_shape_image(rng, cls)
        name = "%06d.png" % i
        cv2.imwrite(os.path.join(args.out, name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        lines.append("%s,%d,%d,%d,%d,%d" % (name, cls, x0, y0, x1 - x0 + 1, y1 - y0 + 1))
    with open(os.path.join(args.out, "boxes.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %d images and boxes.csv to %s" % (args.count, args.out))


if __name__ == "__main__":
    main()
