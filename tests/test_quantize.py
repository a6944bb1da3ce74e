"""PTQ and QAFT: exponents from calibration, the fake-quantized mirror, and the QAFT accuracy identity."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from compiler import fixed_point as fp
from faults.faultkit import tree_digest
from quantized_models import activation_peaks, random_params, random_pixels, random_quantized, reference_network
from s4d_jax import data, fixed, quantize
from s4d_jax.checkpoint import load_model, save_params
from s4d_jax.config import ModelConfig
from s4d_jax.model import S4DClassifier


def test_float_mirror_is_the_float_model():
    config = ModelConfig(d_model=6, d_state=8, n_layers=2)
    params = random_params(config, 4)
    x = jnp.asarray(random_pixels(5, 3, 20) / 255.0, jnp.float32)
    mirror, _ = quantize.mirror_forward(config, quantize.mirror_tensors(config, params, None, quantize.Widths()),
                                        x, None)
    model = S4DClassifier(config).apply({"params": params}, x, "recurrent")
    np.testing.assert_allclose(np.asarray(mirror), np.asarray(model), rtol=1e-4, atol=1e-5)


def test_calibration_leaves_headroom_on_calibration_data():
    """With one bit of headroom no activation group reaches half of its range on the calibration sequences;
    without it, the largest fill their range."""
    calib = random_pixels(7, 8, 24)  # the same sequences random_quantized calibrated on
    peaks = activation_peaks(random_quantized(6, length=24)[2], calib)
    assert {"u.0", "x_re.0", "x_im.0", "y.0", "logits"} <= set(peaks)
    assert max(peaks.values()) <= 0.5, peaks
    assert max(activation_peaks(random_quantized(6, length=24, headroom_bits=0)[2], calib).values()) > 0.5


def test_quantize_is_deterministic_and_in_range():
    config, params, q, exps = random_quantized(8)
    again = quantize.quantize(config, params, exps)
    assert again.exponents == q.exponents
    assert all(np.array_equal(again.tensors[k], v) and again.tensors[k].dtype == v.dtype for k, v in q.tensors.items())
    reference_network(q)  # validates widths, exponents and the int32 bounds


@pytest.mark.parametrize("neuron", fp.NEURONS)
def test_fake_quantized_mirror_tracks_the_integer_network(neuron):
    config, params, q, exps = random_quantized(9, length=32, neuron=neuron)
    x = random_pixels(10, 6, 32)
    tensors = quantize.mirror_tensors(config, params, exps, q.widths, neuron)
    mirror, _ = quantize.mirror_forward(config, tensors, jnp.asarray(x / 255.0, jnp.float32), exps, q.widths,
                                        neuron)
    integer = fixed.float_logits(q, fixed.run(q, x), x.shape[1])
    assert np.abs(np.asarray(mirror) - integer).max() <= 0.01 * np.abs(integer).max()


def test_straight_through_gradients_reach_every_parameter():
    config, params, q, exps = random_quantized(12, length=16)
    x = jnp.asarray(random_pixels(13, 4, 16) / 255.0, jnp.float32)

    def loss(p):
        tensors = quantize.mirror_tensors(config, p, exps, q.widths)
        return quantize.mirror_forward(config, tensors, x, exps, q.widths)[0].sum()

    grads = jax.grad(loss)(params)
    assert all(float(jnp.abs(g).sum()) > 0 for g in jax.tree_util.tree_leaves(grads))


@pytest.mark.parametrize("length", [16, 23])  # 4 chunks of 4; 5 chunks of 4 and a tail of 3
def test_checkpointed_scan_gives_the_gradient_of_the_plain_scan(length):
    """QAFT differentiates through `checkpointed_scan` (the plain scan's gradient does not fit in memory for
    s4d-265k on sCIFAR); it must be the same function with the same gradient."""
    config, params, q, exps = random_quantized(21, length=length)
    x = jnp.asarray(random_pixels(22, 3, length) / 255.0, jnp.float32)

    def loss(p, remat):
        tensors = quantize.mirror_tensors(config, p, exps, q.widths)
        logits, maxima = quantize.mirror_forward(config, tensors, x, exps, q.widths, remat=remat)
        return (logits ** 2).sum(), maxima

    (plain, plain_max), plain_grads = jax.value_and_grad(loss, has_aux=True)(params, False)
    (remat, remat_max), remat_grads = jax.value_and_grad(loss, has_aux=True)(params, True)
    np.testing.assert_allclose(remat, plain, rtol=1e-6)
    assert {k: float(v) for k, v in remat_max.items()} == {k: float(v) for k, v in plain_max.items()}
    for a, b in zip(jax.tree_util.tree_leaves(remat_grads), jax.tree_util.tree_leaves(plain_grads)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * float(jnp.abs(b).max()))


def _toy_task(n: int, length: int, seed: int):
    """Label = which half of the sequence is brighter (10 classes by brightness gap): learnable, sequential."""
    x = random_pixels(seed, n, length) // 2
    labels = np.arange(n) % 10
    x[:, length // 2:, 0] += (labels[:, None] * 12).astype(x.dtype)
    return x / 255.0, labels


def test_qaft_reported_fixed_accuracy_is_that_of_the_quantized_result():
    config, params, q, exps = random_quantized(14, d_model=4, d_state=4, n_layers=1, length=16)
    train = _toy_task(64, 16, 15)
    evaluation = _toy_task(40, 16, 16)
    settings = quantize.QaftConfig(epochs=2, batch_size=16, learning_rate=1e-2)
    tuned, history = quantize.qaft(config, params, exps, train, evaluation, settings)
    assert len(history) == 2
    assert any(not np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(tuned),
                                                         jax.tree_util.tree_leaves(params)))
    final = quantize.quantize(config, tuned, exps)
    assert quantize.fixed_accuracy(final, *evaluation) == history[-1]["fixed_accuracy"]
    assert {k: final.exponents[k] for k in exps} == exps  # fine-tuned under the calibrated activation exponents


@pytest.fixture
def smnist_params(tmp_path):
    """A tiny random sMNIST params directory in tmp_path/params; skips where the MNIST files are missing."""
    if not data.available("mnist"):
        pytest.skip("MNIST is neither prepared nor at hand")
    config = ModelConfig(d_model=4, d_state=4, n_layers=1)
    save_params(tmp_path / "params", config, random_params(config, 0), {"task": "smnist"})
    return tmp_path / "params"


@pytest.mark.slow
def test_quantize_command_reports_json_and_exports(tmp_path, smnist_params):
    from compiler.exported import load_exported

    out = subprocess.run([sys.executable, "-m", "s4d.cli", "quantize", str(tmp_path / "params"),
                          "--calib", "4", "--limit", "20", "--out", str(tmp_path / "exported"),
                          "--save-params", str(tmp_path / "saved"), "--json"],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["method"] == "ptq" and result["n_test"] == 20
    assert 0.0 <= result["ptq_fixed_accuracy"] <= 1.0
    assert load_exported(tmp_path / "exported").quantization["method"] == "ptq"
    _, saved, meta = load_model(tmp_path / "saved")
    assert meta["task"] == "smnist" and meta["quantization"]["method"] == "ptq"
    original = load_model(tmp_path / "params")[1]
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(saved), jax.tree.leaves(original)))

    kept = tree_digest(tmp_path / "saved")
    again = subprocess.run([sys.executable, "-m", "s4d.cli", "quantize", str(tmp_path / "params"),
                            "--save-params", str(tmp_path / "saved")], capture_output=True, text=True)
    assert again.returncode == 2 and again.stdout == "", again.stderr
    assert again.stderr.startswith("error: ") and "already exists" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1, again.stderr
    assert tree_digest(tmp_path / "saved") == kept


@pytest.mark.slow
def test_a_resumed_qaft_command_reuses_its_test_figures_and_refuses_other_data(tmp_path, smnist_params):
    workdir = tmp_path / "qaft"

    def run(calib="4", train_limit="16"):
        return subprocess.run([sys.executable, "-m", "s4d.cli", "quantize", str(tmp_path / "params"), "--method",
                               "qaft", "--qaft-workdir", str(workdir), "--calib", calib, "--limit", "20",
                               "--train-limit", train_limit, "--batch-size", "8", "--val-limit", "8", "--json"],
                              capture_output=True, text=True)

    first = run()
    assert first.returncode == 0, first.stderr[-2000:]
    record = json.loads((workdir / "before_qaft.json").read_text())
    assert record["figures"]["ptq_fixed_accuracy"] == json.loads(first.stdout)["ptq_fixed_accuracy"]
    record["figures"]["float_accuracy"] = 0.125  # what the resumed run reports can only come from the record
    (workdir / "before_qaft.json").write_text(json.dumps(record))
    again = run()
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["float_accuracy"] == 0.125 and "recorded" in again.stderr
    for other in (run(calib="5"), run(train_limit="24")):
        assert other.returncode == 2 and "was started for" in other.stderr
        assert len(other.stderr.strip().splitlines()) == 1 and "Traceback" not in other.stderr


@pytest.mark.slow
def test_qaft_history_is_comparable_with_the_ptq_model_on_validation(tmp_path, smnist_params):
    out = subprocess.run([sys.executable, "-m", "s4d.cli", "quantize", str(smnist_params), "--method", "qaft",
                          "--calib", "4", "--limit", "8", "--train-limit", "8", "--batch-size", "8",
                          "--val-limit", "40", "--learning-rate", "0", "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    # at learning rate 0 QAFT leaves PTQ's weights as they are: one model, one validation subset, one figure
    assert result["qaft"]["history"][0]["fixed_accuracy"] == result["ptq_fixed_validation_accuracy"]
    assert result["qaft"]["validation_sequences"] == 40 and "PTQ fixed validation accuracy" in out.stderr


QAFT_DRIVER = """
import os, pathlib, signal, sys
import numpy as np
sys.path.insert(0, {tests!r})
kill_at = os.environ.get("KILL_AT_RENAME")
every_min = float(os.environ.get("EVERY_MIN", "10"))

