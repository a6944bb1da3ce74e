#!/usr/bin/env bash
# Start or continue an sCIFAR s4d-265k run in the background, niced, from its latest checkpoint (a mid-epoch
# one if it is newer than the last epoch's): the run replays exactly what an uninterrupted run would do.
# Safe to call twice: it does nothing while the run is alive. Settings must stay as they are (a resume with
# other settings is refused); only --checkpoint-every-min may change. On a machine without the run directory it
# starts from the copy that keep_state.sh put into the repository (state/NAME).
#
#   experiments/scifar/resume.sh [run6]     # run2-run5 are done; their settings stay as the record of their commands
set -euo pipefail

NAME=${1:-run6}
HERE=$(cd "$(dirname "$0")" && pwd)
case $NAME in
run2)  # 40 epochs from a random init, 2026-11-26 to 27 (README, "Run 2")
    RUN=${RUN:-/work/runs/scifar-265k-run2}
    CODE_COMMIT=${CODE_COMMIT:-037ad86}
    ARGS=(--epochs 40 --lr 0.01 --ssm-lr 0.001) ;;
run3)  # a warm restart from run 2's model as the zoo shipped it (README, "Run 3")
    RUN=${RUN:-/work/runs/scifar-265k-run3}
    CODE_COMMIT=${CODE_COMMIT:-a8bfa9a}
    # where the starting params are unpacked: part of the run's settings, so a resume must name the same path
    INIT_DIR=${INIT_DIR:-/work/runs/scifar-265k-run3/init}
    INIT_COMMIT=a8bfa9a
    ARGS=(--epochs 30 --lr 0.005 --ssm-lr 0.0005 --seed 1 --init-from "$INIT_DIR/params") ;;
run4)  # a second warm restart, from run 3's model as the zoo shipped it (README, "Run 4")
    RUN=${RUN:-/work/runs/scifar-265k-run4}
    CODE_COMMIT=${CODE_COMMIT:-950b6d9}
    INIT_DIR=${INIT_DIR:-/work/runs/scifar-265k-run4/init}
    INIT_COMMIT=950b6d9
    ARGS=(--epochs 40 --lr 0.005 --ssm-lr 0.0005 --seed 2 --init-from "$INIT_DIR/params") ;;
run5)  # one cycle of 100 epochs from a random init, run 2's settings otherwise (README, "Run 5")
    RUN=${RUN:-/work/runs/scifar-265k-run5}
    CODE_COMMIT=${CODE_COMMIT:-950b6d9}        # the code of run 4 (s4d_jax has not changed since)
    ARGS=(--epochs 100 --lr 0.01 --ssm-lr 0.001 --seed 3) ;;
run6)  # a third warm restart from run 4's shipped model, on all 50,000 training images (README, "Run 6")
    RUN=${RUN:-/work/runs/scifar-265k-run6}
    CODE_COMMIT=${CODE_COMMIT:-40b6048}        # the first code with --train-on-validation
    INIT_DIR=${INIT_DIR:-/work/runs/scifar-265k-run6/init}
    INIT_COMMIT=40b6048
    ARGS=(--epochs 40 --lr 0.005 --ssm-lr 0.0005 --seed 4 --init-from "$INIT_DIR/params" --train-on-validation) ;;
*)
    echo "usage: resume.sh [run2|run3|run4|run5|run6]" >&2
    exit 2 ;;
esac
# frozen copy of the code the run continues with, so that editing the repository does not change it
CODE=${CODE:-/work/run-scifar-$CODE_COMMIT}
PY=${PY:-/work/main/.venv/bin/python}
PIDS=${PIDS:-/work/bg-pids.txt}                # background jobs others may pause briefly for benchmarks
ARGS+=(--task scifar --preset s4d-265k --batch-size 50 --weight-decay 0.05 --warmup 1 --dropout 0.1
       --checkpoint-every-min 5 --workdir "$RUN/work")

if [[ -f $RUN/train.pid ]]; then
    old=$(cat "$RUN/train.pid")
    if kill -0 "$old" 2>/dev/null && tr '\0' ' ' < "/proc/$old/cmdline" | grep -q -- "--workdir $RUN/work"; then
        echo "already running as PID $old; log: $RUN/train.log"
        exit 0
    fi
    [[ -f $PIDS ]] && sed -i "/^$old\$/d" "$PIDS"
fi
if [[ ! -d $CODE ]]; then
    git -C "$HERE" worktree add --detach "$CODE" "$CODE_COMMIT"
fi
mkdir -p "$RUN"
STATE=${STATE:-$HERE/state/$NAME}               # the copy keep_state.sh commits, for a new machine
if [[ -n ${INIT_COMMIT:-} && ! -d $INIT_DIR/params ]]; then
    # the previous run's params from the zoo archive as committed when it shipped (a later model under the same
    # name does not change where this run starts)
    mkdir -p "$INIT_DIR"
    git -C "$HERE" show "$INIT_COMMIT:zoo/models/scifar-s4d-265k/scifar-s4d-265k.zip" > "$INIT_DIR/start.zip"
    unzip -q -o "$INIT_DIR/start.zip" 'params/*' -d "$INIT_DIR"
    rm "$INIT_DIR/start.zip"
fi
if [[ ! -d $RUN/work && -d $STATE/work ]]; then
    cp -a "$STATE/work" "$RUN/work"
    [[ -d $STATE/epochs ]] && cp -a "$STATE/epochs" "$RUN/epochs"
    echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) run directory seeded from $STATE" >> "$RUN/train.log"
fi
echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) start/resume from $CODE ($(git -C "$CODE" rev-parse --short HEAD))" \
    >> "$RUN/train.log"
cd "$CODE"
PYTHONPATH=$CODE nice -n 19 nohup setsid \
    "$PY" -m s4d.cli train "${ARGS[@]}" --resume >> "$RUN/train.log" 2>&1 < /dev/null &
pid=$!
# setsid gives the run its own scheduler autogroup, where `nice` alone does not yield to other sessions;
# wait until setsid has made that group (the first line of /proc/PID/autogroup changes), then lower it
mine=$(cut -d' ' -f1 /proc/$$/autogroup 2>/dev/null || true)
for _ in $(seq 50); do
    [[ $(cut -d' ' -f1 "/proc/$pid/autogroup" 2>/dev/null) != "$mine" ]] && break
    sleep 0.1
done
{ echo 19 > "/proc/$pid/autogroup"; } 2>/dev/null || true
echo "$pid" > "$RUN/train.pid"
echo "$pid" >> "$PIDS"
echo "started PID $pid; log: $RUN/train.log"
# the workdir keeps only the best and the latest epoch checkpoint: while the run lives, copy each finished one
# to $RUN/epochs/checkpoints (a workdir layout that experiments/average_checkpoints.py reads) for a weight
# average after the last epoch (orbax renames a checkpoint into its numbered folder only once it is complete,
# so a numbered folder is always whole)
mkdir -p "$RUN/epochs/checkpoints"
# (one pass after the run has ended, for the last epoch's checkpoint)
nice -n 19 nohup setsid bash -c 'while :; do
    alive=0; kill -0 "$0" 2>/dev/null && alive=1
    for d in "$1"/work/checkpoints/*; do
        [[ $(basename "$d") =~ ^[0-9]+$ && ! -e $1/epochs/checkpoints/$(basename "$d") ]] &&
            cp -a "$d" "$1/epochs/checkpoints/"
    done
    (( alive )) || break
    sleep 60
done' "$pid" "$RUN" > /dev/null 2>&1 < /dev/null &
