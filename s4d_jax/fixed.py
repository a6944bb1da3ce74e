"""The JAX fixed mode: the integer network of docs/fixed_point.md, batched and jit-compiled.

Integer arithmetic only: int32 for the per-mode state work (exactly, by splitting the state, §8 of the spec),
int64 elsewhere, inside `jax.experimental.enable_x64()` local to each call so the rest of the process keeps
JAX's 32-bit defaults. The network runs in recurrent form (`lax.scan` over tokens); it must equal
`compiler/fixed_point.py` bit for bit, which the tests check (the library itself never imports the compiler).
"""
from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Mapping

import jax
import numpy as np

from s4d_jax.config import ModelConfig

INPUT_SCALE = 1.0 / 255.0  # the float model sees pixel / 255; the fixed network sees the pixel
NEURONS = ("split", "folded")  # S4D neuron variants, docs/fixed_point.md §4


@dataclass(frozen=True)
class Widths:
    """Bit widths of the spec (docs/fixed_point.md §1); the manifest carries them to the compiler."""

    weight: int = 8
    coef: int = 16
    state: int = 24
    message: int = 16
    input: int = 8
    accumulator: int = 32

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class QuantizedModel:
    """Integer tensors and exponents (names as in docs/export_format.md) of a quantized classifier."""

    config: ModelConfig
    tensors: Mapping[str, np.ndarray]
    exponents: Mapping[str, int]
    widths: Widths = field(default_factory=Widths)
    neuron: str = "split"  # one of NEURONS

    def weight_exp(self, weight: str, source: str, target: str) -> int:
        """Lava Dense weight_exp: Σ(2m)·s is worth 2^(e_w + e_in − 1) per unit."""
        e = self.exponents
        return int(e[weight]) + int(e[source]) - 1 - int(e[target])

    def s4d_shifts(self, layer: int) -> tuple[int, int, int]:
        """(shift_a, shift_b, shift_msg) of a layer's S4D neurons; shift_msg takes the state (split) or the
        product c·x (folded) to the message exponent x_msg."""
        e = self.exponents
        product = int(e[f"x.{layer}"]) + (int(e[f"layers.{layer}.c_re"]) if self.neuron == "folded" else 0)
        return (-int(e[f"layers.{layer}.a_re"]),
                int(e[f"x.{layer}"]) - int(e[f"layers.{layer}.b_re"]) - int(e[f"u.{layer}"]),
                int(e[f"x_msg.{layer}"]) - product)

    def reduction_exps(self, layer: int) -> tuple[int, int]:
        """Lava weight_exp of the groups that sum a layer's S4D messages into y: (c_re, c_im) of the split
        neuron; the folded neuron's single ones group (mantissa 1 at exponent 0) twice."""
        x_msg, y = f"x_msg.{layer}", f"y.{layer}"
        if self.neuron == "folded":
            ones = int(self.exponents[x_msg]) - 1 - int(self.exponents[y])
            return ones, ones
        return (self.weight_exp(f"layers.{layer}.c_re", x_msg, y), self.weight_exp(f"layers.{layer}.c_im", x_msg, y))


def _flatten(q: QuantizedModel):
    names = tuple(sorted(q.tensors))
    return [q.tensors[k] for k in names], (q.config, names, tuple(sorted(q.exponents.items())), q.widths, q.neuron)


def _unflatten(aux, leaves) -> QuantizedModel:
    config, names, exponents, widths, neuron = aux
    return QuantizedModel(config, dict(zip(names, leaves)), dict(exponents), widths, neuron)


# A pytree, so that code moving parameters between devices (evaluate.replicate) can carry a quantized model.
jax.tree_util.register_pytree_node(QuantizedModel, _flatten, _unflatten)


def pixels(x) -> np.ndarray:
    """Float inputs in [0, 1] (pixel / 255, as the data pipeline gives them) back to the integer pixels."""
    return np.rint(np.asarray(x, np.float64) * 255.0).astype(np.int64)


def _shift(v, shift: int):
    import jax.numpy as jnp

    return jnp.right_shift(v, shift) if shift >= 0 else jnp.left_shift(v, -shift)


