"""`s4d bench`: training, inference and streaming throughput of a preset on this machine."""
from __future__ import annotations

import json
import time

import typer

FIXED_TOKENS = 2000


def bench(
    preset: str = typer.Option("s4d-67k", help="model size"),
    length: int = typer.Option(784, help="sequence length"),
    repeats: int = typer.Option(5, help="timed repetitions; the best is reported"),
) -> None:
    """Print one JSON object: train samples/s (conv, scan), inference samples/s, streaming µs/token in float
    and in fixed point (compiler/stream.py, batch 1)."""
    from s4d_jax.bench import run
<<<<<<< HEAD
    from s4d_jax.config import preset as preset_config

    result = run(preset, length, repeats)
    result["stream_fixed_us_per_token"] = {"1": round(fixed_stream_us_per_token(preset_config(preset), 1, repeats), 1)}
    print(json.dumps(result))


def fixed_stream_us_per_token(config, batch: int, repeats: int) -> float:
    """Best of `repeats` runs of FIXED_TOKENS tokens through the fixed-point streaming runtime, on a random valid
    integer network of the preset's shape (the time does not depend on the values)."""
    from compiler.stream import FixedStreamer
    from compiler.synthetic import random_inputs, random_network

    net = random_network(config.d_input, config.d_model, config.d_state, config.n_layers, config.n_classes)
    runtime = FixedStreamer(net, batch)
    x = random_inputs(net, batch, FIXED_TOKENS)
    runtime.push(x[:, 0])  # compiles (or loads the cached machine code)
    best = float("inf")
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        for t in range(FIXED_TOKENS):
            runtime.push(x[:, t])
        best = min(best, time.perf_counter() - start)
    return best / FIXED_TOKENS * 1e6
=======
    from s4d_jax.config import preset as known_preset

    for option, value in (("--length", length), ("--repeats", repeats)):
        if value < 1:
            raise ValueError(f"{option} must be ≥ 1, got {value}")
    known_preset(preset)
    print(json.dumps(run(preset, length, repeats)))
>>>>>>> faults


def register(app: typer.Typer) -> None:
    app.command()(bench)
