"""The compiled fixed-point streaming runtime equals the JAX fixed mode and the NumPy reference bit for bit."""
import numpy as np
import pytest

from compiler import fixed_point as fp
from compiler.stream import FixedStreamer
from quantized_models import random_pixels, random_quantized, reference_network, saturated_kinds
from s4d_jax import fixed


def stream_all(net, x):
    streamer = FixedStreamer(net, batch=len(x))
    return np.stack([streamer.push(x[:, k]).copy() for k in range(x.shape[1])], axis=1)


@pytest.mark.parametrize("pooling,n_layers,seed", [("mean", 2, 0), ("last", 1, 5), ("mean", 3, 9)])
def test_streaming_equals_jax_fixed_mode_and_reference_on_every_token(pooling, n_layers, seed):
    _, _, q, _ = random_quantized(seed, n_layers=n_layers, pooling=pooling)
    net = reference_network(q)
    x = random_pixels(seed + 2, 3, 30)
    got = stream_all(net, x.astype(np.uint8))
    assert np.array_equal(got, fixed.run(q, x, per_token=True))
    assert np.array_equal(got, fp.run(net, x))


def test_saturating_inputs_stay_bit_exact():
    """All-255 sequences on exponents three bits too fine saturate states and messages; the runtime clips as
    the JAX fixed mode does."""
    _, _, q, _ = random_quantized(3, headroom_bits=-3)
    x = np.full((2, 40, 1), 255)
    assert {"x_re", "u"} <= saturated_kinds(q, x)
    assert np.array_equal(stream_all(reference_network(q), x), fixed.run(q, x, per_token=True))


def test_reset_starts_a_new_sequence():
    _, _, q, _ = random_quantized(1)
    net = reference_network(q)
    x = random_pixels(4, 1, 12)
    streamer = FixedStreamer(net)
    first = [streamer.push(x[:, k]).copy() for k in range(12)]
    streamer.reset()
    again = [streamer.push(x[:, k]).copy() for k in range(12)]
    assert np.array_equal(first, again)


def test_bad_tokens_are_refused_with_the_reason():
    _, _, q, _ = random_quantized(1)
    streamer = FixedStreamer(reference_network(q), batch=2)
    with pytest.raises(ValueError, match=r"shape \(2, 1\)"):
        streamer.push(np.zeros((1, 1), np.uint8))
    with pytest.raises(ValueError, match="integers"):
        streamer.push(np.zeros((2, 1), np.float32))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        streamer.push(np.array([[0], [256]]))


@pytest.mark.parametrize("seed", [0, 4])
def test_folded_neurons_stream_bit_exact_with_the_jax_fixed_mode_and_reference(seed):
    _, _, q, _ = random_quantized(seed, n_layers=2, neuron="folded")
    net = reference_network(q)
    assert net.neuron == "folded"
    x = random_pixels(seed + 1, 3, 30)
    got = stream_all(net, x.astype(np.uint8))
    assert np.array_equal(got, fixed.run(q, x, per_token=True))
    assert np.array_equal(got, fp.run(net, x))


def test_folded_random_network_with_saturating_messages_streams_as_the_reference():
    """compiler.synthetic's folded networks put x_msg where the largest messages saturate."""
    from compiler.synthetic import random_inputs, random_network

    net = random_network(d_input=2, d_model=5, d_state=6, n_layers=3, seed=7, neuron="folded")
    x = random_inputs(net, 2, 25, seed=8)
    assert np.array_equal(stream_all(net, x), fp.run(net, x))
