"""`s4d compile`: an exported model, zoo name or checkpoint (exported on the fly) → Loihi 2 mapping report, optionally
simulated in Lava."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

import typer

from compiler.fixed_point import NEURONS
from compiler.resources import MAX_CHIPS

JSON_HELP = "print exactly one JSON object on stdout"


def resolve_model(model: str, scratch: Path) -> Path:
    """An exported model directory from a path, a zoo name (its export/ part) or a checkpoint, which is
    exported into `scratch` by `s4d export` in a child process, so this process never loads JAX."""
    path = Path(model).expanduser()
    if not path.exists():
        try:
            from zoo.cache import resolve  # zoo.resolve
        except ModuleNotFoundError as err:
            raise FileNotFoundError(f"no model directory at {path}") from err
        path = resolve(model)
    for candidate in (path, path / "export"):
        if (candidate / "manifest.json").is_file():
            return candidate
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a model directory")
    out = scratch / "export"
    done = subprocess.run([sys.executable, "-m", "s4d_jax.cli", "export", str(path), "--out", str(out)],
                          capture_output=True, text=True)
    if done.returncode != 0 or not (out / "manifest.json").is_file():
        why = (done.stderr.strip().splitlines() or ["no exported model was written"])[-1]
        raise ValueError(f"{path} is neither an exported model nor a checkpoint `s4d export` can export: {why}")
    return out


def with_neuron(directory: Path, neuron: str | None, scratch: Path, data_dir: Path | None) -> Path:
    """`directory` if its S4D neuron variant is `neuron` (or `neuron` is None), else a PTQ of its float params
    for that variant, exported into `scratch` by `s4d export --neuron` in a child process (calibration reads
    the task's training split; this process never loads JAX)."""
    if neuron is None:
        return directory
    spec = json.loads((directory / "manifest.json").read_text()).get("fixed_point", {})
    if spec.get("neuron", "split") == neuron:
        return directory
    out = scratch / f"export-{neuron}"
    command = [sys.executable, "-m", "s4d_jax.cli", "export", str(directory), "--neuron", neuron, "--out", str(out)]
    done = subprocess.run(command + (["--data-dir", str(data_dir)] if data_dir else []), capture_output=True,
                          text=True)
    if done.returncode != 0 or not (out / "manifest.json").is_file():
        why = (done.stderr.strip().splitlines() or ["no exported model was written"])[-1]
        raise ValueError(f"cannot quantize {directory} for the {neuron} S4D neuron: {why}")
    return out


def compile_command(
    model: str = typer.Argument(..., help="exported model directory or zoo name"),
    mode: str = typer.Option("pipelined", "--mode", help="pipelined | fall-through"),
    objective: str = typer.Option("cores", "--objective", help="cores (fewest) | latency (least-loaded busiest core)"),
    neuron: Optional[str] = typer.Option(None, "--neuron", help="split | folded S4D neuron (default: the exported "
                                         "model's own; the other one is PTQ-quantized from its float params)"),
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
    from compiler import samples
    from compiler.exported import load_exported
    from compiler.frontend import from_exported
    from compiler.pipeline import compile_graph, format_report, summary, write_outputs

    if simulate < 0:
        raise ValueError(f"--simulate must be ≥ 0, got {simulate}")
    if max_chips < 1:
        raise ValueError(f"--max-chips must be ≥ 1, got {max_chips}")
    if neuron is not None and neuron not in NEURONS:
        raise ValueError(f"--neuron must be one of {' | '.join(NEURONS)}, got {neuron!r}")
    with tempfile.TemporaryDirectory(prefix="s4d-compile-") as scratch:
        directory = resolve_model(model, Path(scratch))
        exported = load_exported(with_neuron(directory, neuron, Path(scratch), data_dir))
        compiled = compile_graph(from_exported(exported), mode, objective, max_chips)
        result = summary(compiled)
        result["model"] = str(model if directory.is_relative_to(scratch) else directory)
        if show_ir:
            print(compiled.graph.to_json(), file=sys.stderr if as_json else sys.stdout)
        if simulate:
            x, labels = samples.select(directory, exported.manifest, simulate, inputs, data_dir)
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
