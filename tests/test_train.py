"""Training, checkpoints and evaluation: exact resume after a kill, data parallelism, model files, clear errors."""
import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from faults.faultkit import tree_digest
from s4d import cli
from s4d_jax import checkpoint, data
from s4d_jax.evaluate import evaluate
from s4d_jax.train import TrainConfig, optimizer, param_labels, prepare_workdir, train
from test_data import mock_tfds

TINY = (("d_model", 8), ("d_state", 4), ("n_layers", 2))
CFG = TrainConfig(epochs=3, batch_size=10, eval_batch_size=10, limit_train=40, warmup_epochs=0.5, dropout=0.1,
                  model_overrides=TINY)  # dropout: the exact-resume checks cover its masks too
TIMING = ("train_time_s", "epoch_time_s", "samples_per_s", "time")

DRIVER = """
import json, sys
sys.path.insert(0, {tests!r})
import jax
from test_data import mock_tfds
from s4d_jax.train import TrainConfig, train
cfg = TrainConfig(**json.loads(sys.argv[2]))
with mock_tfds():
    train(cfg, sys.argv[1], resume=True, progress=False, checkpoint_every_min=float(sys.argv[3]))
print("devices", jax.local_device_count())
"""


def _start_driver(tmp_path, workdir, cfg=CFG, env=None, checkpoint_every_min=10.0) -> subprocess.Popen:
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(tests=str(Path(__file__).parent)))
    env = {**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})}
    return subprocess.Popen([sys.executable, str(driver), str(workdir), json.dumps(cfg.to_dict()),
                             str(checkpoint_every_min)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def _run_driver(tmp_path, workdir, **kwargs) -> subprocess.CompletedProcess:
    proc = _start_driver(tmp_path, workdir, **kwargs)
    stdout, stderr = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _metrics(workdir):
    lines = (Path(workdir) / checkpoint.METRICS).read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def _latest(workdir):
    manager = checkpoint.checkpoint_manager(Path(workdir), read_only=True)
    return checkpoint.load_workdir(Path(workdir), step=manager.latest_step())


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """An uninterrupted tiny run in a subprocess (3 epochs of 4 steps)."""
    tmp_path = tmp_path_factory.mktemp("full")
    full = _run_driver(tmp_path, tmp_path / "full")
    assert full.returncode == 0, full.stderr
    return tmp_path / "full"


@pytest.mark.slow
def test_two_uninterrupted_runs_at_once_are_bit_identical(tmp_path):
    # run side by side they load both cores, the condition under which multi-threaded Eigen contractions
    # summed in a different order (s4d_jax/__init__.py)
    procs = [_start_driver(tmp_path, tmp_path / name) for name in ("a", "b")]
    for proc in procs:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
    assert _metrics(tmp_path / "a") == _metrics(tmp_path / "b")
    _same_params(tmp_path / "a", tmp_path / "b")


def _same_params(workdir_a, workdir_b):
    (_, p_a, _), (_, p_b, _) = _latest(workdir_a), _latest(workdir_b)
    for key, value in checkpoint.flatten_params(p_a).items():
        assert np.array_equal(checkpoint.flatten_params(p_b)[key], value), key


@pytest.mark.slow
def test_resume_from_a_mid_epoch_checkpoint_is_bit_identical(tmp_path, full_run):
    # a checkpoint after every step; SIGKILL after step 7, before its checkpoint: the latest is step 6,
    # two of the four batches of epoch 2
    killed = _run_driver(tmp_path, tmp_path / "killed", env={"S4D_TRAIN_KILL_AFTER_STEP": "7"},
                         checkpoint_every_min=0)
    assert killed.returncode == -9
    assert checkpoint.progress_manager(tmp_path / "killed").latest_step() == 6
    assert checkpoint.checkpoint_manager(tmp_path / "killed", read_only=True).latest_step() == 4
    resumed = _run_driver(tmp_path, tmp_path / "killed")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming at step 6 (epoch 2, 2 of 4 batches done)" in resumed.stderr
    assert _metrics(tmp_path / "killed") == _metrics(full_run)  # the partial loss/accuracy sums carried over
    _same_params(full_run, tmp_path / "killed")
    best_full, best_resumed = (checkpoint.load_model(w)[2]["metrics"] for w in (full_run, tmp_path / "killed"))
    assert (best_resumed["epoch"], best_resumed["val_accuracy"]) == (best_full["epoch"], best_full["val_accuracy"])


@pytest.mark.slow
def test_resume_after_kill_in_epoch_2_is_bit_identical_and_two_devices_agree(tmp_path, full_run):
    killed = _run_driver(tmp_path, tmp_path / "killed", env={"S4D_TRAIN_KILL_AFTER_STEP": "6"})
    assert killed.returncode == -9  # SIGKILL in the middle of epoch 2 (steps 5..8)
    assert len(_metrics(tmp_path / "killed")) == 1
    resumed = _run_driver(tmp_path, tmp_path / "killed")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming at step 4 (epoch 2, 0 of 4 batches done)" in resumed.stderr
    assert _metrics(tmp_path / "killed") == _metrics(full_run)
    _same_params(full_run, tmp_path / "killed")

    two = _run_driver(tmp_path, tmp_path / "two", env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert two.returncode == 0, two.stderr
    assert "devices 2" in two.stdout
    (_, p_full, _), (_, p_two, _) = _latest(full_run), _latest(tmp_path / "two")
    for key, value in checkpoint.flatten_params(p_full).items():
        np.testing.assert_allclose(checkpoint.flatten_params(p_two)[key], value, rtol=1e-3, atol=1e-4)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished tiny training run on mocked data: (workdir, its config)."""
    workdir = tmp_path_factory.mktemp("run") / "work"
    cfg = dataclasses.replace(CFG, epochs=2)
    with mock_tfds():
        train(cfg, workdir, command="s4d train (test)", progress=False)
    return workdir, cfg


def test_metrics_log_and_best_checkpoint(run):
    workdir, cfg = run
    records = [json.loads(line) for line in (workdir / checkpoint.METRICS).read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2] and records[-1]["step"] == 8
    assert all(0 <= r["val_accuracy"] <= 1 and r["samples_per_s"] > 0 for r in records)
    best = max(records, key=lambda r: r["val_accuracy"])
    config, params, meta = checkpoint.load_model(workdir)
    assert meta["metrics"]["val_accuracy"] == best["val_accuracy"] and meta["task"] == "smnist"
    assert config == cfg.model_config() and meta["permutation_seed"] is None


def test_train_on_validation_fits_the_whole_training_split(tmp_path):
    cfg = dataclasses.replace(CFG, epochs=1, limit_train=None, train_on_validation=True)
    with mock_tfds():
        train(cfg, tmp_path / "all", progress=False)
        n_all = len(data.load("smnist", data.FULL_TRAIN))
    assert _metrics(tmp_path / "all")[-1]["step"] == n_all // cfg.batch_size  # 300 examples, not the 270 of "train"
    _, _, meta = checkpoint.load_model(tmp_path / "all")
    assert meta["train_config"]["train_on_validation"] is True


def test_existing_workdir_is_never_overwritten(run):
    workdir, cfg = run
    before = (workdir / checkpoint.METRICS).read_text()
    with pytest.raises(FileExistsError, match="--resume"):
        train(cfg, workdir)
    with pytest.raises(ValueError, match="different settings.*lr"):
        train(dataclasses.replace(cfg, lr=0.5), workdir, resume=True)
    assert (workdir / checkpoint.METRICS).read_text() == before


def test_a_resumed_run_records_the_command_that_started_it(tmp_path):
    # the command goes into every checkpoint's meta and from there into a zoo card: it must reproduce the
    # model, so a resume's own command line (with --resume) is not what is recorded
    cfg = dataclasses.replace(CFG, epochs=1)
    workdir = tmp_path / "work"
    assert prepare_workdir(workdir, cfg, False, "s4d train --epochs 1") == "s4d train --epochs 1"
    assert prepare_workdir(workdir, cfg, True, "s4d train --epochs 1 --resume") == "s4d train --epochs 1"


def test_params_directory_round_trip_and_errors(run, tmp_path):
    config, params, meta = checkpoint.load_model(run[0])
    path = checkpoint.save_params(tmp_path / "model", *checkpoint.load_workdir(run[0]))
    config2, params2, meta2 = checkpoint.load_model(path)
    assert config2 == config and meta2 == meta
    flat, flat2 = checkpoint.flatten_params(params), checkpoint.flatten_params(params2)
    assert "layers_0/log_dt" in flat2 and all(np.array_equal(flat[k], flat2[k]) for k in flat)
    assert sorted(os.listdir(tmp_path)) == ["model"]  # no temporary left behind
    with pytest.raises(FileExistsError):
        checkpoint.save_params(path, config, params, meta)

    with pytest.raises(FileNotFoundError, match="no model at"):
        checkpoint.load_model(tmp_path / "absent")
    other = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**other, "d_model": 16}))
    with pytest.raises(ValueError, match="do not match the architecture"):
        checkpoint.load_model(path)
    (path / "config.json").write_text(json.dumps(other))
    (path / "params.npz").write_bytes((path / "params.npz").read_bytes()[:100])
    with pytest.raises(ValueError, match="corrupt or half-written"):
        checkpoint.load_model(path)
    (path / "meta.json").unlink()
    with pytest.raises(ValueError, match="missing meta.json"):
        checkpoint.load_model(path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="neither a params directory nor a training workdir"):
        checkpoint.load_model(tmp_path / "empty")


def test_modes_agree_on_accuracy(run):
    from s4d_jax import data

    config, params, _ = checkpoint.load_model(run[0])
    with mock_tfds():
        split = data.load("smnist", "test")
        results = [evaluate(config, params, split, mode=m, batch_size=8, limit=20) for m in ("conv", "scan", "recurrent")]
    assert [r["n"] for r in results] == [20, 20, 20]
    assert len({r["accuracy"] for r in results}) == 1
    np.testing.assert_allclose([r["loss"] for r in results], results[0]["loss"], rtol=1e-4)


EVAL_DRIVER = """
import json, sys
sys.path.insert(0, {tests!r})
from test_data import mock_tfds
from s4d_jax import checkpoint, data
from s4d_jax.evaluate import evaluate
config, params, _ = checkpoint.load_model(sys.argv[1])
with mock_tfds():
    split = data.load("smnist", "test")
print(json.dumps(evaluate(config, params, split, batch_size=10, limit=25)))
"""


def test_evaluation_over_devices_that_do_not_divide_the_batch_counts_every_example_once(run, tmp_path):
    from s4d_jax import data

    driver = tmp_path / "eval_driver.py"
    driver.write_text(EVAL_DRIVER.format(tests=str(Path(__file__).parent)))
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=3"}
    done = subprocess.run([sys.executable, str(driver), str(run[0])], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    three = json.loads(done.stdout.splitlines()[-1])  # batches of 10 padded to 12 rows, 4 per device
    config, params, _ = checkpoint.load_model(run[0])
    with mock_tfds():
        one = evaluate(config, params, data.load("smnist", "test"), batch_size=10, limit=25)
    assert three["n"] == one["n"] == 25 and three["accuracy"] == one["accuracy"]
    assert three["loss"] == pytest.approx(one["loss"], rel=1e-5)


def test_ssm_group_gets_no_weight_decay():
    cfg = TrainConfig(lr=0.1, ssm_lr=0.1, weight_decay=0.5, warmup_epochs=0, model_overrides=TINY)
    from s4d_jax.model import init_params

    params = init_params(cfg.model_config())
    labels = checkpoint.flatten_params(param_labels(params))
    assert {k for k, v in labels.items() if v == "ssm"} == {
        f"layers_{i}/{n}" for i in range(2) for n in ("log_dt", "log_neg_re_a", "im_a", "b")}
    tx = optimizer(cfg, steps_per_epoch=10)
    zeros = jax.tree_util.tree_map(np.zeros_like, params)
    updates, _ = tx.update(zeros, tx.init(params), params)
    flat = checkpoint.flatten_params(updates)
    assert all(not flat[k].any() for k, v in labels.items() if v == "ssm")
    assert flat["decoder/kernel"].any() and flat["layers_0/c"].any()


def _cli(args, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["s4d", *args])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    return exit_.value.code, capsys.readouterr()


def test_eval_cli_prints_one_json_object(run, capsys, monkeypatch):
    with mock_tfds():
        code, out = _cli(["eval", str(run[0]), "--mode", "recurrent", "--limit", "12", "--batch-size", "5",
                          "--json"], capsys, monkeypatch)
    assert code == 0, out.err
    result = json.loads(out.out)
    assert result["n"] == 12 and result["mode"] == "recurrent" and result["task"] == "smnist"
    assert 0 <= result["accuracy"] <= 1


def test_eval_of_a_zoo_name_in_fixed_mode_uses_its_shipped_integers(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("S4D_CACHE", str(tmp_path / "cache"))
    with mock_tfds():
        code, out = _cli(["eval", "smnist-s4d-67k", "--mode", "fixed", "--limit", "4", "--json"], capsys, monkeypatch)
        assert code == 0, out.err
        assert Path(json.loads(out.out)["model"]).name == "export"
        code, out = _cli(["eval", "smnist-s4d-67k", "--mode", "conv", "--limit", "4", "--json"], capsys, monkeypatch)
    assert code == 0, out.err
    assert Path(json.loads(out.out)["model"]).name == "params"


def test_cli_errors_are_one_line(run, capsys, monkeypatch, tmp_path):
    """Exit 2 and one line on stderr, nothing on stdout, the workdir left as it was (tests/faults has the rest)."""
    workdir = run[0]
    before = tree_digest(workdir)
    for args, want in [
        (["eval", str(workdir), "--task", "mnist", "--json"],
         re.escape("error: unknown task 'mnist'; choose one of ['psmnist', 'scifar', 'smnist']")),
        (["eval", str(workdir), "--task", "scifar"], "error: task scifar has 3 input channels but the model expects 1"),
        (["train", "--workdir", str(workdir), "--epochs", "1"], r"error: .* is not empty.*--resume.*"),
        (["train", "--workdir", str(tmp_path / "w"), "--dropout", "1"],
         r"error: dropout must be in \[0, 1\), got 1\.0"),
    ]:
        code, out = _cli(args, capsys, monkeypatch)
        assert code == 2 and out.out == "" and len(out.err.strip().splitlines()) == 1, (args, out.err)
        assert re.fullmatch(want, out.err.strip()), (args, out.err)
    assert not (tmp_path / "w").exists()
    assert tree_digest(workdir) == before


def test_out_of_memory_is_reported_in_one_line_with_the_remedy():
    """An allocation too large for the machine (XLA's or NumPy's) is the user's to shrink: one line, exit 2."""
    from s4d.cli import out_of_memory

    errors = []
    for allocate in (lambda: float(jax.numpy.ones((2**40,), "float32").sum()), lambda: np.empty(2**60, np.uint8)):
        try:
            allocate()
        except Exception as err:  # noqa: BLE001  the real errors of both allocators
            errors.append(err)
    assert out_of_memory(errors[0]) == ("out of memory (XLA asked for 4096.0 GiB): a smaller --batch-size needs "
                                        "less, or run it on a machine with more memory")
    assert out_of_memory(errors[1]).startswith("out of memory: a smaller --batch-size")
    assert out_of_memory(RuntimeError("Out of memory")) is None  # not an allocator's error


def test_corrupt_workdir_checkpoint_is_a_clear_error(run, tmp_path):
    import shutil

    workdir = shutil.copytree(run[0], tmp_path / "work")
    for metadata in (workdir / checkpoint.CHECKPOINTS).glob("*/state/_METADATA"):
        metadata.write_text("half")
    with pytest.raises(ValueError, match="corrupt or half-written"):
        checkpoint.load_model(workdir)


def test_init_from_starts_at_the_given_params_and_refuses_other_models(run, tmp_path):
    workdir, cfg = run
    _, trained, _ = checkpoint.load_model(workdir)
    tuned = dataclasses.replace(cfg, epochs=1, lr=1e-9, ssm_lr=1e-9, weight_decay=0.0, init_from=str(workdir))
    with mock_tfds():
        train(tuned, tmp_path / "tuned", progress=False)
    _, params, meta = checkpoint.load_model(tmp_path / "tuned")
    assert meta["train_config"]["init_from"] == str(workdir)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(trained)):  # a vanishing step size keeps them
        np.testing.assert_allclose(a, b, atol=1e-6)

    bigger = dataclasses.replace(tuned, model_overrides=(("d_model", 16), ("d_state", 4), ("n_layers", 2)))
    with pytest.raises(ValueError, match="--init-from .* model; this run trains"):
        train(bigger, tmp_path / "bigger", progress=False)
    with pytest.raises(ValueError, match="trained on 'smnist'; this run trains 'psmnist'"):
        train(dataclasses.replace(tuned, task="psmnist"), tmp_path / "permuted", progress=False)
    assert not (tmp_path / "bigger").exists() and not (tmp_path / "permuted").exists()


def test_export_of_a_workdir_prints_no_third_party_warnings(run, capfd, monkeypatch, tmp_path):
    with mock_tfds():
        code, out = _cli(["export", str(run[0]), "--out", str(tmp_path / "e"), "--calib", "4"], capfd, monkeypatch)
    assert code == 0, out.err
    assert out.err == "" and out.out.strip() == f"wrote {tmp_path / 'e'}"
