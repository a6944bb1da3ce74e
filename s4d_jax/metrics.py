"""TensorBoard event files of a training run, written beside metrics.jsonl.

metrics.jsonl keeps one record per epoch (what resume and the checkpoints rely on); the event files under
`tensorboard/` add the per-step curves: training loss and accuracy averaged over each logging window,
learning rates (dense and SSM groups) and throughput (samples/s since the epoch began), plus the epoch's validation figures. View them with
`tensorboard --logdir WORKDIR/tensorboard` or draw them with `s4d plot WORKDIR`.
"""
from __future__ import annotations

from pathlib import Path

EVENTS_DIR = "tensorboard"


class RunWriter:
    """Scalars of one training process; a resumed run appends a new event file to the same directory."""

    def __init__(self, workdir: Path):
        from tensorboardX import SummaryWriter

        self._writer = SummaryWriter(str(Path(workdir) / EVENTS_DIR), flush_secs=30)

    def train(self, step: int, loss: float, accuracy: float, learning_rates: dict, samples_per_s: float) -> None:
        scalars = {"train/loss": loss, "train/accuracy": accuracy, "train/samples_per_s": samples_per_s,
                   **{f"learning_rate/{group}": lr for group, lr in learning_rates.items()}}
        for tag, value in scalars.items():
            self._writer.add_scalar(tag, float(value), step)

    def epoch(self, record: dict) -> None:
        """The epoch record of metrics.jsonl, at its last step."""
        for key in ("val_loss", "val_accuracy", "train_loss", "train_accuracy", "samples_per_s"):
            self._writer.add_scalar(f"epoch/{key}", float(record[key]), record["step"])
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
