"""s4d: the application layer of s4d-jax, the `s4d` command and the Python API.

It is the only package that combines the three libraries below it, which never import each other:
`s4d_jax` (Flax models, training, quantization, export), `compiler` (exported model → Loihi 2 / Lava, no
JAX) and `zoo` (registry, verified downloads, cards; no JAX).
"""
