"""The fixed-point arithmetic of docs/fixed_point.md, in int64: one definition of every primitive.

Every integer v stands for v · 2^e with a declared width; the exponents live in `FixedNetwork.exponents`
and every shift below is derived from them. The compiler's Lava process models call these primitives, and
`run` (a plain loop over tokens) is the slow, obviously correct reference that the JAX fixed mode and the
Lava network are both checked against, bit for bit. The primitives are numba ufuncs, so the per-token
runtime of compiler/stream.py compiles the very same functions into its loop.

No JAX here: the compiler side must run without it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping

import numba
import numpy as np

POOLINGS = ("mean", "last")
# S4D neuron variants (docs/fixed_point.md §4): "split" sends Re x and Im x and applies C in two synapse groups;
# "folded" keeps C in the neuron and sends one message 2·Re(c·x) per mode, summed to channels by a ones group.
NEURONS = ("split", "folded")


@dataclass(frozen=True)
class Widths:
    """Bit widths of the spec (two's complement, sign included unless noted)."""

    weight: int = 8  # synaptic weight mantissa m; Lava's Dense gets 2·m (9-bit even values, MIXED sign mode)
    coef: int = 16  # S4D neuron coefficients a (re, im) and b̄ (re, im)
    state: int = 24  # S4D state variables, neuron registers and the readout accumulator
    message: int = 16  # graded spikes between neurons (unsigned for ReLU outputs)
    input: int = 8  # unsigned input samples (pixels 0..255)
    accumulator: int = 32  # Lava Dense accumulates in int32: every group must provably fit

    def __post_init__(self) -> None:
        limits = {"weight": (2, 8), "coef": (2, 24), "state": (8, 24), "message": (2, 24), "input": (1, 24),
                  "accumulator": (32, 32)}
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"widths.{name} must be an integer in [{low}, {high}], got {value!r}")

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


# --- primitives ---------------------------------------------------------------------------------------------
# Each primitive is one numba ufunc on int64: applied to NumPy arrays it broadcasts (the reference below and
# the Lava process models), called on scalars inside numba code it compiles inline (compiler/stream.py, the
# per-token runtime). So the arithmetic is written once and both paths run the same code. Inputs of a
# narrower integer type are widened to int64 first, so products cannot wrap.

I64 = "int64({})".format


@numba.vectorize([I64("int64, int64")], cache=True)
def shift_floor(v, shift):
    """floor(v · 2^−shift): an arithmetic right shift for shift ≥ 0 (rounds towards −∞), a left shift below 0.
    Written without a branch so that compiled loops over it vectorize."""
    return (v >> max(shift, 0)) << max(-shift, 0)


def signed_max(bits: int) -> int:
    """Largest magnitude of a signed `bits`-wide value; saturation is symmetric, ±(2^(bits−1) − 1)."""
    return (1 << (bits - 1)) - 1


@numba.vectorize([I64("int64, int64")], cache=True)
def saturate(v, bits):
    """Clip to ±(2^(bits−1) − 1) (symmetric, like Lava's RF neuron, so negation never overflows)."""
    limit = (np.int64(1) << (bits - 1)) - 1
    return min(max(v, -limit), limit)


@numba.vectorize([I64("int64, int64")], cache=True)
def clip_unsigned(v, bits):
    """Clip to the unsigned range [0, 2^bits − 1] (ReLU messages)."""
    return min(max(v, 0), (np.int64(1) << bits) - 1)


@numba.vectorize([I64("int64, int64, int64")], cache=True)
def channel_message(acc, bias, bits):
    """Channel neuron: synaptic input plus bias, saturated to a signed `bits`-wide message."""
    return saturate(acc + bias, bits)


@numba.vectorize([I64("int64, int64, int64")], cache=True)
def top_bits(x, shift, bits):
    """The graded spike of one S4D state variable: floor(x / 2^shift), saturated to `bits`."""
    return saturate(shift_floor(x, shift), bits)