def _sat(v, bits: int):
    import jax.numpy as jnp

    limit = (1 << (bits - 1)) - 1
    return jnp.clip(v, -limit, limit)


def _dense(s, lava_w, w_exp: int):
    """Lava's Dense: Σ_j (2 m_ij) s_j then the weight_exp shift (floor). `lava_w` is (2m)ᵀ [in, out]."""
    return _shift(s @ lava_w, -w_exp)


def _plan(q: QuantizedModel, narrow: bool) -> tuple[dict, dict]:
    """(integer arrays in the layout the step wants, static shifts) of a quantized model; the per-mode
    arrays are int32 when `narrow`, everything else int64."""
    t, n = q.tensors, q.config.n_layers
    arrays = {"enc": 2 * np.asarray(t["encoder.weight"], np.int64).T, "enc_b": t["encoder.bias"],
              "dec": 2 * np.asarray(t["decoder.weight"], np.int64).T, "dec_b": t["decoder.bias"]}
    static = {"enc": q.weight_exp("encoder.weight", "input", "u.0"),
              "dec": q.weight_exp("decoder.weight", f"u.{n}", "logits"), "layers": []}
    for layer in range(n):
        p = f"layers.{layer}"
        for k in ("a_re", "a_im", "b_re", "b_im"):
            arrays[f"{layer}.{k}"] = t[f"{p}.{k}"]
        # split: Lava weights 2·m of the C groups; folded: the neuron's own coefficients
        scale = 1 if q.neuron == "folded" else 2
        arrays[f"{layer}.c_re"] = scale * np.asarray(t[f"{p}.c_re"], np.int64)
        arrays[f"{layer}.c_im"] = scale * np.asarray(t[f"{p}.c_im"], np.int64)
        arrays[f"{layer}.d"] = 2 * np.asarray(t[f"{p}.d"], np.int64)
        arrays[f"{layer}.mix"] = 2 * np.asarray(t[f"mixers.{layer}.weight"], np.int64).T
        arrays[f"{layer}.mix_b"] = t[f"mixers.{layer}.bias"]
        static["layers"].append(q.s4d_shifts(layer) + q.reduction_exps(layer) + (
            q.weight_exp(f"{p}.d", f"u.{layer}", f"y.{layer}"),
            q.weight_exp(f"mixers.{layer}.weight", f"y.{layer}", f"u.{layer + 1}")))
    per_mode = ("a_re", "a_im", "b_re", "b_im", "c_re", "c_im")
    return {k: np.asarray(v, np.int32 if narrow and k.endswith(per_mode) else np.int64)
            for k, v in arrays.items()}, static


def _rotate(a_re, a_im, x_re, x_im, shift_a: int):
    """floor((a_re·x_re − a_im·x_im) / 2^shift_a) exactly, in int32.

    The product has up to 39 bits, so x = x_hi·2^12 + x_lo (x_lo in [0, 4096)) is split: both partial sums fit
    int32, and floor((P_hi·2^12 + P_lo) / 2^s) = (P_hi + (P_lo >> 12)) >> (s − 12) for s ≥ 12, because the
    remainder P_lo mod 2^12 is below one unit of the final shift.
    """
    hi_re, hi_im = x_re >> 12, x_im >> 12
    lo_re, lo_im = x_re & 0xFFF, x_im & 0xFFF
    p_hi = a_re * hi_re - a_im * hi_im
    p_lo = a_re * lo_re - a_im * lo_im
    return (p_hi + (p_lo >> 12)) >> (shift_a - 12)


def int32_exact(widths: Widths, shift_a: int, shift_msg: int | None = None) -> bool:
    """Whether the int32 split of `_rotate` is exact for these widths (true for the default spec); a folded
    neuron (`shift_msg` given) also uses it for its message c·x."""
    return (widths.state <= 24 and widths.coef <= 16 and widths.message <= 16 and shift_a >= 12
            and (shift_msg is None or shift_msg >= 12))


