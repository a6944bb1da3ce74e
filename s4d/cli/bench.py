"""`s4d bench`: training, inference and streaming throughput of a preset on this machine."""
from __future__ import annotations

import json

import typer


def bench(
    preset: str = typer.Option("s4d-67k", help="model size"),
    length: int = typer.Option(784, help="sequence length"),
    repeats: int = typer.Option(5, help="timed repetitions; the best is reported"),
) -> None:
    """Print one JSON object: train samples/s (conv, scan), inference samples/s, streaming µs/token."""
    from s4d_jax.bench import run

    print(json.dumps(run(preset, length, repeats)))


def register(app: typer.Typer) -> None:
    app.command()(bench)
