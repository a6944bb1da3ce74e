"""The emitted Lava network against the spec's NumPy reference, bit for bit, and `s4d compile` end to end.

Lava's CPU simulation runs ~20–100 steps/s with one OS process per Lava process, so the models are tiny.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("lava")

from compiler import fixed_point as fp  # noqa: E402
from compiler.emit import simulate  # noqa: E402
from compiler.frontend import from_network  # noqa: E402
from compiler.pipeline import compile_graph, verify  # noqa: E402
from compiler.synthetic import random_inputs, random_network, with_silent_modes, write_exported  # noqa: E402
from s4d.compiling import disagreement  # noqa: E402

pytestmark = pytest.mark.lava


@pytest.fixture(scope="module")
def tiny():
    net = random_network(d_input=2, d_model=4, d_state=4, n_layers=2, n_classes=3, seed=3)
    return net, random_inputs(net, 2, 5, seed=4)


@pytest.mark.parametrize("mode", ["pipelined", "fall-through"])
def test_lava_network_is_bit_exact_on_every_token(tiny, mode):
    net, x = tiny
    compiled = compile_graph(from_network(net), mode)
    run = simulate(compiled.graph, compiled.schedule, x)
    reference = fp.run(net, x)
    assert run.logits.shape == reference.shape == (2, 5, 3)
    np.testing.assert_array_equal(run.logits, reference)
    assert np.abs(reference).max() > 0  # the comparison is not between two all-zero streams
    period = 1 if mode == "pipelined" else compiled.schedule.depth  # fall-through: one token per depth
    assert run.steps == 9 * period + compiled.schedule.depth + 1


@pytest.mark.parametrize("mode", ["pipelined", "fall-through"])
def test_folded_lava_network_is_bit_exact_on_every_token(mode):
    """The folded neuron (FixedFoldedS4D) and its ones reduction group in Lava against the NumPy spec."""
    net = random_network(d_input=2, d_model=4, d_state=4, n_layers=2, n_classes=3, seed=7, neuron="folded")
    x = random_inputs(net, 2, 5, seed=8)
    compiled = compile_graph(from_network(net), mode)
    assert compiled.graph.node("x.0").variant == "folded"
    run = simulate(compiled.graph, compiled.schedule, x)
    reference = fp.run(net, x)
    np.testing.assert_array_equal(run.logits, reference)
    assert np.abs(reference).max() > 0
    state = fp.zero_state(net, 2)
    saturated = False
    for k in range(x.shape[1]):  # some messages saturate, so the clip is checked too
        state, _ = fp.step(net, state, x[:, k])
        shift_msg = net.s4d_shifts(0)[2]
        raw = fp.shift_floor(net.tensors["layers.0.c_re"] * state.x_re[0] + net.tensors["layers.0.c_im"]
                             * state.x_im[0], shift_msg)
        saturated |= bool(np.abs(raw).max() > fp.signed_max(16))
    assert saturated


@pytest.mark.parametrize("neuron", ["split", "folded"])
def test_lava_network_without_its_silent_neurons_is_bit_exact(neuron):
    """Pruned modes (b̄ = 0 or c = 0) leave the chip; the smaller network still computes every readout."""
    net = with_silent_modes(random_network(d_input=2, d_model=4, d_state=6, n_layers=2, n_classes=3, seed=9,
                                           neuron=neuron), 0.5, seed=10)
    x = random_inputs(net, 2, 5, seed=11)
    compiled = compile_graph(from_network(net))
    dropped = compiled.passes["silent_neurons_dropped"]
    assert all(0 < dropped[f"x.{layer}"] < 12 for layer in range(2))
    run = simulate(compiled.graph, compiled.schedule, x)
    reference = fp.run(net, x)
    np.testing.assert_array_equal(run.logits, reference)
    assert np.abs(reference).max() > 0


def test_last_pooling_and_a_mismatch_is_reported(tiny):
    _, x = tiny
    net = random_network(d_input=2, d_model=4, d_state=4, n_layers=1, n_classes=3, pooling="last", seed=5)
    compiled = compile_graph(from_network(net), "pipelined")
    exact = verify(compiled, net, x)
    assert exact["bit_exact"] is True and disagreement(exact) is None
    other = random_network(d_input=2, d_model=4, d_state=4, n_layers=1, n_classes=3, pooling="last", seed=6)
    result = verify(compiled, other, x)  # the Lava network of `net` checked against another network
    assert result["bit_exact"] is False and "first_mismatch" in result
    where = result["first_mismatch"]  # what `s4d compile --simulate` and `s4d demo` end with (exit status 1)
    assert disagreement(result) == (f"error: Lava and the fixed-point reference disagree, first at sequence "
                                    f"{where['sequence']}, token {where['token']}")


def test_s4d_compile_cli_json(tmp_path, tiny):
    net, x = tiny
    model = write_exported(net, tmp_path / "model", samples=(x, np.array([0, 2])))
    done = subprocess.run([sys.executable, "-m", "s4d.cli", "compile", str(model), "--mode", "fall-through",
                           "--objective", "latency", "--simulate", "2", "--out", str(tmp_path / "out"), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["bit_exact"] is True and result["simulated_sequences"] == 2
    assert result["mode"] == "fall-through" and result["objective"] == "latency"
    assert {"ir.json", "allocation.json", "report.json"} <= {p.name for p in (tmp_path / "out").iterdir()}
    folded = random_network(d_input=2, d_model=4, d_state=4, n_layers=1, n_classes=3, seed=9, neuron="folded")
    model = write_exported(folded, tmp_path / "folded", samples=(x, np.array([0, 2])))
    done = subprocess.run([sys.executable, "-m", "s4d.cli", "compile", str(model), "--neuron", "folded",
                           "--simulate", "1", "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["neuron"] == "folded" and result["bit_exact"] is True
    bad = subprocess.run([sys.executable, "-m", "s4d.cli", "compile", str(model), "--neuron", "fused"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: --neuron must be one of split | folded, got 'fused'"
    bad = subprocess.run([sys.executable, "-m", "s4d.cli", "compile", str(tmp_path / "nowhere")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")


def test_s4d_demo_prints_the_figures_of_s4d_compile(tmp_path, tiny):
    net, x = tiny
    model = write_exported(net, tmp_path / "model", samples=(x, np.array([0, 2])))
    run = lambda *args: subprocess.run([sys.executable, "-m", "s4d.cli", *args], capture_output=True, text=True,
                                       timeout=300)
    demo = run("demo", "--model", str(model), "--sequences", "2", "--mode", "fall-through")
    compiled = run("compile", str(model), "--mode", "fall-through")
    assert demo.returncode == 0 and compiled.returncode == 0, demo.stderr + compiled.stderr
    assert "bit-exact True; vs NumPy reference: True" in demo.stdout
    report = [line for line in compiled.stdout.splitlines() if not line.startswith("compiled in")]
    assert any(line.startswith("activity measured") for line in report)
    missing = [line for line in report if line not in demo.stdout.splitlines()]
    assert not missing, missing
    as_json = run("demo", "--model", str(model), "--sequences", "2", "--mode", "fall-through", "--json")
    compiled = run("compile", str(model), "--mode", "fall-through", "--json")
    result, expected = json.loads(as_json.stdout), json.loads(compiled.stdout)  # stdout holds one object each
    assert result["bit_exact"] is True and result["simulated_sequences"] == 2 and result["labels"] == [0, 2]
    same = ("neurocores", "synaptic_memory_bytes", "estimated_latency_us_per_token_range", "activity")
    assert {k: result[k] for k in same} == {k: expected[k] for k in same}


def test_api_simulates_after_a_progress_bar_has_fixed_the_start_method(tmp_path, tiny):
    """Lava sets multiprocessing's start method on import, which fails once a tqdm bar (a training run, a
    download) has fixed it: a notebook must still be able to simulate afterwards, and a process that chose
    another start method is told why Lava cannot run in it."""
    net, x = tiny
    model = write_exported(net, tmp_path / "model", samples=(x, np.array([0, 2])))
    code = ("import numpy as np, s4d\nfrom tqdm import tqdm\nfor _ in tqdm(range(2)): pass\n"
            f"m = s4d.load({str(model)!r}, precision='fixed')\nm.classify(np.zeros((1, 5, 2), np.uint8))\n"
            "print(m.compile(simulate=1).bit_exact)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr
    assert "os.fork()" not in done.stderr  # JAX's warning about forking does not apply to Lava's children
    code = "import multiprocessing as mp\nmp.set_start_method('spawn')\nimport compiler.lava.process"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Lava runs its processes with multiprocessing's 'fork' start method, but " \
                                   "this process has set 'spawn'" in done.stderr
