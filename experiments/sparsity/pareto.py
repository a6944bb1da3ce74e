"""The sparsity study: fixed-point accuracy against what the compiler says a model costs on Loihi 2.

    # one-shot magnitude pruning of the dense zoo model (no fine-tuning), PTQ, exported directories
    python experiments/sparsity/pareto.py oneshot --densities 0.5 0.3 0.2 0.1 --tensors b,c --out runs/oneshot
    # fixed-point accuracy on the full MNIST test set and the compiled figures of each exported model
    python experiments/sparsity/pareto.py measure dense=smnist-s4d-67k oneshot-30=runs/oneshot/d30 ... \
        --out experiments/sparsity/results.json
    python experiments/sparsity/pareto.py plot experiments/sparsity/results.json --png experiments/sparsity/pareto.png

`measure` appends to (or replaces entries of) the results file, so points can be added as runs finish.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def oneshot(args) -> None:
    """Prune the source model once by magnitude and quantize it with the source's own activation exponents
    (an exported model's; PTQ calibration otherwise), so that only the pruning differs from the source."""
    from s4d.resolve import model_path
    from s4d_jax import checkpoint, export, prune, quantize

    path = model_path(args.model, part="export")
    config, params, meta = checkpoint.load_model(path)
    if export.is_exported(path):
        exps, how = quantize.activations_of(export.load_quantized(path)), f"activation exponents of {args.model}"
    else:
        exps, how = quantize.ptq(config, params, quantize.calibration_sequences(meta["task"], 256, meta))[1], "ptq"
    kinds = tuple(args.tensors.split(","))
    for density in args.densities:
        pruned = prune.prune_once(params, density, kinds)
        q = quantize.quantize(config, pruned, exps)
        out = Path(args.out) / f"d{round(density * 100):02d}"
        summary = {"method": how, "pruning": {"method": "one-shot magnitude", "density": density,
                                              "tensors": list(kinds), "from": args.model}}
        export.write_exported(out, q, pruned, task=meta["task"], meta=meta, quantization=summary)
        print(json.dumps({"density": density, "out": str(out), **prune.densities(pruned, kinds)}), flush=True)


def _measure_one(label: str, model: str, limit: int | None) -> dict:
    from compiler.exported import load_exported
    from compiler.frontend import from_exported
    from compiler.pipeline import compile_graph
    from s4d.resolve import model_path
    from s4d_jax import data, export, prune
    from s4d_jax.evaluate import evaluate

    path = model_path(model, part="export")
    q = export.load_quantized(path)
    config, params, meta = export.load_float(path)
    started = time.time()
    test = data.load(meta["task"], "test")
    fixed = evaluate(config, q, test, mode="fixed", batch_size=500, limit=limit) if limit != 0 else None
    compiled = compile_graph(from_exported(load_exported(path)), "pipelined", "cores")
    loads = [core.load for core in compiled.allocation.cores]
    stored = sum(int(np.count_nonzero(g.weights)) for g in compiled.graph.nodes if hasattr(g, "weights"))
    return {
        "label": label, "model": model,
        "weight_density": prune.densities(params, ("b", "c"))["all"],  # of B and C, the tensors pruned here
        "all_weight_density": prune.densities(params)["all"],  # of encoder, B, C, mixers and decoder
        "fixed_accuracy": fixed and fixed["accuracy"], "n_test": fixed and fixed["n"],
        "synaptic_memory_bytes": compiled.allocation.synaptic_memory_bytes,
        "stored_synapses": stored,
        "synaptic_ops_per_token": sum(load.synaptic_ops for load in loads),
        "neurocores": len(loads),
        "estimated_energy_uj_per_token": round(compiled.estimate.energy_uj_per_token, 6),
        "estimated_latency_us": round(compiled.estimate.latency_us, 3),
        "sparse_groups": len(compiled.passes["sparse_groups"]),
        # the fewest-cores mapping packs a smaller model onto busier cores; the latency objective spreads it
        "estimated_latency_us_latency_objective": round(
            compile_graph(from_exported(load_exported(path)), "pipelined", "latency").estimate.latency_us, 3),
        "seconds": round(time.time() - started, 1),
    }


def measure(args) -> None:
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else []
    for item in args.models:
        label, _, model = item.partition("=")
        record = _measure_one(label, model, args.limit)
        print(json.dumps(record), flush=True)
        results = [r for r in results if r["label"] != label] + [record]
        out.write_text(json.dumps(results, indent=1) + "\n")


def plot(args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = json.loads(Path(args.results).read_text())
    dense = next(r for r in results if r["label"] == "dense")
    panels = [("synaptic_memory_bytes", "synaptic memory (KiB)", 1 / 1024),
              ("synaptic_ops_per_token", "synaptic operations per token (thousands)", 1e-3),
              ("estimated_energy_uj_per_token", "estimated energy per token (µJ, assumed constants)", 1.0)]
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 4.4), sharey=True)
    for ax, (key, xlabel, scale) in zip(axes, panels):
        for family, marker in (("oneshot", "x"), ("finetuned", "o"), ("dense", "s")):
            points = sorted((r for r in results if r["label"].split("-")[0] == family
                             and r["fixed_accuracy"] is not None), key=lambda r: r[key])
            if not points:
                continue
            xs = [r[key] * scale for r in points]
            ys = [100 * r["fixed_accuracy"] for r in points]
            ax.plot(xs, ys, marker=marker, linestyle="-" if len(points) > 1 else "none",
                    label={"oneshot": "one-shot pruned + PTQ", "finetuned": "pruned + fine-tuned + QAFT",
                           "dense": "dense zoo model (QAFT)"}[family])
            for r, x, y in zip(points, xs, ys):
                ax.annotate(f"{100 * r['weight_density']:.0f} %", (x, y), textcoords="offset points",
                            xytext=(4, 4), fontsize=7)
        ax.axhline(100 * dense["fixed_accuracy"], color="grey", linewidth=0.6, linestyle=":")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fixed-point test accuracy (%), MNIST 10,000")
    axes[0].set_ylim(args.ymin, 100)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle("sMNIST s4d-67k on Loihi 2 (compiler's counts; labels: density of the pruned weights)")
    fig.tight_layout()
    fig.savefig(args.png, dpi=130)
    print(f"wrote {args.png}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("oneshot")
    p.add_argument("--model", default="smnist-s4d-67k")
    p.add_argument("--densities", type=float, nargs="+", required=True)
    p.add_argument("--tensors", default="b,c")
    p.add_argument("--out", required=True)
    p.set_defaults(run=oneshot)
    p = sub.add_parser("measure")
    p.add_argument("models", nargs="+", help="LABEL=MODEL (exported directory or zoo name)")
    p.add_argument("--out", required=True)
    p.add_argument("--limit", type=int, default=None, help="first N test sequences only (0: no accuracy)")
    p.set_defaults(run=measure)
    p = sub.add_parser("plot")
    p.add_argument("results")
    p.add_argument("--png", required=True)
    p.add_argument("--ymin", type=float, default=90.0)
    p.set_defaults(run=plot)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    sys.exit(main())
