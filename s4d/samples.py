"""Which test sequences a command runs: the user's file, the model's shipped samples, or the task's test split.

`select` takes them in that order (a file given with --inputs always wins) and says which one it used, so
a report never leaves the reader guessing. The zoo's samples.npz are built here too, from the original
dataset files read through `s4d_jax.data` (which loads no JAX).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from compiler.samples import check_inputs, read_samples, shipped_samples

DEFAULT_SAMPLES = 8
SOURCE_FILES = {"mnist": "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (original MNIST)",
                "cifar10": "cifar-10-batches-py/test_batch (official CIFAR-10 python batches)"}


def task_samples(task: str, n: int, permutation_seed=None, data_dir=None, source_dir=None):
    """The first `n` test sequences of `task`, as uint8 pixels (exponent 0 on the chip), and their labels."""
    from s4d_jax import data

    seed = None if permutation_seed is None else int(permutation_seed)
    split = data.load(task, "test", data_dir=data_dir, source_dir=source_dir, permutation_seed=seed)
    return split.sequences[:n].astype(np.int64), split.labels[:n]


def select(model_dir, manifest: dict, n: int, inputs_file=None, data_dir=None):
    """(sequences [n, L, C] int64, labels [n] or None, source): up to `n` sequences from --inputs, else the
    model's samples.npz, else its task's test split; checked against the model's input channels and range."""
    if inputs_file is not None:
        inputs, labels = read_samples(inputs_file)
        source = f"--inputs {inputs_file}"
    elif (shipped := shipped_samples(model_dir)) is not None:
        inputs, labels = read_samples(shipped)
        source = f"shipped {shipped.name}"
    else:
        task = manifest.get("task")
        if not task:
            raise ValueError("the exported model names no task and ships no samples.npz; pass --inputs FILE.npz")
        seed = (manifest.get("meta") or {}).get("permutation_seed")
        inputs, labels = task_samples(task, n, seed, data_dir)
        source = f"{task} test split"
    inputs, labels = inputs[:n], None if labels is None else labels[:n]
    arch, spec = manifest.get("architecture") or {}, manifest.get("input") or {}
    if "d_input" in arch:
        check_inputs(inputs, int(arch["d_input"]), int(spec.get("max", 255)), source)
    return inputs, labels, source


def task_shape(task_name: str) -> tuple[int, int]:
    """(length, channels) of a task's sequences."""
    from s4d_jax.data import get_task

    task = get_task(task_name)
    return task.length, task.channels


def build_samples(entry, out: Path, *, n: int = DEFAULT_SAMPLES, source_dir: str | None = None) -> Path:
    """Write the first `n` examples of the task's original test split to `out` as a zoo samples.npz
    (zoo/samples.py describes the layout)."""
    from s4d_jax.data import get_task, permutation, resolve_source_dir
    from s4d_jax.data.builders import READERS

    task = get_task(entry.task)
    # the original files themselves, not a prepared tfds copy: what the card says the samples are
    images, labels = READERS[task.source](resolve_source_dir(source_dir) / task.source, "test")
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
