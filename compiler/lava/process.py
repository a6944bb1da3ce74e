"""Lava Processes for the neurons Lava does not ship in our fixed-point arithmetic.

Lava has a floating-point S4D neuron only (lava.proc.s4d), and its graded neurons neither add a bias nor
saturate to a message width, so the S4D, channel/ReLU and readout neurons of docs/fixed_point.md are
defined here; their `fixed_pt` process models (models.py) call compiler.fixed_point's primitives.

Stateful neurons take a schedule: they update only in the time steps that carry a token for them
(`hop`, `period`) and reset their state at the first token of each sequence (`sequence_length`), so one
Lava run streams several sequences in pipelined or fall-through mode.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var


def _schedule_vars(process: AbstractProcess, hop: int, period: int, sequence_length: int) -> None:
    process.hop = Var(shape=(1,), init=hop)
    process.period = Var(shape=(1,), init=period)
    process.sequence_length = Var(shape=(1,), init=sequence_length)


class FixedS4D(AbstractProcess):
    """H·P fixed-point S4D neurons (one per complex mode, index h·P + p) with 24-bit states x_re, x_im.

    a_in receives the channel message fanned out to every mode; s_re / s_im send the top bits of the state.
    """

    def __init__(self, *, a_re, a_im, b_re, b_im, shift_a: int, shift_b: int, shift_msg: int, widths: dict,
                 hop: int, period: int, sequence_length: int, name: str | None = None) -> None:
        super().__init__(widths=dict(widths), name=name)
        n = int(np.size(a_re))
        self.a_in = InPort(shape=(n,))
        self.s_re = OutPort(shape=(n,))
        self.s_im = OutPort(shape=(n,))
        for attr, value in (("a_re", a_re), ("a_im", a_im), ("b_re", b_re), ("b_im", b_im)):
            setattr(self, attr, Var(shape=(n,), init=np.asarray(value).reshape(n)))
        self.x_re = Var(shape=(n,), init=0)
        self.x_im = Var(shape=(n,), init=0)
        self.shifts = Var(shape=(3,), init=np.array([shift_a, shift_b, shift_msg]))
        _schedule_vars(self, hop, period, sequence_length)


class FixedGraded(AbstractProcess):
    """Stateless graded neurons: a channel neuron sends saturate(input + bias), a ReLU neuron clip(input, 0,
    2^message − 1)."""

    def __init__(self, *, shape: tuple, relu: bool, bias, widths: dict, name: str | None = None) -> None:
        super().__init__(widths=dict(widths), relu=bool(relu), name=name)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.bias = Var(shape=shape, init=np.zeros(shape, np.int64) if bias is None else np.asarray(bias))


class FixedReadout(AbstractProcess):
    """Readout neurons: z ← saturate(z + input + bias) per token (running sum), or saturate(input + bias)."""

    def __init__(self, *, shape: tuple, bias, accumulate: bool, widths: dict, hop: int, period: int,
                 sequence_length: int, name: str | None = None) -> None:
        super().__init__(widths=dict(widths), accumulate=bool(accumulate), name=name)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.bias = Var(shape=shape, init=np.asarray(bias))
        self.z = Var(shape=shape, init=0)
        _schedule_vars(self, hop, period, sequence_length)
