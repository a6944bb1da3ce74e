"""s4d: the application layer of s4d-jax, the `s4d` command and the Python API.

It is the only package that combines the three libraries below it, which never import each other:
`s4d_jax` (Flax models, training, quantization, export), `compiler` (exported model → Loihi 2 / Lava, no
JAX) and `zoo` (registry, verified downloads, cards; no JAX).

    import numpy as np, s4d
    m = s4d.load("smnist-s4d-67k")          # or precision="fixed": the integers Loihi 2 runs
    logits = m.classify(np.zeros((1, 784, 1), np.uint8))
"""
from s4d.api import Model, Streamer, load

__all__ = ["Model", "Streamer", "load"]
