"""tfds dataset builders that read the original MNIST and CIFAR-10 files from a manual directory.

tfds's own `mnist` builder extracts its .gz files through TensorFlow and its `cifar10` builder wants the
binary tarball with a registered checksum; these builders read the original files with numpy alone, so the
data still flows through tfds (array_record + `tfds.data_source`) without TensorFlow installed.
"""
from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CIFAR_DIR = "cifar-10-batches-py"
CIFAR_FILES = {
    "train": tuple(f"{CIFAR_DIR}/data_batch_{i}" for i in range(1, 6)),
    "test": (f"{CIFAR_DIR}/test_batch",),
}


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """An IDX array (the MNIST format): big-endian magic, dims, then uint8 data."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    header = np.frombuffer(data, ">i4", count=1)[0]
    if header != magic:
        raise ValueError(f"{path} is not an IDX file of the expected kind (magic {header}, want {magic})")
    ndim = magic & 0xFF
    dims = np.frombuffer(data, ">i4", count=ndim, offset=4)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def read_mnist(manual_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 28, 28], labels uint8 [N]) of one original split."""
    images_name, labels_name = MNIST_FILES[split]
    images = _read_idx(manual_dir / images_name, 0x0803)
    labels = _read_idx(manual_dir / labels_name, 0x0801)
    if len(images) != len(labels):
        raise ValueError(f"{manual_dir}: {len(images)} images but {len(labels)} labels in the {split} split")
    return images, labels


def read_cifar10(manual_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 32, 32, 3], labels [N]) from the official python batches."""
    images, labels = [], []
    for name in CIFAR_FILES[split]:
        with open(manual_dir / name, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        images.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(batch[b"labels"], np.int64))
    return np.concatenate(images), np.concatenate(labels)


class _OriginalFilesBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Images stored as raw uint8 tensors with a class label, read by `read` from the manual dir."""

    SOURCE = ""
    IMAGE_SHAPE: tuple[int, int, int] = (0, 0, 0)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Tensor(shape=self.IMAGE_SHAPE, dtype=np.uint8),
                "label": tfds.features.ClassLabel(num_classes=10),
            }),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        manual_dir = check_source_files(self.SOURCE, Path(dl_manager.manual_dir))
        return {split: self._generate_examples(manual_dir, split) for split in ("train", "test")}

    def _generate_examples(self, manual_dir: Path, split: str):
        images, labels = READERS[self.SOURCE](manual_dir, split)
        for i, (image, label) in enumerate(zip(images, labels)):
            yield i, {"image": image.reshape(self.IMAGE_SHAPE), "label": int(label)}


class S4dMnist(_OriginalFilesBuilder):
    """MNIST from the four original IDX files."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Original MNIST, train 60,000 / test 10,000."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Put " + ", ".join(sum(MNIST_FILES.values(), ())) + " in the manual dir."
    SOURCE = "mnist"
    IMAGE_SHAPE = (28, 28, 1)


class S4dCifar10(_OriginalFilesBuilder):
    """CIFAR-10 from the official python batches (cifar-10-batches-py/)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Original CIFAR-10, train 50,000 / test 10,000."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Put the folder cifar-10-batches-py/ (official python batches) in the manual dir."
    SOURCE = "cifar10"
    IMAGE_SHAPE = (32, 32, 3)


# Builder per source dataset, and the original files each needs (relative to its manual dir).
BUILDERS = {"mnist": S4dMnist, "cifar10": S4dCifar10}
READERS = {"mnist": read_mnist, "cifar10": read_cifar10}
SOURCE_FILES = {
    "mnist": sum(MNIST_FILES.values(), ()),
    "cifar10": sum(CIFAR_FILES.values(), ()),
}


def check_source_files(source: str, manual_dir: Path) -> Path:
    """The manual dir, after checking that every original file is there (else say which to put where)."""
    missing = [name for name in SOURCE_FILES[source] if not (manual_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{source} is not prepared and its original files are missing: put {', '.join(missing)} in "
            f"{manual_dir} (or pass --source-dir / set S4D_SOURCE_DIR to the folder that holds them)"
        )
    return manual_dir
