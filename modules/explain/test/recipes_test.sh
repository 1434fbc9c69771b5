#!/bin/sh
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# ctest's distributed.recipes: the Slurm and Kubernetes recipes of modules/explain/samples/distributed run
# here without a scheduler. The sbatch script runs as the plain bash script it is, once per array index with
# Slurm's variables set; array_task.sh runs once per index with the Indexed Job's JOB_COMPLETION_INDEX and the
# YAML's EXPLAIN_SHARDS; merge_index.py merges each set of shards. Each merged index must equal the
# reference index (explain_sample_files index). The YAML's command and shard count are checked by text.
#   recipes_test.sh <repo> <example_explain_batch> <explain_sample_files> <images folder> <reference index> <work>
set -eu
repo=$1 tool=$2 files=$3 images=$4 reference=$5 work=$6
if ! command -v python3 >/dev/null; then
    echo "skipped: no python3 for merge_index.py"
    exit 77
fi
d=$repo/modules/explain/samples/distributed
rm -rf "$work"
args="--input=$images --methods=gradcam,guided --batch=2"
for i in 0 1; do
    env -u JOB_COMPLETION_INDEX -u EXPLAIN_SHARDS SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=2 \
        EXPLAIN_RECIPES="$d" EXPLAIN_BATCH="$tool" EXPLAIN_OUT="$work/slurm" bash "$d/slurm_array.sbatch" $args
    env -u SLURM_ARRAY_TASK_ID -u SLURM_ARRAY_TASK_COUNT JOB_COMPLETION_INDEX=$i EXPLAIN_SHARDS=2 \
        EXPLAIN_BATCH="$tool" EXPLAIN_OUT="$work/k8s" "$d/array_task.sh" $args
done
python3 "$d/merge_index.py" --out "$work/slurm" "$work/slurm/shards/0" "$work/slurm/shards/1"
python3 "$d/merge_index.py" --out "$work/k8s" "$work/k8s/shards/0" "$work/k8s/shards/1"
"$files" index "$reference" "$work/slurm/index.jsonl"
"$files" index "$reference" "$work/k8s/index.jsonl"
# the Job runs array_task.sh, with EXPLAIN_SHARDS equal to its completions
yaml=$d/k8s_indexed_job.yaml
grep -q 'command: \["/opt/explain/distributed/array_task.sh"' "$yaml"
completions=$(sed -n 's/^ *completions: *\([0-9]*\).*/\1/p' "$yaml")
shards=$(grep -A1 'name: EXPLAIN_SHARDS' "$yaml" | sed -n 's/.*value: *"\([0-9]*\)".*/\1/p')
[ -n "$completions" ] && [ "$completions" = "$shards" ] || { echo "FAILED: completions $completions, EXPLAIN_SHARDS $shards"; exit 1; }
# the sbatch array has as many tasks as it is meant to (0-7: 8)
grep -q '^#SBATCH --array=0-7' "$d/slurm_array.sbatch"
# without an index, array_task.sh says what is missing
if env -u SLURM_ARRAY_TASK_ID -u JOB_COMPLETION_INDEX EXPLAIN_BATCH="$tool" EXPLAIN_OUT="$work/x" "$d/array_task.sh" 2>"$work/err"; then
    echo "FAILED: array_task.sh ran without a shard index"; exit 1
fi
grep -q "error: no shard index" "$work/err"
echo "the recipes' merged indexes equal the reference (Slurm array, Kubernetes Indexed Job)"
