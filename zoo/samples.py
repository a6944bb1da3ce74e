"""The few real test sequences a zoo model carries (samples.npz), so the demo runs with no dataset at hand.

They are stored as the model sees them before scaling: uint8 [n, L, C] in token order (already permuted for
psMNIST), with their labels, their positions in the original test split and a note of the files they came from.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.archive import SAMPLES


@dataclass(frozen=True)
class Samples:
    sequences: np.ndarray  # uint8 [n, L, C], token order of the model
    labels: np.ndarray  # int32 [n]
    indices: np.ndarray  # int64 [n], positions in the original test split
    source: str

    def __len__(self) -> int:
        return len(self.labels)


def load_samples(path: str | Path, shape: tuple[int, int] | None = None) -> Samples:
    """The samples of a model directory (or a samples.npz file), checked to be sequences of `shape` =
    (length, channels) when given."""
    path = Path(path)
    path = path / SAMPLES if path.is_dir() else path
    keys = ("sequences", "labels", "indices", "source")
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path} cannot be read as a pickle-free .npz (missing, empty, truncated or damaged): "
                         f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from err
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: a samples .npz archive is needed, this is a single .npy array")
    with npz:
        missing = [k for k in keys if k not in npz.files]
        if missing:
            raise ValueError(f"{path}: missing arrays {missing} (want {keys})")
        samples = Samples(npz["sequences"], npz["labels"], npz["indices"], str(npz["source"]))
    have = samples.sequences.shape
    if samples.sequences.dtype != np.uint8 or len(have) != 3 or samples.labels.shape != have[:1]:
        raise ValueError(f"{path}: want uint8 sequences [n, L, C] and labels [n], got {samples.sequences.dtype} "
                         f"{have} and {samples.labels.shape}")
    if shape is not None and tuple(have[1:]) != tuple(shape):
        raise ValueError(f"{path}: sequences {have} are not [n, {shape[0]}, {shape[1]}]")
    return samples