@numba.vectorize([I64("int64, int64, int64, int64, int64, int64, int64, int64, int64")], cache=True)
def s4d_part(x_p, x_q, u, a_re, a_q, b, shift_a, shift_b, bits):
    """One state variable of the S4D update: sat(floor((a_re·x_p − a_q·x_q) / 2^shift_a) + floor(b·u / 2^shift_b)).
    The real part is (x_re, x_im, a_im, b_re), the imaginary part (x_im, x_re, −a_im, b_im)."""
    return saturate(shift_floor(a_re * x_p - a_q * x_q, shift_a) + shift_floor(b * u, shift_b), bits)


@numba.vectorize([I64("int64, int64, int64, int64, int64")], cache=True)
def readout_value(z, acc, bias, accumulate, bits):
    """Readout neuron: sat(z + acc + bias) when `accumulate` (mean pooling's running sum), else sat(acc + bias)."""
    return saturate(acc + bias + (z if accumulate else 0), bits)


def lava_weights(mantissa) -> np.ndarray:
    """The `weights` Lava's Dense is given for int8 mantissas m: 2·m, which its MIXED sign mode with
    num_weight_bits=8 keeps unchanged (it clips to [−256, 255] and clears the lowest bit)."""
    return 2 * np.asarray(mantissa, np.int64)


def weight_exp(e_weight: int, e_in: int, e_out: int) -> int:
    """Lava Dense `weight_exp` taking inputs at exponent e_in to outputs at e_out: Σ(2m)·s is worth
    2^(e_weight + e_in − 1) per unit."""
    return int(e_weight) + int(e_in) - 1 - int(e_out)


def dense(s, mantissa, w_exp: int):
    """Lava's bit-accurate Dense: acc = Σ_j (2 m_ij) s_j, then acc << w_exp, or acc >> −w_exp (floor).
    `s` is [..., in], `mantissa` [out, in]; returns [..., out]."""
    acc = np.asarray(s, np.int64) @ lava_weights(mantissa).T
    return shift_floor(acc, -int(w_exp))


def channel(acc, bias, widths: Widths):
    """Channel neuron (encoder and mixer outputs): the synaptic input plus bias, sent as a signed message."""
    return channel_message(acc, bias, widths.message)


def relu(acc, widths: Widths):
    """ReLU graded neuron: sends max(v, 0), saturated to the unsigned message range [0, 2^message − 1]."""
    return clip_unsigned(acc, widths.message)


def s4d_step(x_re, x_im, u, a_re, a_im, b_re, b_im, shift_a: int, shift_b: int, widths: Widths):
    """One S4D neuron update x ← a·x + b̄·u per complex mode, with two 24-bit state variables:

        x_re' = sat(floor((a_re·x_re − a_im·x_im) / 2^shift_a) + floor(b_re·u / 2^shift_b))
        x_im' = sat(floor((a_re·x_im + a_im·x_re) / 2^shift_a) + floor(b_im·u / 2^shift_b))

    `u` is the channel message fanned out to every mode ([..., H, 1] against [H, P] coefficients).
    """
    a_im = np.asarray(a_im, np.int64)
    return (s4d_part(x_re, x_im, u, a_re, a_im, b_re, shift_a, shift_b, widths.state),
            s4d_part(x_im, x_re, u, a_re, -a_im, b_im, shift_a, shift_b, widths.state))


def state_message(x, shift_msg: int, widths: Widths):
    """The graded spike an S4D neuron sends for one state variable: its top bits, floor(x / 2^shift_msg)."""
    return top_bits(x, shift_msg, widths.message)


def folded_message(x_re, x_im, c_re, c_im, shift_msg: int, widths: Widths):
    """The one graded spike of a folded S4D neuron: its mode's share of the channel output,

        2·Re(c·x) = c_re·x_re + c_im·x_im    (c_re = 2 Re c, c_im = −2 Im c, 16-bit neuron parameters)

    formed exactly (two 40-bit products), floored once by shift_msg and saturated to the message width.
    """
    x_re, x_im, c_re, c_im = (np.asarray(v, np.int64) for v in (x_re, x_im, c_re, c_im))
    return saturate(shift_floor(c_re * x_re + c_im * x_im, shift_msg), widths.message)


