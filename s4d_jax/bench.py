"""Throughput on this machine, as one JSON-ready dict (`s4d bench --json`, or `make bench`).

Per model size, at its task's shape (s4d-67k: sMNIST, 784 tokens × 1 channel; s4d-265k: sCIFAR, 1024 × 3):
the real training step (`train.make_train_step`: AdamW + Adam groups, clipping, donated state) at batch 50
in conv and scan mode, and inference (conv mode, batch 100). For s4d-67k also streaming latency per token
through the whole network (batch 1 and 64): the compiled float runtime (s4d_jax.streaming) beside a jitted
JAX call per token, and the fixed-point runtime when the caller supplies one.

Timing: one warm-up call (compilation) each, then `repeats` rounds in which every measured function runs
once in turn, so that load from other processes falls on all of them alike. Best and median are reported:
the best is the least disturbed figure, the median the typical one on a shared machine.
"""
from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from s4d_jax.config import preset
from s4d_jax.model import S4DClassifier, init_params
from s4d_jax.streaming import StreamingClassifier

TRAIN_BATCH = 50
INFERENCE_BATCH = 100
STREAM_BATCHES = (1, 64)


@dataclass(frozen=True)
class Shape:
    """The task shape a size is benchmarked at."""

    task: str
    length: int
    channels: int
    n_classes: int = 10


SHAPES = {"s4d-67k": Shape("smnist", 784, 1), "s4d-265k": Shape("scifar", 1024, 3)}


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each function: one warm-up each, then `repeats` round-robin rounds."""
    for fn in fns.values():
        jax.block_until_ready(fn())
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            jax.block_until_ready(fn())
            times[name].append(time.perf_counter() - start)
    return times


def rate(items: int, seconds: list[float]) -> dict:
    """{best, median} items per second."""
    return {"best": round(items / min(seconds), 1), "median": round(items / float(np.median(seconds)), 1)}


def us_per_token(seconds: list[float], tokens: int) -> dict:
    """{best, median} µs per token of calls that each push `tokens` tokens."""
    return {"best": round(min(seconds) / tokens * 1e6, 2),
            "median": round(float(np.median(seconds)) / tokens * 1e6, 2)}


def train_step_fn(size: str, mode: str, batch: int = TRAIN_BATCH) -> Callable[[], object]:
    """One real training step per call, carrying its (donated) state from call to call."""
    from s4d_jax.train import TrainConfig, init_state, make_train_step, optimizer

    shape = SHAPES[size]
    cfg = TrainConfig(task=shape.task, preset=size, batch_size=batch, mode=mode)
    config = cfg.model_config()
    tx = optimizer(cfg, steps_per_epoch=1000)
    step = make_train_step(config, tx, mode)
    state = {"state": init_state(config, tx, seed=0)}
    x = jax.random.uniform(jax.random.PRNGKey(0), (batch, shape.length, shape.channels))
    y = jnp.arange(batch) % shape.n_classes

    def call():
        state["state"], loss, _ = step(state["state"], x, y)
        return loss

    return call


def inference_fn(size: str, batch: int = INFERENCE_BATCH) -> Callable[[], object]:
    shape = SHAPES[size]
    config = preset(size, d_input=shape.channels, n_classes=shape.n_classes)
    params = init_params(config)
    x = jax.random.uniform(jax.random.PRNGKey(0), (batch, shape.length, shape.channels))
    forward = jax.jit(lambda p, x: S4DClassifier(config).apply({"params": p}, x, "conv"))
    return lambda: forward(params, x)


STREAM_TOKENS = 1000


def jax_stream_fn(config, params, batch: int, tokens: int) -> Callable[[], object]:
    """`tokens` jitted per-token JAX calls of the model's `stream` method, the state carried along."""
    model = S4DClassifier(config)
    step = jax.jit(lambda p, s, x: model.apply({"params": p}, s, x, method="stream"))
    x = np.random.default_rng(0).uniform(size=(tokens, batch, 1, config.d_input)).astype(np.float32)
    state = {"state": model.apply({"params": params}, batch, method="zero_state")}

    def call():
        for t in range(tokens):
            state["state"], logits = step(params, state["state"], x[t])
        return logits

    return call


