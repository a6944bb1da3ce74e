"""Lava Processes for the neurons Lava does not ship in our fixed-point arithmetic.

Lava has a floating-point S4D neuron only (lava.proc.s4d), and its graded neurons neither add a bias nor
saturate to a message width, so the S4D (split and folded), channel/ReLU and readout neurons of
docs/fixed_point.md are defined here; their `fixed_pt` process models (models.py) call compiler.fixed_point's
primitives.

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


def _s4d_vars(process: AbstractProcess, coefficients: dict, shifts: tuple[int, int, int]) -> int:
    """Per-neuron coefficient Vars, the two 24-bit state Vars and the shifts; returns the neuron count."""
    n = int(np.size(coefficients["a_re"]))
    for attr, value in coefficients.items():
        setattr(process, attr, Var(shape=(n,), init=np.asarray(value).reshape(n)))
    process.x_re = Var(shape=(n,), init=0)
    process.x_im = Var(shape=(n,), init=0)
    process.shifts = Var(shape=(3,), init=np.array(shifts))
    return n


class FixedS4D(AbstractProcess):
    """H·P fixed-point S4D neurons (one per complex mode, index h·P + p) with 24-bit states x_re, x_im.

    a_in receives the channel message fanned out to every mode; s_re / s_im send the top bits of the state.
    """

    def __init__(self, *, a_re, a_im, b_re, b_im, shift_a: int, shift_b: int, shift_msg: int, widths: dict,
                 hop: int, period: int, sequence_length: int, name: str | None = None) -> None:
        super().__init__(widths=dict(widths), name=name)
        n = _s4d_vars(self, dict(a_re=a_re, a_im=a_im, b_re=b_re, b_im=b_im), (shift_a, shift_b, shift_msg))
        self.a_in = InPort(shape=(n,))
        self.s_re = OutPort(shape=(n,))
        self.s_im = OutPort(shape=(n,))
        _schedule_vars(self, hop, period, sequence_length)


class FixedFoldedS4D(AbstractProcess):
    """Folded fixed-point S4D neurons, as Lava's float `S4d` keeps C: the same state update as FixedS4D, then
    one message per neuron on s_out, floor((c_re·x_re + c_im·x_im) / 2^shift_msg) = 2·Re(c·x), which a ones
    synapse group sums into the channel."""

    def __init__(self, *, a_re, a_im, b_re, b_im, c_re, c_im, shift_a: int, shift_b: int, shift_msg: int,
                 widths: dict, hop: int, period: int, sequence_length: int, name: str | None = None) -> None:
        super().__init__(widths=dict(widths), name=name)
        n = _s4d_vars(self, dict(a_re=a_re, a_im=a_im, b_re=b_re, b_im=b_im, c_re=c_re, c_im=c_im),
                      (shift_a, shift_b, shift_msg))
        self.a_in = InPort(shape=(n,))
        self.s_out = OutPort(shape=(n,))
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
