"""Test sequences for `s4d compile --simulate N`: integer inputs (as the chip receives them) and labels.

Where they come from, first match wins: `samples.npz` in the exported model directory or the zoo model
directory above it (the zoo's layout, docs/zoo.md: arrays `sequences` [N, L, C] integers in model token
order and `labels` [N]); a file given with --inputs in the same layout; or the test split of the model's
task (sMNIST, psMNIST, sCIFAR) read through s4d_jax.data, which loads no JAX.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLES_FILE = "samples.npz"


def read_samples(path) -> tuple[np.ndarray, np.ndarray | None]:
    """sequences [N, L, C] and labels [N] (or None) from a pickle-free .npz."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no samples file at {path}")
    with np.load(path, allow_pickle=False) as data:
        if "sequences" not in data.files:
            raise ValueError(f"{path}: needs an array 'sequences' [n, length, channels], has {data.files}")
        inputs = np.asarray(data["sequences"])
        labels = np.asarray(data["labels"]) if "labels" in data.files else None
    if inputs.ndim != 3 or not np.issubdtype(inputs.dtype, np.integer):
        raise ValueError(f"{path}: 'sequences' must be integers [n, length, channels], got "
                         f"{inputs.dtype} {inputs.shape}")
    if labels is not None and labels.shape != (len(inputs),):
        raise ValueError(f"{path}: 'labels' must have shape ({len(inputs)},), got {labels.shape}")
    return inputs.astype(np.int64), labels


def task_samples(manifest: dict, n: int, data_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """The first `n` test sequences of the model's task, as uint8 pixels (exponent 0 on the chip)."""
    task = manifest.get("task")
    if not task:
        raise ValueError("the exported model names no task and ships no samples.npz; pass --inputs FILE.npz")
    from s4d_jax import data

    seed = (manifest.get("meta") or {}).get("permutation_seed")
    seed = data.DEFAULT_PERMUTATION_SEED if seed is None else int(seed)
    split = data.load(task, "test", data_dir=data_dir, permutation_seed=seed)
    return split.sequences[:n].astype(np.int64), split.labels[:n]


def select(model_dir, manifest: dict, n: int, inputs_file=None, data_dir=None):
    """Up to `n` sequences from the first source available (see the module docstring)."""
    shipped = [d / SAMPLES_FILE for d in (Path(model_dir), Path(model_dir).parent) if (d / SAMPLES_FILE).is_file()]
    if shipped:
        inputs, labels = read_samples(shipped[0])
    elif inputs_file is not None:
        inputs, labels = read_samples(inputs_file)
    else:
        return task_samples(manifest, n, data_dir)
    return inputs[:n], None if labels is None else labels[:n]
