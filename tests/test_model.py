"""The S4D core: modes agree, streaming in chunks is exact, presets have the paper's sizes, errors are clear."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s4d_jax import ssm
from s4d_jax.config import ModelConfig, preset
from s4d_jax.model import S4DClassifier, count_params, init_params

ODD = ModelConfig(d_input=3, n_classes=7, d_model=5, d_state=6, n_layers=2)
ODD_INV_LAST = ODD.replace(init="inv", pooling="last", d_model=9, d_state=2, n_layers=3)


def _randomize(params, seed):
    """Random parameters (not the init) so that the check covers arbitrary trained models."""
    leaves, tree = jax.tree_util.tree_flatten_with_path(params)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
    out = []
    for (path, leaf), key in zip(leaves, keys):
        name = jax.tree_util.keystr(path)
        noise = 0.3 * jax.random.normal(key, leaf.shape)
        out.append(leaf + noise if "log_" in name else leaf * (1 + noise) + noise)
    return jax.tree_util.tree_unflatten(tree, out)


def _logits(config, params, x, mode):
    return S4DClassifier(config).apply({"params": params}, x, mode)


@pytest.mark.parametrize("config", [preset("s4d-67k"), preset("s4d-265k"), ODD, ODD_INV_LAST],
                         ids=["67k", "265k", "odd", "odd-inv-last"])
@pytest.mark.parametrize("length", [1, 7, 784])
def test_modes_agree(config, length):
    params = _randomize(init_params(config), seed=length)
    x = jax.random.normal(jax.random.PRNGKey(length), (2, length, config.d_input))
    conv = _logits(config, params, x, "conv")
    scale = float(jnp.abs(conv).max())
    for mode in ("scan", "recurrent"):
        other = _logits(config, params, x, mode)
        assert float(jnp.abs(other - conv).max()) <= 1e-4 * scale, mode


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_recurrent_in_chunks_equals_one_pass(pooling):
    config = preset("s4d-67k", pooling=pooling)
    params = _randomize(init_params(config), seed=1)
    model = S4DClassifier(config)
    x = jax.random.uniform(jax.random.PRNGKey(2), (3, 50, 1))
    _, whole = model.apply({"params": params}, model.apply({"params": params}, 3, method="zero_state"), x,
                           method="stream")
    state = model.apply({"params": params}, 3, method="zero_state")
    pieces = []
    for chunk in (x[:, :1], x[:, 1:21], x[:, 21:]):
        state, logits = model.apply({"params": params}, state, chunk, method="stream")
        pieces.append(logits)
    # float32 sums in another order: differences are relative to the logits' scale (here ~1e2), not to each value
    np.testing.assert_allclose(np.concatenate(pieces, 1), whole, rtol=1e-5, atol=1e-6 * float(np.abs(whole).max()))
    np.testing.assert_allclose(whole[:, -1], _logits(config, params, x, "conv"), rtol=1e-4, atol=1e-4)


def test_preset_parameter_counts():
    assert count_params(init_params(preset("s4d-67k"))) == 67_082
    assert count_params(init_params(preset("s4d-265k"))) == 265_226


def test_gradients_reach_every_parameter():
    config = ODD
    params = init_params(config)
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 12, config.d_input))
    labels = jnp.arange(4) % config.n_classes

    def loss(p):
        logits = _logits(config, p, x, "conv")
        return -jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], 1).mean()

    grads = jax.grad(loss)(params)
    for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]:
        assert bool(jnp.isfinite(g).all()), jax.tree_util.keystr(path)
        assert float(jnp.abs(g).max()) > 0, f"no gradient reaches {jax.tree_util.keystr(path)}"


@pytest.mark.parametrize("streams", [1, 3])
@pytest.mark.parametrize("length", [1, 7, 100])
def test_fft_convolution_and_its_gradients_equal_the_direct_sum(length, streams):
    u = jax.random.normal(jax.random.PRNGKey(length), (2, length, 5))
    k = jax.random.normal(jax.random.PRNGKey(streams), (5, length))
    g = jax.random.normal(jax.random.PRNGKey(7), (2, length, 5))
    lag = jnp.arange(length)[:, None] - jnp.arange(length)[None, :]

    def direct(u, k):  # y[b, l, h] = Σ_{j≤l} k[h, l−j] u[b, j, h], as a plain sum
        toeplitz = jnp.where(lag >= 0, k[:, jnp.clip(lag, 0)], 0.0)
        return jnp.einsum("bjh,hlj->blh", u, toeplitz)

    def fft(u, k):
        return ssm.causal_conv(u, k, streams=streams)

    np.testing.assert_allclose(fft(u, k), direct(u, k), rtol=1e-5, atol=1e-5)
    for want, got in zip(jax.grad(lambda u, k: jnp.sum(direct(u, k) * g), argnums=(0, 1))(u, k),
                         jax.grad(lambda u, k: jnp.sum(fft(u, k) * g), argnums=(0, 1))(u, k)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(jnp.abs(want).max()))


def test_conv_mode_gradients_equal_scan_mode_gradients():
    """Training in either mode follows the same gradient: FFTs and their transposes against the scan's matmuls."""
    config = preset("s4d-67k")
    params = _randomize(init_params(config), seed=3)
    x = jax.random.normal(jax.random.PRNGKey(4), (3, 784, 1))
    labels = jnp.arange(3)

    def loss(p, mode):
        return -jnp.take_along_axis(jax.nn.log_softmax(_logits(config, p, x, mode)), labels[:, None], 1).mean()

    conv, scan = (jax.grad(loss)(params, mode) for mode in ("conv", "scan"))
    for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(conv)[0], jax.tree_util.tree_leaves(scan)):
        scale = float(jnp.abs(b).max())
        assert float(jnp.abs(a - b).max()) <= 1e-3 * scale, jax.tree_util.keystr(path)


