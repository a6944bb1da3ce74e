"""Token-by-token fixed-point inference: the integer network of compiler/fixed_point.py, one compiled call per
token.

`fixed_point.run` evaluates each synapse group as a full Lava matrix in NumPy, which is clear but costs
milliseconds per token. `FixedStreamer` runs the same network as one numba loop per token over compact
arrays (the expansion group is the identity on each channel's message, the C-reduction group — or the folded
neuron's ones group — is block diagonal, D is diagonal), calling the primitives of `fixed_point` — the same
numba ufuncs the reference and the Lava process models use — on scalars. It equals `fixed_point.run` and the
JAX fixed mode bit for bit, for both S4D neuron variants (tests/test_stream.py).
"""
from __future__ import annotations

import numba
import numpy as np

from compiler import fixed_point as fp


class FixedStreamer:
    """Feed one token of integer inputs at a time with `push`; `reset` starts new sequences."""

    def __init__(self, net: fp.FixedNetwork, batch: int = 1):
        if not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be a positive integer, got {batch!r}")
        self.net = net
        self.batch = batch
        self.d_input = int(net.tensors["encoder.weight"].shape[1])
        self.n_classes = int(net.tensors["decoder.weight"].shape[0])
        self._weights, self._shifts = _pack(net)
        w = net.widths
        self._step = _STEPS[net.neuron == "folded"]
        self._scalars = np.array([w.message, w.state, w.input, int(net.pooling == "mean"),
                                  net.weight_exp("encoder.weight", "input", "u.0"),
                                  net.weight_exp("decoder.weight", f"u.{net.n_layers}", "logits")], np.int64)
        self.reset()

    def reset(self) -> None:
        shape = (self.batch, self.net.n_layers, self.net.d_model, self.net.n_modes)
        self._x_re = np.zeros(shape, np.int32)  # states are saturated to widths.state ≤ 24 bits
        self._x_im = np.zeros(shape, np.int32)
        self._z = np.zeros((self.batch, self.n_classes), np.int64)

    def push(self, x_t) -> np.ndarray:
        """One token of integers x_t [batch, d_input] (pixels) → the readout z after it, [batch, classes] int64
        (a view, overwritten by the next call)."""
        x_t = np.ascontiguousarray(x_t)
        if x_t.shape != (self.batch, self.d_input):
            raise ValueError(f"token must have shape {(self.batch, self.d_input)}, got {x_t.shape}")
        if x_t.dtype.kind not in "iu":
            raise ValueError(f"token must hold integers (pixels), got dtype {x_t.dtype}")
        if not self._step(x_t.astype(np.int64, copy=False), *self._weights, self._shifts, self._scalars,
                          self._x_re, self._x_im, self._z):
            raise ValueError(f"token values must be integers in [0, {(1 << self.net.widths.input) - 1}]")
        return self._z


def _pack(net: fp.FixedNetwork):
    """Contiguous arrays of the network in the loop's layout, Lava's 2·m weights, and per-layer shifts
    (shift_a, shift_b, shift_msg, weight_exp of c_re, c_im, d, mixer).

    The per-mode and mixer arrays are stored narrow (coefficients ≤ 24 bits in int32, 2·m in int16), which
    halves the memory the loop streams through per token and lets the compiler use 32×32 → 64-bit vector
    multiplies; every product is still formed in int64. For the folded neuron, c_re and c_im are neuron
    coefficients (≤ 24 bits, int32, as they are).
    """
    t, n = net.tensors, net.n_layers
    folded = net.neuron == "folded"
    stack = lambda key, scale=1, dtype=np.int64: np.ascontiguousarray(
        np.stack([scale * np.asarray(t[key.format(i)], np.int64) for i in range(n)]).astype(dtype))
    weights = (
        fp.lava_weights(t["encoder.weight"]), np.asarray(t["encoder.bias"], np.int64),
        stack("layers.{}.a_re", dtype=np.int32), stack("layers.{}.a_im", dtype=np.int32),
        stack("layers.{}.b_re", dtype=np.int32), stack("layers.{}.b_im", dtype=np.int32),
        *((stack("layers.{}.c_re", 1, np.int32), stack("layers.{}.c_im", 1, np.int32)) if folded else
          (stack("layers.{}.c_re", 2, np.int16), stack("layers.{}.c_im", 2, np.int16))), stack("layers.{}.d", 2),
        stack("mixers.{}.weight", 2, np.int16), stack("mixers.{}.bias"),
        fp.lava_weights(t["decoder.weight"]), np.asarray(t["decoder.bias"], np.int64),
    )
    shifts = np.array([net.s4d_shifts(i) + net.reduction_exps(i) + (
        net.weight_exp(f"layers.{i}.d", f"u.{i}", f"y.{i}"),
        net.weight_exp(f"mixers.{i}.weight", f"y.{i}", f"u.{i + 1}")) for i in range(n)], np.int64)
    return weights, shifts