def _s4d_update(arrays, layer: int, x_re, x_im, u, sa: int, sb: int, widths: Widths, narrow: bool):
    """docs/fixed_point.md §4 on [B, H, P]: int32 with the exact split when `narrow`, else int64."""
    import jax.numpy as jnp

    a_re, a_im = arrays[f"{layer}.a_re"], arrays[f"{layer}.a_im"]
    b_re, b_im = arrays[f"{layer}.b_re"], arrays[f"{layer}.b_im"]
    if narrow:
        uu = u.astype(jnp.int32)[..., None]
        rot_re, rot_im = _rotate(a_re, a_im, x_re, x_im, sa), _rotate(a_re, -a_im, x_im, x_re, sa)
    else:
        uu = u[..., None]
        rot_re, rot_im = _shift(a_re * x_re - a_im * x_im, sa), _shift(a_re * x_im + a_im * x_re, sa)
    return (_sat(rot_re + _shift(b_re * uu, sb), widths.state),
            _sat(rot_im + _shift(b_im * uu, sb), widths.state))


def _messages(arrays, layer: int, x_re, x_im, sm: int, w_cre: int, w_cim: int, widths: Widths, narrow: bool,
              folded: bool):
    """The S4D neurons' messages summed into channel inputs [B, H] (int64), through Lava's reduction groups.

    split: Σ_p 2c_re·floor(x_re/2^sm) and Σ_p 2c_im·floor(x_im/2^sm), each shifted by its weight_exp.
    folded: per mode o = sat(floor((c_re·x_re + c_im·x_im) / 2^sm)) (`_rotate` with −c_im when narrow), then
    the ones group: Σ_p 2·o shifted by its weight_exp. Σ_p fits int32 by the accumulator bound (§3).
    """
    import jax.numpy as jnp

    msg = widths.message
    c_re, c_im = arrays[f"{layer}.c_re"], arrays[f"{layer}.c_im"]
    if folded:
        product = (_rotate(c_re, -c_im, x_re, x_im, sm) if narrow else _shift(c_re * x_re + c_im * x_im, sm))
        o = _sat(product, msg)
        return _shift(2 * jnp.sum(o, -1).astype(jnp.int64), -w_cre)
    m_re, m_im = _sat(_shift(x_re, sm), msg), _sat(_shift(x_im, sm), msg)
    return (_shift(jnp.sum(m_re * c_re, -1).astype(jnp.int64), -w_cre)
            + _shift(jnp.sum(m_im * c_im, -1).astype(jnp.int64), -w_cim))


def _layer(arrays, layer: int, shifts, widths: Widths, narrow: bool, folded: bool, u):
    """One S4D layer over a whole chunk, u [L, B, H] → next channel messages [L, B, H].

    Layers are feed-forward and causal, so running them one after another over all tokens gives the same
    numbers as the token-by-token order of the spec. Only the state recursion is a scan; the D path, ReLU and
    mixer run batched over all tokens.
    """
    import jax
    import jax.numpy as jnp

    sa, sb, sm, w_cre, w_cim, w_d, w_mix = shifts
    msg, umsg = widths.message, (1 << widths.message) - 1

    def step(state, u_t):
        x_re, x_im = _s4d_update(arrays, layer, *state, u_t, sa, sb, widths, narrow)
        return (x_re, x_im), _messages(arrays, layer, x_re, x_im, sm, w_cre, w_cim, widths, narrow, folded)

    h, p = arrays[f"{layer}.a_re"].shape
    zeros = jnp.zeros((u.shape[1], h, p), jnp.int32 if narrow else jnp.int64)
    _, acc = jax.lax.scan(step, (zeros, zeros), u)
    y = jnp.clip(acc + _shift(u * arrays[f"{layer}.d"], -w_d), 0, umsg)
    return _sat(_dense(y, arrays[f"{layer}.mix"], w_mix) + arrays[f"{layer}.mix_b"], msg)


