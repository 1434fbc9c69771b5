#!/usr/bin/env python3
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
"""Explains a dataset on a Dask cluster: one task per shard, each running the C++ batch tool.

    python explain_dask.py --tool build/samples/example_explain_batch --shards 8 --out results \\
        [--workers 2 | --scheduler tcp://HOST:8786] [--retries 2] -- --input=images/ --methods=gradcam --batch=16

Task i runs `example_explain_batch --shard=i/n --out=<out>/shards/<i> <the arguments after -->` as a
subprocess (the module has no Python bindings yet, and a subprocess keeps a crash of one shard away from
the worker). A task whose tool exits with anything but 0 (done) or 2 (done, no image of the shard could
be explained) raises, and Dask runs it again (--retries): the tool resumes from the shard's index, so nothing
is lost and nothing is done twice. When every task is done the shards are merged (merge_index.py) into
<out>/index.jsonl and <out>/maps/, as one process would have written them.

Without --scheduler, a LocalCluster of --workers processes (one thread each: the tool parallelises
itself) on this machine; with it, any running Dask cluster whose workers see the same files (the tool, the
images, <out>). See doc/batch.md.
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from merge_index import merge  # noqa: E402

# Exit codes of example_explain_batch that mean the shard ran to its end (2: no image of it could be explained;
# running it again would not help).
DONE = (0, 2)


def take_fail_once(index):
    """Test hook: EXPLAIN_DASK_FAIL_ONCE names a file holding a shard index. The first attempt of that shard
    takes the file (a rename: one winner) and is made to crash after one image (--stop-after=1)."""
    marker = os.environ.get("EXPLAIN_DASK_FAIL_ONCE")
    if not marker or not os.path.exists(marker):
        return False
    with open(marker) as f:
        if f.read().strip() != str(index):
            return False
    try:
        os.rename(marker, marker + ".taken")
        return True
    except OSError:
        return False


def run_shard(tool, index, count, out, tool_args):
    """One Dask task: the batch tool on shard index/count into <out>/shards/<index>. Returns the tool's
    summary line; raises (so that Dask retries) when the tool did not finish."""
    shard_dir = os.path.join(out, "shards", str(index))
    os.makedirs(shard_dir, exist_ok=True)
    args = [tool, "--shard=%d/%d" % (index, count), "--out=" + shard_dir] + list(tool_args)
    if take_fail_once(index):
        args.append("--stop-after=1")
    with open(os.path.join(shard_dir, "attempts.log"), "a") as log:
        log.write("attempt in process %d\n" % os.getpid())
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode not in DONE:
        raise RuntimeError("shard %d/%d: %s exited with %d\n%s" % (index, count, tool, p.returncode, p.stderr[-2000:]))
    lines = p.stdout.strip().splitlines()
    return "shard %d/%d: %s" % (index, count, lines[-1] if lines else "(no output)")


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="Arguments after -- go to example_explain_batch (--input is required there).")
    ap.add_argument("--tool", required=True, help="path of example_explain_batch")
    ap.add_argument("--shards", type=int, required=True, help="number of shards (tasks), >= 1")
    ap.add_argument("--out", required=True, help="results folder: shards/<i>/ per task, then the merged index.jsonl and maps/")
    ap.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster (default 2)")
    ap.add_argument("--scheduler", help="address of a running Dask scheduler instead of a local cluster")
    ap.add_argument("--retries", type=int, default=2, help="times a failed task is run again (default 2)")
    if "--" in argv:
        cut = argv.index("--")
        own, tool_args = argv[:cut], argv[cut + 1:]
    else:
        own, tool_args = argv, []
    args = ap.parse_args(own)
    if args.shards < 1 or args.workers < 1 or args.retries < 0:
        ap.error("--shards and --workers must be >= 1, --retries >= 0")
    if not os.access(args.tool, os.X_OK):
        ap.error("--tool %s is not an executable file" % args.tool)
    if any(a.startswith(("--shard=", "--out=")) for a in tool_args):
        ap.error("--shard and --out of the tool are set per task; give --shards and --out to this script")
    return args, tool_args


def main(argv):
    args, tool_args = parse_args(argv)
    from dask.distributed import Client, LocalCluster

    tool, out = os.path.abspath(args.tool), os.path.abspath(args.out)
    if args.scheduler:
        client = Client(args.scheduler)
    else:
        # processes, not threads: each task is a subprocess anyway, and a worker that dies is replaced
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
        client = Client(cluster)
    with client:
        futures = [client.submit(run_shard, tool, i, args.shards, out, tool_args, retries=args.retries, pure=False,
                                 key="explain-shard-%d-of-%d" % (i, args.shards))
                   for i in range(args.shards)]
        for line in client.gather(futures):  # raises when a task failed more than --retries times
            print(line)
    shard_dirs = [os.path.join(out, "shards", str(i)) for i in range(args.shards)]
    images, errors = merge(shard_dirs, out)
    print("merged %d shards: %d images, %d errors; index: %s" % (args.shards, images, errors, os.path.join(out, "index.jsonl")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
