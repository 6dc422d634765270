#!/usr/bin/env bash
# The GPU checks and benchmarks in one call of a lent GPU machine (PyTorch, pytest, TensorBoard,
# tqdm and matplotlib are already there; it has no network). Before the call, on this machine:
#   mkdir -p .data/fashion-mnist && cp /usr/share/datasets/fashion-mnist/*.gz .data/fashion-mnist/
#   grep -qx '/.data/' .git/info/exclude || echo /.data/ >> .git/info/exclude
# then run `bash scripts/gpu_session.sh` there with .data carried. Results land in $OUT (or
# /tmp/gpu-session): the marked GPU tests' log, and each suite's JSON and PNG.
set -uo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1 LAYERWISE_DATA=.data
OUT=${OUT:-/tmp/gpu-session}
mkdir -p "$OUT"
python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"
python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_rbm_graphs.py \
    tests/test_train_graphs.py 2>&1 | tee "$OUT/gpu-tests.txt"
python3 -m layerwise bench rbm --device cuda --out "$OUT" 2>&1 | tail -20
python3 -m layerwise bench lab7 --device cuda --out "$OUT" 2>&1 | tail -8
