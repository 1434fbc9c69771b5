#!/usr/bin/env python3
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
"""The Dask sample against the single-process batch tool, with a task that fails once.

    <venv python> distributed_test.py --tool example_explain_batch --images <folder> --work <folder>

1. The batch tool alone on a folder of 12 images: the reference index.
2. explain_dask.py with 3 shards on a LocalCluster of 2 worker processes, retries=2, the shard with the
   most images made to crash after one image on its first attempt (EXPLAIN_DASK_FAIL_ONCE).
3. Checks: the merged index has the reference's lines (as a set, time_ms aside), each id once; every map
   file it names is there; the crashed shard ran twice (and its first attempt did crash: the marker was
   taken), the others once; each shard holds exactly the ids that FNV-1a(id) mod 3 gives it (the tool's
   documented assignment, computed here independently).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DASK_SAMPLE = os.path.join(HERE, "..", "samples", "distributed", "explain_dask.py")
SHARDS = 3
TOOL_ARGS = ["--methods=gradcam,guided", "--batch=2"]


def fnv1a(text):
    h = 0xcbf29ce484222325  # FNV-1a 64: offset basis and prime as published
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001b3) % (1 << 64)
    return h


def lines_without_timing(path):
    with open(path, encoding="utf-8") as f:
        lines = [l for l in f.read().split("\n") if l]
    objs = [json.loads(l) for l in lines]
    for o in objs:
        o.pop("time_ms", None)
    return [json.dumps(o, sort_keys=True) for o in objs], [o["id"] for o in objs]


def check(condition, message, failures):
    print(("ok:     " if condition else "FAILED: ") + message)
    if not condition:
        failures.append(message)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--images", required=True, help="a folder of images to copy from")
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    images = os.path.join(args.work, "images")
    os.makedirs(images)
    sources = sorted(f for f in os.listdir(args.images) if f.endswith(".png"))
    for k in range(12):
        shutil.copyfile(os.path.join(args.images, sources[k % len(sources)]), os.path.join(images, "img_%02d.png" % k))
    ids = sorted(os.listdir(images))
    by_shard = {s: [i for i in ids if fnv1a(i) % SHARDS == s] for s in range(SHARDS)}
    crash = max(by_shard, key=lambda s: len(by_shard[s]))

    ref = os.path.join(args.work, "reference")
    subprocess.run([args.tool, "--input=" + images, "--out=" + ref] + TOOL_ARGS, check=True, stdout=subprocess.DEVNULL)

    marker = os.path.join(args.work, "fail_once")
    with open(marker, "w") as f:
        f.write(str(crash))
    out = os.path.join(args.work, "dask")
    env = dict(os.environ, EXPLAIN_DASK_FAIL_ONCE=marker)
    p = subprocess.run([sys.executable, DASK_SAMPLE, "--tool", args.tool, "--shards", str(SHARDS), "--out", out,
                        "--workers", "2", "--retries", "2", "--"] + ["--input=" + images] + TOOL_ARGS,
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    print(p.stdout)
    failures = []
    check(p.returncode == 0, "explain_dask.py exits with 0 (got %d)" % p.returncode, failures)
    if p.returncode != 0:
        return 1

    expected, _ = lines_without_timing(os.path.join(ref, "index.jsonl"))
    merged, merged_ids = lines_without_timing(os.path.join(out, "index.jsonl"))
    check(len(expected) == 12, "the reference run explained the 12 images", failures)
    check(sorted(merged) == sorted(expected), "the merged index has the reference's %d lines (time_ms aside)" % len(expected), failures)
    check(len(merged_ids) == len(set(merged_ids)), "every id once in the merged index", failures)
    maps = [rel for line in merged for rel in json.loads(line)["maps"].values()]
    check(len(maps) == 24 and all(os.path.isfile(os.path.join(out, m)) for m in maps), "the 24 map files are in the merged folder", failures)
    check(os.path.exists(marker + ".taken") and not os.path.exists(marker), "the first attempt of shard %d took the crash marker" % crash, failures)
    for s in range(SHARDS):
        with open(os.path.join(out, "shards", str(s), "attempts.log")) as f:
            attempts = len(f.read().splitlines())
        check(attempts == (2 if s == crash else 1), "shard %d ran %d time(s)" % (s, attempts), failures)
        _, shard_ids = lines_without_timing(os.path.join(out, "shards", str(s), "index.jsonl"))
        check(sorted(shard_ids) == by_shard[s], "shard %d has the %d ids FNV-1a(id) mod %d gives it, each once" % (s, len(by_shard[s]), SHARDS), failures)
    print("%d passed, %d failed" % (5 + 2 * SHARDS - len(failures), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