@functools.lru_cache(maxsize=8)
def _compiled(static_key, widths: Widths, accumulate: bool, per_token: bool, narrow: bool, folded: bool):
    """The jitted network for one set of static shifts: inputs [B, L, C] → logits (docs/fixed_point.md §2)."""
    import jax
    import jax.numpy as jnp

    enc_exp, dec_exp, layers = static_key

    def run(arrays, inputs):
        u = _sat(_dense(jnp.swapaxes(inputs, 0, 1), arrays["enc"], enc_exp) + arrays["enc_b"], widths.message)
        for layer, shifts in enumerate(layers):
            u = _layer(arrays, layer, shifts, widths, narrow, folded, u)
        terms = _dense(u, arrays["dec"], dec_exp) + arrays["dec_b"]  # [L, B, classes]
        if accumulate:  # the saturating running sum of the readout neuron
            z_last, zs = jax.lax.scan(lambda z, term: (_sat(z + term, widths.state),) * 2,
                                      jnp.zeros_like(terms[0]), terms)
        else:
            zs = _sat(terms, widths.state)
            z_last = zs[-1]
        return jnp.swapaxes(zs, 0, 1) if per_token else z_last

    return jax.jit(run)


def run(q: QuantizedModel, inputs, *, per_token: bool = False, chunk: int = 32,
        narrow: bool | None = None) -> np.ndarray:
    """Integer logits for integer inputs [B, L, d_input] (pixels): [B, classes] after the last token, or
    [B, L, classes] after every token with `per_token`.

    Sequences go through in chunks of `chunk` (the states of a small chunk stay in cache, which is several
    times faster than one big batch), chunks in parallel on all cores. `narrow` forces (True) or forbids
    (False) the int32 state path; by default it is used whenever it is exact.
    """
    import jax
    from jax.experimental import enable_x64

    inputs = np.asarray(inputs)
    if inputs.ndim != 3 or inputs.shape[2] != q.config.d_input:
        raise ValueError(f"inputs must be [batch, length, {q.config.d_input}] integers, got shape {inputs.shape}")
    if inputs.size and (inputs.min() < 0 or inputs.max() > (1 << q.widths.input) - 1):
        raise ValueError(f"inputs must be integers in [0, {(1 << q.widths.input) - 1}]")
    folded = q.neuron == "folded"
    exact = all(int32_exact(q.widths, shift_a, shift_msg if folded else None)
                for shift_a, _, shift_msg in map(q.s4d_shifts, range(q.config.n_layers)))
    if narrow and not exact:
        raise ValueError("the int32 state path is not exact for these widths")
    narrow = exact if narrow is None else narrow
    arrays, static = _plan(q, narrow)
    key = (static["enc"], static["dec"], tuple(static["layers"]))  # hashable: the shifts are compiled in
    n = len(inputs)
    workers = os.cpu_count() or 1
    chunk = max(1, -(-n // max(workers, -(-n // chunk))))  # ≤ chunk, and at least one chunk per core
    padded = np.zeros((-(-n // chunk) * chunk,) + inputs.shape[1:], np.int64)
    padded[:n] = inputs
    fn = _compiled(key, q.widths, q.config.pooling == "mean", per_token, narrow, folded)
    with enable_x64():
        device_arrays = jax.device_put(arrays)

    def one(begin: int) -> np.ndarray:
        with enable_x64():  # the flag is per thread
            return np.asarray(fn(device_arrays, padded[begin:begin + chunk]))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(one, range(0, len(padded), chunk)))
    return np.concatenate(parts)[:n]


def float_logits(q: QuantizedModel, logits, length) -> np.ndarray:
    """What integer logits stand for in the float model's units (÷ tokens for mean pooling)."""
    scale = np.exp2(float(q.exponents["logits"]))
    values = np.asarray(logits, np.float64) * scale
    return values / np.asarray(length, np.float64) if q.config.pooling == "mean" else values


def logits_builder(config: ModelConfig, model) -> Callable:
    """The `evaluate.LOGITS_FNS["fixed"]` entry: float inputs in [0, 1] → logits in float units.

    `model` is a QuantizedModel (its tensors may arrive as device arrays); float parameters are refused,
    since the integers depend on calibration (use `quantize.resolve_quantized`).
    """
    if not isinstance(model, QuantizedModel):
        raise ValueError("fixed mode needs a quantized model (an exported directory, or PTQ on the float model)")
    model = QuantizedModel(model.config, {k: np.asarray(v) for k, v in model.tensors.items()},
                           dict(model.exponents), model.widths, model.neuron)

    def logits(x) -> np.ndarray:
        x = np.asarray(x)
        return float_logits(model, run(model, pixels(x)), x.shape[1]).astype(np.float32)

    return logits
