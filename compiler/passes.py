"""Graph passes run before allocation: width checks, exact fusions, silent neurons, sparsity.

Each pass takes a Graph and returns a new one (nodes are frozen); `run_all` applies them in order and
returns what each did, for the report.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from compiler import fixed_point as fp
from compiler import resources as rs
from compiler.ir import Graded, Graph, Input, Readout, S4DStates, SynapseGroup, max_message


class WidthError(ValueError):
    """A value does not fit the width it is declared with, or the hardware's limit for it."""


def _signed_range(bits: int, symmetric: bool = False) -> tuple[int, int]:
    """Weights use the full two's-complement range; saturated values the symmetric one of the spec."""
    high = fp.signed_max(bits)
    return (-high if symmetric else -high - 1), high


def _check_range(where: str, values: np.ndarray, bits: int, what: str, symmetric: bool = False) -> None:
    low, high = _signed_range(bits, symmetric)
    if values.size and (values.min() < low or values.max() > high):
        raise WidthError(f"{where}: {what} span [{values.min()}, {values.max()}], outside the {bits}-bit signed "
                         f"range [{low}, {high}]")


def check_widths(graph: Graph) -> Graph:
    """Refuse the graph if any value can leave its declared width or a width exceeds the hardware's."""
    for node in graph.nodes:
        where = f"node {node.name!r}"
        if isinstance(node, SynapseGroup):
            if node.weight_bits > rs.MAX_WEIGHT_BITS:
                raise WidthError(f"{where}: {node.weight_bits}-bit weights, Loihi 2 stores at most "
                                 f"{rs.MAX_WEIGHT_BITS}")
            _check_range(where, node.weights, node.weight_bits, "weights")
            if not 0 <= node.delay <= rs.MAX_DELAY_STEPS:
                raise WidthError(f"{where}: delay {node.delay} outside [0, {rs.MAX_DELAY_STEPS}] time steps")
            source, _ = graph.source_of(node.name)
            bound = accumulator_bound(node, max_message(source))
            limit = (1 << (rs.ACCUMULATOR_BITS - 1)) - 1
            if bound > limit:
                raise WidthError(f"{where}: the accumulation can reach {bound:,}, {bound - limit:,} beyond the "
                                 f"{rs.ACCUMULATOR_BITS}-bit dendritic accumulator (inputs up to "
                                 f"{max_message(source):,} from {source.name!r})")
            continue
        width = getattr(node, "width", None)
        if isinstance(node, (Input, Graded, S4DStates)) and width > rs.MAX_MESSAGE_BITS:
            raise WidthError(f"{where}: {width}-bit messages, graded spikes carry at most {rs.MAX_MESSAGE_BITS}")
        if isinstance(node, S4DStates):
            if node.state_bits > rs.MAX_STATE_BITS:
                raise WidthError(f"{where}: {node.state_bits}-bit state, a neuron variable has at most "
                                 f"{rs.MAX_STATE_BITS}")
            for attr in node.coefficients:
                _check_range(where, getattr(node, attr), node.coef_bits, f"coefficients {attr}", True)
            if min(node.shift_a, node.shift_b, node.shift_msg) < 0:
                raise WidthError(f"{where}: negative shift (a {node.shift_a}, b {node.shift_b}, "
                                 f"message {node.shift_msg})")
        if isinstance(node, (Graded, Readout)) and node.bias is not None:
            _check_range(where, node.bias, rs.MAX_STATE_BITS, "biases", True)
        if isinstance(node, Readout) and node.width > rs.MAX_STATE_BITS:
            raise WidthError(f"{where}: {node.width}-bit accumulator, a neuron variable has at most "
                             f"{rs.MAX_STATE_BITS}")
    return graph


def accumulator_bound(group: SynapseGroup, in_max: int) -> int:
    """Largest |Σ_j 2·m_ij·s_j| (shifted) the group can produce for inputs |s| ≤ in_max (the spec's bound)."""
    return fp.accumulator_bound(fp.DenseGroup(group.name, group.weights, group.exponent, in_max))


def fuse_parallel_groups(graph: Graph) -> tuple[Graph, list[str]]:
    """Merge synapse groups with the same source port, target port, delay and a non-negative exponent.

    Such groups run in the same step on the same core, and without a right shift no rounding happens, so
    floor(A·s·2^e) + floor(B·s·2^e) = (A + B)·s·2^e exactly; the merge is done only if A + B still fits
    the weight width. (With a right shift each group floors separately, and merging would change results.)
    """
    merged: list[str] = []
    groups = [n for n in graph.nodes if isinstance(n, SynapseGroup)]
    key_of = {}
    for g in groups:
        (src_edge,), (dst_edge,) = graph.inputs_of(g.name), graph.outputs_of(g.name)
        key_of[g.name] = (src_edge.src, src_edge.src_port, dst_edge.dst, dst_edge.port, g.delay, g.exponent,
                          g.weights.shape, g.weight_bits)
    nodes, drop = list(graph.nodes), set()
    for i, a in enumerate(groups):
        if a.name in drop or a.exponent < 0:
            continue
        for b in groups[i + 1:]:
            if b.name in drop or key_of[b.name] != key_of[a.name]:
                continue
            total = a.weights + b.weights
            low, high = _signed_range(a.weight_bits)
            if total.min(initial=0) < low or total.max(initial=0) > high:
                continue
            fused = replace(a, weights=total, name=a.name)
            nodes[nodes.index(a)] = fused
            a = fused
            drop.add(b.name)
            merged.append(f"{b.name} into {a.name}")
    if not drop:
        return graph, merged
    edges = [e for e in graph.edges if e.src not in drop and e.dst not in drop]
    return graph.replace_nodes([n for n in nodes if n.name not in drop], edges), merged


