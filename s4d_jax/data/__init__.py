"""Sequence classification data: sMNIST, psMNIST and sCIFAR as in-memory arrays, batched by index.

The images come through tfds (our builders in `builders`, prepared offline from the original files into
array_record) and are held in memory as uint8 sequences. Batches are drawn by a permutation of indices that
depends only on (seed, epoch), so an epoch is the same whenever it is replayed, which is what makes
`--resume` exact, and feeding costs next to nothing compared with a training step.
"""
from __future__ import annotations

import contextlib
import functools
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

SPLITS = ("train", "validation", "test")
FULL_TRAIN = "train+validation"  # the whole original training split: a final fit once the recipe is fixed
VALIDATION_SEED = 0  # seeds the fixed carve of the validation split out of the original training split
VALIDATION_SIZE = 5000
DEFAULT_PERMUTATION_SEED = 0


@dataclass(frozen=True)
class Task:
    """A benchmark: which source dataset, and how images become sequences."""

    name: str
    source: str  # key of builders.BUILDERS
    length: int
    channels: int
    permuted: bool = False
    n_classes: int = 10


TASKS: dict[str, Task] = {
    "smnist": Task("smnist", "mnist", 784, 1),
    "psmnist": Task("psmnist", "mnist", 784, 1, permuted=True),
    "scifar": Task("scifar", "cifar10", 1024, 3),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {sorted(TASKS)}")
    return TASKS[name]


def permutation(seed: int = DEFAULT_PERMUTATION_SEED, length: int = 784) -> np.ndarray:
    """The fixed pixel order of psMNIST for `seed` (recorded with the model, so it can be rebuilt)."""
    return np.random.default_rng(seed).permutation(length)


def resolve_data_dir(path: str | os.PathLike | None = None) -> Path:
    """Where prepared tfds data lives: the argument, else $S4D_DATA_DIR, else $TFDS_DATA_DIR, else tfds's default."""
    for candidate in (path, os.environ.get("S4D_DATA_DIR"), os.environ.get("TFDS_DATA_DIR")):
        if candidate:
            return Path(candidate).expanduser()
    return Path("~/tensorflow_datasets").expanduser()


def resolve_source_dir(path: str | os.PathLike | None = None) -> Path:
    """Folder holding the original files (mnist/, cifar10/): the argument, else $S4D_SOURCE_DIR, else
    ../shared/data beside the repository."""
    for candidate in (path, os.environ.get("S4D_SOURCE_DIR")):
        if candidate:
            return Path(candidate).expanduser()
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _builder(source: str, data_dir: str | os.PathLike | None):
    """The tfds builder of `source` over the prepared-data folder (prepared or not)."""
    from s4d_jax.data.builders import BUILDERS

    return BUILDERS[source](data_dir=str(resolve_data_dir(data_dir)), file_format="array_record")


def prepare(source: str, data_dir: str | os.PathLike | None = None, source_dir: str | os.PathLike | None = None):
    """The tfds builder of `source`, prepared (from the original files in the manual dir) if it was not yet."""
    import tensorflow_datasets as tfds

    from s4d_jax.data.builders import check_source_files

    builder = _builder(source, data_dir)
    if builder.is_prepared():
        return builder
    # say which files go where before tfds announces a preparation it cannot do and leaves an incomplete folder
    manual = check_source_files(source, resolve_source_dir(source_dir) / source)
    with contextlib.redirect_stdout(sys.stderr):  # tfds announces preparation on stdout; keep it for results
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    return builder


def available(source: str, data_dir: str | os.PathLike | None = None,
              source_dir: str | os.PathLike | None = None) -> bool:
    """Whether `source` (mnist, cifar10) loads offline: prepared already, or its original files at hand."""
    from s4d_jax.data.builders import check_source_files

    if _builder(source, data_dir).is_prepared():
        return True
    try:
        check_source_files(source, resolve_source_dir(source_dir) / source)
    except FileNotFoundError:
        return False
    return True


@functools.lru_cache(maxsize=4)
def _source_split(source: str, split: str, data_dir: str, source_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """All images (uint8 [N, H, W, C]) and labels of an original split, read once per process."""
    builder = prepare(source, data_dir, source_dir)
    ds = builder.as_data_source(split=split)
    examples = ds.__getitems__(list(range(len(ds))))
    images = np.stack([np.asarray(e["image"], np.uint8) for e in examples])
    labels = np.asarray([e["label"] for e in examples], np.int32)
    return images, labels


@dataclass(frozen=True)
class Split:
    """One split of a task in memory: sequences uint8 [N, L, C] (already permuted for psMNIST), labels [N]."""

    task: Task
    name: str
    sequences: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def load(task: str, split: str, *, data_dir: str | os.PathLike | None = None,
         source_dir: str | os.PathLike | None = None,
         permutation_seed: int | None = None) -> Split:
    """One split of a task. Validation is a fixed carve of the original training split (5,000 examples, or a
    tenth of a smaller one); train is the rest, FULL_TRAIN both, test the original test split. A permuted
    task's pixel order comes from `permutation_seed`; None (a model whose meta records none) means
    DEFAULT_PERMUTATION_SEED."""
    spec = get_task(task)
    if split not in SPLITS + (FULL_TRAIN,):
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS + (FULL_TRAIN,)}")
    source_split = "test" if split == "test" else "train"
    images, labels = _source_split(spec.source, source_split, str(resolve_data_dir(data_dir)),
                                   str(resolve_source_dir(source_dir)))
    if split in ("train", "validation"):
        n_val = min(VALIDATION_SIZE, len(labels) // 10)
        order = np.random.default_rng(VALIDATION_SEED).permutation(len(labels))
        keep = np.sort(order[:n_val] if split == "validation" else order[n_val:])
        images, labels = images[keep], labels[keep]
    sequences = images.reshape(len(images), spec.length, spec.channels)
    if spec.permuted:
        seed = DEFAULT_PERMUTATION_SEED if permutation_seed is None else permutation_seed
        sequences = sequences[:, permutation(seed, spec.length)]
    return Split(spec, split, np.ascontiguousarray(sequences), labels)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The example order of one training epoch: a function of (seed, epoch) alone."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def batches(split: Split, batch_size: int, *, shuffle_seed: int | None = None, epoch: int = 0,
            drop_remainder: bool = False, start: int = 0, limit: int | None = None
            ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(inputs float32 [B, L, C] in [0, 1], labels int32 [B]) batches.

    With `shuffle_seed` the order is `epoch_order(n, shuffle_seed, epoch)`, else the stored order. `start`
    skips that many batches (resuming inside an epoch); `limit` uses only the first `limit` examples.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    n = len(split) if limit is None else min(limit, len(split))
    order = np.arange(n) if shuffle_seed is None else epoch_order(n, shuffle_seed, epoch)
    stop = n - n % batch_size if drop_remainder else n
    for begin in range(start * batch_size, stop, batch_size):
        idx = order[begin:begin + batch_size]
        yield split.sequences[idx].astype(np.float32) / 255.0, split.labels[idx]


def n_batches(n: int, batch_size: int, drop_remainder: bool) -> int:
    return n // batch_size if drop_remainder else -(-n // batch_size)
