#!/usr/bin/env bash
# Plan B for the sCIFAR model, if the weight average of the 24-epoch run falls short of the goal on validation:
# continue from that average with a new warm-up and cosine schedule, dropout 0.1 (the train-validation gap
# reached 8 points without it) and a lower peak rate, for 12 epochs (about 6.5 h alone on this machine).
# Driven by resume.sh: niced, checkpointed every 5 minutes, resumed exactly, each epoch copied aside for a
# weight average of its own; call it again after each interruption. Writes nothing until INIT exists.
#
#   python experiments/average_checkpoints.py /work/runs/scifar-265k/epochs --last K \
#       --out /work/runs/scifar-265k/average          # K: the best average on validation
#   bash experiments/scifar/continue.sh
set -euo pipefail

INIT=${INIT:-/work/runs/scifar-265k/average}   # the params directory to continue from
if [[ ! -f $INIT/config.json ]]; then
    echo "no params directory at $INIT; write the weight average there first (see the comment above)" >&2
    exit 2
fi
export RUN=${RUN:-/work/runs/scifar-265k-cont}
export CODE_COMMIT=${CODE_COMMIT:-b5c97e2}     # the code the continuation runs on, frozen like the first run's
export TRAIN_ARGS="--task scifar --preset s4d-265k --init-from $INIT --epochs 12 --batch-size 50 --lr 0.005
    --ssm-lr 0.0005 --weight-decay 0.05 --warmup 0.5 --dropout 0.1 --checkpoint-every-min 5"
exec bash "$(dirname "$0")/resume.sh"
