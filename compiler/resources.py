"""The Loihi 2 resource and runtime model: every hardware constant the compiler uses, with its source.

Facts come from Intel's published Loihi 2 figures (Intel, "Taking Neuromorphic Computing to the Next Level
with Loihi 2", technology brief, 2021, and the Lava documentation); everything marked ASSUMPTION is a
modelling choice with the reasoning next to it. Runtimes use the max-affine lower-bound form of
Timcheck, Pierro and Shrestha, "A Compute and Communication Runtime Model for Loihi 2" (arXiv:2601.10035,
2026); their measured constants are not reproduced here, so the time and energy values below are
order-of-magnitude assumptions and every figure derived from them is reported as an estimate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from compiler.ir import Graded, Readout, S4DStates

# --- Capacities (facts: Loihi 2 brief; DESIGN.md section 4) -------------------------------------------
CORES_PER_CHIP = 128  # neurocores per Loihi 2 chip
MAX_NEURONS_PER_CORE = 8192  # neurons per neurocore
SYNAPTIC_MEMORY_BYTES = 128 * 1024  # synaptic memory per neurocore (upper limit of the flexible split)
CORE_MEMORY_BYTES = 192 * 1024  # total memory per neurocore: neuron state + synapses + routing tables
MAX_WEIGHT_BITS = 8  # stored weight precision
MAX_MESSAGE_BITS = 24  # graded spike payload used here (Lava graded processes use 24-bit messages)
MAX_STATE_BITS = 24  # width of a neuron state variable
MAX_DELAY_STEPS = 63  # longest synaptic delay
MAX_CHIPS = 1152  # largest Loihi 2 system built (Hala Point); a bound for the multi-chip search

# --- Storage costs (ASSUMPTIONS) --------------------------------------------------------------------
DENSE_SYNAPSE_BYTES = 1  # one 8-bit weight per synapse in a dense block
SPARSE_SYNAPSE_BYTES = 3  # 8-bit weight + 16-bit target index per stored synapse
INPUT_AXON_BYTES = 4  # routing-table entry per distinct presynaptic neuron feeding a core
OUTPUT_AXON_BYTES = 4  # routing-table entry per (neuron, outgoing synapse group)
VARIABLE_BYTES = 4  # each neuron variable occupies one 32-bit word (24-bit values and 12-bit decays alike)
ACCUMULATOR_BITS = 32  # dendritic accumulation in Lava's fixed-point Dense (int32, wraps on overflow)


def neuron_variables(node) -> int:
    """32-bit words of state per neuron, counting the dendritic accumulators of its input ports."""
    if isinstance(node, S4DStates):
        return 2 + len(node.coefficients) + 1  # state re/im, coefficients (a, b̄; c if folded), input accumulator
    if isinstance(node, Graded):
        return 1 + (node.bias is not None)  # accumulator, bias
    if isinstance(node, Readout):
        return 3  # accumulator, running sum z, bias
    return 0


def neuron_state_bytes(node) -> int:
    return neuron_variables(node) * VARIABLE_BYTES


def dendritic_ops(node) -> int:
    """Neuron-update operations per neuron per time step (one per state variable updated)."""
    if isinstance(node, S4DStates):
        # a complex multiply-accumulate updates two state variables (6 multiplies); the folded neuron also
        # computes its message c_re·x_re + c_im·x_im (2 more multiplies, an add and a shift): a third value
        return 3 if node.variant == "folded" else 2
    return 1


# --- Runtime constants (ASSUMPTIONS in the form of Timcheck et al. 2026) ---------------------------
T_DENDRITIC_NS = 4.0  # per neuron-update operation on a core
T_SYNAPTIC_NS = 1.0  # per synaptic multiply-accumulate
T_SYNMEM_READ_NS = 2.0  # per synaptic-memory word read
SYNMEM_WORD_BYTES = 8  # bytes delivered by one synaptic-memory read
LINK_BITS_PER_NS = 16.0  # mesh link bandwidth between neighbouring cores
CHIP_LINK_BITS_PER_NS = 2.0  # chip-to-chip link bandwidth
MESSAGE_HEADER_BITS = 32  # address bits sent with each graded spike
BARRIER_NS = 150.0  # end-of-step barrier synchronisation (DESIGN.md: a chip-wide step can be under 200 ns)

# --- Energy per operation (ASSUMPTIONS: Loihi 1 measurements, Davies et al., IEEE Micro 38(1), 2018,
#     Table 2; Loihi 2 figures are unpublished and expected lower, so these overestimate) -------------
E_SYNAPTIC_PJ = 23.6  # per synaptic operation
E_DENDRITIC_PJ = 52.0  # per neuron update
E_SYNMEM_READ_PJ = 5.0  # per synaptic memory word read (ASSUMPTION, within the synaptic-op figure's scale)
E_BIT_HOP_PJ = 3.5 / 32  # per bit per mesh hop (3.5 pJ per 32-bit spike hop)
STATIC_MW_PER_CORE = 0.1  # leakage per active core (ASSUMPTION)


@dataclass(frozen=True)
class CoreLoad:
    """What one neurocore holds and does per time step."""

    neurons: int
    state_bytes: int
    synaptic_bytes: int
    axon_bytes: int
    dendritic_ops: int
    synaptic_ops: int
    synmem_reads: int
    out_bits: int  # bits this core sends to other cores per time step

    @property
    def memory_bytes(self) -> int:
        return self.state_bytes + self.synaptic_bytes + self.axon_bytes

    def compute_ns(self) -> float:
        """The max-affine compute bound of one core for one time step."""
        return max(self.dendritic_ops * T_DENDRITIC_NS, self.synaptic_ops * T_SYNAPTIC_NS,
                   self.synmem_reads * T_SYNMEM_READ_NS)

    def link_ns(self) -> float:
        """Time to send this core's messages of one step over its mesh link."""
        return self.out_bits / LINK_BITS_PER_NS

    def busy_ns(self) -> float:
        """The longer of compute and sending: what the latency objective balances across cores."""
        return max(self.compute_ns(), self.link_ns())

    def fits(self) -> bool:
        return (self.neurons <= MAX_NEURONS_PER_CORE and self.synaptic_bytes <= SYNAPTIC_MEMORY_BYTES
                and self.memory_bytes <= CORE_MEMORY_BYTES)


