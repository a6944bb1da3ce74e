"""The fixed-point spec: primitives, JAX fixed mode == NumPy reference bit for bit, saturation, float agreement."""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from jax.experimental import enable_x64

from compiler import fixed_point as fp
from quantized_models import random_params, random_pixels, random_quantized, reference_network, saturated_kinds
from s4d_jax import fixed
from s4d_jax.config import ModelConfig
from s4d_jax.model import S4DClassifier
from test_data import needs_mnist


def test_shift_floor_rounds_towards_minus_infinity():
    v = np.array([-5, -4, -1, 0, 1, 5, 7])
    assert fp.shift_floor(v, 1).tolist() == [-3, -2, -1, 0, 0, 2, 3]
    assert fp.shift_floor(v, 4).tolist() == [-1, -1, -1, 0, 0, 0, 0]
    assert fp.shift_floor(v, -2).tolist() == (v * 4).tolist()
    assert fp.shift_floor(-(1 << 38) - 1, 15) == -(1 << 23) - 1


def test_saturate_is_symmetric_at_the_declared_width():
    limit = (1 << 23) - 1
    assert fp.saturate([-(1 << 30), -(1 << 23), 5, 1 << 23], 24).tolist() == [-limit, -limit, 5, limit]
    assert fp.relu([-7, 3, 1 << 20], fp.Widths()).tolist() == [0, 3, (1 << 16) - 1]


@pytest.mark.lava
def test_dense_matches_lava_weight_handling_and_shift():
    """Lava keeps 2·m unchanged (MIXED, 8 bits) and shifts the int32 accumulator by weight_exp."""
    weightutils = pytest.importorskip("lava.utils.weightutils")
    SignMode, clip_weights, truncate_weights = (weightutils.SignMode, weightutils.clip_weights,
                                                weightutils.truncate_weights)

    m = np.arange(-128, 128).reshape(16, 16)
    w = fp.lava_weights(m)
    lava_w = truncate_weights(clip_weights(w, SignMode.MIXED, num_bits=8), SignMode.MIXED, 8)
    assert np.array_equal(lava_w, w)
    s = np.random.default_rng(0).integers(-(1 << 15) + 1, 1 << 15, (3, 16))
    acc = (lava_w.astype(np.int32) @ s.T.astype(np.int32)).T  # Lava's int32 dot
    assert np.array_equal(fp.dense(s, m, -7), np.right_shift(acc, 7))
    assert np.array_equal(fp.dense(s, m, 0), acc)


@pytest.mark.parametrize("w_exp", [-9, 0, 3])
def test_a_group_sums_in_float64_exactly_at_the_int32_bound(w_exp):
    """DenseGroup.apply (float64 BLAS) equals the int64 `dense` on the largest sums the spec allows: the worst
    row of 8,192 mantissas at ±128 or 127 times messages at ±in_max, just inside 2^31 before the shift."""
    rng = np.random.default_rng(1)
    m = rng.choice([-128, 127], size=(4, 8192))
    in_max = ((1 << 31) - 1) // (int(np.abs(fp.lava_weights(m)).sum(axis=1).max()) << max(w_exp, 0))
    group = fp.DenseGroup("g", m, w_exp, in_max)
    assert fp.accumulator_bound(group) < 1 << 31
    s = np.stack([np.sign(m[0]) * in_max, -np.sign(m[1]) * in_max,  # output 0 and 1 at their ± extremes
                  rng.integers(-in_max, in_max + 1, 8192)])
    assert np.abs(s).max() == in_max
    assert (fp.lava_weights(m[0]) * s[0]).sum() == np.abs(fp.lava_weights(m[0])).sum() * in_max
    assert np.array_equal(group.apply(s), fp.dense(s, m, w_exp))
    beyond = s.copy()
    beyond[0, 0] = in_max + 1  # outside what saturation allows: the int64 product, still exact
    assert np.array_equal(group.apply(beyond), fp.dense(beyond, m, w_exp))


def test_worked_example_of_the_spec():
    """docs/fixed_point.md §7, number for number."""
    w = fp.Widths()
    x_re, x_im = fp.s4d_step(524288, -262144, 768, 30509, 6184, 20972, 5243, 15, 9, w)
    assert (int(x_re), int(x_im)) == (569074, -137264)
    assert (int(fp.state_message(x_re, 8, w)), int(fp.state_message(x_im, 8, w))) == (2222, -537)


def test_worked_example_of_the_folded_neuron():
    """docs/fixed_point.md §7, the folded message of the same mode: c = 0.3 − 0.2i at exponent −15."""
    message = fp.folded_message(569074, -137264, 19661, 13107, 23, fp.Widths())
    assert int(message) == 1119  # 2·Re(c·x) = 0.273265 at exponent −12: 1119.3


