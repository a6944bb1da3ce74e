"""Data: tasks as sequences in [0, 1], deterministic splits and batch orders, real MNIST counts, clear errors."""
import contextlib
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import tensorflow_datasets as tfds

from s4d_jax import data

MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
# for tests that read real MNIST: a skip only where it is neither prepared nor at hand, never where loading fails
needs_mnist = pytest.mark.skipif(not data.available("mnist"), reason="MNIST is neither prepared nor at hand")
MOCK_SIZES = {"train": 300, "test": 60}


class _FakeSource:
    """Random examples in the builder's own feature shapes, with the data-source interface."""

    def __init__(self, shape, n, seed):
        rng = np.random.default_rng(seed)
        self.examples = [{"image": rng.integers(0, 256, shape, np.uint8), "label": int(rng.integers(10))}
                         for _ in range(n)]

    def __len__(self):
        return len(self.examples)

    def __getitem__(self, key):
        return self.examples[key]

    def __getitems__(self, keys):
        return [self.examples[k] for k in keys]


def _fake_as_data_source(self, split=None, **kwargs):
    return _FakeSource(self.info.features["image"].shape, MOCK_SIZES[split], seed=len(split))


@contextlib.contextmanager
def mock_tfds():
    """tfds mocked (no files, no network): every dataset reads as prepared; the in-process cache of loaded splits
    is cleared around it."""
    data._source_split.cache_clear()
    with tfds.testing.mock_data(policy=tfds.testing.MockPolicy.USE_CODE, as_data_source_fn=_fake_as_data_source), \
            mock.patch.object(tfds.core.DatasetBuilder, "is_prepared", return_value=True):
        yield
    data._source_split.cache_clear()


@pytest.fixture
def mocked():
    with mock_tfds():
        yield


@pytest.mark.parametrize("task, length, channels", [("smnist", 784, 1), ("psmnist", 784, 1), ("scifar", 1024, 3)])
def test_tasks_give_sequences_in_unit_range(mocked, task, length, channels):
    sizes = {split: len(data.load(task, split)) for split in data.SPLITS}
    assert sizes == {"train": 270, "validation": 30, "test": 60}
    split = data.load(task, "train")
    x, y = next(data.batches(split, 16, shuffle_seed=0))
    assert x.shape == (16, length, channels) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.5
    assert y.dtype == np.int32 and set(y) <= set(range(10))


def test_validation_is_a_fixed_disjoint_carve_of_train(mocked):
    train, val = data.load("smnist", "train"), data.load("smnist", "validation")
    rows = {s.tobytes() for s in train.sequences}
    assert not any(s.tobytes() in rows for s in val.sequences)
    data._source_split.cache_clear()
    assert np.array_equal(data.load("smnist", "validation").sequences, val.sequences)


def test_full_train_is_train_and_validation_together(mocked):
    train, val = data.load("scifar", "train"), data.load("scifar", "validation")
    full = data.load("scifar", data.FULL_TRAIN)
    assert len(full) == len(train) + len(val) == MOCK_SIZES["train"]
    rows = sorted(s.tobytes() + bytes([y]) for s, y in zip(full.sequences, full.labels))
    parts = sorted(s.tobytes() + bytes([y]) for split in (train, val) for s, y in zip(split.sequences, split.labels))
    assert rows == parts


def test_psmnist_is_smnist_under_a_seeded_permutation(mocked):
    perm = data.permutation(3)
    assert sorted(perm) == list(range(784)) and not np.array_equal(perm, np.arange(784))
    assert np.array_equal(perm, data.permutation(3)) and not np.array_equal(perm, data.permutation(4))
    plain = data.load("smnist", "test")
    permuted = data.load("psmnist", "test", permutation_seed=3)
    assert np.array_equal(permuted.sequences, plain.sequences[:, perm])
    assert np.array_equal(permuted.labels, plain.labels)


def test_batch_order_depends_only_on_seed_and_epoch(mocked):
    split = data.load("smnist", "train")

    def labels(seed, epoch, **kw):
        return np.concatenate([y for _, y in data.batches(split, 32, shuffle_seed=seed, epoch=epoch, **kw)])

    assert np.array_equal(labels(0, 1), labels(0, 1))
    assert not np.array_equal(data.epoch_order(270, 0, 1), data.epoch_order(270, 0, 2))
    assert np.array_equal(labels(0, 1, start=2), labels(0, 1)[64:])
    assert len(labels(0, 1, drop_remainder=True)) == 256
    assert len(labels(0, 1, limit=100)) == 100
    assert sorted(data.epoch_order(270, 5, 0)) == list(range(270))


