"""Random but valid fixed-point networks of any size, for tests and the compile benchmark.

Allocation, scheduling and the bit-exact check do not depend on trained weights, only on shapes, widths and
the spec's int32 bounds, so a seeded random network exercises them at any size without JAX or training.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from compiler import fixed_point as fp


def random_network(d_input: int = 1, d_model: int = 8, d_state: int = 4, n_layers: int = 2,
                   n_classes: int = 3, pooling: str = "mean", seed: int = 0,
                   weight_scale: int = 48, neuron: str = "split") -> fp.FixedNetwork:
    """A seeded random FixedNetwork; stable modes (|a| < 1), weights uniform in ±weight_scale. A folded
    network draws 16-bit c coefficients and an x_msg exponent at which its largest messages saturate."""
    rng = np.random.default_rng(seed)
    h, p = d_model, d_state // 2

    def mantissa(*shape):
        return rng.integers(-weight_scale, weight_scale + 1, shape).astype(np.int8)

    def bias(n):
        return rng.integers(-2000, 2001, n).astype(np.int32)

    def c_draw(*shape):  # 8-bit synaptic weights (split) or 16-bit neuron coefficients (folded)
        return mantissa(*shape) if neuron == "split" else rng.integers(-4096, 4097, shape).astype(np.int32)

    tensors = {"encoder.weight": mantissa(h, d_input), "encoder.bias": bias(h),
               "decoder.weight": mantissa(n_classes, h), "decoder.bias": bias(n_classes)}
    exponents = {"input": 0, "logits": -8, "encoder.weight": -7, "encoder.bias": -8, "decoder.weight": -7,
                 "decoder.bias": -8}
    for layer in range(n_layers):
        radius = rng.uniform(0.8, 0.999, (h, p))
        angle = rng.uniform(0, np.pi, (h, p))
        a = radius * np.exp(1j * angle) * 2**15
        pre = f"layers.{layer}"
        tensors.update({
            f"{pre}.a_re": np.round(a.real).astype(np.int32), f"{pre}.a_im": np.round(a.imag).astype(np.int32),
            f"{pre}.b_re": rng.integers(-1024, 1025, (h, p)).astype(np.int32),
            f"{pre}.b_im": rng.integers(-1024, 1025, (h, p)).astype(np.int32),
            f"{pre}.c_re": c_draw(h, p), f"{pre}.c_im": c_draw(h, p), f"{pre}.d": mantissa(h),
            f"mixers.{layer}.weight": mantissa(h, h), f"mixers.{layer}.bias": bias(h)})
        exponents.update({f"{pre}.a_re": -15, f"{pre}.a_im": -15, f"{pre}.b_re": -12, f"{pre}.b_im": -12,
                          f"{pre}.c_re": -7, f"{pre}.c_im": -7, f"{pre}.d": -7, f"mixers.{layer}.weight": -7,
                          f"mixers.{layer}.bias": -8, f"x.{layer}": -16, f"x_msg.{layer}": -8,
                          f"y.{layer}": -8})
        if neuron == "folded":  # shift_msg = −10 − (−12 − 16) = 18
            exponents.update({f"{pre}.c_re": -12, f"{pre}.c_im": -12, f"x_msg.{layer}": -10})
    exponents.update({f"u.{layer}": -8 for layer in range(n_layers + 1)})
    return fp.FixedNetwork(n_layers, pooling, tensors, exponents, neuron=neuron)


def with_silent_modes(net: fp.FixedNetwork, fraction: float, seed: int = 0) -> fp.FixedNetwork:
    """`net` with a random `fraction` of each layer's modes silenced, as pruning b̄ and C leaves them: half of
    those get b̄ = 0 (never driven), the other half c = 0 (never heard)."""
    rng = np.random.default_rng(seed)
    tensors = dict(net.tensors)
    for layer in range(net.n_layers):
        silent = rng.random((net.d_model, net.n_modes)) < fraction
        undriven = silent & (rng.random(silent.shape) < 0.5)
        for part, zero in (("b_re", undriven), ("b_im", undriven), ("c_re", silent & ~undriven),
                           ("c_im", silent & ~undriven)):
            key = f"layers.{layer}.{part}"
            tensors[key] = np.where(zero, 0, tensors[key]).astype(tensors[key].dtype)
    return fp.FixedNetwork(net.n_layers, net.pooling, tensors, net.exponents, net.widths, net.neuron)


def random_inputs(net: fp.FixedNetwork, batch: int, length: int, seed: int = 0) -> np.ndarray:
    """Integer inputs [batch, length, d_input] covering the whole unsigned input range."""
    d_input = int(net.tensors["encoder.weight"].shape[1])
    high = (1 << net.widths.input) - 1
    return np.random.default_rng(seed).integers(0, high + 1, (batch, length, d_input))


def write_exported(net: fp.FixedNetwork, path, task: str | None = None, samples=None) -> Path:
    """Write `net` as an exported model directory (docs/export_format.md), integer tensors only.

    `samples` = (inputs, labels) adds a samples.npz of test sequences. Written whole or not at all, like every
    output directory (compiler/outputs.py).
    """
    from compiler.exported import FORMAT_VERSION, MANIFEST, TENSORS, tensor_sha256
    from compiler.outputs import write_files
    from compiler.samples import SAMPLES_FILE

    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} already exists")
    d_input = int(net.tensors["encoder.weight"].shape[1])
    arch = {"d_input": d_input, "n_classes": int(net.tensors["decoder.weight"].shape[0]),
            "d_model": net.d_model, "d_state": 2 * net.n_modes, "n_layers": net.n_layers, "pooling": net.pooling}
    manifest = {
        "format_version": FORMAT_VERSION, "architecture": arch, "task": task, "meta": {},
        "input": {"dtype": "uint8", "min": 0, "max": (1 << net.widths.input) - 1, "exponent": net.exponents["input"]},
        "fixed_point": {"widths": net.widths.to_dict(), "exponents": {k: int(v) for k, v in net.exponents.items()},
                        "neuron": net.neuron},
        "quantization": {"method": "random"},
        "tensors": {name: {"dtype": str(a.dtype), "shape": list(a.shape), "sha256": tensor_sha256(a)}
                    for name, a in net.tensors.items()},
    }
    files = {MANIFEST: json.dumps(manifest, indent=1).encode(),
             TENSORS: _npz_bytes(**{name: np.asarray(a) for name, a in net.tensors.items()})}
    if samples is not None:
        inputs, labels = samples
        files[SAMPLES_FILE] = _npz_bytes(sequences=np.asarray(inputs), labels=np.asarray(labels))
    return write_files(path, files)


def _npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()
