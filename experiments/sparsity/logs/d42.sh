#!/usr/bin/env bash
# short prune-and-fine-tune at 42 % density of B and C, PTQ export, fixed-point test accuracy
set -euo pipefail
py=/work/main/.venv/bin/python
run=/work/sparse-runs/d42
mkdir -p $run
echo "start $(date -u +%FT%TZ)"
$py -m s4d_jax.cli train --task smnist --preset s4d-67k --init-from smnist-s4d-67k --epochs 1 --limit-train 4000 \
    --batch-size 50 --lr 0.002 --ssm-lr 0.0002 --weight-decay 0.01 --warmup 0.1 \
    --target-density 0.42 --prune-start 0 --prune-end 0.75 --prune-every 5 --prune-tensors b,c --workdir $run/train
echo "trained $(date -u +%FT%TZ)"
$py experiments/export_run.py $run/train --out $run/params --modes
echo "params $(date -u +%FT%TZ)"
$py -m s4d_jax.cli export $run/params --out $run/export --calib 256 --json
echo "exported $(date -u +%FT%TZ)"
$py -m s4d_jax.cli eval $run/export --mode fixed --split test --batch-size 500 --json
echo "done $(date -u +%FT%TZ)"
