"""MODEL arguments: what every `s4d` subcommand and `s4d.load` accept, turned into a directory.

A MODEL is an existing path (params directory, training workdir or exported model) or a zoo name, which the
zoo fetches into its cache, verifies by sha256 and extracts. This is the one place that knows both the zoo
and the JAX half, so the libraries below never import each other.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import zoo

MANIFEST = "manifest.json"


def model_path(name_or_path: str, part: str = "params") -> Path:
    """An existing path as is, else a zoo name's `part` (its float params/, or the fixed-point export/ where the
    shipped integers are what is asked for)."""
    return Path(zoo.resolve(name_or_path, part=part))


def find_export(path: Path) -> Path | None:
    """The exported model in `path` (a model directory holding manifest.json, or a zoo model's export/)."""
    return next((c for c in (path, path / "export") if (c / MANIFEST).is_file()), None)


def _export_in_child(arguments: list[str], out: Path) -> str | None:
    """Run `s4d export ARGUMENTS --out OUT` in a child process, so that this process never loads JAX (the
    compiler runs without it); None when OUT was written, else the child's last line of error."""
    done = subprocess.run([sys.executable, "-m", "s4d.cli", "export", *arguments, "--out", str(out)],
                          capture_output=True, text=True)
    if done.returncode == 0 and (out / MANIFEST).is_file():
        return None
    return (done.stderr.strip().splitlines() or ["no exported model was written"])[-1]


def exported_dir(model: str, scratch: Path) -> Path:
    """An exported model directory for MODEL: a path or zoo name holding manifest.json (directly or in export/),
    or a checkpoint, exported into `scratch` by `s4d export` in a child process."""
    path = Path(zoo.resolve(model))
    found = find_export(path)
    if found is not None:
        return found
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a model directory")
    why = _export_in_child([str(path)], scratch / "export")
    if why is not None:
        raise ValueError(f"{path} is neither an exported model nor a checkpoint `s4d export` can export: {why}")
    return scratch / "export"


def exported_for_neuron(directory: Path, neuron: str | None, scratch: Path, data_dir: Path | None = None) -> Path:
    """`directory` (an exported model) if its S4D neuron variant is `neuron` or `neuron` is None, else a PTQ of
    its float params for that variant, exported into `scratch` by `s4d export --neuron` in a child process
    (calibration reads the task's training split)."""
    if neuron is None:
        return directory
    spec = json.loads((directory / MANIFEST).read_text()).get("fixed_point", {})
    if spec.get("neuron", "split") == neuron:
        return directory
    out = scratch / f"export-{neuron}"
    data = ["--data-dir", str(data_dir)] if data_dir else []
    why = _export_in_child([str(directory), "--neuron", neuron, *data], out)
    if why is not None:
        raise ValueError(f"cannot quantize {directory} for the {neuron} S4D neuron: {why}")
    return out
