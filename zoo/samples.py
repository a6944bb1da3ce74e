"""The few real test sequences a zoo model carries (samples.npz), so the demo runs with no dataset at hand.

They are stored as the model sees them before scaling: uint8 [n, L, C] in token order (already permuted for
psMNIST), with their labels, their positions in the original test split and a note of the files they came from.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.archive import SAMPLES
from zoo.registry import ZooEntry

DEFAULT_SAMPLES = 8
SOURCE_FILES = {"mnist": "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (original MNIST)",
                "cifar10": "cifar-10-batches-py/test_batch (official CIFAR-10 python batches)"}


@dataclass(frozen=True)
class Samples:
    sequences: np.ndarray  # uint8 [n, L, C], token order of the model
    labels: np.ndarray  # int32 [n]
    indices: np.ndarray  # int64 [n], positions in the original test split
    source: str

    def __len__(self) -> int:
        return len(self.labels)


def load_samples(path: str | Path, task: str | None = None) -> Samples:
    """The samples of a model directory (or a samples.npz file), checked against `task` when given."""
    path = Path(path)
    path = path / SAMPLES if path.is_dir() else path
    keys = ("sequences", "labels", "indices", "source")
    with np.load(path, allow_pickle=False) as npz:
        missing = [k for k in keys if k not in npz.files]
        if missing:
            raise ValueError(f"{path}: missing arrays {missing} (want {keys})")
        samples = Samples(npz["sequences"], npz["labels"], npz["indices"], str(npz["source"]))
    shape = samples.sequences.shape
    if samples.sequences.dtype != np.uint8 or len(shape) != 3 or samples.labels.shape != shape[:1]:
        raise ValueError(f"{path}: want uint8 sequences [n, L, C] and labels [n], got {samples.sequences.dtype} "
                         f"{shape} and {samples.labels.shape}")
    if task is not None:
        from s4d_jax.data import get_task

        spec = get_task(task)
        if shape[1:] != (spec.length, spec.channels):
            raise ValueError(f"{path}: sequences {shape} do not fit task {task} ([n, {spec.length}, {spec.channels}])")
    return samples


def build_samples(entry: ZooEntry, out: Path, *, n: int = DEFAULT_SAMPLES, source_dir: str | None = None) -> Path:
    """Write the first `n` examples of the task's original test split to `out` (see the module docstring)."""
    from s4d_jax.data import get_task, permutation, resolve_source_dir
    from s4d_jax.data.builders import read_cifar10, read_mnist

    task = get_task(entry.task)
    manual = resolve_source_dir(source_dir) / task.source
    images, labels = (read_mnist if task.source == "mnist" else read_cifar10)(manual, "test")
    if not 1 <= n <= len(labels):
        raise ValueError(f"--n-samples must be between 1 and {len(labels)}, got {n}")
    sequences = np.asarray(images[:n], np.uint8).reshape(n, task.length, task.channels)
    note = (f"{task.source} test split, examples 0..{n - 1}, from {SOURCE_FILES[task.source]}; "
            f"uint8 [n, {task.length}, {task.channels}] in the model's token order")
    if task.permuted:
        sequences = sequences[:, permutation(entry.permutation_seed, task.length)]
        note += f" (pixels permuted with s4d_jax.data.permutation({entry.permutation_seed}))"
    note += "; model input = sequences / 255"
    np.savez(out, sequences=np.ascontiguousarray(sequences), labels=np.asarray(labels[:n], np.int32),
             indices=np.arange(n, dtype=np.int64), source=np.asarray(note))
    return out