def readout(z, acc, bias, accumulate: bool, widths: Widths):
    """Readout neuron: z_t = sat(z_{t−1} + acc + bias) for mean pooling (a running sum: exact, streamable,
    same argmax as the mean at every t), z_t = sat(acc + bias) for 'last'."""
    return readout_value(z, acc, bias, int(accumulate), widths.state)


# --- the network ----------------------------------------------------------------------------------------------

def live_modes(b_re, b_im) -> np.ndarray:
    """Modes [H, P] with b̄ ≠ 0. A mode with b̄ = 0 (pruned B) adds floor(0·u / 2^shift_b) = 0 to a state that
    starts at 0, so its state and messages stay 0 for every input: its fan-out synapse and C weights can be
    left out without changing any value of the network."""
    return (np.asarray(b_re) != 0) | (np.asarray(b_im) != 0)


def expansion_matrix(d_model: int, n_modes: int, live=None) -> np.ndarray:
    """Mantissas [H·P, H] of the fan-out synapse group H → states: neuron h·P + p receives channel h with m = 1
    (m = 0 for modes that are not `live`)."""
    full = np.repeat(np.eye(d_model, dtype=np.int64), n_modes, axis=0)
    return full if live is None else full * np.asarray(live, np.int64).reshape(-1, 1)


def reduction_matrix(c) -> np.ndarray:
    """Mantissas [H, H·P] of a C-reduction synapse group from compact per-mode weights c [H, P]."""
    c = np.asarray(c, np.int64)
    d_model, n_modes = c.shape
    full = np.zeros((d_model, d_model * n_modes), np.int64)
    for h in range(d_model):
        full[h, h * n_modes:(h + 1) * n_modes] = c[h]
    return full


def tensor_names(n_layers: int) -> list[str]:
    """Names of the integer tensors of a network, in a fixed order."""
    names = ["encoder.weight", "encoder.bias"]
    for layer in range(n_layers):
        names += [f"layers.{layer}.{k}" for k in ("a_re", "a_im", "b_re", "b_im", "c_re", "c_im", "d")]
        names += [f"mixers.{layer}.weight", f"mixers.{layer}.bias"]
    return names + ["decoder.weight", "decoder.bias"]


def activation_names(n_layers: int) -> list[str]:
    """Names of the activation exponents: input, u.l (channel messages, l = 0..L), x.l, x_msg.l, y.l, logits."""
    names = ["input"] + [f"u.{layer}" for layer in range(n_layers + 1)]
    for layer in range(n_layers):
        names += [f"x.{layer}", f"x_msg.{layer}", f"y.{layer}"]
    return names + ["logits"]


def tensor_width(name: str, widths: Widths, neuron: str = "split") -> tuple[int, np.dtype]:
    """(signed bit width, storage dtype) the spec allows for the integer tensor `name`: c_re, c_im are 8-bit
    synaptic weights of the split neuron and 16-bit neuron coefficients of the folded one."""
    leaf = name.rsplit(".", 1)[1]
    if leaf in ("a_re", "a_im", "b_re", "b_im") or (neuron == "folded" and leaf in ("c_re", "c_im")):
        return widths.coef, np.dtype(np.int32)
    if leaf == "bias":
        return widths.state, np.dtype(np.int32)
    return widths.weight, np.dtype(np.int8)


@dataclass(frozen=True)
class DenseGroup:
    """One synapse group as Lava's Dense runs it: mantissas [out, in] and the derived weight_exp."""

    name: str
    mantissa: np.ndarray
    weight_exp: int
    in_max: int  # largest magnitude the input messages can have

    def apply(self, s) -> np.ndarray:
        """`dense(s, mantissa, weight_exp)`, as the reference runs it every token: the Lava weights are converted
        once, and the sum is a float64 matrix product (BLAS; NumPy's int64 product has none). That is exact:
        `check_network` proves Σ_j |2 m_ij| · in_max < 2^31 for every group, so for messages within in_max every
        product and partial sum, added in any order, is an integer below 2^53, which float64 holds exactly.
        Messages beyond in_max, which saturation rules out, take the int64 `dense`."""
        s = np.asarray(s, np.int64)
        if np.abs(s).max(initial=0) > self.in_max:
            return dense(s, self.mantissa, self.weight_exp)
        return shift_floor((s.astype(np.float64) @ self._weights_t).astype(np.int64), -int(self.weight_exp))

    @cached_property
    def _weights_t(self) -> np.ndarray:
        """Lava's weights 2·m as float64 [in, out]."""
        return np.ascontiguousarray(lava_weights(self.mantissa).T, dtype=np.float64)


