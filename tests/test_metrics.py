"""A training run leaves TensorBoard event files that tensorboard's reader reads, and `s4d plot` draws them."""
import json
import sys

import pytest

from s4d import cli
from s4d.plot import describe_run, read_events
from s4d_jax.train import TrainConfig, train
from test_data import mock_tfds

CFG = TrainConfig(epochs=2, batch_size=10, eval_batch_size=10, limit_train=40, warmup_epochs=0.5,
                  model_overrides=(("d_model", 8), ("d_state", 4), ("n_layers", 1)))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tb") / "work"
    with mock_tfds():
        train(CFG, workdir, progress=False)
    return workdir


def test_event_files_hold_step_and_epoch_scalars(workdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(workdir / "tensorboard"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "train/accuracy", "train/samples_per_s", "learning_rate/dense", "learning_rate/ssm",
            "epoch/val_loss", "epoch/val_accuracy"} <= tags
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    val = acc.Scalars("epoch/val_accuracy")
    assert [e.step for e in val] == [r["step"] for r in records] == [4, 8]
    assert [e.value for e in val] == pytest.approx([r["val_accuracy"] for r in records])
    lr = read_events(workdir)["learning_rate/dense"]
    assert lr[0] == [4, 8] and 0 < lr[1][1] < lr[1][0] <= CFG.lr  # warm-up done, cosine decaying


def _cli(args, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["s4d", *args])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    return exit_.value.code, capsys.readouterr()


def test_plot_writes_a_png(workdir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "curves.png"
    code, io = _cli(["plot", str(workdir), "--out", str(out)], capsys, monkeypatch)
    assert code in (0, None) and io.out.strip() == str(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000


def test_plot_title_names_what_trained(workdir, tmp_path):
    assert describe_run(workdir) == "s4d-67k, d_model=8, d_state=4, n_layers=1 on smnist, 2 epochs (work)"
    assert describe_run(tmp_path) == tmp_path.name  # no train_config.json: the folder's name


def test_plot_refuses_what_is_not_a_run(tmp_path, capsys, monkeypatch):
    code, io = _cli(["plot", str(tmp_path)], capsys, monkeypatch)
    assert code == 2 and "not a training run" in io.err and len(io.err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
