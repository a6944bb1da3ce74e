"""What the chip does per time step once a model is placed: operations and messages per core, at the measured
activity, and the estimates (ranges) that follow from them.

Messages are counted as the chip sends them: a source neuron's output port sends one graded spike per step in
which its value is non-zero (rate r), once to every core holding a target with a non-zero synapse from it,
however many synapse groups or target neurons it feeds there. A message to its own core stays local; only
those leaving a core load the mesh (hop distance `resources.hops`), and only those leaving a chip load the
chip-to-chip links. Synaptic ops are the stored synapses of a row times the rate of their source; every
neuron updates every step. Traffic from and to the host (input tokens, readout) is outside the model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler import resources as rs
from compiler.allocate import PLACED, Allocation
from compiler.ir import Graph, SynapseGroup
from compiler.schedule import Schedule

_Q = ("neuron_ops", "synaptic_ops", "synmem_reads", "mesh_messages", "chip_messages")


@dataclass(frozen=True)
class Traffic:
    """Per step: each core's dynamic load, split by the hop of the work (for fall-through), and totals."""

    per_hop: np.ndarray  # [quantity, core, hop] in the order of _Q
    local_messages: float
    mesh_messages: float
    chip_messages: float
    hop_messages: float  # Σ messages × mesh hops

    @property
    def messages(self) -> float:
        return self.local_messages + self.mesh_messages

    def cores(self, hop: int | None = None) -> list[rs.CoreTraffic]:
        q = self.per_hop.sum(axis=2) if hop is None else self.per_hop[:, :, hop]
        return [rs.CoreTraffic(*(float(v) for v in q[:, c])) for c in range(q.shape[1])]

    def total(self, quantity: str) -> float:
        return float(self.per_hop[_Q.index(quantity)].sum())


def traffic(graph: Graph, alloc: Allocation, rates: dict | None = None) -> Traffic:
    """Count operations and messages per core and per hop; `rates` [(node, port)] default to 1 (worst case)."""
    rates = rates or {}
    hops = graph.hops()
    n_cores, depth = len(alloc.cores), max(hops.values()) + 1
    q = np.zeros((len(_Q), n_cores, depth))
    chip = np.array([c.chip for c in alloc.cores], np.int64)
    where = {n.name: alloc.core_of_neuron(n.name, n.size) for n in graph.nodes if isinstance(n, PLACED)}
    for node in graph.nodes:
        if isinstance(node, PLACED):
            np.add.at(q[0, :, hops[node.name]], where[node.name], rs.neuron_kind(node).ops)
    for group in graph.of_type(SynapseGroup):
        dst, _ = graph.target_of(group.name)
        src, port = graph.source_of(group.name)
        nz = group.weights != 0
        rate = rates.get((src.name, port), 1.0)
        row_syn = nz.sum(axis=1) * rate
        per_syn = rs.SPARSE_SYNAPSE_BYTES if group.sparse else rs.DENSE_SYNAPSE_BYTES
        np.add.at(q[1, :, hops[dst.name]], where[dst.name], row_syn)
        np.add.at(q[2, :, hops[dst.name]], where[dst.name], row_syn * per_syn / rs.SYNMEM_WORD_BYTES)
    matrix = np.zeros((n_cores, n_cores))  # messages per step from core s to core c
    for node in graph.nodes:
        if not isinstance(node, PLACED):
            continue
        by_port: dict[str, list[SynapseGroup]] = {}
        for e in graph.outputs_of(node.name):
            if isinstance(graph.node(e.dst), SynapseGroup):
                by_port.setdefault(e.src_port, []).append(graph.node(e.dst))
        for port, groups in by_port.items():
            reach = np.zeros((node.size, n_cores), bool)  # source neuron j reaches core c
            for group in groups:
                dst, _ = graph.target_of(group.name)
                nz, cores = group.weights != 0, where[dst.name]
                for c in np.unique(cores):
                    reach[:, c] |= nz[cores == c].any(axis=0)
            rate = rates.get((node.name, port), 1.0)
            src_core = where[node.name]
            np.add.at(matrix, src_core, reach * rate)
            off_core = reach.copy()
            off_core[np.arange(node.size), src_core] = False
            off_chip = reach & (chip[None, :] != chip[src_core][:, None])
            np.add.at(q[3, :, hops[node.name]], src_core, off_core.sum(axis=1) * rate)
            np.add.at(q[4, :, hops[node.name]], src_core, off_chip.sum(axis=1) * rate)
    local = float(np.trace(matrix))
    index = np.arange(n_cores)
    distance = rs.hops(index[:, None], index[None, :], alloc.limits.cores_per_chip) * (chip[:, None] == chip[None, :])
    return Traffic(q, local, float(matrix.sum() - local), float(q[4].sum()), float((matrix * distance).sum()))


@dataclass(frozen=True)
class Estimate:
    """Per token, each as (low, high): time from the max-affine model, energy from per-operation costs."""

    step_ns: tuple[float, float]
    latency_us: tuple[float, float]
    tokens_per_s: tuple[float, float]
    energy_uj_per_token: tuple[float, float]


def estimate(t: Traffic, sched: Schedule, n_cores: int) -> Estimate:
    """Pipelined: every core works every step, latency = depth × step, a token per step. Fall-through: a step
    of hop h lasts as long as the busiest core's hop-h work, latency = the sum, a token per latency."""
    steps, latencies, token_ns = [], [], []
    for b in (0, 1):
        if sched.mode == "pipelined":
            step = rs.step_ns(t.cores(), b)
            latency, period = sched.depth * step, step
        else:
            latency = sum(rs.step_ns(t.cores(h), b) for h in range(1, sched.depth + 1))
            step, period = latency / sched.depth, latency
        steps.append(step)
        latencies.append(latency / 1e3)
        token_ns.append(period)
    energy = []
    for b in (0, 1):
        dynamic = (t.total("neuron_ops") * rs.E_NEURON_OP_PJ[b] + t.total("synaptic_ops") * rs.E_SYNOP_PJ[b]
                   + t.local_messages * rs.E_LOCAL_MESSAGE_PJ[b] + t.hop_messages * rs.E_HOP_PJ[b]
                   + t.chip_messages * rs.E_CHIP_MESSAGE_PJ[b])
        static = rs.STATIC_MW_PER_CORE[b] * n_cores * token_ns[b]  # mW · ns = 1e-3 W · 1e-9 s = 1e-12 J = pJ
        energy.append((dynamic + static) / 1e6)
    return Estimate((steps[0], steps[1]), (latencies[0], latencies[1]),
                    (1e9 / token_ns[1], 1e9 / token_ns[0]), (energy[0], energy[1]))
