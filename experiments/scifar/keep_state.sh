#!/usr/bin/env bash
# Copy a running sCIFAR run's resumable state into the repository (experiments/scifar/state/NAME/work), so that
# a session on a new machine can continue it: the run directory lives outside git and went with its machine once
# (run1.md). resume.sh seeds a missing run directory from this copy. Run it, then commit the copy.
#
# The state is the training workdir: the best and the latest epoch checkpoint, the newest mid-epoch checkpoint
# if it is newer than the latest epoch's, metrics.jsonl, train_config.json and the TensorBoard files (3-10 MB),
# and the per-epoch copies of the last 5 planned epochs. The run is paused while its workdir is copied, so no
# checkpoint in the copy is half-written.
set -euo pipefail

NAME=${1:-run6}                                  # as for resume.sh
RUN=${RUN:-/work/runs/scifar-265k-$NAME}
DEST=${DEST:-$(dirname "$0")/state/$NAME}
[[ -d $RUN/work ]] || { echo "no run directory at $RUN/work" >&2; exit 2; }

pid=$(cat "$RUN/train.pid" 2>/dev/null || true)
running=false
if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then running=true; fi
resume() { $running && kill -CONT "$pid" 2>/dev/null || true; }
trap resume EXIT
# orbax writes a checkpoint into a temporary folder and renames it when complete: wait until none is open
for _ in $(seq 120); do
    $running && kill -STOP "$pid"
    compgen -G "$RUN/work/*/*tmp*" > /dev/null || break
    resume
    sleep 1
done
if compgen -G "$RUN/work/*/*tmp*" > /dev/null; then
    echo "a checkpoint stayed half-written for 2 minutes; nothing copied" >&2
    exit 1
fi
rm -rf "$DEST.partial"
mkdir -p "$DEST.partial"
cp -a "$RUN/work" "$DEST.partial/work"
resume
# a mid-epoch checkpoint older than the last epoch's is never resumed from: leave its ~3 MB out of git
newest() { ls "$1" 2>/dev/null | grep -E '^[0-9]+$' | sort -n | tail -n 1; }
epoch_step=$(newest "$DEST.partial/work/checkpoints") progress_step=$(newest "$DEST.partial/work/progress")
if [[ -n $epoch_step && -n $progress_step ]] && (( progress_step < epoch_step )); then
    rm -rf "$DEST.partial/work/progress/$progress_step"
fi
# the per-epoch copies resume.sh makes, for the weight average at the end: only those of the last 5 planned
# epochs (epoch e's checkpoint is numbered e x steps per epoch)
first=$(head -n 1 "$RUN/work/metrics.jsonl" 2>/dev/null || true)
if [[ -n $first && -d $RUN/epochs/checkpoints ]]; then
    from=$(python3 -c 'import json, sys
m, c = json.loads(sys.argv[1]), json.load(open(sys.argv[2]))
print((c["train_config"]["epochs"] - 4) * m["step"] // m["epoch"])' "$first" "$RUN/work/train_config.json")
    for d in "$RUN"/epochs/checkpoints/*; do
        if [[ $(basename "$d") =~ ^[0-9]+$ ]] && (( $(basename "$d") >= from )); then
            mkdir -p "$DEST.partial/epochs/checkpoints"
            cp -a "$d" "$DEST.partial/epochs/checkpoints/"
        fi
    done
fi
rm -rf "$DEST"
mv "$DEST.partial" "$DEST"
du -sh "$DEST"
