"""Emit a Lava network from the IR and run it in Lava's CPU simulation of Loihi 2 (fixed_pt models).

Synapse groups become lava `Dense` (or `Sparse` when the sparsity pass marked them, `DelayDense` when they
carry a delay) with weights 2·m and the group's weight_exp, exactly as docs/fixed_point.md section 3 says;
neurons become our processes (process.py); the input is a lava `RingBuffer` source and the readout is
recorded by a `RingBuffer` sink. Several sequences are streamed back to back in one run: in pipelined mode
one token per step, in fall-through mode one token every `depth` steps (the source sends zeros in between,
which no stateful neuron consumes because it updates only in its scheduled steps).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from compiler import fixed_point as fp
from compiler.ir import Graded, Graph, Input, Output, Readout, S4DStates, SynapseGroup
# before any other Lava import: compiler/lava lets Lava set multiprocessing's start method in a process that
# has already fixed it (a progress bar does), and this module is where the compiler first touches Lava
from compiler.lava.process import FixedFoldedS4D, FixedGraded, FixedReadout, FixedS4D
from compiler.schedule import Schedule

# Lava runs in chunks of steps so that a progress callback can report between them.
CHUNK_STEPS = 64


@dataclass(frozen=True)
class LavaRun:
    """Readout values after every token of every sequence, [sequences, length, classes], and the speed."""

    logits: np.ndarray
    steps: int
    seconds: float

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else float("inf")


def _synapse_process(group: SynapseGroup, message_bits: int):
    from lava.proc.dense.process import DelayDense, Dense
    from lava.proc.sparse.process import Sparse
    from lava.utils.weightutils import SignMode
    from scipy.sparse import csr_matrix

    weights = fp.lava_weights(group.weights).astype(np.int32)
    common = dict(weight_exp=int(group.exponent), num_weight_bits=group.weight_bits, sign_mode=SignMode.MIXED,
                  num_message_bits=message_bits, name=group.name)
    if group.delay:
        return DelayDense(weights=weights, delays=int(group.delay), **common)
    if group.sparse:
        return Sparse(weights=csr_matrix(weights), **common)
    return Dense(weights=weights, **common)


def build(graph: Graph, sched: Schedule, inputs: np.ndarray):
    """Lava processes for `inputs` [sequences, length, d_input]; returns (source, sink, steps)."""
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    sequences, length, _ = inputs.shape
    tokens = sequences * length
    steps = sched.total_steps(tokens)
    widths = graph.meta["widths"]
    stream = inputs.reshape(tokens, -1)
    data = np.zeros((stream.shape[1], steps), np.int32)
    data[:, np.arange(tokens) * sched.period] = stream.T
    timing = dict(period=sched.period, sequence_length=length)
    procs, sink, source = {}, None, None
    for node in graph.nodes:
        if isinstance(node, Input):
            source = procs[node.name] = Source(data=data)
        elif isinstance(node, SynapseGroup):
            procs[node.name] = _synapse_process(node, graph.inputs_of(node.name)[0].width)
        elif isinstance(node, S4DStates):
            process = FixedFoldedS4D if node.variant == "folded" else FixedS4D
            procs[node.name] = process(**{k: node.neuron_values(k) for k in node.coefficients},
                                       shift_a=node.shift_a, shift_b=node.shift_b, shift_msg=node.shift_msg,
                                       widths=widths, hop=sched.hops[node.name], name=node.name, **timing)
        elif isinstance(node, Graded):
            procs[node.name] = FixedGraded(shape=(node.size,), relu=node.relu, bias=node.bias, widths=widths,
                                           name=node.name)
        elif isinstance(node, Readout):
            procs[node.name] = FixedReadout(shape=(node.size,), bias=node.bias, accumulate=node.accumulate,
                                            widths=widths, hop=sched.hops[node.name], name=node.name, **timing)
        elif isinstance(node, Output):
            sink = procs[node.name] = Sink(shape=(node.size,), buffer=steps)
    for edge in graph.edges:
        src, dst = procs[edge.src], procs[edge.dst]
        out_port = {"out": getattr(src, "s_out", None) or getattr(src, "a_out", None),
                    "re": getattr(src, "s_re", None), "im": getattr(src, "s_im", None)}[edge.src_port]
        in_port = dst.s_in if isinstance(graph.node(edge.dst), SynapseGroup) else dst.a_in
        out_port.connect(in_port)
    return source, sink, steps


def simulate(graph: Graph, sched: Schedule, inputs: np.ndarray, progress=None) -> LavaRun:
    """Run `inputs` [sequences, length, d_input] through the Lava network; `progress(steps_done)` is called
    between chunks of steps."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    inputs = np.asarray(inputs)
    if inputs.ndim != 3:
        raise ValueError(f"simulation inputs must be [sequences, length, channels], got shape {inputs.shape}")
    source, sink, steps = build(graph, sched, inputs)
    config = Loihi2SimCfg(select_tag="fixed_pt")
    start = time.perf_counter()
    done = 0
    try:
        while done < steps:
            chunk = min(CHUNK_STEPS, steps - done)
            source.run(condition=RunSteps(num_steps=chunk), run_cfg=config)
            done += chunk
            if progress is not None:
                progress(chunk)
        recorded = np.asarray(sink.data.get())
    finally:
        source.stop()
    seconds = time.perf_counter() - start
    sequences, length, _ = inputs.shape
    at = np.array([sched.output_step(k) for k in range(sequences * length)])
    logits = np.rint(recorded[:, at]).astype(np.int64).T.reshape(sequences, length, -1)
    return LavaRun(logits, steps, seconds)
