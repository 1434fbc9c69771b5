#!/bin/sh
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# One task of an array job over example_explain_batch's --shard: shard i of n into $EXPLAIN_OUT/shards/<i>.
#   Slurm job array (--array=0-<n-1>):  i = SLURM_ARRAY_TASK_ID, n = SLURM_ARRAY_TASK_COUNT
#   Kubernetes Indexed Job:             i = JOB_COMPLETION_INDEX, n = EXPLAIN_SHARDS (the Job's completions)
# EXPLAIN_SHARDS, when set, is n in both. Needs EXPLAIN_BATCH (the tool) and EXPLAIN_OUT (the results
# folder, shared by the tasks); the arguments go to the tool (--input=... and the model's flags).
# A task that is run again (a requeue, a retried index) resumes from its shard's index.
set -eu
i=${SLURM_ARRAY_TASK_ID:-${JOB_COMPLETION_INDEX:-}}
n=${EXPLAIN_SHARDS:-${SLURM_ARRAY_TASK_COUNT:-}}
if [ -z "$i" ] || [ -z "$n" ]; then
    echo "error: no shard index: set SLURM_ARRAY_TASK_ID (Slurm) or JOB_COMPLETION_INDEX (Kubernetes), and EXPLAIN_SHARDS" >&2
    exit 1
fi
: "${EXPLAIN_BATCH:?set EXPLAIN_BATCH to the path of example_explain_batch}"
: "${EXPLAIN_OUT:?set EXPLAIN_OUT to the results folder}"
exec "$EXPLAIN_BATCH" --shard="$i/$n" --out="$EXPLAIN_OUT/shards/$i" "$@"
