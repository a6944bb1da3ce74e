"""Compile time and mapping of the paper's model sizes, printed as one JSON object.

For s4d-67k and s4d-265k (random weights of the preset shapes: the mapping depends on shapes and
sparsity only), compiles with both objectives and both modes, reporting neurocores, chips, latency and the
estimates, and the best-of-`--repeats` compile time (frontend to allocation, no simulation). With
`--lava-tokens N` it also streams N tokens of one random sequence through the Lava network of s4d-67k in
both modes and reports whether every token matched the NumPy reference and the simulation speed.

    python experiments/compile_benchmark.py [--repeats 3] [--lava-tokens 0]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from compiler import fixed_point as fp
from compiler.calibration import paper_comparison
from compiler.frontend import from_network
from compiler.pipeline import compile_graph, summary
from compiler.synthetic import random_inputs, random_network
from s4d_jax.config import PRESETS


def _best_compile(graph, mode: str, objective: str, repeats: int):
    best, compiled = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        compiled = compile_graph(graph, mode, objective)
        best = min(best, time.perf_counter() - start)
    return compiled, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lava-tokens", type=int, default=0)
    args = parser.parse_args()
    report: dict = {"presets": {}}
    for name, cfg in PRESETS.items():
        net = random_network(cfg.d_input, cfg.d_model, cfg.d_state, cfg.n_layers, cfg.n_classes, cfg.pooling)
        start = time.perf_counter()
        graph = from_network(net)
        frontend = time.perf_counter() - start
        rows = {}
        for objective in ("latency", "cores"):
            for mode in ("pipelined", "fall-through"):
                compiled, seconds = _best_compile(graph, mode, objective, args.repeats)
                s = summary(compiled)
                rows[f"{objective}/{mode}"] = {k: s[k] for k in (
                    "neurocores", "chips", "latency_steps", "tokens_per_step", "synaptic_memory_bytes",
                    "messages_per_token", "estimated_step_ns_range", "estimated_latency_us_per_token_range",
                    "estimated_tokens_per_s_range", "estimated_energy_uj_per_token_range")}
                rows[f"{objective}/{mode}"]["compile_seconds"] = round(frontend + seconds, 4)
        report["presets"][name] = rows
    report["paper_comparison"] = paper_comparison()
    if args.lava_tokens:
        from compiler.emit import simulate

        cfg = PRESETS["s4d-67k"]
        net = random_network(cfg.d_input, cfg.d_model, cfg.d_state, cfg.n_layers, cfg.n_classes, cfg.pooling)
        x = random_inputs(net, 1, args.lava_tokens, seed=1)
        reference = fp.run(net, x)
        lava = {}
        for mode in ("pipelined", "fall-through"):
            compiled = compile_graph(from_network(net), mode)
            run = simulate(compiled.graph, compiled.schedule, x)
            lava[mode] = {"tokens": args.lava_tokens, "steps": run.steps, "seconds": round(run.seconds, 2),
                          "steps_per_second": round(run.steps_per_second, 1),
                          "bit_exact": bool(np.array_equal(run.logits, reference))}
        report["lava_s4d-67k"] = lava
    print(json.dumps(report))


if __name__ == "__main__":
    main()
