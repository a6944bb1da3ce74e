#!/usr/bin/env bash
# continue fine-tuning the 42 %-density model with its mask fixed, then QAFT (s4d quantize --method qaft)
set -euo pipefail
py=/work/main/.venv/bin/python
run=/work/sparse-runs/d42ft
mkdir -p $run
echo "start $(date -u +%FT%TZ)"
$py -m s4d.cli train --task smnist --preset s4d-67k --init-from /work/sparse-runs/d42/params --epochs 2 \
    --limit-train 12000 --batch-size 50 --lr 0.002 --ssm-lr 0.0002 --weight-decay 0.01 --warmup 0.1 \
    --target-density 0.42 --prune-start 0 --prune-end 0 --prune-tensors b,c --workdir $run/train
echo "trained $(date -u +%FT%TZ)"
$py experiments/export_run.py $run/train --out $run/params --modes
$py -m s4d.cli quantize $run/params --method qaft --calib 256 --epochs 1 --train-limit 1600 --val-limit 1000 \
    --batch-size 16 --learning-rate 1e-4 --out $run/export --save-params $run/qaft --json > $run/qaft.json
echo "done $(date -u +%FT%TZ)"
cat $run/qaft.json
