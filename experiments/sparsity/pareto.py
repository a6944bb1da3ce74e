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


def _measure_one(label: str, model: str, limit: int | None, previous: dict | None) -> dict:
    """Fixed-point accuracy (unless `limit` is 0: then the previous record's is kept) and what `s4d compile
    MODEL --json` reports for it (default mode and objective)."""
    from compiler.exported import load_exported
    from compiler.frontend import from_exported
    from compiler.pipeline import compile_graph, summary
    from s4d.resolve import model_path
    from s4d_jax import data, export, prune
    from s4d_jax.evaluate import evaluate

    path = model_path(model, part="export")
    config, params, meta = export.load_float(path)
    started = time.time()
    accuracy = {k: (previous or {}).get(k) for k in ("fixed_accuracy", "n_test")}
    if limit != 0:
        test = data.load(meta["task"], "test", permutation_seed=meta.get("permutation_seed"))
        result = evaluate(config, export.load_quantized(path), test, mode="fixed", batch_size=500, limit=limit)
        accuracy = {"fixed_accuracy": result["accuracy"], "n_test": result["n"]}
    compiled = compile_graph(from_exported(load_exported(path)))
    report = summary(compiled)
    keep = ("neurocores", "chips", "synaptic_memory_bytes", "synaptic_ops_per_token", "neuron_ops_per_token",
            "estimated_latency_us_per_token_range", "estimated_energy_uj_per_token_range")
    return {
        "label": label, "model": model,
        "weight_density": prune.densities(params, ("b", "c"))["all"],  # of B and C, the tensors pruned here
        "all_weight_density": prune.densities(params)["all"],  # of encoder, B, C, mixers and decoder
        **accuracy,
        "stored_synapses": sum(g.nonzero for g in compiled.graph.nodes if hasattr(g, "nonzero")),
        **{k: report[k] for k in keep},
        "sparse_groups": len(report["passes"]["sparse_groups"]),
        "seconds": round(time.time() - started, 1),
    }


def measure(args) -> None:
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else []
    for item in args.models:
        label, _, model = item.partition("=")
        previous = next((r for r in results if r["label"] == label), None)
        record = _measure_one(label, model, args.limit, previous)
        print(json.dumps(record), flush=True)
        results = [r for r in results if r["label"] != label] + [record]
        out.write_text(json.dumps(results, indent=1) + "\n")


def plot(args) -> None:
    """Left: the compiler's costs against the B/C density, relative to dense. Right: fixed-point accuracy
    against synaptic memory for the models whose accuracy was measured (how many test sequences: legend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = json.loads(Path(args.results).read_text())
    dense = next(r for r in results if r["label"] == "dense")
    costs = sorted((r for r in results if r["label"] == "dense" or r["label"].startswith("oneshot")),
                   key=lambda r: r["weight_density"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    xs = [100 * r["weight_density"] for r in costs]
    for key, name in (("synaptic_memory_bytes", "synaptic memory"), ("synaptic_ops_per_token", "synaptic ops / token"),
                      ("neuron_ops_per_token", "neuron updates / token"), ("neurocores", "neurocores")):
        left.plot(xs, [r[key] / dense[key] for r in costs], marker="o", label=name)
    energy = "estimated_energy_uj_per_token_range"
    low, high = ([r[energy][i] / dense[energy][i] for r in costs] for i in (0, 1))
    left.fill_between(xs, low, high, alpha=0.3, color="grey", label="energy / token (estimate, low–high)")
    left.axhline(0.5, color="grey", linewidth=0.6, linestyle=":")
    left.set_xlabel("density of B and C (%)")
    left.set_ylabel("relative to the dense model")
    left.set_ylim(0, 1.05)
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    left.set_title("cost on Loihi 2 (compiler's counts)", fontsize=10)
    measured = [r for r in results if r["fixed_accuracy"] is not None]
    for r in measured:
        right.plot(r["synaptic_memory_bytes"] / 1024, 100 * r["fixed_accuracy"], marker="s" if r is dense else "o",
                   linestyle="none", label=f"{r['label']} ({100 * r['weight_density']:.0f} %, n={r['n_test']})")
    right.axhline(99.2, color="grey", linewidth=0.6, linestyle=":")
    right.set_xlabel("synaptic memory (KiB)")
    right.set_ylabel("fixed-point test accuracy (%)")
    right.set_xlim(0, 1.1 * dense["synaptic_memory_bytes"] / 1024)
    right.set_ylim(args.ymin, 100)
    right.grid(alpha=0.3)
    right.legend(fontsize=8, loc="lower right")
    right.set_title("accuracy (MNIST test, JAX fixed mode = Lava)", fontsize=10)
    fig.suptitle("sMNIST s4d-67k: sparsity of B and C", fontsize=11)
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