def shortfall(load: CoreLoad) -> tuple[str, int, int] | None:
    """(resource, needed, limit) of the first limit a core load breaks, or None."""
    for resource, needed, limit in (("neurons", load.neurons, MAX_NEURONS_PER_CORE),
                                    ("synaptic memory bytes", load.synaptic_bytes, SYNAPTIC_MEMORY_BYTES),
                                    ("core memory bytes", load.memory_bytes, CORE_MEMORY_BYTES)):
        if needed > limit:
            return resource, needed, limit
    return None


def message_bits(width: int) -> int:
    return width + MESSAGE_HEADER_BITS


@dataclass(frozen=True)
class Estimate:
    """Runtime and energy estimates per token (lower bounds on time from assumed constants, not measurements).

    `step_ns` is the pipelined step, or in fall-through the mean step of a token's passage.
    """

    step_ns: float
    compute_ns: float
    link_ns: float
    latency_us: float
    energy_uj_per_token: float


def step_ns(loads: list[CoreLoad], chip_link_ns: float = 0.0) -> tuple[float, float, float]:
    """(step, compute, link) of one time step in which `loads` work: max(compute, links) + barrier."""
    compute = max((load.compute_ns() for load in loads), default=0.0)
    link = max(max((load.link_ns() for load in loads), default=0.0), chip_link_ns)
    return max(compute, link) + BARRIER_NS, compute, link


def estimate(loads: list[CoreLoad], chips: int, inter_chip_bits: int, depth: int,
             stages: list[list[CoreLoad]] | None = None) -> Estimate:
    """Timcheck-style bound per step: max(busiest core's compute, busiest link) + barrier.

    Pipelined (`stages` None): every core works in every step, so latency = depth × step and a token costs
    one step of static power. Fall-through: `stages[h]` are the core loads working in hop h; each step lasts
    only as long as its own busiest core, latency is the sum over the depth, and a token holds the chip for
    that whole time. Dynamic energy counts every operation of one token once (the same in both modes).
    """
    chip_link = inter_chip_bits / CHIP_LINK_BITS_PER_NS if chips > 1 else 0.0
    step, compute, link = step_ns(loads, chip_link)
    if stages is None:
        latency_ns, token_ns = depth * step, step
    else:
        steps = [step_ns(stage, chip_link) for stage in stages]
        latency_ns = token_ns = sum(s[0] for s in steps)
        step = latency_ns / max(depth, 1)
        compute = max((s[1] for s in steps), default=0.0)
        link = max((s[2] for s in steps), default=0.0)
    total = lambda attr: sum(getattr(load, attr) for load in loads)  # noqa: E731
    dynamic_pj = (total("synaptic_ops") * E_SYNAPTIC_PJ + total("dendritic_ops") * E_DENDRITIC_PJ
                  + total("synmem_reads") * E_SYNMEM_READ_PJ + total("out_bits") * average_hops(len(loads))
                  * E_BIT_HOP_PJ)
    static_pj = STATIC_MW_PER_CORE * 1e-3 * len(loads) * token_ns  # mW · ns = pJ
    return Estimate(step_ns=step, compute_ns=compute, link_ns=link, latency_us=latency_ns / 1e3,
                    energy_uj_per_token=(dynamic_pj + static_pj) / 1e6)


def average_hops(cores: int) -> float:
    """Mean mesh distance between consecutive cores of a square-ish layout (ASSUMPTION: placement in order)."""
    return max(1.0, math.sqrt(cores) / 2)


def synaptic_row_bytes(row_nonzero: np.ndarray, fan_in: int, sparse: bool) -> np.ndarray:
    """Synaptic memory of each target neuron: its nonzero synapses (sparse) or a full row of weights (dense)."""
    row_nonzero = np.asarray(row_nonzero, np.int64)
    if sparse:
        return row_nonzero * SPARSE_SYNAPSE_BYTES
    return np.full(row_nonzero.shape, fan_in * DENSE_SYNAPSE_BYTES, np.int64)


def synaptic_bytes(group) -> int:
    """Synaptic memory of a whole synapse group."""
    return int(synaptic_row_bytes((group.weights != 0).sum(axis=1), group.fan_in, group.sparse).sum())
