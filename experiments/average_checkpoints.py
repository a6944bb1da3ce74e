"""Average the weights of the last epoch checkpoints of a training run, and measure the average against each
of them on the validation split; write the average as a params directory.

    .venv/bin/python experiments/average_checkpoints.py /work/runs/scifar-265k-run2/epochs --last 2 3 4 5
    .venv/bin/python experiments/average_checkpoints.py /work/runs/scifar-265k-run2/epochs --last 3 \
        --out /work/runs/scifar-265k-run2/average

Several K measure the mean of each of the last K checkpoints in one run, each checkpoint evaluated once.

Late in a cosine schedule consecutive epochs end in one basin of the loss, and the mean of their weights can be
a better point than any of them (stochastic weight averaging, Izmailov et al. 2018): θ̄ = (1/K) Σ_k θ_k over
every parameter, the state-space ones (log Δ, A, B) included. Whether it is better for a given run is measured
here on the validation split only; the test split is left for the model that wins.

--include adds params directories to every average, such as the model a warm restart started from: where no
loss barrier separates the two runs, the mean across them is a candidate too, measured like the others.

WORKDIR is a training workdir or a folder with the same layout (checkpoints/STEP/...), such as the copies
experiments/scifar/resume.sh keeps of every finished epoch. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from s4d_jax import checkpoint, data
from s4d_jax.evaluate import evaluate


def average(trees: list) -> object:
    """The leaf-wise mean of parameter trees of one architecture, in each leaf's own dtype."""
    import jax

    return jax.tree.map(lambda *leaves: np.mean(np.stack(leaves), axis=0).astype(leaves[0].dtype), *trees)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--last", type=int, nargs="+", default=[3], metavar="K",
                        help="average the last K epoch checkpoints; several K: measure each such average")
    parser.add_argument("--include", type=Path, nargs="+", default=[], metavar="PARAMS_DIR",
                        help="params directories of the same architecture to add to every average")
    parser.add_argument("--out", type=Path, help="write the average (one K) as a params directory (must be new)")
    parser.add_argument("--limit", type=int, default=None, help="validate on the first N examples only")
    args = parser.parse_args()
    widths = sorted(set(args.last))
    if widths[0] < 2:
        parser.error(f"--last must be at least 2, got {widths[0]}")
    if args.out is not None and len(widths) > 1:
        parser.error(f"--out writes one average; give one --last K, not {' '.join(map(str, widths))}")
    if not (args.workdir / checkpoint.CHECKPOINTS).is_dir():
        parser.error(f"{args.workdir} holds no checkpoints/ folder (want a training workdir or its epoch copies)")
    if args.out is not None and args.out.exists():
        parser.error(f"--out {args.out} already exists; choose a new path")

    manager = checkpoint.checkpoint_manager(args.workdir, read_only=True)
    steps = sorted(manager.all_steps())[-widths[-1]:]
    if len(steps) < widths[-1]:
        parser.error(f"{args.workdir} holds {len(steps)} checkpoint(s), fewer than --last {widths[-1]}")
    models = [checkpoint.load_workdir(args.workdir, step) for step in steps]
    config, _, meta = models[-1]
    extra = []
    for path in args.include:
        try:
            other_config, params, _ = checkpoint.load_params_dir(path)
        except ValueError as err:
            parser.error(str(err))
        if other_config != config:
            parser.error(f"{path} is not the architecture of {args.workdir}'s checkpoints")
        extra.append(params)
    also = f" and {len(extra)} included" if extra else ""
    validation = data.load(meta["task"], "validation", permutation_seed=meta.get("permutation_seed"))
    candidates = {f"step {step}": params for step, (_, params, _) in zip(steps, models)}
    for k in widths:
        candidates[f"mean of last {k}{also}"] = average([params for _, params, _ in models[-k:]] + extra)
    result = {"workdir": str(args.workdir), "steps": steps, "included": [str(p) for p in args.include],
              "validation": {}}
    for name, params in candidates.items():
        t0 = time.time()
        scores = evaluate(config, params, validation, mode="conv", limit=args.limit, progress=True)
        result["validation"][name] = {"accuracy": scores["accuracy"], "loss": scores["loss"], "n": scores["n"],
                                      "seconds": round(time.time() - t0, 1)}
        print(f"{name}: validation accuracy {scores['accuracy']:.4f}, loss {scores['loss']:.4f}", file=sys.stderr)
    if args.out is not None:
        name = f"mean of last {widths[0]}{also}"
        meta = {**meta, "averaged_steps": steps, "included": result["included"],
                "validation": result["validation"][name]}
        result["out"] = str(checkpoint.save_params(args.out, config, candidates[name], meta))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
