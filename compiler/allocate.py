"""Placing neurons and their incoming synapses on Loihi 2 neurocores.

Synapses live on the core of their target neuron, so a node is cut into contiguous slices of neurons and
each slice carries the rows of every synapse group feeding it. Slices are packed in graph order (next fit,
which keeps consecutive layers on neighbouring cores):

- objective "cores": every core is filled as far as its memory and neuron limits allow (fewest cores);
- objective "latency": a binary search finds the smallest per-core busy time (compute bound or link time,
  `resources.CoreLoad.busy_ns`) whose packing still fits the chips the "cores" packing needs, so the
  busiest core is as lightly loaded as that hardware allows; it stops at the barrier time, below which a
  step cannot get meaningfully shorter, so small models do not occupy a whole chip for nothing.

A model that cannot be mapped raises MappingError naming the node, the resource and the shortfall.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compiler import resources as rs
from compiler.ir import Graded, Graph, Readout, S4DStates, SynapseGroup

PLACED = (Graded, S4DStates, Readout)
OBJECTIVES = ("cores", "latency")


class MappingError(ValueError):
    """The model does not fit the hardware; the message names node, resource and shortfall."""


@dataclass(frozen=True)
class Slice:
    """Neurons [start, stop) of `node` with their incoming synapses, and what they cost their core."""

    node: str
    start: int
    stop: int
    load: rs.CoreLoad | None = field(default=None, compare=False)

    @property
    def neurons(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Core:
    index: int
    chip: int
    slices: tuple[Slice, ...]
    load: rs.CoreLoad


@dataclass(frozen=True)
class Allocation:
    objective: str
    cores: tuple[Core, ...]
    chips: int
    inter_chip_bits: int

    @property
    def synaptic_memory_bytes(self) -> int:
        """Synaptic memory over all cores (the model's weights as stored, dense or sparse)."""
        return sum(c.load.synaptic_bytes for c in self.cores)

    def cores_of(self, node: str) -> list[int]:
        return [c.index for c in self.cores if any(s.node == node for s in c.slices)]

    def stage_loads(self, hops: dict[str, int], depth: int) -> list[list[rs.CoreLoad]]:
        """For each hop 1..depth, the load of every core that works in it (its slices of that hop's nodes)."""
        stages: list[list[rs.CoreLoad]] = [[] for _ in range(depth)]
        for core in self.cores:
            by_hop: dict[int, list[rs.CoreLoad]] = {}
            for s in core.slices:
                by_hop.setdefault(hops[s.node], []).append(s.load)
            for hop, loads in by_hop.items():
                merged = {k: sum(getattr(x, k) for x in loads) for k in _FIELDS}
                stages[hop - 1].append(_as_load(merged))
        return stages


_FIELDS = ("neurons", "state_bytes", "synaptic_bytes", "axon_bytes", "dendritic_ops", "synaptic_ops",
           "synmem_reads", "out_bits")
_ADDITIVE = ("neurons", "state_bytes", "synaptic_bytes", "out_axon_bytes", "dendritic_ops", "synaptic_ops",
             "synmem_reads", "out_bits")


class _NodeCosts:
    """Per-neuron costs of one node as prefix sums, so the load of any slice is O(groups · log n)."""

    def __init__(self, graph: Graph, node) -> None:
        self.name = node.name
        self.size = node.size
        n = node.size
        groups = graph.synapses_into(node.name)
        per: dict[str, np.ndarray] = {k: np.zeros(n, np.int64) for k in _ADDITIVE}
        per["neurons"][:] = 1
        per["state_bytes"][:] = rs.neuron_state_bytes(node)
        per["dendritic_ops"][:] = rs.dendritic_ops(node)
        self.axon_ranges = []  # per group: sorted first rows, sorted last rows of its columns
        for group in groups:
            nz = group.weights != 0
            row_nnz = nz.sum(axis=1)
            row_bytes = rs.synaptic_row_bytes(row_nnz, group.fan_in, group.sparse)
            per["synaptic_bytes"] += row_bytes
            per["synaptic_ops"] += row_nnz
            per["synmem_reads"] += -(-row_bytes // rs.SYNMEM_WORD_BYTES)
            used = nz.any(axis=0)
            first = np.argmax(nz, axis=0)[used]
            last = (n - 1 - np.argmax(nz[::-1], axis=0))[used]
            self.axon_ranges.append((np.sort(first), np.sort(last)))
        # one message per outgoing edge: a split S4D neuron's re and im leave on two edges, a folded one's on one
        outgoing = [e for e in graph.outputs_of(node.name) if isinstance(graph.node(e.dst), SynapseGroup)]
        per["out_axon_bytes"][:] = rs.OUTPUT_AXON_BYTES * len(outgoing)
        per["out_bits"][:] = sum(rs.message_bits(e.width) for e in outgoing)
        self.prefix = {k: np.concatenate([[0], np.cumsum(v)]) for k, v in per.items()}

    def load(self, start: int, stop: int) -> dict[str, int]:
        out = {k: int(p[stop] - p[start]) for k, p in self.prefix.items()}
        axons = 0
        for first, last in self.axon_ranges:
            # columns whose span of target rows meets [start, stop): exact for contiguous patterns
            # (dense, expansion, reduction), an upper bound otherwise
            axons += int(np.searchsorted(first, stop - 1, side="right") - np.searchsorted(last, start, side="left"))
        out["axon_bytes"] = axons * rs.INPUT_AXON_BYTES + out.pop("out_axon_bytes")
        return out


def _as_load(totals: dict[str, int]) -> rs.CoreLoad:
    return rs.CoreLoad(**{k: totals[k] for k in _FIELDS})


def _add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b[k] for k in b}


def _fits(load: rs.CoreLoad, time_cap_ns: float | None) -> bool:
    return load.fits() and (time_cap_ns is None or load.busy_ns() <= time_cap_ns)


class _OverBudget(Exception):
    pass


def _pack(costs: list[_NodeCosts], time_cap_ns: float | None,
          max_cores: int | None = None) -> list[tuple[list[Slice], rs.CoreLoad]]:
    """Next-fit packing; raises _OverBudget as soon as more than `max_cores` cores would be needed."""
    cores: list[tuple[list[Slice], rs.CoreLoad]] = []
    slices: list[Slice] = []
    totals: dict[str, int] = {k: 0 for k in _FIELDS}
    for cost in costs:
        start = 0
        while start < cost.size:
            lo, hi = 0, cost.size - start  # largest k with the slice [start, start+k) fitting
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if _fits(_as_load(_add(totals, cost.load(start, start + mid))), time_cap_ns):
                    lo = mid
                else:
                    hi = mid - 1
            if lo == 0:
                if not slices:
                    _refuse(cost, start, time_cap_ns)
                cores.append((slices, _as_load(totals)))
                if max_cores is not None and len(cores) >= max_cores:
                    raise _OverBudget
                slices, totals = [], {k: 0 for k in _FIELDS}
                continue
            piece = cost.load(start, start + lo)
            totals = _add(totals, piece)
            slices.append(Slice(cost.name, start, start + lo, _as_load(piece)))
            start += lo
    if slices:
        cores.append((slices, _as_load(totals)))
    return cores


def _refuse(cost: _NodeCosts, start: int, time_cap_ns: float | None) -> None:
    load = _as_load(cost.load(start, start + 1))
    broken = rs.shortfall(load)
    if broken is None:  # only the latency cap is exceeded; the caller raises the cap
        raise _CapTooLow
    resource, needed, limit = broken
    raise MappingError(f"node {cost.name!r} cannot be mapped: one neuron needs {needed:,} {resource}, "
                       f"{needed - limit:,} more than the {limit:,} a neurocore has")


class _CapTooLow(Exception):
    pass


def allocate(graph: Graph, objective: str = "cores", max_chips: int = rs.MAX_CHIPS) -> Allocation:
    """Map every neuron node of `graph` (with its incoming synapses) onto neurocores and chips."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {OBJECTIVES}")
    costs = [_NodeCosts(graph, node) for node in graph.nodes if isinstance(node, PLACED)]
    packed = _pack(costs, None)
    chips = -(-len(packed) // rs.CORES_PER_CHIP)
    if chips > max_chips:
        limit = max_chips * rs.CORES_PER_CHIP
        raise MappingError(f"model needs {len(packed)} neurocores, {len(packed) - limit} more than the {limit} "
                           f"of {max_chips} chip(s); the largest node is {max(costs, key=lambda c: c.size).name!r}")
    if objective == "latency":
        packed = _spread(costs, budget=chips * rs.CORES_PER_CHIP, fewest=packed)
    return _finish(graph, objective, packed)


def _spread(costs, budget: int, fewest) -> list:
    """Smallest per-core busy-time cap whose packing uses at most `budget` cores (binary search to 1 %)."""
    loads = [load for _, load in fewest]
    # every cap below total work / budget needs more than `budget` cores: no need to pack it
    totals = (sum(x.dendritic_ops for x in loads) * rs.T_DENDRITIC_NS,
              sum(x.synaptic_ops for x in loads) * rs.T_SYNAPTIC_NS,
              sum(x.synmem_reads for x in loads) * rs.T_SYNMEM_READ_NS,
              sum(x.out_bits for x in loads) / rs.LINK_BITS_PER_NS)
    lo = max(rs.BARRIER_NS, max(totals) / budget)
    hi = max(load.busy_ns() for load in loads)
    best = fewest
    cap = lo
    while hi - lo > 0.01 * hi:
        try:
            packed = _pack(costs, cap, max_cores=budget)
        except (_CapTooLow, _OverBudget):
            lo = cap
        else:
            best, hi = packed, cap
        cap = (lo + hi) / 2
    return best


def _finish(graph: Graph, objective: str, packed) -> Allocation:
    cores = tuple(Core(i, i // rs.CORES_PER_CHIP, tuple(slices), load) for i, (slices, load) in enumerate(packed))
    chips = max((c.chip for c in cores), default=0) + 1
    return Allocation(objective, cores, chips, _inter_chip_bits(graph, cores) if chips > 1 else 0)


def _inter_chip_bits(graph: Graph, cores) -> int:
    """Bits per step crossing chip boundaries: each source slice sends once to every other chip it feeds."""
    chips_of: dict[str, list[tuple[Slice, int]]] = {}
    for core in cores:
        for s in core.slices:
            chips_of.setdefault(s.node, []).append((s, core.chip))
    bits = 0
    for group in graph.of_type(SynapseGroup):
        (src, _), (dst, _) = graph.source_of(group.name), graph.target_of(group.name)
        if src.name not in chips_of or dst.name not in chips_of:
            continue
        target_chips = {chip for _, chip in chips_of[dst.name]}
        for s, chip in chips_of[src.name]:  # a group per output port, so each port's message is counted once
            bits += s.neurons * rs.message_bits(src.width) * len(target_chips - {chip})
    return bits