def silent_neurons(graph: Graph, node: S4DStates) -> np.ndarray:
    """Which of the node's neurons (in chip order) cannot change any output: [size] bool.

    A mode with b̄ = 0 never leaves its zero initial state (x ← a·0 + 0·u = 0), so it only ever sends zeros;
    a folded mode with c = 0 sends floor(0) = 0; a mode whose column is zero in every synapse group reading it
    is never heard. Graded spikes are sent only for non-zero values, and nothing else reads these neurons.
    """
    silent = ~fp.live_modes(node.neuron_values("b_re"), node.neuron_values("b_im"))
    if node.variant == "folded":
        silent |= (node.neuron_values("c_re") == 0) & (node.neuron_values("c_im") == 0)
    heard = np.zeros(node.size, bool)
    for edge in graph.outputs_of(node.name):
        heard |= (graph.node(edge.dst).weights != 0).any(axis=0)
    return silent | ~heard


def drop_silent_modes(graph: Graph) -> tuple[Graph, dict[str, int]]:
    """Remove the S4D neurons that cannot change any output (`silent_neurons`), with their synapse rows and
    columns. Exact: the remaining network computes the same messages. Pruning b̄ or C to zero (s4d_jax.prune)
    thus frees neurons, neuron updates and cores, not only synaptic memory. Returns the graph and the number
    of neurons dropped per node."""
    nodes = {n.name: n for n in graph.nodes}
    dropped: dict[str, int] = {}
    for node in graph.of_type(S4DStates):
        live = ~silent_neurons(graph, node)
        if live.all():
            continue
        dropped[node.name] = int((~live).sum())
        kept = np.ones((node.channels, node.modes), bool) if node.kept is None else node.kept.copy()
        kept[kept] = live
        nodes[node.name] = replace(node, kept=kept)
        for edge in graph.inputs_of(node.name):
            group = nodes[edge.src]
            nodes[edge.src] = replace(group, weights=group.weights[live, :])
        for edge in graph.outputs_of(node.name):
            group = nodes[edge.dst]
            nodes[edge.dst] = replace(group, weights=group.weights[:, live])
    if not dropped:
        return graph, dropped
    # a node left without neurons goes, with the groups into and out of it
    gone = {name for name in dropped if nodes[name].size == 0}
    gone |= {e.src for e in graph.edges if e.dst in gone} | {e.dst for e in graph.edges if e.src in gone}
    edges = [e for e in graph.edges if e.src not in gone and e.dst not in gone]
    return graph.replace_nodes([nodes[n.name] for n in graph.nodes if n.name not in gone], edges), dropped


def drop_zero_synapses(graph: Graph) -> tuple[Graph, dict]:
    """Remove all-zero synapse groups and store a group sparse when that needs less synaptic memory.

    Zero weights contribute nothing to any sum, so this is exact. Returns the new graph and a summary.
    """
    nodes, removed, sparse, zero_synapses = [], [], [], 0
    for node in graph.nodes:
        if isinstance(node, SynapseGroup):
            nonzero = node.nonzero
            zero_synapses += node.weights.size - nonzero
            if nonzero == 0:
                removed.append(node.name)
                continue
            dense_bytes = node.weights.size * rs.DENSE_SYNAPSE_BYTES
            is_sparse = nonzero * rs.SPARSE_SYNAPSE_BYTES < dense_bytes
            if is_sparse:
                sparse.append(node.name)
            node = replace(node, sparse=is_sparse)
        nodes.append(node)
    edges = [e for e in graph.edges if e.src not in removed and e.dst not in removed]
    summary = {"removed_groups": removed, "sparse_groups": sparse, "zero_synapses_dropped": zero_synapses}
    return graph.replace_nodes(nodes, edges), summary


def run_all(graph: Graph) -> tuple[Graph, dict]:
    """Check widths, fuse, drop silent S4D neurons, then sparsify; returns the final graph and what the passes
    did."""
    graph = check_widths(graph)
    graph, fused = fuse_parallel_groups(graph)
    graph, silent = drop_silent_modes(graph)
    graph, sparsity = drop_zero_synapses(graph)
    graph.hops()  # every node's inputs must still arrive in one step
    return graph, {"fused": fused, "silent_neurons_dropped": silent, **sparsity}

