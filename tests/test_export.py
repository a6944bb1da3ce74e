"""Exported model directory: lossless round trip, and a clear error naming the field for every kind of damage."""
from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from compiler.exported import load_exported, tensor_sha256
from quantized_models import random_pixels, random_quantized
from s4d_jax import export, fixed
from s4d_jax.checkpoint import flatten_params, load_model


@pytest.fixture(scope="module")
def model():
    return random_quantized(21)


@pytest.fixture
def exported(tmp_path, model):
    config, params, q, _ = model
    return export.write_exported(tmp_path / "model", q, params, task="smnist", meta={"permutation_seed": None},
                                 quantization={"method": "ptq", "calib": 8})


def test_round_trip_is_lossless(exported, model):
    config, params, q, _ = model
    loaded = load_exported(exported)
    assert loaded.format_version == 1 and loaded.task == "smnist"
    assert loaded.architecture == config.to_dict()
    assert dict(loaded.exponents) == {k: int(v) for k, v in q.exponents.items()}
    assert loaded.widths.to_dict() == q.widths.to_dict()
    for name, value in q.tensors.items():
        assert loaded.tensors[name].dtype == value.dtype
        assert np.array_equal(loaded.tensors[name], value)
    for name, value in flatten_params(params).items():
        assert np.array_equal(loaded.float_tensors[name], np.asarray(value, np.float32))
    assert loaded.manifest["input"]["exponent"] == 0 and loaded.manifest["quantization"]["method"] == "ptq"
    # the JAX side reads the same integers and float parameters back
    again = export.load_quantized(exported)
    x = random_pixels(3, 2, 16)
    assert np.array_equal(fixed.run(again, x), fixed.run(q, x))
    config2, params2, meta2 = load_model(exported)
    assert config2 == config and meta2["task"] == "smnist"
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(params2),
                                                     jax.tree_util.tree_leaves(params)))


def test_refuses_to_overwrite(exported, model):
    config, params, q, _ = model
    with pytest.raises(FileExistsError):
        export.write_exported(exported, q, params, task=None)


def _edit_manifest(path, edit):
    manifest = json.loads((path / "manifest.json").read_text())
    edit(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))


def _edit_tensors(path, edit, update_manifest: bool):
    with np.load(path / "tensors.npz", allow_pickle=False) as npz:
        tensors = {k: npz[k] for k in npz.files}
    edit(tensors)
    np.savez(path / "tensors.npz", **tensors)
    if update_manifest:
        def fix(manifest):
            for name, array in tensors.items():
                manifest["tensors"][name] = {"dtype": str(array.dtype), "shape": list(array.shape),
                                             "sha256": tensor_sha256(array)}
        _edit_manifest(path, fix)


def test_bad_format_version(exported):
    _edit_manifest(exported, lambda m: m.update(format_version=2))
    with pytest.raises(ValueError, match="format_version"):
        load_exported(exported)


def test_missing_architecture_field(exported):
    _edit_manifest(exported, lambda m: m["architecture"].pop("d_model"))
    with pytest.raises(ValueError, match="d_model"):
        load_exported(exported)


def test_tampered_exponent_is_caught(exported):
    _edit_manifest(exported, lambda m: m["fixed_point"]["exponents"].update({"encoder.bias": 3}))
    with pytest.raises(ValueError, match="encoder.bias"):
        load_exported(exported)


def test_wrong_sha256(exported):
    def flip(tensors):
        tensors["mixers.1.weight"] = tensors["mixers.1.weight"].copy()
        tensors["mixers.1.weight"][0, 0] ^= 1

    _edit_tensors(exported, flip, update_manifest=False)
    with pytest.raises(ValueError, match="mixers.1.weight.*sha256"):
        load_exported(exported)
    with pytest.raises(ValueError, match="sha256"):
        export.load_quantized(exported)


def test_missing_tensor(exported):
    _edit_tensors(exported, lambda t: t.pop("layers.0.c_im"), update_manifest=False)
    with pytest.raises(ValueError, match="layers.0.c_im.*missing"):
        load_exported(exported)


