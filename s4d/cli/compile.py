"""`s4d compile`: an exported model, zoo name or checkpoint (exported on the fly) → Loihi 2 mapping report, optionally
simulated in Lava."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from compiler.resources import MAX_CHIPS

JSON_HELP = "print exactly one JSON object on stdout"


def compile_command(
    model: str = typer.Argument(..., help="exported model, zoo name, params directory or training workdir "
                                          "(exported on the fly)"),
    mode: str = typer.Option("pipelined", "--mode", help="pipelined | fall-through"),
    objective: str = typer.Option("latency", "--objective",
                                  help="latency (per-core work budget calibrated to the paper) | cores (fewest)"),
    cores: Optional[int] = typer.Option(None, "--cores", help="spread the model over N neurocores"),
    neuron: Optional[str] = typer.Option(None, "--neuron", help="split | folded S4D neuron (default: the exported "
                                         "model's own; the other one is PTQ-quantized from its float params)"),
    sweep: bool = typer.Option(False, "--sweep", help="map over a range of core counts and report each"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="write the sweep and the per-core load as a PNG "
                                                             "(implies --sweep)"),
    activity: int = typer.Option(1, "--activity", help="test sequences to measure activity on (0: assume all "
                                                       "values non-zero)"),
    simulate: int = typer.Option(0, "--simulate", help="run N test sequences in Lava and check them bit for bit"),
    inputs: Optional[Path] = typer.Option(None, "--inputs", help=".npz with 'sequences' [N, L, C] (and 'labels')"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="prepared tfds data (the test split for "
                                            "activity and --simulate, the training split to calibrate --neuron)"),
    max_chips: int = typer.Option(MAX_CHIPS, "--max-chips", help="refuse mappings needing more Loihi 2 chips"),
    out: Optional[Path] = typer.Option(None, "--out", help="write ir.json, allocation.json, report.json here"),
    force: bool = typer.Option(False, "--force", help="--out may hold other files; replace only ours there"),
    show_ir: bool = typer.Option(False, "--show-ir", help="print the IR graph (JSON, without tensors)"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Map a model onto Loihi 2 neurocores, report cores, traffic and latency/energy estimates (ranges); with
    --simulate N run it in Lava's fixed-point simulation and compare every token with the spec's reference."""
    from s4d.cli import cli_flag
    from s4d.compiling import check_options, compile_model, disagreement

    check_options(mode=mode, objective=objective, max_chips=max_chips, cores=cores, plot=plot, activity=activity,
                  simulate=simulate, neuron=neuron, flag=cli_flag)
    report = compile_model(model, mode=mode, objective=objective, max_chips=max_chips, cores=cores, sweep=sweep,
                           plot=plot, activity=activity, simulate=simulate, inputs=inputs, data_dir=data_dir,
                           out=out, force=force, progress=True, neuron=neuron)
    if show_ir:
        print(report.compiled.graph.to_json(), file=sys.stderr if as_json else sys.stdout)
    print(json.dumps(report.to_dict()) if as_json else report.text())
    if (failed := disagreement(report)) is not None:
        raise SystemExit(failed)


def register(app: typer.Typer) -> None:
    app.command("compile")(compile_command)