@dataclass(frozen=True)
class FixedNetwork:
    """A quantized classifier: integer tensors (by `tensor_names`), exponents of tensors and activations."""

    n_layers: int
    pooling: str
    tensors: Mapping[str, np.ndarray]
    exponents: Mapping[str, int]
    widths: Widths = field(default_factory=Widths)
    neuron: str = "split"  # one of NEURONS

    def __post_init__(self) -> None:
        check_network(self)

    @property
    def d_model(self) -> int:
        return int(self.tensors["encoder.weight"].shape[0])

    @property
    def n_modes(self) -> int:
        return int(self.tensors["layers.0.a_re"].shape[1])

    def weight_exp(self, weight: str, source: str, target: str) -> int:
        e = self.exponents
        return weight_exp(e[weight], e[source], e[target])

    def s4d_shifts(self, layer: int) -> tuple[int, int, int]:
        """(shift_a, shift_b, shift_msg) of layer `layer`'s S4D neurons, derived from the exponents; shift_msg
        takes the state (split) or the product c·x (folded) to the message exponent x_msg."""
        e = self.exponents
        shift_a = -e[f"layers.{layer}.a_re"]
        shift_b = e[f"x.{layer}"] - e[f"layers.{layer}.b_re"] - e[f"u.{layer}"]
        product = e[f"x.{layer}"] + (e[f"layers.{layer}.c_re"] if self.neuron == "folded" else 0)
        return shift_a, shift_b, e[f"x_msg.{layer}"] - product

    def reduction_exps(self, layer: int) -> tuple[int, int]:
        """Lava weight_exp of the groups taking layer `layer`'s S4D messages to y: (c_re, c_im) for split
        neurons, the ones group's for both places for folded ones (mantissa 1 at exponent 0)."""
        if self.neuron == "folded":
            ones = weight_exp(0, self.exponents[f"x_msg.{layer}"], self.exponents[f"y.{layer}"])
            return ones, ones
        return tuple(self.weight_exp(f"layers.{layer}.{part}", f"x_msg.{layer}", f"y.{layer}")
                     for part in ("c_re", "c_im"))

    @cached_property
    def groups(self) -> dict[str, DenseGroup]:
        """`dense_groups` by name, built on first use and kept (the reference evaluates them every token). Kept
        with their float64 copies they take about 200 MB at the s4d-265k shape, so a network that is only
        checked or streamed never builds them: `check_network` uses `dense_groups`, which it drops after."""
        return {group.name: group for group in self.dense_groups()}

    def dense_groups(self) -> list[DenseGroup]:
        """Every synapse group of the network with its Lava parameters, in data-flow order."""
        t, w = self.tensors, self.widths
        msg, umsg = signed_max(w.message), (1 << w.message) - 1
        groups = [DenseGroup("encoder", t["encoder.weight"], self.weight_exp("encoder.weight", "input", "u.0"),
                             (1 << w.input) - 1)]
        for layer in range(self.n_layers):
            p = f"layers.{layer}"
            live = live_modes(t[f"{p}.b_re"], t[f"{p}.b_im"])
            groups.append(DenseGroup(f"{p}.expansion", expansion_matrix(self.d_model, self.n_modes, live), -1, msg))
            if self.neuron == "folded":  # Σ_p of the per-mode messages: mantissas 1 (exponent 0)
                ones = np.ones((self.d_model, self.n_modes), np.int64)
                groups.append(DenseGroup(f"{p}.reduction", reduction_matrix(ones), self.reduction_exps(layer)[0], msg))
            else:
                for part, exp in zip(("c_re", "c_im"), self.reduction_exps(layer)):
                    groups.append(DenseGroup(f"{p}.{part}", reduction_matrix(t[f"{p}.{part}"] * live), exp, msg))
            groups.append(DenseGroup(f"{p}.d", np.diag(t[f"{p}.d"].astype(np.int64)),
                                     self.weight_exp(f"{p}.d", f"u.{layer}", f"y.{layer}"), msg))
            groups.append(DenseGroup(f"mixers.{layer}", t[f"mixers.{layer}.weight"],
                                     self.weight_exp(f"mixers.{layer}.weight", f"y.{layer}", f"u.{layer + 1}"),
                                     umsg))
        groups.append(DenseGroup("decoder", t["decoder.weight"],
                                 self.weight_exp("decoder.weight", f"u.{self.n_layers}", "logits"), msg))
        return groups


