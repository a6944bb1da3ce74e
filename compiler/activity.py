"""Measured activity: the fraction of time steps in which each neuron port sends a graded spike.

Loihi sends a graded spike only for a non-zero value, so synaptic operations and messages scale with how often
values are non-zero (the paper chose ReLU for this). The rates come from running the fixed-point reference
(`fixed_point.step`, the spec's arithmetic, bit-exact with Lava) over calibration sequences and counting
non-zero messages per node and output port. Keys are (node, port) of the IR; the input's rate is the fraction
of non-zero input values.
"""
from __future__ import annotations

import numpy as np

from compiler import fixed_point as fp

Rates = dict[tuple[str, str], float]


def measure(net: fp.FixedNetwork, inputs: np.ndarray, progress=None) -> Rates:
    """Non-zero fraction of every message stream over all tokens of `inputs` [N, L, C]."""
    inputs = np.asarray(inputs, np.int64)
    state = fp.zero_state(net, inputs.shape[0])
    nonzero: dict[tuple[str, str], int] = {}
    total: dict[tuple[str, str], int] = {}

    def count(key, values) -> None:
        nonzero[key] = nonzero.get(key, 0) + int(np.count_nonzero(values))
        total[key] = total.get(key, 0) + int(np.size(values))

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
    return {key: nonzero[key] / total[key] for key in total}


def rates_json(rates: Rates) -> dict[str, float]:
    """{"node" or "node:port": rate} with 3 significant figures, for the report."""
    return {(node if port == "out" else f"{node}:{port}"): float(f"{rate:.3g}") for (node, port), rate in rates.items()}