def test_wrong_dtype(exported):
    _edit_tensors(exported, lambda t: t.update({"decoder.weight": t["decoder.weight"].astype(np.int16)}),
                  update_manifest=False)
    with pytest.raises(ValueError, match="decoder.weight.*dtype"):
        load_exported(exported)


def test_wrong_dtype_even_when_manifest_agrees(exported):
    _edit_tensors(exported, lambda t: t.update({"decoder.weight": t["decoder.weight"].astype(np.int16)}),
                  update_manifest=True)
    with pytest.raises(ValueError, match="decoder.weight.*dtype"):
        load_exported(exported)


def test_width_violation(exported):
    def widen(tensors):
        tensors["layers.1.b_re"] = tensors["layers.1.b_re"].copy()
        tensors["layers.1.b_re"][0, 0] = 1 << 16

    _edit_tensors(exported, widen, update_manifest=True)
    with pytest.raises(ValueError, match="layers.1.b_re.*16-bit"):
        load_exported(exported)


def test_unlisted_tensor_and_missing_files(exported, tmp_path):
    _edit_tensors(exported, lambda t: t.update({"extra": np.zeros(3)}), update_manifest=False)
    with pytest.raises(ValueError, match="extra"):
        load_exported(exported)
    (exported / "tensors.npz").unlink()
    with pytest.raises(FileNotFoundError, match="tensors.npz"):
        load_exported(exported)
    with pytest.raises(FileNotFoundError):
        load_exported(tmp_path / "nothing")


def test_pickled_npz_is_refused(exported):
    objects = np.empty(1, dtype=object)
    objects[0] = {"a": 1}
    np.savez(exported / "tensors.npz", evil=objects)
    with pytest.raises(ValueError, match="pickle"):
        load_exported(exported)


def test_folded_export_round_trip_and_exports_without_the_field_load_as_split(tmp_path, model):
    config, params, _, _ = model
    _, _, q, _ = random_quantized(21, neuron="folded")
    path = export.write_exported(tmp_path / "folded", q, params, task="smnist")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["fixed_point"]["neuron"] == "folded"
    assert "layers.0.reduction" in manifest["fixed_point"]["derived"]["weight_exp"]
    loaded = load_exported(path)
    assert loaded.network.neuron == "folded" and loaded.tensors["layers.0.c_re"].dtype == np.int32
    again = export.load_quantized(path)
    x = random_pixels(4, 2, 16)
    assert again.neuron == "folded" and np.array_equal(fixed.run(again, x), fixed.run(q, x))
    _edit_manifest(path, lambda m: m["fixed_point"].pop("neuron"))  # read as split: its 16-bit c is refused
    with pytest.raises(ValueError, match="'layers.0.c_re' has dtype int32, the spec wants int8"):
        load_exported(path)


def test_exports_written_before_the_neuron_field_load_as_split(exported, model):
    _edit_manifest(exported, lambda m: m["fixed_point"].pop("neuron"))
    assert load_exported(exported).network.neuron == "split"
    assert export.load_quantized(exported).neuron == "split"


def test_unknown_neuron_is_refused_naming_the_field(exported):
    _edit_manifest(exported, lambda m: m["fixed_point"].update(neuron="fused"))
    with pytest.raises(ValueError, match=r"field fixed_point.'neuron' must be one of \('split', 'folded'\)"):
        load_exported(exported)
    with pytest.raises(ValueError, match=r"fixed_point.'neuron' must be one of"):
        export.load_quantized(exported)


def test_exported_directory_gets_the_usual_permissions(model, tmp_path):
    import os

    config, params, q, _ = model
    old = os.umask(0o027)
    try:
        out = export.write_exported(tmp_path / "shared", q, params, task=None)
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o750  # what the umask allows, not mkdtemp's private 0700
    assert (out / "tensors.npz").stat().st_mode & 0o777 == 0o640
