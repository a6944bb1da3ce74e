"""The one calibrated constant, fitted on the paper's s4d-67k mapping only, and the prediction it makes.

The paper (Meyer et al., arXiv 2409.15022) maps s4d-67k (H = 64, N = 64) to 31 neurocores and s4d-265k
(H = 128, N = 128) to 111, on one chip. No public source gives a per-core limit for programmable neurons; what
explains a spread of ~270-300 S4D neurons per core, far below the 8,192-neuron and 192 KB capacities, is time:
a core updates its microcode neurons one after another, so the paper spread them to keep every core's step
work under a budget. `fit_budget` finds the smallest budget (neuron ops per core per step, the work of
`resources.CoreLoad.work`) at which the 67k model packs into 31 neurocores; `paper_comparison` then maps the
265k model with that budget, a number compared with the paper's 111, never fitted to it: the budget alone asks
for 124 neurocores (+11.7 %), more than the 120 Lava places on a chip, so the latency objective spreads the
model over one chip's 120 (+8.1 %) instead of paying for chip links.
"""
from __future__ import annotations

import dataclasses
from functools import lru_cache

from compiler import resources as rs
from compiler.allocate import allocate
from compiler.frontend import from_network
from compiler.ir import Graph
from compiler.passes import run_all
from compiler.synthetic import random_network

PAPER_CORES = {"s4d-67k": ((64, 64), 31), "s4d-265k": ((128, 128), 111)}  # (H, N) → neurocores, arXiv 2409.15022


@lru_cache(maxsize=8)
def paper_graph(d_model: int, d_state: int, n_layers: int = 4) -> Graph:
    """The paper's network shape (sMNIST: 1 input channel, 10 classes) with random weights: the mapping
    depends on shapes and stored synapses only."""
    graph, _ = run_all(from_network(random_network(1, d_model, d_state, n_layers, 10, "mean")))
    return graph


def cores_at_budget(graph: Graph, budget: int) -> int:
    """Neurocores the budget alone asks for (chips unbounded, so nothing is spread back onto fewer chips)."""
    limits = dataclasses.replace(rs.LOIHI2, budget_neuron_ops=budget, cores_per_chip=1 << 30)
    return len(allocate(graph, "latency", limits=limits).cores)


def fit_budget(target: int = PAPER_CORES["s4d-67k"][1]) -> int:
    """Smallest integer budget at which the s4d-67k shape needs at most `target` neurocores (bisection)."""
    graph = paper_graph(*PAPER_CORES["s4d-67k"][0])
    lo, hi = 1, 1 << 20
    while lo < hi:
        mid = (lo + hi) // 2
        if cores_at_budget(graph, mid) <= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


@lru_cache(maxsize=1)
def paper_comparison() -> list[dict]:
    """Both paper models under the stored budget (latency objective) next to the paper's counts: 67k is the
    calibration (fitted), 265k the prediction."""
    rows = []
    for model, ((h, n), paper) in PAPER_CORES.items():
        graph = paper_graph(h, n)
        alloc = allocate(graph, "latency")
        ours = len(alloc.cores)
        rows.append({"model": model, "d_model": h, "d_state": n, "paper_neurocores": paper, "neurocores": ours,
                     "chips": alloc.chips, "neurocores_at_budget": cores_at_budget(graph, rs.LOIHI2.budget_neuron_ops),
                     "how": "calibration" if model == "s4d-67k" else "prediction",
                     "error_percent": round(100 * (ours - paper) / paper, 1)})
    return rows
