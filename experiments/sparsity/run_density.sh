#!/usr/bin/env bash
# One point of the sparsity study: prune-and-fine-tune the dense zoo model, export the final-density
# checkpoint, quantize (QAFT by default; QUANT=ptq for post-training quantization only), and measure float
# and fixed-point accuracy on the full MNIST test set.
#   [QUANT=ptq] experiments/sparsity/run_density.sh NAME DENSITY EPOCHS PRUNE_END TENSORS OUTDIR [extra s4d train args]
set -euo pipefail
name=$1 density=$2 epochs=$3 prune_end=$4 tensors=$5 outdir=$6
shift 6
py=${PYTHON:-python}
quant=${QUANT:-qaft}
run=$outdir/$name
mkdir -p "$run"
echo "start $(date -u +%FT%TZ) density=$density epochs=$epochs prune_end=$prune_end tensors=$tensors quant=$quant $*"
$py -m s4d.cli train --task smnist --preset s4d-67k --init-from smnist-s4d-67k --epochs "$epochs" \
    --batch-size 50 --lr 0.002 --ssm-lr 0.0002 --weight-decay 0.01 --warmup 0.1 \
    --target-density "$density" --prune-start 0 --prune-end "$prune_end" --prune-tensors "$tensors" \
    --workdir "$run/train" "$@"
echo "trained $(date -u +%FT%TZ)"
$py experiments/export_run.py "$run/train" --out "$run/params" --modes conv
if [[ $quant == qaft ]]; then
    $py -m s4d.cli quantize "$run/params" --method qaft --calib 256 --epochs 1 --train-limit 1600 \
        --val-limit 1000 --batch-size 16 --learning-rate 1e-4 --out "$run/export" --save-params "$run/qaft" \
        --json > "$run/quantize.json"
else
    $py -m s4d.cli quantize "$run/params" --method ptq --calib 256 --out "$run/export" --json > "$run/quantize.json"
fi
echo "done $(date -u +%FT%TZ)"
cat "$run/quantize.json"
