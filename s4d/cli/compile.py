"""`s4d compile`: an exported model, zoo name or checkpoint (exported on the fly) → Loihi 2 mapping report, optionally
simulated in Lava."""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Optional

import typer

from compiler.resources import MAX_CHIPS

JSON_HELP = "print exactly one JSON object on stdout"


def compile_command(
    model: str = typer.Argument(..., help="exported model directory or zoo name"),
    mode: str = typer.Option("pipelined", "--mode", help="pipelined | fall-through"),
    objective: str = typer.Option("cores", "--objective", help="cores (fewest) | latency (least-loaded busiest core)"),
    simulate: int = typer.Option(0, "--simulate", help="run N test sequences in Lava and check them bit for bit"),
    inputs: Optional[Path] = typer.Option(None, "--inputs", help=".npz with 'sequences' [N, L, C] (and 'labels')"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="prepared tfds data for the task's test split"),
    max_chips: int = typer.Option(MAX_CHIPS, "--max-chips", help="refuse mappings needing more Loihi 2 chips"),
    out: Optional[Path] = typer.Option(None, "--out", help="write ir.json, allocation.json, report.json here"),
    show_ir: bool = typer.Option(False, "--show-ir", help="print the IR graph (JSON, without tensors)"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Map a model onto Loihi 2 neurocores, report cores, memory, latency and energy estimates; with
    --simulate N run it in Lava's fixed-point simulation and compare every token with the spec's reference."""
    from s4d import samples
    from s4d.resolve import exported_dir
    from compiler.exported import load_exported
    from compiler.frontend import from_exported
    from compiler.pipeline import compile_graph, format_report, summary, write_outputs

    if simulate < 0:
        raise ValueError(f"--simulate must be ≥ 0, got {simulate}")
    if max_chips < 1:
        raise ValueError(f"--max-chips must be ≥ 1, got {max_chips}")
    with tempfile.TemporaryDirectory(prefix="s4d-compile-") as scratch:
        directory = exported_dir(model, Path(scratch))
        exported = load_exported(directory)
        compiled = compile_graph(from_exported(exported), mode, objective, max_chips)
        result = summary(compiled)
        result["model"] = str(model if directory.is_relative_to(scratch) else directory)
        if show_ir:
            print(compiled.graph.to_json(), file=sys.stderr if as_json else sys.stdout)
        if simulate:
            x, labels, source = samples.select(directory, exported.manifest, simulate, inputs, data_dir)
            result["simulated_inputs"] = source
            result.update(_simulate(compiled, exported.network, x, labels))
    if out is not None:
        result["out"] = str(write_outputs(out, compiled, result))
    if as_json:
        print(json.dumps(result))
    else:
        print(format_report(compiled, result))


def _simulate(compiled, network, x, labels) -> dict:
    import lava.magma.core.process.process  # noqa: F401  Lava sets the multiprocessing start method on
    from tqdm import tqdm                   # import, which must happen before tqdm creates its lock

    from compiler.pipeline import verify

    steps = compiled.schedule.total_steps(x.shape[0] * x.shape[1])
    with tqdm(total=steps, desc="lava", unit="step", file=sys.stderr, leave=False) as bar:
        return verify(compiled, network, x, labels, progress=bar.update)


def register(app: typer.Typer) -> None:
    app.command("compile")(compile_command)
