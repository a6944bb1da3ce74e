"""`fixed_pt` process models of our neurons: each one calls compiler.fixed_point, the single definition of
the arithmetic, so the Lava network and the NumPy/JAX references cannot drift apart."""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from compiler import fixed_point as fp
from compiler.lava.process import FixedFoldedS4D, FixedGraded, FixedReadout, FixedS4D
from compiler.schedule import token_at


def _token(model) -> int | None:
    """Index of the token this neuron group works on in the current step, or None in an idle step.

    Lava counts steps from 1, the schedule from 0.
    """
    return token_at(model.time_step - 1, int(model.hop[0]), int(model.period[0]))


def _s4d_update(model) -> fp.Widths:
    """Receive the channel messages and, in a step that carries a token, update the state (reset at the
    first token of a sequence); shared by both S4D neuron variants. Returns the spec widths."""
    u = model.a_in.recv()
    token = _token(model)
    widths = fp.Widths(**model.proc_params["widths"])
    if token is not None:
        if token % int(model.sequence_length[0]) == 0:
            model.x_re[:] = 0
            model.x_im[:] = 0
        shift_a, shift_b, _ = (int(s) for s in model.shifts)
        x_re, x_im = fp.s4d_step(model.x_re, model.x_im, u, model.a_re, model.a_im, model.b_re, model.b_im,
                                 shift_a, shift_b, widths)
        model.x_re[:] = x_re
        model.x_im[:] = x_im
    return widths


class _PyFixedS4DStates(PyLoihiProcessModel):
    """What both S4D neuron models hold: the input port, the coefficients, the state and its schedule
    (Lava collects the declarations of base classes, as its own fixed-point LIF models do)."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    a_re: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    a_im: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    b_re: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    b_im: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    x_re: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    x_im: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    shifts: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    hop: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    period: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    sequence_length: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)


@implements(proc=FixedS4D, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyFixedS4DModel(_PyFixedS4DStates):
    s_re: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    s_im: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)

    def run_spk(self) -> None:
        widths = _s4d_update(self)
        shift_msg = int(self.shifts[2])
        self.s_re.send(fp.state_message(self.x_re, shift_msg, widths).astype(np.int32))
        self.s_im.send(fp.state_message(self.x_im, shift_msg, widths).astype(np.int32))


@implements(proc=FixedFoldedS4D, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyFixedFoldedS4DModel(_PyFixedS4DStates):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    c_re: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    c_im: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    def run_spk(self) -> None:
        widths = _s4d_update(self)
        message = fp.folded_message(self.x_re, self.x_im, self.c_re, self.c_im, int(self.shifts[2]), widths)
        self.s_out.send(message.astype(np.int32))


@implements(proc=FixedGraded, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyFixedGradedModel(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    def run_spk(self) -> None:
        acc = self.a_in.recv()
        widths = fp.Widths(**self.proc_params["widths"])
        if self.proc_params["relu"]:
            out = fp.relu(acc + self.bias.astype(np.int64), widths)
        else:
            out = fp.channel(acc, self.bias, widths)
        self.s_out.send(out.astype(np.int32))


@implements(proc=FixedReadout, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyFixedReadoutModel(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    bias: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    z: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    hop: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    period: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    sequence_length: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

    def run_spk(self) -> None:
        acc = self.a_in.recv()
        token = _token(self)
        if token is not None:
            if token % int(self.sequence_length[0]) == 0:
                self.z[:] = 0
            widths = fp.Widths(**self.proc_params["widths"])
            self.z[:] = fp.readout(self.z, acc, self.bias, self.proc_params["accumulate"], widths)
        self.s_out.send(self.z.astype(np.int32))
