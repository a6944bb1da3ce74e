"""Export the best checkpoint of a training run as a params directory (with test accuracies) plus its metrics log.

    .venv/bin/python experiments/export_run.py runs/smnist-67k --out experiments/smnist_67k/params \
        --modes conv scan recurrent

The source may also be a params directory (an average of checkpoints, say), which gets its test accuracies
the same way. The params directory replaces OUT only once it is complete; a run's metrics.jsonl is copied
beside it.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from s4d_jax import checkpoint, data
from s4d_jax.evaluate import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path, help="training workdir (its best checkpoint) or params directory")
    parser.add_argument("--modes", nargs="*", default=["conv"], help="modes to measure test accuracy in")
    parser.add_argument("--out", type=Path, required=True, help="params directory to write or replace")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N test examples")
    args = parser.parse_args()

    config, params, meta = checkpoint.load_model(args.workdir)
    test = data.load(meta["task"], "test", permutation_seed=meta.get("permutation_seed"))
    meta["test"] = {}
    for mode in args.modes:
        t0 = time.time()
        result = evaluate(config, params, test, mode=mode, batch_size=100, limit=args.limit, progress=True)
        meta["test"][mode] = {**result, "seconds": round(time.time() - t0, 1)}
        print(json.dumps({"mode": mode, **meta["test"][mode]}), file=sys.stderr, flush=True)
    new = checkpoint.save_params(args.out.with_name(args.out.name + ".new"), config, params, meta)
    if args.out.exists():
        shutil.rmtree(args.out)
    new.rename(args.out)
    if (args.workdir / checkpoint.METRICS).is_file():
        shutil.copyfile(args.workdir / checkpoint.METRICS, args.out.parent / "metrics.jsonl")
    validation = meta["validation"]["accuracy"] if "validation" in meta else meta["metrics"]["val_accuracy"]
    print(json.dumps({"epoch": meta["metrics"]["epoch"], "averaged_steps": meta.get("averaged_steps"),
                      "val_accuracy": validation,
                      "test": {m: r["accuracy"] for m, r in meta["test"].items()}, "out": str(args.out)}))


if __name__ == "__main__":
    main()
