"""The Loihi 2 hardware model: provenance, calibration, unseen shapes, traffic, activity, sweep, refusals."""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from unittest import mock

import numpy as np
import pytest

from compiler import calibration
from compiler import resources as rs
from compiler.activity import measure
from compiler.allocate import MappingError, allocate
from compiler.frontend import from_network
from compiler.ir import Edge, Graded, Graph, Input, Output, SynapseGroup
from compiler.passes import run_all
from compiler.pipeline import compile_graph, sweep
from compiler.synthetic import random_inputs, random_network, with_silent_modes, write_exported
from compiler.traffic import traffic


def test_every_constant_has_one_provenance_label():
    constants = [k for k, v in vars(rs).items() if k.isupper() and not k.startswith("_")
                 and isinstance(v, (int, float, tuple))]
    assert set(constants) <= set(rs.PROVENANCE), set(constants) - set(rs.PROVENANCE)
    assert {label for label, _ in rs.PROVENANCE.values()} == {"SOURCED", "CALIBRATED", "ASSUMED"}
    assert all(source for _, source in rs.PROVENANCE.values())
    assert rs.CORES_PER_CHIP == 120 and rs.PHYSICAL_CORES_PER_CHIP == 128
    for low, high in (rs.T_NEURON_OP_NS, rs.T_SYNOP_NS, rs.E_NEURON_OP_PJ, rs.E_SYNOP_PJ, rs.E_HOP_PJ):
        assert 0 < low < high


def test_calibration_on_67k_holds_and_predicts_265k_within_15_percent():
    assert calibration.fit_budget() == rs.CORE_BUDGET_NEURON_OPS  # the stored constant is the 67k fit
    rows = {r["model"]: r for r in calibration.paper_comparison()}
    assert rows["s4d-67k"]["neurocores"] == 31
    predicted = rows["s4d-265k"]
    assert abs(predicted["neurocores_at_budget"] - 111) / 111 <= 0.15, predicted  # the budget's own prediction
    assert predicted["chips"] == 1 and abs(predicted["neurocores"] - 111) / 111 <= 0.15


def test_counts_are_monotone_and_plausible_over_unseen_shapes():
    def cores(h, n, layers):
        return calibration.cores_at_budget(calibration.paper_graph(h, n, layers), rs.CORE_BUDGET_NEURON_OPS)

    widths = [cores(h, h, 4) for h in (64, 96, 128)]
    depths = [cores(64, 64, layers) for layers in (1, 4, 8)]
    assert widths[0] < widths[1] < widths[2] and depths[0] < depths[1] < depths[2]
    # S4D neurons dominate: cores grow about linearly with H·N/2·layers, ~270 S4D neurons per core
    for count, s4d in zip(widths + depths, [8192, 18432, 32768, 2048, 8192, 16384]):
        assert 0.8 < count * 267 / s4d < 1.3


def _two_layer_graph(second_group: bool) -> Graph:
    """input → A (4 channel neurons) → B (6 channel neurons), dense; optionally a second group A → B."""
    nodes = [Input("in", 1, 8), SynapseGroup("ga", np.ones((4, 1)), 0, 8),
             Graded("A", 4, 8, relu=False), SynapseGroup("gb", np.ones((6, 4)), -1, 8)]
    edges = [Edge("in", "ga", 8), Edge("ga", "A", 32), Edge("A", "gb", 8), Edge("gb", "B", 32)]
    if second_group:
        nodes.append(SynapseGroup("gc", np.ones((6, 4)), -2, 8))
        edges += [Edge("A", "gc", 8), Edge("gc", "B", 32)]
    nodes += [Graded("B", 6, 8, relu=False), Output("out", 6)]
    edges.append(Edge("B", "out", 8))
    return Graph(tuple(nodes), tuple(edges))


def test_traffic_counts_each_message_once_per_destination_core():
    tiny = replace(rs.LOIHI2, neurons_per_core=3, cores_per_chip=2)
    for second in (False, True):
        graph, _ = run_all(_two_layer_graph(second))
        alloc = allocate(graph, "cores", limits=tiny)
        # A: neurons 0-2 on core 0, 3 on core 1; B: 0-1 on core 1, 2-4 on core 2, 5 on core 3
        assert [[(s.node, s.start, s.stop) for s in c.slices] for c in alloc.cores] == [
            [("A", 0, 3)], [("A", 3, 4), ("B", 0, 2)], [("B", 2, 5)], [("B", 5, 6)]]
        t = traffic(graph, alloc, {("A", "out"): 1.0})
        # every A neuron reaches cores 1, 2, 3 once, however many groups or target neurons there
        assert t.messages == 4 * 3
        assert t.local_messages == 1  # A neuron 3 shares core 1 with B 0-1
        assert t.mesh_messages == 11
        assert t.chip_messages == 3 * 2 + 1 * 2  # chip 0 = cores 0, 1; chip 1 = cores 2, 3
        assert t.hop_messages == 3  # A 0-2 to core 1: one mesh hop each; chip crossings use links
        assert t.total("synaptic_ops") == 4 + 6 * 4 * (2 if second else 1)  # ga at rate 1 + gb (+ gc)
        half = traffic(graph, alloc, {("A", "out"): 0.5, ("in", "out"): 0.5})
        assert half.mesh_messages == 5.5 and half.total("synaptic_ops") == t.total("synaptic_ops") / 2


