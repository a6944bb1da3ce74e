"""Test sequences for a Lava simulation: integer inputs (as the chip receives them) and labels.

The layout (docs/zoo.md): a pickle-free .npz with `sequences` [N, L, C] integers in model token order and,
optionally, `labels` [N]. Zoo models ship one as samples.npz beside their export; `s4d.samples` decides which
source a command uses.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

SAMPLES_FILE = "samples.npz"


def read_samples(path) -> tuple[np.ndarray, np.ndarray | None]:
    """sequences [N, L, C] and labels [N] (or None) from a pickle-free .npz."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no samples file at {path}")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError(f"{path}: a .npz archive is needed, this is a single .npy array")
        with data:
            if "sequences" not in data.files:
                raise ValueError(f"{path}: needs an array 'sequences' [n, length, channels], has {data.files}")
            inputs = np.asarray(data["sequences"])
            labels = np.asarray(data["labels"]) if "labels" in data.files else None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path} cannot be read as a pickle-free .npz (empty, truncated or damaged): "
                         f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from err
    if inputs.ndim != 3 or not np.issubdtype(inputs.dtype, np.integer):
        raise ValueError(f"{path}: 'sequences' must be integers [n, length, channels], got "
                         f"{inputs.dtype} {inputs.shape}")
    if labels is not None and labels.shape != (len(inputs),):
        raise ValueError(f"{path}: 'labels' must have shape ({len(inputs)},), got {labels.shape}")
    return inputs.astype(np.int64), labels


def check_inputs(inputs: np.ndarray, channels: int, high: int, source: str) -> None:
    """Refuse sequences the model cannot take, before any simulation runs: [n ≥ 1, length ≥ 1, channels]
    integers in the input range [0, high] of the exported model."""
    if inputs.shape[0] < 1 or inputs.shape[1] < 1:
        raise ValueError(f"{source}: 'sequences' holds no tokens (shape {inputs.shape})")
    if inputs.shape[2] != channels:
        raise ValueError(f"{source}: 'sequences' has {inputs.shape[2]} channel(s) per token, the model takes "
                         f"{channels} (shape {inputs.shape}, want [n, length, {channels}])")
    low, top = int(inputs.min()), int(inputs.max())
    if low < 0 or top > high:
        raise ValueError(f"{source}: 'sequences' values span [{low}, {top}], the model's inputs are integers in "
                         f"[0, {high}] (raw pixels, not scaled to [0, 1])")


def shipped_samples(model_dir) -> Path | None:
    """The samples.npz shipped in an exported model directory or the zoo model directory above it, if any."""
    for directory in (Path(model_dir), Path(model_dir).parent):
        if (directory / SAMPLES_FILE).is_file():
            return directory / SAMPLES_FILE
    return None