def accumulator_bound(group: DenseGroup) -> int:
    """Largest |a_buff| the group can produce for any input messages: max_i Σ_j |2 m_ij| · in_max, shifted."""
    acc = int(np.abs(lava_weights(group.mantissa)).sum(axis=1).max(initial=0)) * group.in_max
    return acc << group.weight_exp if group.weight_exp > 0 else acc


def check_network(net: FixedNetwork) -> None:
    """Raise ValueError naming the field when a network breaks the spec (widths, exponents, int32 bounds)."""
    w = net.widths
    if net.pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {net.pooling!r}")
    if net.neuron not in NEURONS:
        raise ValueError(f"neuron must be one of {NEURONS}, got {net.neuron!r}")
    for name in tensor_names(net.n_layers):
        if name not in net.tensors:
            raise ValueError(f"tensor {name!r} is missing")
        bits, dtype = tensor_width(name, w, net.neuron)
        value = np.asarray(net.tensors[name])
        if value.dtype != dtype:
            raise ValueError(f"tensor {name!r} has dtype {value.dtype}, the spec wants {dtype}")
        limit = signed_max(bits) + (1 if dtype == np.int8 else 0)  # int8 mantissas use the full [−128, 127]
        if value.size and (value.max() > signed_max(bits) or value.min() < -limit):
            raise ValueError(f"tensor {name!r} has values in [{value.min()}, {value.max()}], outside its "
                             f"{bits}-bit range")
        if name not in net.exponents:
            raise ValueError(f"exponent of tensor {name!r} is missing")
    for name in activation_names(net.n_layers):
        if name not in net.exponents:
            raise ValueError(f"exponent of activation {name!r} is missing")
    for name, value in net.exponents.items():
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or abs(int(value)) > 64:
            raise ValueError(f"exponent {name!r} must be an integer in [−64, 64], got {value!r}")
    e = net.exponents
    for layer in range(net.n_layers):
        p = f"layers.{layer}"
        if e[f"{p}.a_re"] != -(w.coef - 1) or e[f"{p}.a_im"] != -(w.coef - 1):
            raise ValueError(f"exponents of {p}.a_re/a_im must be −(coef − 1) = {-(w.coef - 1)}")
        if e[f"{p}.b_re"] != e[f"{p}.b_im"]:
            raise ValueError(f"exponents of {p}.b_re and {p}.b_im must be equal")
        if net.neuron == "folded" and e[f"{p}.c_re"] != e[f"{p}.c_im"]:
            raise ValueError(f"exponents of {p}.c_re and {p}.c_im must be equal (folded neuron)")
        shift_a, shift_b, shift_msg = net.s4d_shifts(layer)
        if shift_b < 0 or shift_msg < 0:
            raise ValueError(f"{p}: exponents give a negative shift (shift_b={shift_b}, shift_msg={shift_msg})")
    for bias, target in [("encoder.bias", "u.0"), ("decoder.bias", "logits")] + [
            (f"mixers.{layer}.bias", f"u.{layer + 1}") for layer in range(net.n_layers)]:
        if e[bias] != e[target]:
            raise ValueError(f"exponent of {bias!r} must equal that of {target!r} ({e[target]}), got {e[bias]}")
    limit = (1 << (w.accumulator - 1)) - 1
    for group in net.dense_groups():
        bound = accumulator_bound(group)
        if bound > limit:
            raise ValueError(f"synapse group {group.name!r} can reach |a_buff| = {bound} > 2^31 − 1 "
                             f"(weight_exp {group.weight_exp}); Lava's int32 Dense would wrap")


