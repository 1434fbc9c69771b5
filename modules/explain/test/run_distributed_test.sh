#!/bin/sh
# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# ctest's distributed.dask: makes the Dask venv (tools/setup_dask_venv.sh) and runs distributed_test.py in it.
# Exit code 77 (ctest: skipped) when EXPLAIN_NO_PYTHON=1 or when the venv cannot be made (PyPI out of reach).
#   run_distributed_test.sh <repo> <venv> <example_explain_batch> <images folder> <work folder>
set -u
repo=$1 venv=$2 tool=$3 images=$4 work=$5
if [ "${EXPLAIN_NO_PYTHON:-0}" = 1 ]; then
    echo "skipped: EXPLAIN_NO_PYTHON=1"
    exit 77
fi
if ! py=$("$repo/tools/setup_dask_venv.sh" "$venv" | tail -1) || [ ! -x "$py" ]; then
    echo "skipped: the Dask venv could not be made in $venv (is PyPI reachable?)"
    exit 77
fi
exec "$py" "$repo/modules/explain/test/distributed_test.py" --tool "$tool" --images "$images" --work "$work"