def test_folded_neuron_is_an_exact_rewrite_of_the_s4d_output():
    """y = 2·Re(C x) + D u (the model's own recurrence) = Σ_p (c_re·x_re + c_im·x_im) + D u with c_re = 2 Re C,
    c_im = −2 Im C: the folded neuron's messages summed by the ones group, and the split neuron's two C groups."""
    from s4d_jax import quantize, ssm

    config = ModelConfig(d_model=5, d_state=8, n_layers=1)
    layer = random_params(config, 3)["layers_0"]
    f = quantize.float_tensors(config, random_params(config, 3), np)
    a = f["layers.0.a_re"] + 1j * f["layers.0.a_im"]
    b = f["layers.0.b_re"] + 1j * f["layers.0.b_im"]
    u = np.random.default_rng(0).standard_normal((3, 30, 5))
    a_bar, b_bar = ssm.discretize(layer["log_dt"], layer["log_neg_re_a"], layer["im_a"], layer["b"])
    _, want = ssm.recurrent(a_bar, b_bar, layer["c"], layer["d"], jnp.zeros((3, 5, 4), jnp.complex64),
                            jnp.asarray(u, jnp.float32))
    x = np.zeros((3, 5, 4), complex)
    folded, split = [], []
    for k in range(u.shape[1]):
        x = a * x + b * u[:, k, :, None]
        du = f["layers.0.d"] * u[:, k]
        folded.append(np.sum(f["layers.0.c_re"] * x.real + f["layers.0.c_im"] * x.imag, -1) + du)
        split.append(np.sum(f["layers.0.c_re"] * x.real, -1) + np.sum(f["layers.0.c_im"] * x.imag, -1) + du)
    folded, split = np.stack(folded, 1), np.stack(split, 1)
    np.testing.assert_allclose(folded, split, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(folded, np.asarray(want), rtol=1e-4, atol=1e-4)  # float32 model vs float64


def test_int32_rotation_split_is_exact_at_the_extremes():
    rng = np.random.default_rng(1)
    edge = np.array([-(1 << 23) + 1, -(1 << 23) + 2, -4097, -4096, -1, 0, 1, 4095, 4096, (1 << 23) - 1])
    x_re = np.concatenate([edge, rng.integers(-(1 << 23) + 1, 1 << 23, 500)])
    x_im = np.concatenate([edge[::-1], rng.integers(-(1 << 23) + 1, 1 << 23, 500)])
    a_edge = np.array([-(1 << 15) + 1, -1, 0, 1, (1 << 15) - 1] * 2)
    a_re = np.concatenate([a_edge, rng.integers(-(1 << 15) + 1, 1 << 15, 500)])
    a_im = np.concatenate([a_edge[::-1], rng.integers(-(1 << 15) + 1, 1 << 15, 500)])
    want = fp.shift_floor(a_re * x_re - a_im * x_im, 15)
    with enable_x64():
        got = fixed._rotate(*(jnp.asarray(v, jnp.int32) for v in (a_re, a_im, x_re, x_im)), 15)
    assert got.dtype == jnp.int32
    assert np.array_equal(np.asarray(got), want)


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 10_000), pooling=st.sampled_from(["mean", "last"]), n_layers=st.integers(1, 3))
def test_jax_fixed_mode_equals_numpy_reference_bit_for_bit(seed, pooling, n_layers):
    _, _, q, _ = random_quantized(seed, n_layers=n_layers, pooling=pooling)
    x = random_pixels(seed + 2, 5, 24)
    got = fixed.run(q, x, per_token=True)
    want = fp.run(reference_network(q), x)
    assert got.dtype == np.int64
    assert np.array_equal(got, want)
    assert np.array_equal(fixed.run(q, x), want[:, -1])


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 10_000), pooling=st.sampled_from(["mean", "last"]), n_layers=st.integers(1, 3))
def test_folded_jax_fixed_mode_equals_numpy_reference_bit_for_bit(seed, pooling, n_layers):
    _, _, q, _ = random_quantized(seed, n_layers=n_layers, pooling=pooling, neuron="folded")
    assert q.neuron == "folded"
    x = random_pixels(seed + 2, 5, 24)
    want = fp.run(reference_network(q), x)
    assert np.array_equal(fixed.run(q, x, per_token=True), want)
    assert np.array_equal(fixed.run(q, x, per_token=True, narrow=False), want)


@pytest.mark.parametrize("neuron", fp.NEURONS)
def test_saturating_network_still_bit_exact(neuron):
    """Exponents three bits finer than the calibration maxima need: states and messages saturate; both sides
    clip alike."""
    _, _, q, _ = random_quantized(3, headroom_bits=-3, neuron=neuron)
    x = np.full((3, 30, 1), 255)
    x[1] = random_pixels(5, 1, 30)[0]
    assert {"x_re", "u"} <= saturated_kinds(q, x)
    assert np.array_equal(fixed.run(q, x, per_token=True), fp.run(reference_network(q), x))


