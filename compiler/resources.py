"""The Loihi 2 resource and runtime model: every hardware constant the compiler uses, with its provenance.

Each constant has one label in `PROVENANCE`:
- SOURCED: a document or Lava's code states it (the source is named);
- CALIBRATED: fitted to the paper's mapping (arXiv 2409.15022), with the fit in compiler/calibration.py;
- ASSUMED: a modelling choice, with the reasoning next to it.

Runtime per time step has the max-affine form of Timcheck, Pierro and Shrestha ("A Compute and Communication
Runtime Model for Loihi 2", arXiv 2601.10035, 2026): the busiest core's max(neuron updates, synaptic ops,
synaptic-memory reads, mesh messages) plus a barrier. Per-operation times and energies are ranges: the low end
from Intel's Hala Point figures (Loihi 2 at scale), the high end from Loihi 1 (Davies et al., IEEE Micro 38(1),
2018, Table 2, pre-silicon figures). Every figure derived from them is an estimate.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.ir import Graded, Readout, S4DStates

# --- Capacities ------------------------------------------------------------------------------------------
CORES_PER_CHIP = 120  # neurocores Lava's mapper places per Loihi 2 chip
PHYSICAL_CORES_PER_CHIP = 128  # neurocores on the die
MAX_NEURONS_PER_CORE = 8192
CORE_MEMORY_BYTES = 192 * 1024  # neuron state + synapses + routing, split flexibly
SYNAPTIC_MEMORY_BYTES = 128 * 1024  # upper limit of the synaptic share
MAX_WEIGHT_BITS = 8
MAX_MESSAGE_BITS = 24
MAX_STATE_BITS = 24
MAX_DELAY_STEPS = 63
MAX_CHIPS = 1152  # Hala Point, the largest Loihi 2 system built
ACCUMULATOR_BITS = 32  # Lava's fixed-point Dense accumulates in int32 (wraps on overflow)

# --- Storage --------------------------------------------------------------------------------------------
DENSE_SYNAPSE_BYTES = 1
SPARSE_SYNAPSE_BYTES = 3  # 8-bit weight + 16-bit target index
INPUT_AXON_BYTES = 4  # routing entry per distinct presynaptic neuron feeding a core
OUTPUT_AXON_BYTES = 4  # routing entry per (neuron, output port)
VARIABLE_BYTES = 4  # one 32-bit word per neuron variable
SYNMEM_WORD_BYTES = 8  # bytes delivered by one synaptic-memory read

# --- Per-core time budget of the paper's spread (CALIBRATED, compiler/calibration.py) ----------------------
# A core updates its microcode neurons one after another, so its step time grows with their operations. The
# paper's mappings keep each core's work under a budget; fitted on s4d-67k → 31 neurocores only.
CORE_BUDGET_NEURON_OPS = 6408

# --- Per-operation time (ns) and energy (pJ): (low, high) -----------------------------------------------
HALA_POINT_CORES = 140_544
HALA_POINT_SYNOPS_PER_S = 380e12
HALA_POINT_NEURON_OPS_PER_S = 240e12
HALA_POINT_OPS_PER_J = 15e12  # 15 TOPS/W on 8-bit work
LOIHI2_SPEEDUP_OVER_LOIHI1 = 10.0  # Intel: up to 10x faster processing than Loihi 1
LIF_OPS_PER_UPDATE = 4  # a Loihi 1 neuron update: decay current, add input, decay voltage, compare

_T_NEURON_LOW = HALA_POINT_CORES / HALA_POINT_NEURON_OPS_PER_S * 1e9  # 0.586 ns per op per core
_T_SYN_LOW = HALA_POINT_CORES / HALA_POINT_SYNOPS_PER_S * 1e9  # 0.370 ns per synaptic op per core
_E_OP_LOW = 1e12 / HALA_POINT_OPS_PER_J  # 0.0667 pJ per operation

T_NEURON_OP_NS = (_T_NEURON_LOW, _T_NEURON_LOW * LOIHI2_SPEEDUP_OVER_LOIHI1)
T_SYNOP_NS = (_T_SYN_LOW, _T_SYN_LOW * LOIHI2_SPEEDUP_OVER_LOIHI1)
T_SYNMEM_READ_NS = T_SYNOP_NS  # one read per word, paced like a synaptic op
T_MESSAGE_NS = (1.0, 6.5)  # per message leaving a core; high = Loihi 1 north-south tile hop latency
T_CHIP_MESSAGE_NS = (2.0, 20.0)  # per message crossing a chip-to-chip link
BARRIER_NS = (150.0, 1000.0)  # end-of-step synchronisation
E_NEURON_OP_PJ = (_E_OP_LOW, 81.0 / LIF_OPS_PER_UPDATE)  # Loihi 1: 81 pJ per active neuron update
E_SYNOP_PJ = (_E_OP_LOW, 23.6)  # Loihi 1: 23.6 pJ per synaptic spike op (min)
E_LOCAL_MESSAGE_PJ = (_E_OP_LOW, 1.7)  # a message that stays in its core (Loihi 1: within-tile spike)
E_HOP_PJ = (_E_OP_LOW, 4.0)  # per mesh hop (Loihi 1: 3.0 east-west, 4.0 north-south)
E_CHIP_MESSAGE_PJ = (10.0, 1000.0)  # per message crossing chips
STATIC_MW_PER_CORE = (0.0, 0.1)  # leakage of an occupied core
MESH_WIDTH = 11  # cores per mesh row (ceil(sqrt(120))), for hop distances

_DAVIES = "Davies et al., IEEE Micro 38(1) 2018, Table 2 (Loihi 1, pre-silicon)"
_HALA = "Intel Hala Point announcement 2024: 1,152 chips, 140,544 cores, 380e12 synops/s, 240e12 neuron ops/s, 15 TOPS/W"
PROVENANCE = {
    "CORES_PER_CHIP": ("SOURCED", "lava-nc 0.10.0 lava/magma/compiler/subcompilers/constants.py "
                                  "NUM_VIRTUAL_CORES_L3 = 120, used for N3 cores in magma/compiler/mapper.py"),
    "PHYSICAL_CORES_PER_CHIP": ("SOURCED", "Intel Loihi 2 technology brief 2021: 128 neurocores"),
    "MAX_NEURONS_PER_CORE": ("SOURCED", "Intel Loihi 2 technology brief 2021: up to 8,192 neurons per core"),
    "CORE_MEMORY_BYTES": ("SOURCED", "Intel Loihi 2 technology brief 2021: 192 KB flexible memory per core"),
    "SYNAPTIC_MEMORY_BYTES": ("ASSUMED", "the synaptic share of the 192 KB is flexible; 128 KiB leaves room "
                                         "for state and routing"),
    "MAX_WEIGHT_BITS": ("SOURCED", "Lava Dense num_weight_bits ≤ 8"),
    "MAX_MESSAGE_BITS": ("SOURCED", "Loihi 2 brief: graded spikes up to 32 bits; Lava graded processes use 24"),
    "MAX_STATE_BITS": ("SOURCED", "Lava fixed-point neurons: 24-bit state variables"),
    "MAX_DELAY_STEPS": ("SOURCED", "Loihi 2 brief: synaptic delays up to 62-63 steps (Lava DelayDense)"),
    "MAX_CHIPS": ("SOURCED", _HALA),
    "ACCUMULATOR_BITS": ("SOURCED", "lava.proc.dense fixed_pt models accumulate in int32"),
    "DENSE_SYNAPSE_BYTES": ("ASSUMED", "one 8-bit weight per stored synapse of a dense block"),
    "SPARSE_SYNAPSE_BYTES": ("ASSUMED", "8-bit weight + 16-bit index, as Lava Sparse stores index and weight"),
    "INPUT_AXON_BYTES": ("ASSUMED", "one 32-bit routing word per presynaptic neuron feeding a core"),
    "OUTPUT_AXON_BYTES": ("ASSUMED", "one 32-bit routing word per neuron output port"),
    "VARIABLE_BYTES": ("ASSUMED", "24-bit states and 12-bit decays each occupy a 32-bit word"),
    "SYNMEM_WORD_BYTES": ("ASSUMED", "width of one synaptic-memory read"),
    "CORE_BUDGET_NEURON_OPS": ("CALIBRATED", "neuron ops per core per step such that s4d-67k maps to the "
                                             "paper's 31 neurocores (compiler/calibration.py; 265k predicted)"),
    "HALA_POINT_CORES": ("SOURCED", _HALA),
    "HALA_POINT_SYNOPS_PER_S": ("SOURCED", _HALA),
    "HALA_POINT_NEURON_OPS_PER_S": ("SOURCED", _HALA),
    "HALA_POINT_OPS_PER_J": ("SOURCED", _HALA),
    "LOIHI2_SPEEDUP_OVER_LOIHI1": ("SOURCED", "Intel Loihi 2 technology brief 2021: up to 10x faster processing"),
    "LIF_OPS_PER_UPDATE": ("ASSUMED", "to turn Loihi 1's energy per neuron update into energy per operation"),
    "T_NEURON_OP_NS": ("ASSUMED", "low (sourced): Hala Point's per-core rate, 140,544 cores / 240e12 ops/s; "
                                  "high: 10x slower, Loihi 1's pace by Intel's up-to-10x claim"),
    "T_SYNOP_NS": ("ASSUMED", "low (sourced): Hala Point's per-core rate, 140,544 cores / 380e12 synops/s; "
                              "high: 10x slower, Loihi 1's pace by Intel's up-to-10x claim"),
    "T_SYNMEM_READ_NS": ("ASSUMED", "a synaptic-memory word read paced like a synaptic op"),
    "T_MESSAGE_NS": ("ASSUMED", f"low 1 ns per message; high the 6.5 ns tile-hop latency of {_DAVIES}"),
    "T_CHIP_MESSAGE_NS": ("ASSUMED", "chip-to-chip links are about 10x slower than the on-chip mesh"),
    "BARRIER_NS": ("ASSUMED", "end-of-step barrier: Loihi 1 barriers took about 1 µs; Loihi 2 is faster"),
    "E_NEURON_OP_PJ": ("ASSUMED", "low (sourced): one operation at Hala Point's 15 TOPS/W; high: 81 pJ per "
                                  f"active neuron update (sourced, {_DAVIES}) over LIF_OPS_PER_UPDATE (assumed)"),
    "E_SYNOP_PJ": ("ASSUMED", "low: a synaptic op as one 8-bit operation at Hala Point's 15 TOPS/W (sourced); "
                              f"high: 23.6 pJ per synaptic spike op (min), sourced, {_DAVIES}"),
    "E_LOCAL_MESSAGE_PJ": ("ASSUMED", "low: a message as one operation at 15 TOPS/W; high: 1.7 pJ within-tile "
                                      f"spike, sourced, {_DAVIES}"),
    "E_HOP_PJ": ("ASSUMED", "low: a hop as one operation at 15 TOPS/W; high: 4.0 pJ per north-south tile hop, "
                            f"the larger of Loihi 1's two (3.0 east-west), sourced, {_DAVIES}"),
    "E_CHIP_MESSAGE_PJ": ("ASSUMED", "off-chip links cost orders of magnitude more than a mesh hop"),
    "STATIC_MW_PER_CORE": ("ASSUMED", "leakage of an occupied core; not published for Loihi 2"),
    "MESH_WIDTH": ("ASSUMED", "cores laid out row by row in a square-ish mesh, for hop distances"),
}


# --- Neuron kinds ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NeuronKind:
    """What one neuron of a kind costs its core per time step."""

    name: str
    variables: int  # 32-bit words of state and coefficients, including its input accumulator
    ops: int  # microcode operations per update (clip = 2 ops: one compare each side)
    messages: int  # graded spikes it can send per step (one per output port)


# S4D split: x ← a·x + b̄·u is 6 mul + 4 add + 4 shift + 2 clips (18); its two messages floor(x/2^s) saturated are
# 2 shifts + 2 clips (6). Folded (Lava's lava.proc.s4d layout) sends one message Re(2·c·x): 2 mul + 1 sub +
# 1 shift + 1 clip (6) in place of the two messages, and stores c (2 more words).
NEURON_KINDS = {
    "s4d-split": NeuronKind("s4d-split", variables=7, ops=24, messages=2),
    "s4d-folded": NeuronKind("s4d-folded", variables=9, ops=24, messages=1),
    "channel": NeuronKind("channel", variables=2, ops=3, messages=1),  # + bias, clip
    "relu": NeuronKind("relu", variables=1, ops=2, messages=1),  # clip to [0, 2^w − 1]
    "readout": NeuronKind("readout", variables=3, ops=4, messages=0),  # z + acc + bias, clip; read by the host
}


def neuron_kind(node) -> NeuronKind:
    if isinstance(node, S4DStates):
        return NEURON_KINDS[f"s4d-{node.variant}"]
    if isinstance(node, Graded):
        return NEURON_KINDS["relu" if node.relu else "channel"]
    if isinstance(node, Readout):
        return NEURON_KINDS["readout"]
    raise TypeError(f"{type(node).__name__} is not placed on neurocores")


def neuron_state_bytes(node) -> int:
    return neuron_kind(node).variables * VARIABLE_BYTES


# --- What a core holds (static) and does per step (dynamic) -------------------------------------------------

@dataclass(frozen=True)
class CoreLoad:
    """Static load of one neurocore: what it stores and its neurons' update work (activity independent)."""

    neurons: int
    state_bytes: int
    synaptic_bytes: int
    axon_bytes: int
    neuron_ops: int
    synapses: int  # stored synapses (non-zero weights)

    @property
    def memory_bytes(self) -> int:
        return self.state_bytes + self.synaptic_bytes + self.axon_bytes

    def work(self) -> float:
        """Step work the latency objective caps: neuron ops, which a core runs one after another. Synaptic
        accumulation runs in the core's separate synaptic pipeline (a parallel term of the max-affine model),
        bounded here by memory."""
        return float(self.neuron_ops)


