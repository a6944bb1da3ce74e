#!/usr/bin/env bash
# The steps after the sCIFAR run has finished its epochs, each one skipped when its output exists, so the
# script can be run again after an interruption. Niced like the run. Writes the figures the zoo row needs into
# experiments/scifar/results/NAME/ (quantize.json, compile.json) and prints the `s4d zoo pack` command with them.
#
#   experiments/scifar/finish.sh [run6]     # or run2-run5; METHOD=ptq and SOURCE=DIR as below
#
#   1. the best checkpoint (or SOURCE, a params directory) as a params directory, with its float test accuracy
#      (10,000 images, conv mode)
#   2. PTQ then QAFT to the Loihi fixed point, as for the sMNIST model (100 steps of 16): both evaluated on the
#      whole test set in the JAX fixed mode (about 20 min each here) and on the first 1,000 validation images;
#      QAFT checkpoints every 5 minutes and its workdir keeps the float and PTQ test figures, so a rerun goes on
#      where the last one stopped. METHOD=ptq stops after PTQ (about 25 min instead of about 2 h here) and
#      exports the PTQ model: for a session too short for QAFT, or a model whose PTQ already meets its goal
#      (for a QAFT pass after it, move results/NAME/quantize.json and compile.json aside first)
#   3. the Loihi 2 mapping and a Lava simulation of the first 2 test images of the export, bit for bit
set -euo pipefail

NAME=${1:-run6}                                 # run2 to run6, as for resume.sh
RUN=${RUN:-/work/runs/scifar-265k-$NAME}         # the run directory of resume.sh
OUT=${OUT:-$RUN/pack}                           # params/, export/ (outside git)
SOURCE=${SOURCE:-$RUN/work}                     # the run's best checkpoint, or a params directory that won on
                                                # validation (experiments/average_checkpoints.py --out)
METHOD=${METHOD:-qaft}                          # qaft, or ptq (no fine-tuning)
REPO=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$REPO/experiments/scifar/results/$NAME     # quantize.json, compile.json (committed)
PY=${PY:-$REPO/.venv/bin/python}
S4D=${S4D:-$REPO/.venv/bin/s4d}

if [[ -f $RUN/train.pid ]] && kill -0 "$(cat "$RUN/train.pid")" 2>/dev/null; then
    echo "the run is still training (PID $(cat "$RUN/train.pid")); finish it first" >&2
    exit 2
fi
last=$(tail -n 1 "$RUN/work/metrics.jsonl" | "$PY" -c "import json, sys; print(json.load(sys.stdin)['epoch'])")
planned=$("$PY" -c "import json; print(json.load(open('$RUN/work/train_config.json'))['train_config']['epochs'])")
if [[ $last != "$planned" ]]; then
    echo "the run has finished $last of $planned epochs; resume it with experiments/scifar/resume.sh $NAME" >&2
    exit 2
fi
# a run that trained on its validation images has no held-out figure to pick a checkpoint by: its model is the
# mean of its last 3 epochs, a rule fixed before it ran (average_checkpoints.py $RUN/epochs --last 3 --out DIR)
if [[ $SOURCE == "$RUN/work" ]] && "$PY" -c "import json, sys; c = json.load(open('$RUN/work/train_config.json'))
sys.exit(not c['train_config'].get('train_on_validation'))"; then
    echo "$NAME trained on its validation images: pass SOURCE=, the mean of its last 3 epochs" >&2
    exit 2
fi
mkdir -p "$OUT" "$HERE"
cd "$REPO"
step() {  # step FILE COMMAND...: run COMMAND (its stdout into FILE) unless FILE exists; FILE appears only whole
    local file=$1; shift
    [[ -e $file ]] && return
    nice -n 19 "$@" > "$file.new"
    mv "$file.new" "$file"
}
if [[ ! -d $OUT/params ]]; then
    nice -n 19 "$PY" experiments/export_run.py "$SOURCE" --out "$OUT/params" --modes conv
fi
[[ -e $HERE/quantize.json ]] || rm -rf "$OUT/export" "$OUT/qaft"  # this script's own output of an interrupted run
qaft=()  # QAFT's own settings (s4d quantize refuses a METHOD other than ptq and qaft)
[[ $METHOD == qaft ]] && qaft=(--epochs 1 --train-limit 1600 --val-limit 1000 --batch-size 16 --learning-rate 1e-4
                               --qaft-workdir "$OUT/qaft-work" --checkpoint-every-min 5 --save-params "$OUT/qaft")
step "$HERE/quantize.json" "$S4D" quantize "$OUT/params" --method "$METHOD" --calib 256 "${qaft[@]}" \
    --out "$OUT/export" --json
step "$HERE/compile.json" "$S4D" compile "$OUT/export" --simulate 2 --json

"$PY" - "$OUT" "$HERE" "$RUN" <<'EOF'
import json, sys
from pathlib import Path

out, here, run = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
q = json.loads((here / "quantize.json").read_text())
sim = json.loads((here / "compile.json").read_text())
float_acc, ptq, fixed = (100 * q[k] for k in ("float_accuracy", "ptq_fixed_accuracy", "fixed_accuracy"))
figures = f"--accuracy float={float_acc:.2f} --accuracy ptq={ptq:.2f}"
if q["method"] == "qaft":
    val_ptq, val_qaft = q["ptq_fixed_validation_accuracy"], q["qaft"]["history"][-1]["fixed_accuracy"]
    print(f"test (n = {q['n_test']}): float {float_acc:.2f} %, PTQ {ptq:.2f} %, QAFT {fixed:.2f} % in fixed point "
          f"(paper 86.5 / 71.7 / 84.13); fixed validation (first {q['qaft']['validation_sequences']}): "
          f"PTQ {100 * val_ptq:.2f} %, QAFT {100 * val_qaft:.2f} %")
    figures += f" --accuracy qaft={fixed:.2f}"
else:
    print(f"test (n = {q['n_test']}): float {float_acc:.2f} %, PTQ {ptq:.2f} % in fixed point (paper 86.5 / 71.7, "
          f"QAFT 84.13); no QAFT")
print(f"Lava: bit-exact {sim['bit_exact']}, {100 * sim['lava_accuracy']:.0f} % of {sim['simulated_sequences']}; "
      f"{sim['neurocores']} neurocores")
if q["method"] == "qaft" and val_qaft < val_ptq:
    print("QAFT lost to PTQ on validation: the export is QAFT's; export PTQ instead (s4d quantize --method ptq)")
# the command that started the run, as train_config.json recorded it, with the workdir as a relative path
command = json.loads(Path(run, "work", "train_config.json").read_text())["command"].replace(
    f"{run}/work", f"runs/{Path(run).name}")
print("then, with the training time filled in (and --below-goal 'why' if the fixed figure is under 84.13):")
print(f"s4d zoo pack scifar-s4d-265k --from {out} {figures} --accuracy fixed={fixed:.2f} "
      f"--accuracy lava={100 * sim['lava_accuracy']:.0f} "
      f"--lava-sequences {sim['simulated_sequences']} --training-command '{command}' --training-time '...'")
EOF
