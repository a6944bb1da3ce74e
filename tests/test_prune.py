"""Gradual magnitude pruning: the schedule reaches its density, pruned weights stay exactly zero through AdamW
steps, resume, QAFT and quantization, and a pruned export compiles to fewer stored synapses."""
from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from quantized_models import random_params, random_pixels
from s4d_jax import checkpoint, prune, quantize
from s4d_jax.config import ModelConfig
from s4d_jax.train import TrainConfig, optimizer, train
from test_data import mock_tfds

CONFIG = ModelConfig(d_model=8, d_state=8, n_layers=2)
KINDS = ("b", "c", "mixers", "decoder")


def _masked_leaves(params, kinds=KINDS):
    flat = checkpoint.flatten_params(params)
    return {k: np.asarray(v) for k, v in flat.items() if prune.kind_of(tuple(k.split("/"))) in kinds}


def _random_steps(tx, params, steps: int, seed: int = 0):
    """`steps` optimizer steps with random gradients; returns (params, opt_state, densities after each step)."""
    state = tx.init(params)
    update = jax.jit(lambda g, s, p: tx.update(g, s, p))
    rng = np.random.default_rng(seed)
    history = []
    for _ in range(steps):
        grads = jax.tree_util.tree_map(lambda v: jnp.asarray(rng.standard_normal(v.shape), v.dtype), params)
        updates, state = update(grads, state, params)
        params = optax.apply_updates(params, updates)
        history.append(prune.densities(params, KINDS))
    return params, state, history


def test_cubic_schedule():
    cfg = prune.PruneConfig(0.2, start_step=10, end_step=30, every=5)
    assert float(cfg.density(0)) == float(cfg.density(10)) == 1.0
    assert float(cfg.density(30)) == float(cfg.density(100)) == pytest.approx(0.2)
    assert float(cfg.density(20)) == pytest.approx(0.2 + 0.8 * 0.5 ** 3)  # Zhu & Gupta's cubic ramp
    ramp = [float(cfg.density(t)) for t in range(40)]
    assert all(a >= b for a, b in zip(ramp, ramp[1:]))
    assert [t for t in range(40) if cfg.updates_mask(t)] == [10, 15, 20, 25, 30]
    with pytest.raises(ValueError, match="target density"):
        prune.PruneConfig(0.0, 0, 1)
    with pytest.raises(ValueError, match="prunable tensors"):
        prune.PruneConfig(0.5, 0, 1, kinds=("d",))


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_schedule_reaches_the_target_and_pruned_weights_stay_zero_through_adamw(scope):
    params = random_params(CONFIG, 0)
    cfg = prune.PruneConfig(0.3, start_step=2, end_step=12, every=3, scope=scope, kinds=KINDS)
    tx = optax.chain(optax.adamw(1e-2, weight_decay=0.5), prune.magnitude_pruning(cfg))
    params, state, history = _random_steps(tx, params, 20)
    assert history[1]["all"] == 1.0  # nothing pruned before the ramp starts
    # each mask update meets the schedule's density of its step; the kept set only shrinks in between
    for t in (5, 8, 11, 12):
        assert history[t]["all"] == pytest.approx(float(cfg.density(t)), abs=0.01)
    assert all(a["all"] >= b["all"] for a, b in zip(history, history[1:]))
    final = prune.densities(params, KINDS)
    assert final["all"] == pytest.approx(0.3, abs=0.01)
    if scope == "layer":
        assert all(v == pytest.approx(0.3, abs=0.03) for v in final.values())
    # 8 more AdamW steps with weight decay and random gradients: the same weights are zero, exactly
    zeros = {k: v == 0 for k, v in _masked_leaves(params).items()}
    update = jax.jit(lambda g, s, p: tx.update(g, s, p))
    for seed in range(8):
        rng = np.random.default_rng(seed)
        grads = jax.tree_util.tree_map(lambda v: jnp.asarray(rng.standard_normal(v.shape), v.dtype), params)
        updates, state = update(grads, state, params)
        params = optax.apply_updates(params, updates)
    after = _masked_leaves(params)
    for name, zero in zeros.items():
        assert np.all(after[name][zero] == 0), name
        assert np.all(after[name][~zero] != 0), name
    # B is pruned per complex entry: both parts of a pruned mode are zero
    b = after["layers_0/b"]
    assert np.array_equal(b[..., 0] == 0, b[..., 1] == 0)


def test_unpruned_parameters_are_untouched():
    params = random_params(CONFIG, 1)
    cfg = prune.PruneConfig(0.1, 0, 0, kinds=("mixers",))
    pruned, _, _ = _random_steps(optax.chain(optax.sgd(0.0), prune.magnitude_pruning(cfg)), params, 1)
    assert prune.densities(pruned, ("mixers",))["all"] == pytest.approx(0.1, abs=0.02)
    others = prune.densities(pruned, ("encoder", "b", "c", "decoder"))
    assert others["all"] == 1.0 and not any(k.startswith("mixers") for k in others)