@pytest.mark.parametrize("neuron", fp.NEURONS)
def test_wide_path_equals_narrow_path(neuron):
    """Widths outside the int32 split use plain int64; both give the reference's numbers."""
    _, _, q, _ = random_quantized(11, neuron=neuron)
    x = random_pixels(12, 4, 20)
    want = fp.run(reference_network(q), x)
    assert not fixed.int32_exact(dataclasses.replace(q.widths, state=25), 15)
    assert not fixed.int32_exact(q.widths, 15, shift_msg=11)  # a folded message shifted by < 12
    assert np.array_equal(fixed.run(q, x, per_token=True, narrow=False), want)
    assert np.array_equal(fixed.run(q, x, per_token=True, narrow=True), want)


@pytest.mark.parametrize("neuron", fp.NEURONS)
def test_fixed_mode_agrees_with_float_recurrent_within_quantization_error(neuron):
    config, params, q, _ = random_quantized(7, d_model=8, d_state=8, n_layers=2, length=40, neuron=neuron)
    x = random_pixels(8, 16, 40)
    float_logits = np.asarray(S4DClassifier(config).apply({"params": params}, jnp.asarray(x / 255.0, jnp.float32),
                                                          "recurrent"))
    fixed_logits = fixed.float_logits(q, fixed.run(q, x), x.shape[1])
    scale = np.abs(float_logits).max()
    # 8-bit weights (relative step 2^-8 of each tensor's range) through 2 layers: a few per cent of the scale
    assert np.abs(fixed_logits - float_logits).max() <= 0.05 * scale
    assert np.abs(fixed_logits - float_logits).mean() <= 0.01 * scale


def test_inputs_are_checked():
    _, _, q, _ = random_quantized(1)
    with pytest.raises(ValueError, match="integers in"):
        fixed.run(q, np.full((1, 4, 1), 256))
    with pytest.raises(ValueError, match="shape"):
        fixed.run(q, np.zeros((1, 4)))


def test_network_check_names_the_problem():
    _, _, q, _ = random_quantized(2)
    tensors = dict(q.tensors)
    tensors["layers.0.a_re"] = np.full_like(tensors["layers.0.a_re"], 1 << 15)
    with pytest.raises(ValueError, match="layers.0.a_re"):
        fp.FixedNetwork(q.config.n_layers, "mean", tensors, q.exponents)
    exponents = dict(q.exponents, **{"u.1": q.exponents["u.1"] - 40, "mixers.0.bias": q.exponents["u.1"] - 40})
    with pytest.raises(ValueError, match="'mixers.0'.*int32"):
        fp.FixedNetwork(q.config.n_layers, "mean", q.tensors, exponents)
    with pytest.raises(ValueError, match="neuron must be one of"):
        fp.FixedNetwork(q.config.n_layers, "mean", q.tensors, q.exponents, neuron="fused")
    with pytest.raises(ValueError, match="'layers.0.c_re' has dtype int8, the spec wants int32"):
        fp.FixedNetwork(q.config.n_layers, "mean", q.tensors, q.exponents, neuron="folded")
    _, _, folded, _ = random_quantized(2, neuron="folded")
    exponents = dict(folded.exponents, **{"layers.0.c_im": folded.exponents["layers.0.c_re"] - 1})
    with pytest.raises(ValueError, match="layers.0.c_re and layers.0.c_im must be equal"):
        fp.FixedNetwork(q.config.n_layers, "mean", folded.tensors, exponents, neuron="folded")


@pytest.mark.slow
@needs_mnist
def test_trained_model_fixed_mode_tracks_float_recurrent():
    """On real digits, PTQ of the trained model (the zoo's sMNIST float params) stays within a few per cent of
    the float logits."""
    from s4d.resolve import model_path
    from s4d_jax import data, quantize
    from s4d_jax.checkpoint import load_model

    config, params, meta = load_model(model_path("smnist-s4d-67k"))
    test = data.load("smnist", "test")
    calib = quantize.calibration_sequences("smnist", 32, meta)
    q, _ = quantize.ptq(config, params, calib)
    x = test.sequences[:6]
    float_logits = np.asarray(S4DClassifier(config).apply({"params": params},
                                                          jnp.asarray(x / 255.0, jnp.float32), "recurrent"))
    fixed_logits = fixed.float_logits(q, fixed.run(q, x), x.shape[1])
    scale = np.abs(float_logits).max()
    assert np.abs(fixed_logits - float_logits).max() <= 0.05 * scale
    assert (fixed_logits.argmax(-1) == float_logits.argmax(-1)).mean() >= 5 / 6