def test_zero_activity_gives_zero_mesh_messages_and_synaptic_ops():
    graph = from_network(random_network(d_model=16, d_state=16, n_layers=2))
    silent = compile_graph(graph, objective="cores", cores=6, rates={})
    ports = {(e.src, e.src_port) for e in silent.graph.edges}
    zero = compile_graph(graph, cores=6, rates={port: 0.0 for port in ports})
    assert len(zero.allocation.cores) > 1 and silent.traffic.mesh_messages > 0
    assert zero.traffic.messages == 0 and zero.traffic.mesh_messages == 0 and zero.traffic.chip_messages == 0
    assert zero.traffic.total("synaptic_ops") == 0
    assert zero.estimate.energy_uj_per_token[0] > 0  # neurons still update every step
    assert zero.estimate.energy_uj_per_token[1] < silent.estimate.energy_uj_per_token[1]


def test_measured_activity_counts_non_zero_messages():
    net = random_network(d_model=6, d_state=4, n_layers=2, seed=3)
    x = random_inputs(net, 2, 12, seed=1)
    x[:, :6] = 0  # half the input values are zero
    rates = measure(net, x)
    assert rates[("input", "out")] == pytest.approx(np.count_nonzero(x, axis=(0, 1)) / (2 * 12))
    sizes = {"y.0": 6, "y.1": 6, "x.0": 12, "x.1": 12, "u.2": 6}  # one rate per neuron, modes h·P + p
    for key in (("y.0", "out"), ("y.1", "out"), ("x.0", "re"), ("x.1", "im"), ("u.2", "out")):
        assert rates[key].shape == (sizes[key[0]],) and ((0 <= rates[key]) & (rates[key] <= 1)).all()
    graph = from_network(net)
    full, measured = compile_graph(graph, cores=4), compile_graph(graph, cores=4, rates=rates)
    assert measured.traffic.total("synaptic_ops") < full.traffic.total("synaptic_ops")


def test_activity_of_an_s4d_node_is_averaged_over_the_neurons_left_on_the_chip():
    net = with_silent_modes(random_network(d_model=6, d_state=8, n_layers=1, seed=4), 0.5, seed=5)
    activity = measure(net, random_inputs(net, 2, 12, seed=6))
    compiled = compile_graph(from_network(net), rates=activity)
    kept = compiled.graph.node("x.0").kept.reshape(-1)
    assert 0 < kept.sum() < kept.size
    for part in ("re", "im"):
        per_neuron = activity[("x.0", part)]
        assert per_neuron[~kept].max() > 0  # modes nobody hears still send; they must not count
        assert compiled.rates[("x.0", part)] == pytest.approx(per_neuron[kept].mean())
    assert compiled.rates[("y.0", "out")] == pytest.approx(activity[("y.0", "out")].mean())


def test_objectives_and_sweep(tmp_path):
    graph = calibration.paper_graph(64, 64)
    latency, fewest = allocate(graph), allocate(graph, "cores")
    assert len(fewest.cores) < len(latency.cores) == 31
    points = sweep(graph)
    assert len(points) >= 5 and any(p["latency_objective"] for p in points)
    cores = [p["neurocores"] for p in points]
    assert cores == sorted(cores) and cores[0] == len(fewest.cores) and cores[-1] <= rs.CORES_PER_CHIP
    latencies = [p["estimated_latency_us_per_token_range"][0] for p in points]
    assert latencies[0] > 5 * latencies[-1]  # spreading shortens the step
    from compiler.plot import per_core_by_layer, plot_report

    # the per-core bars: every core's layers add up to its load, and none passes the latency budget
    work = per_core_by_layer(latency, lambda load: load.neuron_ops)
    assert list(work) == ["encoder", "layer 0", "layer 1", "layer 2", "layer 3", "decoder"]
    totals = [sum(column) for column in zip(*work.values())]
    assert totals == [core.load.neuron_ops for core in latency.cores] and max(totals) <= latency.work_cap
    memory = per_core_by_layer(latency, lambda load: load.memory_bytes)
    assert [sum(column) for column in zip(*memory.values())] == [core.load.memory_bytes for core in latency.cores]
    png = plot_report(points, latency, tmp_path / "report.png", "s4d-67k")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_oversize_model_is_refused_with_one_line_and_nothing_written(tmp_path, capsys):
    from s4d.cli import main

    model = write_exported(random_network(d_model=64, d_state=64, n_layers=4, n_classes=10), tmp_path / "m")
    out = tmp_path / "out"

    def compile_(*flags):
        argv = ["s4d", "compile", str(model), "--activity", "0", "--json", *flags]
        # chips of 2 cores: the model's memory alone needs more than one
        calibration.paper_comparison.cache_clear()  # cached per process: must not outlive the patch
        try:
            with mock.patch.object(rs, "LOIHI2", replace(rs.LOIHI2, cores_per_chip=2)), \
                    mock.patch.object(sys, "argv", argv):
                main()
        except SystemExit as done:
            return done.code
        finally:
            calibration.paper_comparison.cache_clear()
        return 0

    assert compile_("--max-chips", "1", "--out", str(out)) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "more than the 2 of 1 chip(s): from node " in lines[0] and "(layer " in lines[0]
    assert "bound by core memory" in lines[0] and not out.exists()
    assert compile_() in (0, None)
    result = json.loads(capsys.readouterr().out)
    assert result["chips"] >= 2 and result["messages_per_token"]["chip_links"] > 0
    assert result["neurocores"] <= 2 * result["chips"]
    with pytest.raises(MappingError, match=r"needs 1\d\d neurocores, \d+ more than the 120 of 1 chip\(s\).*"
                                           r"neuron-update budget"):
        allocate(calibration.paper_graph(64, 64), cores=200, max_chips=1)
