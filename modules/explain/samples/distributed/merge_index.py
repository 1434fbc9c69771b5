#!/usr/bin/env python3
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
"""Merges the output folders of example_explain_batch shards into one folder, as one run would have left it.

    python3 merge_index.py --out results results/shards/*

Each shard folder (the tool's --out for one --shard=i/n) holds index.jsonl, errors.jsonl and maps/. The
merge links (or, across file systems, copies) every map file an index line names into the same relative
path under --out, then writes --out/index.jsonl (the lines of all shards, sorted by id) and
--out/errors.jsonl, each to a temporary file renamed when complete: a merge that stops half-way leaves no
half-written index, and running it again finishes it. Only complete lines count (a shard that crashed
mid-write is resumed by rerunning the tool, not by the merge). An id found in two shards is an error: the
shards overlap (runs with different n written to the same folders?).

Standard library only (no Dask needed): the Slurm and Kubernetes recipes run it as their last step.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile


def read_lines(path):
    """The complete lines of a JSON-lines file (none if it does not exist), each with its parsed object."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")[:-1]  # the text after the last newline is not a complete line
    return [(line, json.loads(line)) for line in lines if line.strip()]


def place(src, dst):
    """dst becomes a copy of src (a hard link when possible), replaced in one rename."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    tmp = os.path.join(os.path.dirname(dst), ".tmp-merge-%d-%s" % (os.getpid(), os.path.basename(dst)))
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def write_atomically(path, lines):
    fd, tmp = tempfile.mkstemp(prefix=".tmp-merge-", dir=os.path.dirname(path) or ".")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)
    os.replace(tmp, path)


def merge(shard_dirs, out):
    """Merges `shard_dirs` into `out`; returns (images, errors). Raises ValueError on overlapping shards."""
    os.makedirs(out, exist_ok=True)
    index, errors, where = {}, [], {}
    for d in shard_dirs:
        for line, obj in read_lines(os.path.join(d, "index.jsonl")):
            key = obj["id"]
            if key in index:
                raise ValueError("'%s' is in %s and in %s: the shards overlap" % (key, where[key], d))
            index[key], where[key] = line, d
            for rel in obj.get("maps", {}).values():
                place(os.path.join(d, rel), os.path.join(out, rel))
        errors += [line for line, _ in read_lines(os.path.join(d, "errors.jsonl"))]
    write_atomically(os.path.join(out, "index.jsonl"), [index[k] for k in sorted(index)])
    write_atomically(os.path.join(out, "errors.jsonl"), sorted(errors))
    return len(index), len(errors)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="the merged folder (created)")
    ap.add_argument("shards", nargs="+", help="the shards' output folders")
    args = ap.parse_args()
    try:
        images, errors = merge(args.shards, args.out)
    except (ValueError, OSError, KeyError, json.JSONDecodeError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    print("merged %d shards: %d images, %d errors; index: %s" % (len(args.shards), images, errors,
                                                                 os.path.join(args.out, "index.jsonl")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
