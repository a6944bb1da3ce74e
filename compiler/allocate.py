"""Placing neurons and their incoming synapses on Loihi 2 neurocores.

Synapses live on the core of their target neuron, so a node is cut into contiguous slices of neurons and
each slice carries the rows of every synapse group feeding it. Slices are packed in graph order (next fit,
which keeps consecutive layers on neighbouring cores); a core is full when a capacity (neurons, synaptic or
total memory) or the objective's cap on its step work (`CoreLoad.work`, neuron ops) would break:

- "latency" (default): the calibrated per-core budget (`Limits.budget_neuron_ops`), the paper's spread: the
  busiest core sets the step time, so no core gets more work than the budget; if that needs more chips than
  memory does, the model is spread evenly over the cores of those chips instead (chip links are slow);
- "cores": no work cap, every core filled up to memory (fewest cores, longest step);
- a forced count (`cores=N`): the smallest work cap whose packing needs at most N cores (binary search).

Cores fill chips in order, `Limits.cores_per_chip` each (Loihi 2's by default). A model that cannot be mapped
raises MappingError naming the node (and its layer), the resource and the shortfall.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compiler import resources as rs
from compiler.ir import Graded, Graph, Readout, S4DStates, SynapseGroup, layer_of

PLACED = (Graded, S4DStates, Readout)
OBJECTIVES = ("latency", "cores")


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
    work_cap: float | None  # neuron-op cap per core the packing used (None: memory only)
    limits: rs.Limits  # the hardware it was packed for

    @property
    def synaptic_memory_bytes(self) -> int:
        """Synaptic memory over all cores (the model's weights as stored, dense or sparse)."""
        return sum(c.load.synaptic_bytes for c in self.cores)

    def core_of_neuron(self, node: str, size: int) -> np.ndarray:
        """Core index of each neuron of `node`."""
        where = np.full(size, -1, np.int64)
        for core in self.cores:
            for s in core.slices:
                if s.node == node:
                    where[s.start:s.stop] = core.index
        return where


_FIELDS = ("neurons", "state_bytes", "synaptic_bytes", "axon_bytes", "neuron_ops", "synapses")
_ADDITIVE = ("neurons", "state_bytes", "synaptic_bytes", "out_axon_bytes", "neuron_ops", "synapses")


class _NodeCosts:
    """Per-neuron static costs of one node as prefix sums, so the load of any slice is O(groups · log n)."""

    def __init__(self, graph: Graph, node) -> None:
        self.name = node.name
        self.size = n = node.size
        kind = rs.neuron_kind(node)
        per: dict[str, np.ndarray] = {k: np.zeros(n, np.int64) for k in _ADDITIVE}
        per["neurons"][:] = 1
        per["state_bytes"][:] = kind.variables * rs.VARIABLE_BYTES
        per["neuron_ops"][:] = kind.ops
        self.axon_ranges = []  # per group: sorted first rows, sorted last rows of its columns
        for group in graph.synapses_into(node.name):
            nz = group.weights != 0
            row_nnz = nz.sum(axis=1)
            per["synaptic_bytes"] += rs.synaptic_row_bytes(row_nnz, group.fan_in, group.sparse)
            per["synapses"] += row_nnz
            used = nz.any(axis=0)
            first = np.argmax(nz, axis=0)[used]
            last = (n - 1 - np.argmax(nz[::-1], axis=0))[used]
            self.axon_ranges.append((np.sort(first), np.sort(last)))
        ports = {e.src_port for e in graph.outputs_of(node.name) if isinstance(graph.node(e.dst), SynapseGroup)}
        per["out_axon_bytes"][:] = rs.OUTPUT_AXON_BYTES * len(ports)
        self.heaviest = float(per["neuron_ops"].max(initial=0))
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


def _fits(load: rs.CoreLoad, cap: float | None, limits: rs.Limits) -> bool:
    return limits.shortfall(load) is None and (cap is None or load.work() <= cap)


class _OverBudget(Exception):
    pass


class _CapTooLow(Exception):
    pass


def _pack(costs: list[_NodeCosts], cap: float | None, limits: rs.Limits,
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
                if _fits(_as_load(_add(totals, cost.load(start, start + mid))), cap, limits):
                    lo = mid
                else:
                    hi = mid - 1
            if lo == 0:
                if not slices:
                    _refuse(cost, start, limits)
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


def _refuse(cost: _NodeCosts, start: int, limits: rs.Limits) -> None:
    broken = limits.shortfall(_as_load(cost.load(start, start + 1)))
    if broken is None:  # only the work cap is exceeded; the caller raises the cap
        raise _CapTooLow
    resource, needed, limit = broken
    raise MappingError(f"node {cost.name!r} ({layer_of(cost.name)}) cannot be mapped: one neuron needs "
                       f"{needed:,} {resource}, {needed - limit:,} more than the {limit:,} a neurocore has")


def allocate(graph: Graph, objective: str = "latency", max_chips: int = rs.MAX_CHIPS,
             cores: int | None = None, limits: rs.Limits | None = None) -> Allocation:
    """Map every neuron node of `graph` (with its incoming synapses) onto neurocores and chips of `limits`
    (default `resources.LOIHI2`, looked up at call time)."""
    limits = rs.LOIHI2 if limits is None else limits
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {OBJECTIVES}")
    costs = [_NodeCosts(graph, node) for node in graph.nodes if isinstance(node, PLACED)]
    fewest = _pack(costs, None, limits)
    _check_chips(fewest, max_chips, None, limits)  # too large for the chips whatever the objective
    if cores is not None:
        if cores < len(fewest):
            raise MappingError(f"--cores {cores} is too few: the model's memory needs at least {len(fewest)} "
                               f"neurocores")
        cap, packed = _spread(costs, cores, fewest, limits)
        objective = f"{cores} cores"
    elif objective == "latency":
        cap = max(float(limits.budget_neuron_ops), _heaviest_neuron(costs))
        packed = _pack(costs, cap, limits)
        chips = -(-len(fewest) // limits.cores_per_chip)
        if len(packed) > chips * limits.cores_per_chip:  # chip links are slow: spread over the chips memory needs
            cap, packed = _spread(costs, chips * limits.cores_per_chip, fewest, limits)
    else:
        cap, packed = None, fewest
    _check_chips(packed, max_chips, cap, limits)
    return _finish(objective, packed, cap, limits)


def _heaviest_neuron(costs: list[_NodeCosts]) -> float:
    """Work of the costliest single neuron: a cap below it cannot be met by any packing."""
    return max(c.heaviest for c in costs)


def _spread(costs, budget: int, fewest, limits: rs.Limits) -> tuple[float, list]:
    """Smallest per-core work cap whose packing uses at most `budget` cores (binary search to 1 %)."""
    loads = [load for _, load in fewest]
    lo = max(sum(x.work() for x in loads) / budget, _heaviest_neuron(costs))
    hi = max(load.work() for load in loads)
    best, best_cap = fewest, hi
    if lo >= hi:
        return best_cap, best
    cap = lo
    while hi - lo > 0.01 * hi:
        try:
            packed = _pack(costs, cap, limits, max_cores=budget)
        except (_CapTooLow, _OverBudget):
            lo = cap
        else:
            best, best_cap, hi = packed, cap, cap
        cap = (lo + hi) / 2
    return best_cap, best


def _binding(load: rs.CoreLoad, cap: float | None, limits: rs.Limits) -> str:
    """The resource closest to its limit on a core: what made the packing open the next core."""
    use = {"neurons": load.neurons / limits.neurons_per_core,
           "synaptic memory": load.synaptic_bytes / limits.synaptic_memory_bytes,
           "core memory": load.memory_bytes / limits.core_memory_bytes}
    if cap is not None:
        use[f"neuron-update budget ({cap:,.0f} ops/step)"] = load.work() / cap
    return max(use, key=use.get)


def _check_chips(packed, max_chips: int, cap: float | None, limits: rs.Limits) -> None:
    limit = max_chips * limits.cores_per_chip
    if len(packed) <= limit:
        return
    slices, load = packed[limit]
    first = slices[0].node
    beyond = {s.node for sl, _ in packed[limit:] for s in sl}
    resource = _binding(load, cap, limits)
    hint = " (or pack with --objective cores)" if cap is not None else ""
    raise MappingError(
        f"model needs {len(packed)} neurocores, {len(packed) - limit} more than the {limit} of {max_chips} "
        f"chip(s): from node {first!r} ({layer_of(first)}) on, {len(beyond)} node(s) do not fit, bound by "
        f"{resource}; allow more chips with --max-chips{hint}")


def _finish(objective: str, packed, cap: float | None, limits: rs.Limits) -> Allocation:
    cores = tuple(Core(i, i // limits.cores_per_chip, tuple(slices), load) for i, (slices, load) in enumerate(packed))
    chips = max((c.chip for c in cores), default=0) + 1
    return Allocation(objective, cores, chips, cap, limits)
