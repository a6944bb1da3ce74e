#!/usr/bin/env bash
# The steps after the sCIFAR run has finished its 24 epochs, each one skipped when its output exists, so the
# script can be run again after an interruption. Niced like the run. Writes the figures the zoo row needs into
# experiments/scifar/ (ptq.json, compile.json) and prints the `s4d zoo pack` command to run with them.
#
#   1. the best checkpoint (or SOURCE, a params directory) as a params directory, with its float test accuracy
#      (10,000 images, conv mode)
#   2. PTQ to the Loihi fixed point, evaluated on the whole test set in the JAX fixed mode (about 45 min here)
#   3. the Loihi 2 mapping and a Lava simulation of 2 shipped test images, checked bit for bit
#
# QAFT is not run here: it is worth its 1-3 h only if PTQ loses accuracy (README, "The path after training").
set -euo pipefail

RUN=${RUN:-/work/runs/scifar-265k}             # the run directory of resume.sh
OUT=${OUT:-$RUN/pack}                           # params/, export/ (outside git)
SOURCE=${SOURCE:-$RUN/work}                     # the run's best checkpoint, or a params directory that won on
                                                # validation (experiments/average_checkpoints.py --out)
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PY=${PY:-$REPO/.venv/bin/python}
S4D=${S4D:-$REPO/.venv/bin/s4d}

if [[ -f $RUN/train.pid ]] && kill -0 "$(cat "$RUN/train.pid")" 2>/dev/null; then
    echo "the run is still training (PID $(cat "$RUN/train.pid")); finish it first" >&2
    exit 2
fi
last=$(tail -n 1 "$RUN/work/metrics.jsonl" | "$PY" -c "import json, sys; print(json.load(sys.stdin)['epoch'])")
planned=$("$PY" -c "import json; print(json.load(open('$RUN/work/train_config.json'))['train_config']['epochs'])")
if [[ $last != "$planned" ]]; then
    echo "the run has finished $last of $planned epochs; resume it with experiments/scifar/resume.sh" >&2
    exit 2
fi
mkdir -p "$OUT"
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
[[ -e $HERE/ptq.json ]] || rm -rf "$OUT/export"  # this script's own output of an interrupted PTQ
step "$HERE/ptq.json" "$S4D" quantize "$OUT/params" --method ptq --calib 256 --out "$OUT/export" --json
step "$HERE/compile.json" "$S4D" compile "$OUT/export" --simulate 2 --json

"$PY" - "$OUT" "$HERE" "$RUN" <<'EOF'
import json, sys
from pathlib import Path

out, here, run = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
meta = json.loads((out / "params" / "meta.json").read_text())
ptq = json.loads((here / "ptq.json").read_text())
sim = json.loads((here / "compile.json").read_text())
float_acc = 100 * meta["test"]["conv"]["accuracy"]
fixed = 100 * ptq["fixed_accuracy"]
print(f"float {float_acc:.2f} %, PTQ fixed point {fixed:.2f} % (n = {ptq['n_test']}); Lava: bit-exact "
      f"{sim['bit_exact']}, {100 * sim['lava_accuracy']:.0f} % of {sim['simulated_sequences']}; "
      f"{sim['neurocores']} neurocores")
# the command that started the run, as train_config.json recorded it, with the workdir as a relative path
command = json.loads(Path(run, "work", "train_config.json").read_text())["command"].replace(f"{run}/work",
                                                                                             "runs/scifar-265k")
print("then, with the training time filled in (and --below-goal 'why' if the fixed figure is under 84.13):")
print(f"s4d zoo pack scifar-s4d-265k --from {out} --accuracy float={float_acc:.2f} --accuracy ptq={fixed:.2f} "
      f"--accuracy fixed={fixed:.2f} --accuracy lava={100 * sim['lava_accuracy']:.0f} "
      f"--lava-sequences {sim['simulated_sequences']} --training-command '{command}' --training-time '...'")
EOF