def killing(real):
    def rename(src, dst, *args, **kwargs):
        if kill_at and os.fspath(dst).rstrip("/").endswith(kill_at):
            os.kill(os.getpid(), signal.SIGKILL)  # while the epoch's checkpoint is being put in place
        return real(src, dst, *args, **kwargs)
    return rename

os.rename, os.replace = killing(os.rename), killing(os.replace)
pathlib._NormalAccessor.rename = staticmethod(killing(pathlib._NormalAccessor.rename))
from quantized_models import random_pixels, random_quantized
from s4d_jax import quantize
from s4d_jax.checkpoint import flatten_params
config, params, q, exps = random_quantized(3, d_model=4, d_state=4, n_layers=1, length=12)
x = random_pixels(5, 24, 12) / 255.0
y = np.arange(24) % config.n_classes
out, history = quantize.qaft(config, params, exps, (x, y), (x[:8], y[:8]),
                             quantize.QaftConfig(epochs=3, batch_size=8, learning_rate=1e-2), workdir=sys.argv[1],
                             checkpoint_every_min=every_min)
np.savez(sys.argv[2], **flatten_params(out))
"""


def _qaft_child(tmp_path, workdir, result, kill_at=None, every_min=10):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "EVERY_MIN": str(every_min),
           **({"KILL_AT_RENAME": kill_at} if kill_at else {})}
    code = QAFT_DRIVER.replace("{tests!r}", repr(str(Path(__file__).parent)))
    return subprocess.run([sys.executable, "-c", code, str(workdir), str(result)], env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def uninterrupted_qaft(tmp_path_factory):
    """The driver's three QAFT epochs run without a kill, and without mid-epoch checkpoints."""
    tmp = tmp_path_factory.mktemp("qaft_full")
    full = _qaft_child(tmp, tmp / "full", tmp / "full.npz")
    assert full.returncode == 0, full.stderr[-2000:]
    return tmp / "full.npz"


@pytest.mark.slow
@pytest.mark.parametrize("kill_at, every_min, kept", [
    ("checkpoints/2", 10, None),  # while epoch 2's checkpoint is put in place: resumes after epoch 1
    ("progress/5", 0, "progress/4"),  # while the checkpoint after 2 of epoch 2's 3 steps is: resumes after 1
])
def test_qaft_killed_while_checkpointing_and_resumed_is_bit_identical(tmp_path, uninterrupted_qaft, kill_at,
                                                                      every_min, kept):
    killed = _qaft_child(tmp_path, tmp_path / "killed", tmp_path / "killed.npz", kill_at, every_min)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not (tmp_path / "killed.npz").exists()
    if kept:
        assert (tmp_path / "killed" / kept).is_dir()  # the mid-epoch checkpoint the resume starts from
    resumed = _qaft_child(tmp_path, tmp_path / "killed", tmp_path / "killed.npz", every_min=every_min)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    with np.load(uninterrupted_qaft) as a, np.load(tmp_path / "killed.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            assert np.array_equal(a[key], b[key]), key
