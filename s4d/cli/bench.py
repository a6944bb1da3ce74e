"""`s4d bench`: training, inference and streaming throughput on this machine."""
from __future__ import annotations

import json
from typing import List

import typer


def bench(
    size: List[str] = typer.Option(["s4d-67k", "s4d-265k"], "--size", help="model size (repeatable); "
                                   "s4d-67k runs at the sMNIST shape, s4d-265k at the sCIFAR shape"),
    repeats: int = typer.Option(5, help="timed repetitions of each measurement (best and median reported)"),
    stream: bool = typer.Option(True, help="also time streaming per token (s4d-67k)"),
    json_output: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Train samples/s (conv, scan), inference samples/s and streaming µs/token, best and median of N."""
    from s4d_jax.bench import run

    result = run(tuple(size), repeats=repeats, stream=stream,
                 fixed_stream=lambda config, params, batch, tokens: fixed_stream_fn(config, batch, tokens))
    if json_output:
        print(json.dumps(result))
        return
    m = result["machine"]
    print(f"{m['cpu']} ({m['cpu_count']} cores), {m['device_kind']}, jax {m['jax']}; "
          f"best / median of {repeats}")
    for name, modes in result["train_samples_per_s"].items():
        shape = result["shapes"][name]
        train = ", ".join(f"{mode} {r['best']:.0f} / {r['median']:.0f}" for mode, r in modes.items())
        inf = result["inference_samples_per_s"][name]
        print(f"{name} ({shape['task']}, L={shape['length']}): train samples/s {train}; "
              f"inference {inf['best']:.0f} / {inf['median']:.0f} samples/s")
    for name, kinds in result.get("stream_us_per_token", {}).items():
        for kind in ("float", "float_jax_jit", "fixed"):
            value = kinds[kind]
            text = ", ".join(f"batch {b}: {us['best']:.1f} / {us['median']:.1f}" for b, us in value.items())
            print(f"{name} streaming µs/token (best / median), {kind}: {text}")


def fixed_stream_fn(config, batch: int, tokens: int):
    """A function that pushes `tokens` tokens through the fixed-point streaming runtime (compiler/stream.py),
    on a random valid integer network of the config's shape (the time does not depend on the values)."""
    from compiler.stream import FixedStreamer
    from compiler.synthetic import random_inputs, random_network
    from s4d_jax.bench import pushes

    net = random_network(config.d_input, config.d_model, config.d_state, config.n_layers, config.n_classes)
    runtime = FixedStreamer(net, batch)
    return pushes(runtime.push, random_inputs(net, batch, tokens).swapaxes(0, 1))


def register(app: typer.Typer) -> None:
    app.command()(bench)
