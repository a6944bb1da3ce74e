"""`s4d demo`: the main job of `make demo`.

Compiles the default zoo model for Loihi 2, runs a few real test sequences shipped with it through the Lava
simulation, and checks every token's readout bit for bit against the JAX fixed mode and the NumPy reference
of the fixed-point spec. Works offline: the model and its sequences ship in the repository.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import typer


def demo(
    model: str = typer.Option("smnist-s4d-67k", help="zoo name, exported model, params directory or training "
                                                     "workdir (exported on the fly)"),
    sequences: int = typer.Option(3, help="test sequences to simulate in Lava (about 10 s each, pipelined)"),
    mode: str = typer.Option("pipelined", help="pipelined | fall-through"),
    as_json: bool = typer.Option(False, "--json", help="print exactly one JSON object on stdout"),
) -> None:
    """Compile a zoo model for Loihi 2, simulate it in Lava and check it against the JAX fixed mode."""
    from s4d.cli import cli_flag
    from s4d.compiling import check_options

    if sequences < 1:
        raise ValueError(f"--sequences must be ≥ 1, got {sequences}")
    check_options(mode=mode, flag=cli_flag)  # before the model is fetched or exported
    with tempfile.TemporaryDirectory() as scratch:
        _run(model, sequences, mode, Path(scratch), as_json)


def _run(model: str, sequences: int, mode: str, scratch: Path, as_json: bool) -> None:
    from compiler import fixed_point
    from compiler.emit import simulate
    from compiler.exported import load_exported
    from s4d import samples
    from s4d.compiling import CompileReport, compile_model, disagreement, progress_bar
    from s4d.resolve import exported_dir
    from s4d_jax import fixed
    from s4d_jax.export import load_quantized

    directory = exported_dir(model, scratch)
    # the mapping, activity and estimates exactly as `s4d compile MODEL --mode MODE` reports them, so the two
    # commands never print different figures for one model
    report = compile_model(directory, mode=mode, progress=True)
    compiled = report.compiled
    exported = load_exported(directory)
    x, labels, source = samples.select(directory, exported.manifest, sequences)
    print(f"{model}: {len(x)} test sequences of {x.shape[1]} tokens ({source}), simulated in Lava ({mode})",
          file=sys.stderr)
    steps = compiled.schedule.total_steps(x.shape[0] * x.shape[1])
    with progress_bar(steps, "lava", "step") as bar:
        lava = simulate(compiled.graph, compiled.schedule, x, bar.update)
    jax_fixed = fixed.run(load_quantized(directory), x, per_token=True)
    numpy_reference = fixed_point.run(exported.network, x)
    result = report.to_dict()
    result.update(
        simulated_sequences=len(x),
        lava_steps_per_second=round(lava.steps_per_second, 1),
        bit_exact_vs_jax_fixed=bool(np.array_equal(lava.logits, jax_fixed)),
        bit_exact_vs_numpy_reference=bool(np.array_equal(lava.logits, numpy_reference)),
        labels=None if labels is None else [int(v) for v in labels],
        lava_predictions=[int(v) for v in lava.logits[:, -1].argmax(-1)],
    )
    result["bit_exact"] = result["bit_exact_vs_jax_fixed"] and result["bit_exact_vs_numpy_reference"]
    if labels is not None:
        result["lava_accuracy"] = float(np.mean(lava.logits[:, -1].argmax(-1) == labels))
    if as_json:
        print(json.dumps(result))
    else:
        print(CompileReport(result, compiled).text())
        print(f"every token's readout, Lava vs JAX fixed mode: bit-exact {result['bit_exact_vs_jax_fixed']}; "
              f"vs NumPy reference: {result['bit_exact_vs_numpy_reference']}")
        print(f"labels {result['labels']}, Lava predictions {result['lava_predictions']}")
    if (failed := disagreement(result)) is not None:
        raise SystemExit(failed)


def register(app: typer.Typer) -> None:
    app.command()(demo)