def test_unknown_task_or_split_is_named():
    with pytest.raises(ValueError, match="unknown task 'mnist'"):
        data.load("mnist", "train")
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        data.load("smnist", "dev")


def test_missing_source_files_say_which_files_go_where(tmp_path, capfd):
    data._source_split.cache_clear()
    with pytest.raises(FileNotFoundError, match=r"put train-images-idx3-ubyte.gz, .* in .*src/mnist"):
        data.load("smnist", "train", data_dir=tmp_path / "prepared", source_dir=tmp_path / "src")
    # said before tfds starts: no announcement of a preparation, no incomplete dataset folder left behind
    assert "preparing" not in capfd.readouterr().err.lower()
    assert not any((tmp_path / "prepared").rglob("*.*"))
    (tmp_path / "src" / "cifar10" / "cifar-10-batches-py").mkdir(parents=True)
    (tmp_path / "src" / "cifar10" / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="data_batch_2"):
        data.load("scifar", "test", data_dir=tmp_path / "prepared", source_dir=tmp_path / "src")


def test_directories_follow_argument_then_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("S4D_DATA_DIR", raising=False)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    assert data.resolve_data_dir() == tmp_path / "tfds"
    monkeypatch.setenv("S4D_DATA_DIR", str(tmp_path / "s4d"))
    assert data.resolve_data_dir() == tmp_path / "s4d"
    assert data.resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.setenv("S4D_SOURCE_DIR", str(tmp_path / "src"))
    assert data.resolve_source_dir() == tmp_path / "src"
    monkeypatch.delenv("S4D_SOURCE_DIR")
    assert data.resolve_source_dir().parts[-2:] == ("shared", "data")


def test_a_source_is_available_offline_when_prepared_or_its_files_are_at_hand(tmp_path):
    assert not data.available("mnist", data_dir=tmp_path / "prepared", source_dir=tmp_path / "originals")
    if MNIST_DIR.is_dir():
        assert data.available("mnist", data_dir=tmp_path / "prepared", source_dir=MNIST_DIR.parent)


@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason="original MNIST files not available")
def test_real_mnist_prepares_offline_with_the_original_counts(tmp_path):
    data._source_split.cache_clear()
    kw = dict(data_dir=tmp_path, source_dir=MNIST_DIR.parent)
    train, val, test = (data.load("smnist", split, **kw) for split in data.SPLITS)
    data._source_split.cache_clear()
    assert (len(train), len(val), len(test)) == (55000, 5000, 10000)
    counts = np.bincount(np.concatenate([train.labels, val.labels]), minlength=10)
    assert counts.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert len(test.labels) == 10000 and np.bincount(test.labels).sum() == 10000
    assert train.sequences.shape == (55000, 784, 1) and train.sequences.dtype == np.uint8
    assert (tmp_path / "s4d_mnist" / "1.0.0").is_dir()


@pytest.mark.slow
@pytest.mark.skipif(not (MNIST_DIR.parent / "cifar10").is_dir(), reason="original CIFAR-10 batches not available")
def test_real_cifar10_prepares_offline_in_official_order(tmp_path):
    import pickle

    data._source_split.cache_clear()
    kw = dict(data_dir=tmp_path, source_dir=MNIST_DIR.parent)
    train, val, test = (data.load("scifar", split, **kw) for split in data.SPLITS)
    data._source_split.cache_clear()
    assert (len(train), len(val), len(test)) == (45000, 5000, 10000)
    assert np.bincount(np.concatenate([train.labels, val.labels])).tolist() == [5000] * 10
    with open(MNIST_DIR.parent / "cifar10" / "cifar-10-batches-py" / "test_batch", "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    # row-major pixels, channels last: token t = (row, column), channels (R, G, B)
    original = batch[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).reshape(-1, 1024, 3)
    label_of = {seq.tobytes(): label for seq, label in zip(original, batch[b"labels"])}
    assert all(label_of[seq.tobytes()] == label for seq, label in zip(test.sequences, test.labels))