TINY = (("d_model", 8), ("d_state", 4), ("n_layers", 2))
PRUNED = TrainConfig(epochs=3, batch_size=10, eval_batch_size=10, limit_train=40, warmup_epochs=0.5,
                     model_overrides=TINY, target_density=0.25, prune_start=0.0, prune_end=1.5, prune_every=1,
                     prune_tensors=KINDS)


def test_train_records_the_schedule_and_the_best_checkpoint_has_the_final_density(tmp_path):
    with mock_tfds():
        train(dataclasses.replace(PRUNED, epochs=2), tmp_path / "run", progress=False)
    saved = json.loads((tmp_path / "run" / checkpoint.TRAIN_CONFIG).read_text())["train_config"]
    assert saved["target_density"] == 0.25 and saved["prune_end"] == 1.5 and saved["prune_tensors"] == list(KINDS)
    records = [json.loads(line) for line in (tmp_path / "run" / checkpoint.METRICS).read_text().splitlines()]
    assert records[0]["density"]["all"] > 0.25 and records[1]["density"]["all"] == pytest.approx(0.25, abs=0.02)
    _, params, meta = checkpoint.load_model(tmp_path / "run")  # the best checkpoint
    assert meta["metrics"]["epoch"] == 2
    assert prune.densities(params, KINDS)["all"] == records[1]["density"]["all"]


def test_a_bad_schedule_is_refused_before_any_work():
    with pytest.raises(ValueError, match="after the last epoch"):
        dataclasses.replace(PRUNED, prune_end=5.0)
    with pytest.raises(ValueError, match="target density"):
        dataclasses.replace(PRUNED, target_density=1.5)
    with pytest.raises(ValueError, match="prunable tensors"):
        dataclasses.replace(PRUNED, prune_tensors=("a",))


def test_dense_training_keeps_its_optimizer_state():
    """Without --target-density the optimizer is what it was, so older dense checkpoints still resume."""
    def prune_states(cfg):
        state = optimizer(cfg, 4).init(random_params(CONFIG, 0))
        return [s for s in jax.tree_util.tree_leaves(state, is_leaf=lambda x: isinstance(x, prune.PruneState))
                if isinstance(s, prune.PruneState)]

    assert prune_states(TrainConfig(model_overrides=TINY)) == []
    assert len(prune_states(PRUNED)) == 1


class _Killed(Exception):
    pass


@pytest.mark.slow
def test_resume_after_a_kill_mid_ramp_keeps_the_masks_and_is_bit_identical(tmp_path, monkeypatch):
    """The kill hook of s4d_jax.train, raising here instead of SIGKILL, stops the run in epoch 2 (steps 5..8),
    mid-ramp; resuming from the epoch-1 checkpoint must replay exactly what the uninterrupted run did."""
    import s4d_jax.train as train_module

    def metrics(workdir):
        lines = (workdir / checkpoint.METRICS).read_text().splitlines()
        return [{k: v for k, v in json.loads(line).items() if "time" not in k and k != "samples_per_s"}
                for line in lines]

    def latest(workdir):
        manager = checkpoint.checkpoint_manager(workdir, read_only=True)
        return checkpoint.load_workdir(workdir, step=manager.latest_step())[1]

    with mock_tfds():
        train(PRUNED, tmp_path / "full", progress=False)
        monkeypatch.setattr(train_module, "_kill_hook", lambda: 6)
        monkeypatch.setattr(train_module.os, "kill", lambda pid, sig: (_ for _ in ()).throw(_Killed()))
        with pytest.raises(_Killed):
            train(PRUNED, tmp_path / "killed", progress=False)
        monkeypatch.undo()
        assert len(metrics(tmp_path / "killed")) == 1
        train(PRUNED, tmp_path / "killed", resume=True, progress=False)
    assert metrics(tmp_path / "killed") == metrics(tmp_path / "full")
    full, resumed = checkpoint.flatten_params(latest(tmp_path / "full")), checkpoint.flatten_params(
        latest(tmp_path / "killed"))
    for key, value in full.items():
        assert np.array_equal(resumed[key], value), key
    assert prune.densities(latest(tmp_path / "killed"), KINDS)["all"] == pytest.approx(0.25, abs=0.02)


def _pruned_model(seed: int = 3, density: float = 0.3):
    params = random_params(CONFIG, seed)
    cfg = prune.PruneConfig(density, 0, 0, kinds=KINDS)
    params, _, _ = _random_steps(optax.chain(optax.sgd(0.0), prune.magnitude_pruning(cfg)), params, 1)
    return jax.tree_util.tree_map(np.asarray, params)


