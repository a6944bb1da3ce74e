"""PTQ accuracy of the split and the folded S4D neuron side by side, on a task's whole test set (JAX fixed mode).

    PYTHONPATH=. .venv/bin/python experiments/folded_neuron/ptq_compare.py smnist-s4d-67k \
        --part params --out experiments/folded_neuron/smnist_67k_params.json

Both variants quantize the same float parameters from the same calibration sequences (the first 256 training
sequences, as `s4d quantize` does); only the S4D neuron differs (docs/fixed_point.md §4.1).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from s4d_jax import data, quantize
from s4d.resolve import model_path
from s4d_jax.checkpoint import load_model
from s4d_jax.fixed import NEURONS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="zoo name or params directory")
    parser.add_argument("--part", default="params", help="zoo part holding the float params (params or qaft)")
    parser.add_argument("--calib", type=int, default=quantize.DEFAULT_CALIB)
    parser.add_argument("--begin", type=int, default=0, help="skip the first N test sequences (to shard a run)")
    parser.add_argument("--limit", type=int, default=None, help="at most N test sequences")
    parser.add_argument("--neurons", nargs="*", default=list(NEURONS), choices=NEURONS)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    path = model_path(args.model, args.part)
    config, params, meta = load_model(path)
    task = meta["task"]
    test = data.load(task, "test", permutation_seed=meta.get("permutation_seed"))
    end = len(test) if args.limit is None else min(args.begin + args.limit, len(test))
    x, labels = test.sequences[args.begin:end] / 255.0, test.labels[args.begin:end]
    n = len(labels)
    calib = quantize.calibration_sequences(task, args.calib, meta)
    result = {"model": args.model, "part": args.part, "task": task, "calib": args.calib, "test_begin": args.begin,
              "n_test": n,
              "float_test_accuracy": meta.get("test", {}).get("conv", {}).get("accuracy"), "neurons": {}}
    for neuron in args.neurons:
        began = time.time()
        q, _ = quantize.ptq(config, params, calib, neuron=neuron)
        accuracy = quantize.fixed_accuracy(q, x, labels)
        result["neurons"][neuron] = {
            "fixed_accuracy": accuracy, "errors": int(round((1 - accuracy) * n)),
            "shift_msg": [q.s4d_shifts(layer)[2] for layer in range(config.n_layers)],
            "exponents": {k: int(v) for k, v in sorted(q.exponents.items()) if k.startswith(("x", "y"))},
            "seconds": round(time.time() - began, 1)}
        print(json.dumps({neuron: result["neurons"][neuron]}), file=sys.stderr, flush=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
