"""A trained checkpoint, quantized, through Lava: bit for bit against the JAX fixed mode and the NumPy reference.

Quantizes a params directory or training workdir with PTQ (calibrated on the first `--calib` training
sequences), builds the integer network the compiler reads, compiles it, runs the first `--sequences` test
sequences through the Lava network in each mode, and compares every token's readout with
`s4d_jax.fixed.run(per_token=True)` (JAX) and `compiler.fixed_point.run` (NumPy). Prints one JSON object.

    python experiments/lava_bit_exact.py --model runs/smnist-67k [--sequences 2] [--calib 20]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from compiler import fixed_point as fp
from compiler.emit import simulate
from compiler.frontend import from_network
from compiler.pipeline import compile_graph, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--sequences", type=int, default=2)
    parser.add_argument("--calib", type=int, default=20)
    parser.add_argument("--modes", default="pipelined,fall-through")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    from s4d_jax import data, fixed
    from s4d_jax.checkpoint import load_model
    from s4d_jax.quantize import ptq

    config, params, meta = load_model(args.model)
    task = meta.get("task", "smnist") if isinstance(meta, dict) else "smnist"
    seed = meta.get("permutation_seed") if isinstance(meta, dict) else None
    train = data.load(task, "train", data_dir=args.data_dir, permutation_seed=seed)
    test = data.load(task, "test", data_dir=args.data_dir, permutation_seed=seed)
    q, _ = ptq(config, params, train.sequences[:args.calib].astype(np.float32) * fixed.INPUT_SCALE)
    net = fp.FixedNetwork(config.n_layers, config.pooling, dict(q.tensors), dict(q.exponents),
                          fp.Widths(**q.widths.to_dict()))
    x = test.sequences[:args.sequences].astype(np.int64)
    labels = test.labels[:args.sequences]
    start = time.perf_counter()
    jax_logits = np.asarray(fixed.run(q, x, per_token=True), np.int64)
    jax_seconds = time.perf_counter() - start
    start = time.perf_counter()
    numpy_logits = fp.run(net, x)
    numpy_seconds = time.perf_counter() - start
    report = {"model": args.model, "task": task, "sequences": int(len(x)), "tokens": int(x.shape[1]),
              "jax_equals_numpy": bool(np.array_equal(jax_logits, numpy_logits)),
              "jax_seconds": round(jax_seconds, 2), "numpy_seconds": round(numpy_seconds, 2),
              "labels": labels.tolist(), "fixed_predictions": numpy_logits[:, -1].argmax(-1).tolist(), "modes": {}}
    for mode in args.modes.split(","):
        compiled = compile_graph(from_network(net), mode)
        run = simulate(compiled.graph, compiled.schedule, x)
        report["modes"][mode] = {
            "neurocores": summary(compiled)["neurocores"], "steps": run.steps, "seconds": round(run.seconds, 1),
            "steps_per_second": round(run.steps_per_second, 1),
            "bit_exact_vs_numpy": bool(np.array_equal(run.logits, numpy_logits)),
            "bit_exact_vs_jax": bool(np.array_equal(run.logits, jax_logits)),
            "lava_predictions": run.logits[:, -1].argmax(-1).tolist()}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
