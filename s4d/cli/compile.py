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
    objective: str = typer.Option("latency", "--objective",
                                  help="latency (per-core work budget calibrated to the paper) | cores (fewest)"),
    cores: Optional[int] = typer.Option(None, "--cores", help="spread the model over N neurocores"),
    sweep: bool = typer.Option(False, "--sweep", help="map over a range of core counts and report each"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="write the sweep as a PNG (implies --sweep)"),
    activity: int = typer.Option(1, "--activity", help="test sequences to measure activity on (0: assume all "
                                                       "values non-zero)"),
    simulate: int = typer.Option(0, "--simulate", help="run N test sequences in Lava and check them bit for bit"),
    inputs: Optional[Path] = typer.Option(None, "--inputs", help=".npz with 'sequences' [N, L, C] (and 'labels')"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="prepared tfds data for the task's test split"),
    max_chips: int = typer.Option(MAX_CHIPS, "--max-chips", help="refuse mappings needing more Loihi 2 chips"),
    out: Optional[Path] = typer.Option(None, "--out", help="write ir.json, allocation.json, report.json here"),
    show_ir: bool = typer.Option(False, "--show-ir", help="print the IR graph (JSON, without tensors)"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Map a model onto Loihi 2 neurocores, report cores, traffic and latency/energy estimates (ranges); with
    --simulate N run it in Lava's fixed-point simulation and compare every token with the spec's reference."""
    from compiler.activity import measure
    from compiler.calibration import paper_comparison
    from s4d import samples
    from s4d.resolve import exported_dir
    from compiler.exported import load_exported
    from compiler.frontend import from_exported
    from compiler.pipeline import compile_graph, format_report, summary, sweep as sweep_points, write_outputs

    for name, value, low in (("--simulate", simulate, 0), ("--activity", activity, 0), ("--max-chips", max_chips, 1),
                             ("--cores", cores, 1)):
        if value is not None and value < low:
            raise ValueError(f"{name} must be ≥ {low}, got {value}")
    if plot is not None and plot.suffix.lower() != ".png":
        raise ValueError(f"--plot writes a PNG; give a file name ending in .png, got {plot}")
    with tempfile.TemporaryDirectory(prefix="s4d-compile-") as scratch:
        directory = exported_dir(model, Path(scratch))
        exported = load_exported(directory)
        graph = from_exported(exported)
        rates, measured_on = None, None
        if activity:
            try:
                x, _, origin = samples.select(directory, exported.manifest, activity, inputs, data_dir)
            except (ValueError, OSError, ModuleNotFoundError):
                x = None
            if x is not None:
                rates = measure(exported.network, x[:activity])
                measured_on = f"on {len(x[:activity])} sequence(s) of {x.shape[1]} tokens ({origin})"
        compiled = compile_graph(graph, mode, objective, max_chips, cores, rates)
        result = summary(compiled)
        if measured_on:
            result["activity"]["source"] += f", {measured_on}"
        result["model"] = str(model if directory.is_relative_to(scratch) else directory)
        result["paper_comparison"] = paper_comparison()
        if sweep or plot is not None:
            result["sweep"] = sweep_points(graph, mode, rates, max_chips)
        if show_ir:
            print(compiled.graph.to_json(), file=sys.stderr if as_json else sys.stdout)
        if simulate:
            x, labels, source = samples.select(directory, exported.manifest, simulate, inputs, data_dir)
            result["simulated_inputs"] = source
            result.update(_simulate(compiled, exported.network, x, labels))
    if plot is not None:
        from compiler.plot import plot_sweep

        result["plot"] = str(plot_sweep(result["sweep"], plot, f"{model} ({mode})"))
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