def test_config_round_trip_rebuilds_the_model():
    config = preset("s4d-67k", pooling="last")
    assert ModelConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    "shape, fill, message",
    [
        ((10, 1), 0.0, "rank 3"),
        ((2, 10, 3), 0.0, "3 channels"),
        ((2, 0, 1), 0.0, "length 0"),
        ((2, 10, 1), np.nan, "non-finite"),
        ((2, 10, 1), np.inf, "non-finite"),
    ],
)
def test_bad_inputs_are_named(shape, fill, message):
    config = preset("s4d-67k")
    params = init_params(config)
    with pytest.raises(ValueError, match=message):
        _logits(config, params, np.full(shape, fill, np.float32), "conv")


def test_unknown_mode_and_bad_config_are_named():
    config = preset("s4d-67k")
    with pytest.raises(ValueError, match="unknown mode"):
        _logits(config, init_params(config), np.zeros((1, 4, 1), np.float32), "fft")
    with pytest.raises(ValueError, match="d_state must be even"):
        ModelConfig(d_state=5)
    with pytest.raises(ValueError, match="unknown preset"):
        preset("s4d-1m")


def test_dropout_silences_whole_channels_in_training_only():
    config = ODD.replace(d_model=16)
    params = _randomize(init_params(config), seed=5)
    x = jax.random.normal(jax.random.PRNGKey(5), (3, 11, config.d_input))
    model = S4DClassifier(config, dropout=0.5)
    plain = _logits(config, params, x, "conv")
    np.testing.assert_array_equal(model.apply({"params": params}, x, "conv"), plain)  # not training: no dropout
    trained, seen = model.apply({"params": params}, x, "conv", train=True, rngs={"dropout": jax.random.PRNGKey(1)},
                                capture_intermediates=True, mutable=["intermediates"])
    assert not np.allclose(trained, plain)
    seen = seen["intermediates"]
    for i in range(config.n_layers):  # what the mixer gets = ReLU(S4D) scaled by 1/(1 − p), or 0 for a whole row
        relu = np.maximum(np.asarray(seen[f"layers_{i}"]["__call__"][0]), 0)
        dropped = np.asarray(seen["drop"]["__call__"][i])
        kept = np.any(dropped != 0, axis=1, keepdims=True)  # [B, 1, H]: one decision per sequence and channel
        np.testing.assert_allclose(dropped, np.where(kept, relu / 0.5, 0), rtol=1e-6)
        assert 0 < kept.mean() < 1
