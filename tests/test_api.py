"""The Python API: s4d.load → classify / stream / compile / card, in float and fixed precision, and its errors."""
import json
from pathlib import Path

import numpy as np
import pytest

import s4d
from quantized_models import random_pixels, random_quantized
from s4d.samples import task_samples
from s4d_jax import export, fixed
from s4d_jax.checkpoint import save_params
from test_data import needs_mnist
from zoo.registry import load_registry


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A small random model as a params directory and as an exported (quantized) directory."""
    root = tmp_path_factory.mktemp("api")
    config, params, q, _ = random_quantized(7, n_layers=2)
    save_params(root / "params", config, params, {"task": "smnist"})
    export.write_exported(root / "export", q, params, task="smnist")
    return root, q


def test_float_stream_gives_classify_of_every_prefix(small):
    m = s4d.load(small[0] / "params")
    x = random_pixels(3, 2, 20).astype(np.uint8)
    s = m.stream()
    outs = [s.push(x[:, i]) for i in range(20)]
    for k in (1, 7, 20):
        np.testing.assert_allclose(outs[k - 1], m.classify(x[:, :k]), rtol=1e-4, atol=1e-5)
    assert m.card is None and m.precision == "float"


def test_fixed_stream_is_the_jax_fixed_mode_bit_for_bit(small):
    m = s4d.load(small[0] / "export", precision="fixed")
    x = random_pixels(4, 3, 25)
    s = m.stream()
    outs = np.stack([s.push(x[:, i]) for i in range(25)], axis=1)
    assert np.array_equal(outs, fixed.run(small[1], x, per_token=True))
    assert np.array_equal(outs[:, -1], m.classify(x))
    assert s.tokens == 25
    s.reset()
    assert np.array_equal(s.push(x[:2, 0]), outs[:2, 0])  # a new batch size after reset
    assert s.tokens == 1


def test_fixed_stream_of_a_folded_export_is_the_jax_fixed_mode_bit_for_bit(tmp_path):
    config, params, q, _ = random_quantized(11, n_layers=2, neuron="folded")
    export.write_exported(tmp_path / "folded", q, params, task="smnist")
    m = s4d.load(tmp_path / "folded", precision="fixed")
    x = random_pixels(5, 2, 20)
    s = m.stream()
    outs = np.stack([s.push(x[:, i]) for i in range(20)], axis=1)
    assert np.array_equal(outs, fixed.run(q, x, per_token=True))


def test_compile_report_has_the_fields_of_compile_json(small):
    from compiler.exported import load_exported
    from compiler.frontend import from_exported
    from compiler.pipeline import compile_graph, summary

    report = s4d.load(small[0] / "export", precision="fixed").compile(mode="fall-through", objective="cores",
                                                                      activity=0)
    want = summary(compile_graph(from_exported(load_exported(small[0] / "export")), "fall-through", "cores"))
    assert set(report) == set(want) | {"model", "paper_comparison"}
    assert report.neurocores == want["neurocores"] and report["mode"] == "fall-through"
    assert json.loads(json.dumps(report.to_dict()))["latency_steps"] == want["latency_steps"]
    assert "neurocores" in report.text()


@pytest.mark.parametrize("precision", ["float", "fixed"])
def test_acceptance_snippet_on_the_zoo_model(precision):
    m = s4d.load("smnist-s4d-67k", precision=precision)
    x = np.zeros((1, 784, 1), np.uint8)
    a = m.classify(x)
    s = m.stream()
    outs = [s.push(x[:, i]) for i in range(784)]
    if precision == "fixed":
        assert outs[-1].dtype == np.int64 and np.array_equal(outs[-1], a)
    else:
        np.testing.assert_allclose(outs[-1], a, rtol=1e-4, atol=1e-5)
    assert m.card == (Path(__file__).parents[1] / "zoo" / "models" / "smnist-s4d-67k" / "card.md").read_text()


@pytest.mark.slow
@needs_mnist
@pytest.mark.parametrize("name", ["smnist-s4d-67k", "psmnist-s4d-67k", "smnist-s4d-67k-sparse"])
def test_zoo_models_keep_their_accuracy_on_real_test_digits(name):
    """The shipped models on the first 1,000 MNIST test digits (permuted as they were trained), in float and in
    the JAX fixed mode: within a point of the whole-test-set figures their registry rows claim."""
    entry = load_registry().get(name)
    x, y = task_samples(entry.task, 1000, entry.permutation_seed)
    for precision, claimed in (("float", entry.accuracies.float), ("fixed", entry.accuracies.fixed)):
        accuracy = 100 * (s4d.load(name, precision=precision).classify(x).argmax(-1) == y).mean()
        assert accuracy >= claimed - 1.0, (precision, accuracy, claimed)


def test_bad_input_is_refused_naming_the_problem(small):
    m = s4d.load(small[0] / "export", precision="fixed")
    cases = [(np.zeros((2, 5), np.uint8), r"\[batch, length, channels\], got shape \(2, 5\)"),
             (np.zeros((1, 5, 3), np.uint8), "3 channels, the model expects 1"),
             (np.full((1, 5, 1), 256), r"pixels must be in \[0, 255\], got values in \[256, 256\]"),
             (np.full((1, 5, 1), -1), r"got values in \[-1, -1\]"),
             (np.zeros((1, 5, 1), np.float32), "integer pixels"),
             (np.zeros((1, 0, 1), np.uint8), "empty")]
    for x, message in cases:
        with pytest.raises(ValueError, match=message):
            m.classify(x)
    s = m.stream()
    with pytest.raises(ValueError, match="one token"):
        s.push(np.zeros((1, 3, 1), np.uint8))
    s.push(np.zeros((1, 1), np.uint8))
    with pytest.raises(ValueError, match="reset"):
        s.push(np.zeros((2, 1), np.uint8))


def test_bad_load_arguments_are_refused(small):
    with pytest.raises(ValueError, match="not an existing path"):
        s4d.load("no-such-model-xyz")
    with pytest.raises(ValueError, match="precision must be one of"):
        s4d.load(small[0] / "export", precision="half")
    with pytest.raises(ValueError, match="needs quantized integers"):
        s4d.load(small[0] / "params", precision="fixed")


def test_docstring_examples_run_as_written():
    """The examples in s4d/api.py's docstrings, each docstring with `np`, `s4d` and a loaded `m` at hand."""
    import doctest

    import s4d.api

    results = doctest.testmod(s4d.api, extraglobs={"np": np, "s4d": s4d, "m": s4d.load("smnist-s4d-67k")})
    assert results.attempted >= 10 and results.failed == 0, results
