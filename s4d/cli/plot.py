"""`s4d plot RUN_DIR`: the learning curves of a training run as a PNG."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def plot(
    run_dir: Path = typer.Argument(..., help="a training workdir (s4d train --workdir)"),
    out: Optional[Path] = typer.Option(None, "--out", help="PNG file to write (default RUN_DIR/learning_curves.png)"),
) -> None:
    """Draw loss, accuracy, learning rate and throughput against the training step, from the run's TensorBoard
    event files and metrics.jsonl."""
    from s4d.plot import plot_run

    print(plot_run(run_dir, out))


def register(app: typer.Typer) -> None:
    app.command()(plot)