@dataclass(frozen=True)
class Limits:
    """What the allocator packs against: a core's capacities, the calibrated step-work budget and the cores a
    chip offers. `LOIHI2` holds the constants above; the calibration and the tests ask what-if questions with
    `dataclasses.replace(LOIHI2, ...)` instead of rebinding the constants."""

    neurons_per_core: int
    synaptic_memory_bytes: int
    core_memory_bytes: int
    budget_neuron_ops: int
    cores_per_chip: int

    def shortfall(self, load: CoreLoad) -> tuple[str, int, int] | None:
        """(resource, needed, limit) of the first capacity a core load breaks, or None."""
        for resource, needed, limit in (("neurons", load.neurons, self.neurons_per_core),
                                        ("synaptic memory bytes", load.synaptic_bytes, self.synaptic_memory_bytes),
                                        ("core memory bytes", load.memory_bytes, self.core_memory_bytes)):
            if needed > limit:
                return resource, needed, limit
        return None


LOIHI2 = Limits(neurons_per_core=MAX_NEURONS_PER_CORE, synaptic_memory_bytes=SYNAPTIC_MEMORY_BYTES,
                core_memory_bytes=CORE_MEMORY_BYTES, budget_neuron_ops=CORE_BUDGET_NEURON_OPS,
                cores_per_chip=CORES_PER_CHIP)


