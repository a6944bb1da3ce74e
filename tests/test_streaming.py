"""The compiled streaming runtime computes what the Flax recurrent mode computes."""
import numpy as np
import pytest

from s4d_jax.config import ModelConfig, preset
from s4d_jax.model import S4DClassifier, init_params
from s4d_jax.streaming import StreamingClassifier


@pytest.mark.parametrize("config", [preset("s4d-67k"), ModelConfig(d_input=3, n_classes=4, d_model=6,
                                                                    d_state=4, n_layers=2, pooling="last")],
                         ids=["67k-mean", "odd-last"])
def test_streaming_matches_flax_stream(config):
    params = init_params(config, seed=3)
    model = S4DClassifier(config)
    x = np.random.default_rng(0).uniform(size=(2, 40, config.d_input)).astype(np.float32)
    state = model.apply({"params": params}, 2, method="zero_state")
    _, expected = model.apply({"params": params}, state, x, method="stream")
    runtime = StreamingClassifier(config, params, batch=2)
    got = np.stack([runtime.push(x[:, t]).copy() for t in range(40)], axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    runtime.reset()
    np.testing.assert_allclose(runtime.push(x[:, 0]), expected[:, 0], rtol=1e-4, atol=1e-5)


def test_streaming_rejects_a_wrong_token_shape():
    config = preset("s4d-67k")
    runtime = StreamingClassifier(config, init_params(config), batch=1)
    with pytest.raises(ValueError, match=r"shape \(1, 1\)"):
        runtime.push(np.zeros((2, 1)))
