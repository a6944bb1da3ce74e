"""Learning curves of a training run as a PNG: loss, accuracy, learning rate and throughput against the step.

The per-step curves come from the run's TensorBoard event files (read with tensorboard's own event
reader), the per-epoch points from metrics.jsonl, so runs that predate the event files still plot.
"""
from __future__ import annotations

import json
from pathlib import Path

from compiler.plot import save_png
from s4d_jax.checkpoint import METRICS, TRAIN_CONFIG  # neither module loads JAX
from s4d_jax.metrics import EVENTS_DIR


def read_events(run_dir: Path) -> dict[str, tuple[list[int], list[float]]]:
    """tag → (steps, values) of every scalar in the run's event files ({} when it has none)."""
    events = Path(run_dir) / EVENTS_DIR
    if not events.is_dir():
        return {}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(events), size_guidance={"scalars": 0})  # 0: keep every point
    acc.Reload()
    out = {}
    for tag in acc.Tags()["scalars"]:
        points = sorted({e.step: e.value for e in acc.Scalars(tag)}.items())  # a resumed run rewrites steps
        out[tag] = ([s for s, _ in points], [v for _, v in points])
    return out


def read_epochs(run_dir: Path) -> list[dict]:
    file = Path(run_dir) / METRICS
    if not file.is_file():
        return []
    try:
        return [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
    except json.JSONDecodeError as err:
        raise ValueError(f"{file} is not valid JSON lines: {err}") from err


def describe_run(run_dir: Path) -> str:
    """What trained, for the title: 'PRESET on TASK, N epochs (DIR)' from train_config.json, else DIR."""
    name = run_dir.resolve().name
    try:
        cfg = json.loads((run_dir / TRAIN_CONFIG).read_text())["train_config"]
        changes = "".join(f", {key}={value}" for key, value in cfg.get("model_overrides") or ())
        return f"{cfg['preset']}{changes} on {cfg['task']}, {cfg['epochs']} epochs ({name})"
    except (OSError, ValueError, KeyError, TypeError):
        return name


def plot_run(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Draw the learning curves of `run_dir` to `out` (default RUN_DIR/learning_curves.png); returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"no training run directory at {run_dir}")
    steps, epochs = read_events(run_dir), read_epochs(run_dir)
    if not steps and not epochs:
        raise ValueError(f"{run_dir} has neither {EVENTS_DIR}/ event files nor {METRICS}: not a training run")
    out = Path(out) if out is not None else run_dir / "learning_curves.png"
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out must name a .png file, got {out}")
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    panels = [(axes[0, 0], "loss", "cross-entropy loss"), (axes[0, 1], "accuracy", "accuracy (%)")]
    for ax, key, label in panels:
        scale = 100 if key == "accuracy" else 1
        if f"train/{key}" in steps:
            s, v = steps[f"train/{key}"]
            ax.plot(s, [x * scale for x in v], lw=1, alpha=0.6, label="train (per logging window)")
        for split, marker in (("train", "s"), ("val", "o")):
            points = [(r["step"], r[f"{split}_{key}"] * scale) for r in epochs if f"{split}_{key}" in r]
            if points:
                ax.plot(*zip(*points), marker=marker, label=f"{'validation' if split == 'val' else split} (epoch)")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    ax = axes[1, 0]
    for tag, (s, v) in sorted(steps.items()):
        if tag.startswith("learning_rate/"):
            ax.plot(s, v, label=tag.split("/", 1)[1] + " parameters")
    ax.set_ylabel("learning rate")
    if ax.lines:
        ax.legend(fontsize=8)
    else:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no per-step data (run without event files)", ha="center", transform=ax.transAxes)
    ax = axes[1, 1]
    if "train/samples_per_s" in steps:
        ax.plot(*steps["train/samples_per_s"], lw=1, label="since the epoch began")
    points = [(r["step"], r["samples_per_s"]) for r in epochs if "samples_per_s" in r]
    if points:
        ax.plot(*zip(*points), marker="s", label="epoch")
    ax.set_ylabel("throughput (samples/s)")
    ax.legend(fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("training step")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    fig.suptitle(f"learning curves: {describe_run(run_dir)}")
    fig.tight_layout()
    return save_png(fig, out, plt, dpi=110)