# --- the reference run ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FixedState:
    """What the network carries between tokens: per layer (x_re, x_im) [B, H, P] and the readout z [B, C]."""

    x_re: tuple[np.ndarray, ...]
    x_im: tuple[np.ndarray, ...]
    z: np.ndarray


def zero_state(net: FixedNetwork, batch: int) -> FixedState:
    shape = (batch, net.d_model, net.n_modes)
    zeros = tuple(np.zeros(shape, np.int64) for _ in range(net.n_layers))
    n_classes = net.tensors["decoder.weight"].shape[0]
    return FixedState(zeros, zeros, np.zeros((batch, n_classes), np.int64))


def step(net: FixedNetwork, state: FixedState, sample) -> tuple[FixedState, dict]:
    """One token through the whole network with zero synaptic delay; `sample` is [B, d_input] integers.

    Returns the next state and every message of this token (for bit-exact comparisons), including 'logits'.
    Synapse groups are the network's `groups`, full Lava matrices (fan-out, block C- or ones-reduction,
    diagonal D), the very ones the Lava network is given.
    """
    t, w, g = net.tensors, net.widths, net.groups
    h, p_modes = net.d_model, net.n_modes
    out = {}
    u = channel(g["encoder"].apply(sample), t["encoder.bias"], w)
    out["u.0"] = u
    new_re, new_im = [], []
    for layer in range(net.n_layers):
        p = f"layers.{layer}"
        shift_a, shift_b, shift_msg = net.s4d_shifts(layer)
        fan = g[f"{p}.expansion"].apply(u).reshape(u.shape[0], h, p_modes)
        x_re, x_im = s4d_step(state.x_re[layer], state.x_im[layer], fan, t[f"{p}.a_re"], t[f"{p}.a_im"],
                              t[f"{p}.b_re"], t[f"{p}.b_im"], shift_a, shift_b, w)
        new_re.append(x_re)
        new_im.append(x_im)
        if net.neuron == "folded":
            m = folded_message(x_re, x_im, t[f"{p}.c_re"], t[f"{p}.c_im"], shift_msg, w).reshape(-1, h * p_modes)
            acc = g[f"{p}.reduction"].apply(m)
        else:
            m_re = state_message(x_re, shift_msg, w).reshape(u.shape[0], h * p_modes)
            m_im = state_message(x_im, shift_msg, w).reshape(u.shape[0], h * p_modes)
            acc = g[f"{p}.c_re"].apply(m_re) + g[f"{p}.c_im"].apply(m_im)
        y = relu(acc + g[f"{p}.d"].apply(u), w)
        u = channel(g[f"mixers.{layer}"].apply(y), t[f"mixers.{layer}.bias"], w)
        out.update({f"x_re.{layer}": x_re, f"x_im.{layer}": x_im, f"y.{layer}": y, f"u.{layer + 1}": u})
    acc = g["decoder"].apply(u)
    z = readout(state.z, acc, t["decoder.bias"], net.pooling == "mean", w)
    out["logits"] = z
    return FixedState(tuple(new_re), tuple(new_im), z), out


def run(net: FixedNetwork, inputs) -> np.ndarray:
    """Integer logits after every token, [B, L, classes], for integer inputs [B, L, d_input] (e.g. pixels)."""
    inputs = np.asarray(inputs)
    if inputs.ndim != 3:
        raise ValueError(f"inputs must be [batch, length, channels], got shape {inputs.shape}")
    if inputs.min(initial=0) < 0 or inputs.max(initial=0) > (1 << net.widths.input) - 1:
        raise ValueError(f"inputs must be integers in [0, {(1 << net.widths.input) - 1}]")
    state = zero_state(net, inputs.shape[0])
    logits = []
    for k in range(inputs.shape[1]):
        state, out = step(net, state, inputs[:, k].astype(np.int64))
        logits.append(out["logits"])
    return np.stack(logits, axis=1)
