"""Random quantized models for the fixed-point tests: small, varied, and built by the real PTQ path."""
from __future__ import annotations

import jax
import numpy as np

from s4d_jax import quantize
from s4d_jax.config import ModelConfig
from s4d_jax.model import init_params


def random_params(config: ModelConfig, seed: int, noise: float = 0.3):
    """Fresh parameters with every leaf perturbed, so B, C, D and the biases are all non-trivial."""
    params = init_params(config, seed=seed)
    leaves, tree = jax.tree_util.tree_flatten(params)
    rng = np.random.default_rng(seed)
    leaves = [np.asarray(v) + noise * rng.standard_normal(np.shape(v)).astype(np.float32) for v in leaves]
    return jax.tree_util.tree_unflatten(tree, leaves)


def random_pixels(seed: int, batch: int, length: int, channels: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (batch, length, channels))


def random_quantized(seed: int, *, d_model: int = 6, d_state: int = 8, n_layers: int = 2, length: int = 24,
                     pooling: str = "mean", headroom_bits: int = 1, neuron: str = "split"):
    """(config, float params, QuantizedModel, activation exponents) from PTQ on random pixel sequences."""
    config = ModelConfig(d_model=d_model, d_state=d_state, n_layers=n_layers, pooling=pooling)
    params = random_params(config, seed)
    calib = random_pixels(seed + 1, 8, length) / 255.0
    q, exps = quantize.ptq(config, params, calib.astype(np.float32), headroom_bits=headroom_bits, neuron=neuron)
    return config, params, q, exps


def reference_network(q):
    """The compiler's NumPy reference network for a QuantizedModel."""
    from compiler import fixed_point

    return fixed_point.FixedNetwork(q.config.n_layers, q.config.pooling, q.tensors, q.exponents,
                                    fixed_point.Widths(**q.widths.to_dict()), q.neuron)


def activation_peaks(q, x) -> dict[str, float]:
    """Largest |value| of every activation group of q's reference network over the sequences x, as a share of
    the limit it saturates at (1.0: it saturated on some token)."""
    from compiler import fixed_point

    net = reference_network(q)
    state = fixed_point.zero_state(net, len(x))
    peak: dict[str, int] = {}
    for k in range(x.shape[1]):
        state, out = fixed_point.step(net, state, x[:, k])
        for name, value in out.items():
            peak[name] = max(peak.get(name, 0), int(np.abs(value).max()))
    return {name: value / quantize.activation_limits(q.widths, name) for name, value in peak.items()}


def saturated_kinds(q, x) -> set[str]:
    """The kinds of activation group (x_re, u, y, logits, ...) that saturate somewhere on x."""
    return {name.split(".")[0] for name, share in activation_peaks(q, x).items() if share >= 1.0}