def pushes(push: Callable[[np.ndarray], object], tokens: np.ndarray) -> Callable[[], object]:
    """A function that pushes every token of `tokens` (first axis) in turn and returns the last output: one
    timed call of a streaming runtime."""
    def call():
        for token in tokens:
            out = push(token)
        return out

    return call


def compiled_stream_fn(config, params, batch: int, tokens: int) -> Callable[[], object]:
    """`tokens` pushes through the compiled float streaming runtime."""
    runtime = StreamingClassifier(config, params, batch)
    x = np.random.default_rng(0).uniform(size=(tokens, batch, config.d_input)).astype(np.float32)
    return pushes(runtime.push, x)


def machine() -> dict:
    import jaxlib

    device = jax.devices()[0]
    return {"cpu_count": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version(),
            "jax": jax.__version__, "jaxlib": jaxlib.__version__, "backend": jax.default_backend(),
            "device_kind": device.device_kind, "device_count": jax.device_count()}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


def run(sizes=tuple(SHAPES), modes=("conv", "scan"), repeats: int = 5, stream: bool = True,
        fixed_stream: Callable[[object, object, int, int], Callable[[], object]] | None = None) -> dict:
    """The benchmark as one dict. `fixed_stream(config, params, batch, tokens)`, if given, returns a function
    that pushes `tokens` tokens through the fixed-point streaming runtime (it lives outside s4d_jax, so the
    application layer passes it in); it is timed like the others."""
    unknown = [s for s in sizes if s not in SHAPES]
    if unknown or not sizes:
        raise ValueError(f"unknown size {unknown[0] if unknown else '(none)'}; choose from {sorted(SHAPES)}")
    if repeats < 1:
        raise ValueError(f"--repeats must be positive, got {repeats}")
    result = {
        "machine": machine(),
        "statistic": {"repeats": repeats, "reported": "best and median of the timed repeats after one warm-up; "
                      "measurements interleaved round-robin"},
        "shapes": {s: {"task": SHAPES[s].task, "length": SHAPES[s].length, "channels": SHAPES[s].channels,
                       "train_batch": TRAIN_BATCH, "inference_batch": INFERENCE_BATCH} for s in sizes},
        "train_samples_per_s": {},
        "inference_samples_per_s": {},
    }
    for size in sizes:
        fns = {mode: train_step_fn(size, mode) for mode in modes}
        fns["inference"] = inference_fn(size)
        times = interleaved(fns, repeats)
        result["train_samples_per_s"][size] = {mode: rate(TRAIN_BATCH, times[mode]) for mode in modes}
        result["inference_samples_per_s"][size] = rate(INFERENCE_BATCH, times["inference"])
    if stream:
        config = preset("s4d-67k")
        params = init_params(config)
        kinds = {"float": compiled_stream_fn, "float_jax_jit": jax_stream_fn}
        if fixed_stream is not None:
            kinds["fixed"] = fixed_stream
        # a jitted call per token is ~100× slower: fewer tokens per timed call
        tokens = {kind: STREAM_TOKENS // 5 if kind == "float_jax_jit" else STREAM_TOKENS for kind in kinds}
        fns = {(kind, b): make(config, params, b, tokens[kind]) for kind, make in kinds.items() for b in STREAM_BATCHES}
        times = interleaved(fns, repeats)
        per_token = {kind: {str(b): us_per_token(times[kind, b], tokens[kind]) for b in STREAM_BATCHES}
                     for kind in kinds}
        if fixed_stream is None:
            per_token["fixed"] = None
            per_token["fixed_unavailable"] = "no fixed-point streaming runtime was supplied"
        result["stream_us_per_token"] = {"s4d-67k": per_token}
    return result
