"""Throughput of s4d-67k on this machine, printed as one JSON object.

Measures, side by side in one run: a training step (batch 50, L=784, AdamW) in conv and scan mode,
inference (batch 256, conv mode), and streaming latency per token through the whole network (batch 1 and 64)
for the compiled streaming runtime (s4d_jax.streaming) beside a jitted JAX call per token.

    s4d bench [--preset s4d-67k] [--repeats 5]     (or: make bench)
"""
from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from s4d_jax.config import preset
from s4d_jax.model import S4DClassifier, init_params
from s4d_jax.streaming import StreamingClassifier


def _best_seconds(fn, repeats: int) -> float:
    """Best of `repeats` timed calls after one warm-up (compilation); the best is the least disturbed."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)


def train_samples_per_s(config, params, mode: str, batch: int, length: int, repeats: int) -> float:
    model = S4DClassifier(config)
    optimizer = optax.adamw(1e-3, weight_decay=0.01)
    opt_state = optimizer.init(params)
    x = jax.random.uniform(jax.random.PRNGKey(0), (batch, length, config.d_input))
    y = jnp.arange(batch) % config.n_classes

    @jax.jit
    def step(params, opt_state):
        def loss(p):
            logits = model.apply({"params": p}, x, mode)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        grads = jax.grad(loss)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    return batch / _best_seconds(lambda: step(params, opt_state), repeats)


def inference_samples_per_s(config, params, batch: int, length: int, repeats: int) -> float:
    model = S4DClassifier(config)
    x = jax.random.uniform(jax.random.PRNGKey(0), (batch, length, config.d_input))
    forward = jax.jit(lambda p, x: model.apply({"params": p}, x, "conv"))
    return batch / _best_seconds(lambda: forward(params, x), repeats)


def jax_stream_us_per_token(config, params, batch: int, tokens: int) -> float:
    model = S4DClassifier(config)
    step = jax.jit(lambda p, s, x: model.apply({"params": p}, s, x, method="stream"))
    state = model.apply({"params": params}, batch, method="zero_state")
    x = np.random.default_rng(0).uniform(size=(tokens, batch, 1, config.d_input)).astype(np.float32)
    jax.block_until_ready(step(params, state, x[0]))
    start = time.perf_counter()
    for t in range(tokens):
        state, logits = step(params, state, x[t])
    jax.block_until_ready(logits)
    return (time.perf_counter() - start) / tokens * 1e6


def compiled_stream_us_per_token(config, params, batch: int, tokens: int) -> float:
    runtime = StreamingClassifier(config, params, batch)
    x = np.random.default_rng(0).uniform(size=(tokens, batch, config.d_input)).astype(np.float32)
    runtime.push(x[0])  # compiles (or loads the cached machine code)
    start = time.perf_counter()
    for t in range(tokens):
        runtime.push(x[t])
    return (time.perf_counter() - start) / tokens * 1e6


def run(preset_name: str = "s4d-67k", length: int = 784, repeats: int = 5) -> dict:
    config = preset(preset_name)
    params = init_params(config)
    return {
        "preset": preset_name,
        "length": length,
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "devices": jax.device_count(),
        "train_samples_per_s": {
            mode: round(train_samples_per_s(config, params, mode, 50, length, repeats), 1) for mode in ("conv", "scan")
        },
        "inference_samples_per_s": round(inference_samples_per_s(config, params, 256, length, repeats), 1),
        "stream_us_per_token": {
            str(batch): round(compiled_stream_us_per_token(config, params, batch, 2000), 1) for batch in (1, 64)
        },
        "stream_us_per_token_jax_jit": {
            str(batch): round(jax_stream_us_per_token(config, params, batch, 500), 1) for batch in (1, 64)
        },
    }