def _compile_step(folded: bool):
    """The per-token loop for one S4D neuron variant. `folded` is a constant of the closure, so each variant
    compiles to a loop of its own (the split one without a trace of the other: a run-time flag in a shared
    loop made it 13–31 % slower) and numba caches each, keyed by that constant."""

    @numba.njit(cache=True)
    def step(x, enc_w, enc_b, a_re, a_im, b_re, b_im, c_re, c_im, d, mix_w, mix_b, dec_w, dec_b,
             shifts, scalars, x_re, x_im, z):
        """docs/fixed_point.md §2 for one token and every sequence of the batch; False if an input is out of range."""
        msg, state_bits, input_bits, accumulate, enc_exp, dec_exp = scalars
        n_layers, channels, modes = a_re.shape
        top = (np.int64(1) << input_bits) - 1
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                if x[i, j] < 0 or x[i, j] > top:
                    return False
        u = np.empty(channels, np.int32)  # messages are ≤ 24 bits: int32 operands let the products use 32×32→64
        y = np.empty(channels, np.int32)
        for i in range(x.shape[0]):
            for h in range(channels):  # encoder group and channel neurons
                acc = np.int64(0)
                for j in range(x.shape[1]):
                    acc += enc_w[h, j] * x[i, j]
                u[h] = fp.channel_message(fp.shift_floor(acc, -enc_exp), enc_b[h], msg)
            for layer in range(n_layers):
                sa, sb, sm, w_cre, w_cim, w_d, w_mix = shifts[layer]
                xr, xi = x_re[i, layer], x_im[i, layer]
                for h in range(channels):
                    u_h = u[h]  # the expansion group (2·1 shifted by 1) hands every mode its channel's message
                    ar, ai, br, bi = a_re[layer, h], a_im[layer, h], b_re[layer, h], b_im[layer, h]
                    cr, ci, r, im = c_re[layer, h], c_im[layer, h], xr[h], xi[h]
                    for p in range(modes):  # the state update, then the messages: two loops that vectorize
                        new_re = fp.s4d_part(r[p], im[p], u_h, ar[p], ai[p], br[p], sa, sb, state_bits)
                        im[p] = fp.s4d_part(im[p], r[p], u_h, ar[p], -np.int64(ai[p]), bi[p], sa, sb, state_bits)
                        r[p] = new_re
                    acc_re = np.int64(0)
                    acc_im = np.int64(0)
                    if folded:  # one message 2·Re(c·x) per mode, summed by the ones group (Lava weight 2·1)
                        for p in range(modes):
                            share = np.int64(cr[p]) * r[p] + np.int64(ci[p]) * im[p]
                            acc_re += 2 * fp.saturate(fp.shift_floor(share, sm), msg)
                    else:  # the top bits of x_re and x_im through the two C groups
                        for p in range(modes):
                            acc_re += np.int64(cr[p]) * np.int32(fp.top_bits(r[p], sm, msg))
                            acc_im += np.int64(ci[p]) * np.int32(fp.top_bits(im[p], sm, msg))
                    y[h] = fp.clip_unsigned(fp.shift_floor(acc_re, -w_cre) + fp.shift_floor(acc_im, -w_cim)
                                            + fp.shift_floor(d[layer, h] * u_h, -w_d), msg)
                for h in range(channels):  # mixer group and channel neurons
                    acc = np.int64(0)
                    row = mix_w[layer, h]
                    for k in range(channels):
                        acc += np.int64(row[k]) * y[k]
                    u[h] = fp.channel_message(fp.shift_floor(acc, -w_mix), mix_b[layer, h], msg)
            for c in range(z.shape[1]):  # decoder group and readout neurons
                acc = np.int64(0)
                for k in range(channels):
                    acc += dec_w[c, k] * u[k]
                z[i, c] = fp.readout_value(z[i, c], fp.shift_floor(acc, -dec_exp), dec_b[c], accumulate, state_bits)
        return True

    return step


_STEPS = {False: _compile_step(False), True: _compile_step(True)}  # compiled on first use