def test_qaft_and_quantization_keep_pruned_weights_zero():
    params = _pruned_model()
    zeros = {k: v == 0 for k, v in _masked_leaves(params).items()}
    x = (random_pixels(4, 32, 12) / 255.0).astype(np.float32)
    labels = np.arange(32) % 10
    q, exps = quantize.ptq(CONFIG, params, x[:8])
    tuned, _ = quantize.qaft(CONFIG, params, exps, (x, labels), (x[:8], labels[:8]),
                             quantize.QaftConfig(epochs=1, batch_size=8, learning_rate=1e-2))
    after = _masked_leaves(tuned)
    assert any(not np.array_equal(after[k], v) for k, v in _masked_leaves(params).items())  # it did train
    for name, zero in zeros.items():
        assert np.all(after[name][zero] == 0), name
    q = quantize.quantize(CONFIG, tuned, exps)
    for layer in range(CONFIG.n_layers):
        b_zero = zeros[f"layers_{layer}/b"][..., 0]
        assert np.all(q.tensors[f"layers.{layer}.b_re"][b_zero] == 0)
        assert np.all(q.tensors[f"layers.{layer}.b_im"][b_zero] == 0)
        c = zeros[f"layers_{layer}/c"]
        assert np.all(q.tensors[f"layers.{layer}.c_re"][c[..., 0]] == 0)
        assert np.all(q.tensors[f"layers.{layer}.c_im"][c[..., 1]] == 0)
        assert np.all(q.tensors[f"mixers.{layer}.weight"][zeros[f"mixers_{layer}/kernel"].T] == 0)
    assert np.all(q.tensors["decoder.weight"][zeros["decoder/kernel"].T] == 0)


def test_a_pruned_export_compiles_to_fewer_stored_synapses_with_the_same_arithmetic(tmp_path):
    from compiler import fixed_point as fp
    from compiler.exported import load_exported
    from compiler.frontend import from_exported
    from compiler.passes import run_all
    from compiler.resources import synaptic_bytes
    from quantized_models import reference_network
    from s4d_jax import export, fixed

    x = random_pixels(5, 8, 12)
    stored = {}
    for name, params in (("dense", random_params(CONFIG, 3)), ("sparse", _pruned_model(3, 0.2))):
        q, _ = quantize.ptq(CONFIG, params, (x / 255.0).astype(np.float32))
        path = export.write_exported(tmp_path / name, q, params, task="smnist")
        manifest = json.loads((path / export.MANIFEST).read_text())
        b_re = q.tensors["layers.0.b_re"]
        assert manifest["tensors"]["layers.0.b_re"]["nonzero"] == np.count_nonzero(b_re)
        assert manifest["tensors"]["layers.0.b_re"]["density"] == round(np.count_nonzero(b_re) / b_re.size, 6)
        model = load_exported(path)
        graph, _ = run_all(from_exported(model))
        groups = [n for n in graph.nodes if hasattr(n, "weights")]
        stored[name] = (sum(g.nonzero for g in groups), sum(synaptic_bytes(g) for g in groups))
        # the NumPy reference (which leaves out the fan-out of modes with b̄ = 0) equals the JAX fixed mode
        reference = fp.run(reference_network(q), x)
        np.testing.assert_array_equal(reference, np.asarray(fixed.run(q, x, per_token=True)))
        if name == "sparse":
            live = fp.live_modes(q.tensors["layers.0.b_re"], q.tensors["layers.0.b_im"])
            expansion = next(g for g in groups if g.name == "layers.0.expansion")
            states = graph.node("x.0")  # modes with b̄ = 0 have no neuron on the chip, nor a fan-out synapse
            assert expansion.nonzero == states.size <= live.sum() < live.size and not (states.kept & ~live).any()
    assert stored["sparse"][0] < 0.5 * stored["dense"][0]
    assert stored["sparse"][1] < stored["dense"][1]


@pytest.mark.parametrize("damage", ["density", "nonzero", "mask"])
def test_a_corrupt_density_or_mask_in_the_manifest_is_a_one_line_error(tmp_path, damage):
    import subprocess
    import sys

    from compiler.exported import tensor_sha256
    from s4d_jax import export

    params = _pruned_model(4, 0.5)
    q, _ = quantize.ptq(CONFIG, params, (random_pixels(6, 4, 12) / 255.0).astype(np.float32))
    path = export.write_exported(tmp_path / "model", q, params, task="smnist")
    manifest = json.loads((path / export.MANIFEST).read_text())
    entry = manifest["tensors"]["layers.0.c_re"]
    if damage == "density":
        entry["density"] = 1.0
    elif damage == "nonzero":
        entry["nonzero"] = entry["nonzero"] + 1
    else:  # a pruned synapse comes back, with a matching checksum: only the recorded density can tell
        with np.load(path / export.TENSORS) as npz:
            tensors = {k: npz[k] for k in npz.files}
        c = tensors["layers.0.c_re"]
        c[np.argwhere(c == 0)[0][0], np.argwhere(c == 0)[0][1]] = 1
        np.savez(path / export.TENSORS, **tensors)
        entry["sha256"] = tensor_sha256(c)
    (path / export.MANIFEST).write_text(json.dumps(manifest))
    done = subprocess.run([sys.executable, "-m", "s4d.cli", "compile", str(path), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    field = "density" if damage == "density" else "nonzero"
    assert len(lines) == 1 and lines[0].startswith(f"error: manifest.json: field tensors.'layers.0.c_re'.{field}")