@dataclass(frozen=True)
class CoreTraffic:
    """Dynamic load of one neurocore per time step at the measured activity."""

    neuron_ops: float
    synaptic_ops: float
    synmem_reads: float
    mesh_messages: float  # messages this core sends to other cores of its chip or beyond
    chip_messages: float  # of those, messages crossing to another chip

    def busy_ns(self, bound: int) -> float:
        """Max-affine compute/communication time of this core (bound 0 = low end, 1 = high end)."""
        return max(self.neuron_ops * T_NEURON_OP_NS[bound], self.synaptic_ops * T_SYNOP_NS[bound],
                   self.synmem_reads * T_SYNMEM_READ_NS[bound], self.mesh_messages * T_MESSAGE_NS[bound],
                   self.chip_messages * T_CHIP_MESSAGE_NS[bound])


def step_ns(cores: list[CoreTraffic], bound: int) -> float:
    """One time step: the busiest core plus the barrier."""
    return max((c.busy_ns(bound) for c in cores), default=0.0) + BARRIER_NS[bound]


def hops(a, b, cores_per_chip: int):
    """Mesh hops between cores a and b (ints or arrays, numbered across chips) of one chip laid out row by row,
    MESH_WIDTH per row."""
    a, b = a % cores_per_chip, b % cores_per_chip
    return np.abs(a // MESH_WIDTH - b // MESH_WIDTH) + np.abs(a % MESH_WIDTH - b % MESH_WIDTH)


# --- Synaptic storage ------------------------------------------------------------------------------------

def synaptic_row_bytes(row_nonzero: np.ndarray, fan_in: int, sparse: bool) -> np.ndarray:
    """Synaptic memory of each target neuron: its stored synapses (sparse) or a full row of weights (dense)."""
    row_nonzero = np.asarray(row_nonzero, np.int64)
    if sparse:
        return row_nonzero * SPARSE_SYNAPSE_BYTES
    return np.full(row_nonzero.shape, fan_in * DENSE_SYNAPSE_BYTES, np.int64)


def synaptic_bytes(group) -> int:
    """Synaptic memory of a whole synapse group."""
    return int(synaptic_row_bytes((group.weights != 0).sum(axis=1), group.fan_in, group.sparse).sum())
