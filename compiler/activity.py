"""Measured activity: the fraction of time steps in which each neuron port sends a graded spike.

Loihi sends a graded spike only for a non-zero value, so synaptic operations and messages scale with how often
values are non-zero (the paper chose ReLU for this). The rates come from running the fixed-point reference
(`fixed_point.step`, the spec's arithmetic, bit-exact with Lava) over calibration sequences and counting
non-zero messages per neuron, node and output port. Keys are (node, port) of the IR; the input's rate is the
fraction of non-zero input values. `node_rates` averages them over the neurons a compiled graph keeps (a pass
may drop silent S4D neurons, which must not dilute the rate of the others).
"""
from __future__ import annotations

import numpy as np

from compiler import fixed_point as fp
from compiler.ir import Graph, S4DStates

Rates = dict[tuple[str, str], float]
Activity = dict[tuple[str, str], np.ndarray]


def measure(net: fp.FixedNetwork, inputs: np.ndarray, progress=None) -> Activity:
    """Non-zero fraction of every neuron's message stream over all tokens of `inputs` [N, L, C], per (node,
    port) one value per neuron in the frontend's order (S4D modes h·P + p)."""
    inputs = np.asarray(inputs, np.int64)
    state = fp.zero_state(net, inputs.shape[0])
    nonzero: dict[tuple[str, str], np.ndarray] = {}

    def count(key, values) -> None:
        values = np.asarray(values).reshape(values.shape[0], -1)
        nonzero[key] = nonzero.get(key, 0) + np.count_nonzero(values, axis=0)

    for k in range(inputs.shape[1]):
        state, out = fp.step(net, state, inputs[:, k])
        count(("input", "out"), inputs[:, k])
        for layer in range(net.n_layers):
            shift_msg = net.s4d_shifts(layer)[2]
            for part in ("re", "im"):
                count((f"x.{layer}", part), fp.state_message(out[f"x_{part}.{layer}"], shift_msg, net.widths))
            count((f"y.{layer}", "out"), out[f"y.{layer}"])
        for layer in range(net.n_layers + 1):
            count((f"u.{layer}", "out"), out[f"u.{layer}"])
        if progress is not None:
            progress(1)
    tokens = inputs.shape[0] * inputs.shape[1]
    return {key: counts / tokens for key, counts in nonzero.items()}


def node_rates(activity: Activity | Rates | None, graph: Graph) -> Rates | None:
    """One rate per (node, port) of `graph`: the mean over the neurons it keeps. Values already given per node
    (floats) pass through."""
    if activity is None:
        return None
    names = {n.name: n for n in graph.nodes}
    rates = {}
    for (name, port), value in activity.items():
        value = np.asarray(value, float)
        node = names.get(name)
        if node is None:
            continue
        if value.ndim and isinstance(node, S4DStates) and node.kept is not None:
            value = value[node.kept.reshape(-1)]
        rates[name, port] = float(value.mean())  # a node left without neurons is not in the graph
    return rates


def rates_json(rates: Rates) -> dict[str, float]:
    """{"node" or "node:port": rate} with 3 significant figures, for the report."""
    return {(node if port == "out" else f"{node}:{port}"): float(f"{rate:.3g}") for (node, port), rate in rates.items()}
