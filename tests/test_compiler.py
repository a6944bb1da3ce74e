"""The compiler without Lava: IR, passes, allocation limits, multi-chip, refusals, schedules, no JAX."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler import resources as rs
from compiler.allocate import MappingError, allocate
from compiler.frontend import from_network
from compiler.ir import Graded, Graph, Readout, S4DStates, SynapseGroup, graph_from_dict
from compiler.passes import WidthError, check_widths, drop_silent_modes, drop_zero_synapses, fuse_parallel_groups, run_all
from compiler.pipeline import compile_graph, layer_table, summary
from compiler.schedule import schedule, token_at
from compiler.synthetic import random_network, with_silent_modes


def small_graph(**kwargs) -> Graph:
    return from_network(random_network(**kwargs))


def test_compiler_imports_without_jax():
    code = ("import pkgutil, importlib, sys, compiler\n"
            "for m in pkgutil.walk_packages(compiler.__path__, 'compiler.'): importlib.import_module(m.name)\n"
            "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('jax', 'jaxlib', 'flax'))\n"
            "print(len(list(pkgutil.walk_packages(compiler.__path__, 'compiler.'))), bad)\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[0]) >= 10  # every submodule, compiler.lava.* included, was imported


def test_ir_structure_and_json_round_trip():
    graph = small_graph(d_model=4, d_state=4, n_layers=2, n_classes=3)
    # encoder + (expansion, S4D, c_re/c_im/d, ReLU, mixer) per layer + decoder: 3 hops per layer + 2
    assert graph.depth() == 2 + 3 * 2
    s4d = graph.node("x.0")
    assert isinstance(s4d, S4DStates) and s4d.size == 8 and (s4d.shift_a, s4d.shift_msg) == (15, 8)
    assert graph.node("layers.0.d").delay == 1  # the D path is aligned with the C path
    assert {e.src_port for e in graph.outputs_of("x.0")} == {"re", "im"}
    back = graph_from_dict(json.loads(graph.to_json(tensors=True)))
    assert [n.name for n in back.nodes] == [n.name for n in graph.nodes]
    assert np.array_equal(back.node("mixers.1").weights, graph.node("mixers.1").weights)
    assert back.edges == graph.edges
    assert "values" not in graph.to_json()  # --show-ir prints summaries, not tensors


def _synapse_ports(graph: Graph, node: str) -> set[str]:
    """The output ports of `node` that feed synapse groups: the messages it sends on the chip each step."""
    return {e.src_port for e in graph.outputs_of(node) if isinstance(graph.node(e.dst), SynapseGroup)}


@pytest.mark.parametrize("neuron", ["split", "folded"])
def test_every_placed_neuron_sends_the_messages_its_kind_costs(neuron):
    """The resource model's messages per step of each neuron kind (NEURON_KINDS) are the output ports its
    node has in the IR: the table of docs/compiler.md and the graph cannot drift apart."""
    graph, _ = run_all(small_graph(d_model=4, d_state=4, n_layers=2, n_classes=3, neuron=neuron))
    placed = [n for n in graph.nodes if isinstance(n, (Graded, S4DStates, Readout))]
    assert {type(n) for n in placed} == {Graded, S4DStates, Readout}
    for node in placed:
        ports = _synapse_ports(graph, node.name)  # the readout's messages go to the host, not to synapses
        assert len(ports) == rs.neuron_kind(node).messages, (node.name, ports)


def test_folded_ir_sends_one_message_per_mode_through_a_ones_group():
    split, folded = (small_graph(d_model=4, d_state=4, n_layers=2, n_classes=3, neuron=n) for n in ("split", "folded"))
    s4d = folded.node("x.0")
    assert s4d.variant == "folded" and s4d.ports == ("out",) and s4d.c_re.shape == (4, 2)
    assert split.node("x.0").variant == "split" and split.node("x.0").c_re is None
    assert [e.src_port for e in folded.outputs_of("x.0")] == ["out"]
    ones = folded.node("layers.0.reduction")
    assert ones.weights.shape == (4, 8) and set(np.unique(ones.weights)) == {0, 1} and ones.nonzero == 8
    assert folded.depth() == split.depth()  # one reduction group in place of two parallel C groups
    assert folded.meta["neuron"] == "folded"
    back = graph_from_dict(json.loads(folded.to_json(tensors=True)))
    assert np.array_equal(back.node("x.1").c_im, folded.node("x.1").c_im) and back.node("x.1").variant == "folded"
    with pytest.raises(ValueError, match="c_re and c_im are needed by the folded variant only"):
        replace(s4d, c_re=None)
    with pytest.raises(ValueError, match="variant 'fused' is not one of"):
        replace(s4d, variant="fused")
    wide = replace(s4d, c_re=np.full((4, 2), 1 << 15))
    with pytest.raises(WidthError, match="node 'x.0': coefficients c_re span"):
        check_widths(folded.replace_nodes([wide if n.name == "x.0" else n for n in folded.nodes]))


def test_folded_neurons_halve_the_s4d_messages_and_store_c():
    results, graphs = {}, {}
    for neuron in ("split", "folded"):
        graphs[neuron] = small_graph(d_model=8, d_state=8, n_layers=2, neuron=neuron)
        results[neuron] = summary(compile_graph(graphs[neuron], "pipelined"))
    assert results["folded"]["neuron"] == "folded" and results["split"]["neuron"] == "split"
    split, folded = (results[n]["messages_per_token"]["total"] for n in ("split", "folded"))
    # one message fewer per mode and layer (2 × 32), every neuron sending; traffic counts a message once per
    # destination core, so a split neuron whose re and im groups share a core saves one count less
    assert 0.9 * 2 * 8 * 4 <= split - folded <= 2 * 8 * 4
    s4d_split, s4d_folded = graphs["split"].node("x.0"), graphs["folded"].node("x.0")
    assert rs.neuron_state_bytes(s4d_folded) == rs.neuron_state_bytes(s4d_split) + 2 * rs.VARIABLE_BYTES


def test_width_violations_are_refused_with_the_node_named():
    graph = small_graph(d_model=4, d_state=4, n_layers=1)
    wide = replace(graph.node("mixers.0"), weights=np.full((4, 4), 200))
    with pytest.raises(WidthError, match=r"node 'mixers.0': weights span \[200, 200\], outside the 8-bit"):
        check_widths(graph.replace_nodes([wide if n.name == "mixers.0" else n for n in graph.nodes]))
    loud = replace(graph.node("y.0"), width=24)  # 24-bit ReLU messages overflow the mixer's int32 accumulator
    with pytest.raises(WidthError, match=r"node 'mixers.0': the accumulation can reach .* beyond the 32-bit"):
        check_widths(graph.replace_nodes([loud if n.name == "y.0" else n for n in graph.nodes]))
    huge = replace(graph.node("u.0"), width=25)
    with pytest.raises(WidthError, match="25-bit messages, graded spikes carry at most 24"):
        check_widths(graph.replace_nodes([huge if n.name == "u.0" else n for n in graph.nodes]))


def test_sparsity_pass_drops_zero_groups_and_marks_sparse_ones():
    graph = small_graph(d_model=8, d_state=8, n_layers=1)
    zero = replace(graph.node("layers.0.d"), weights=np.zeros((8, 8), np.int64))
    graph = graph.replace_nodes([zero if n.name == "layers.0.d" else n for n in graph.nodes])
    out, info = drop_zero_synapses(graph)
    assert info["removed_groups"] == ["layers.0.d"]
    assert "layers.0.d" not in [n.name for n in out.nodes] and not out.inputs_of("layers.0.d")
    assert out.node("layers.0.expansion").sparse and not out.node("mixers.0").sparse


def test_silent_s4d_neurons_are_dropped_with_their_synapse_rows_and_columns():
    net = with_silent_modes(random_network(d_model=8, d_state=8, n_layers=2, seed=1), 0.5, seed=2)
    t = net.tensors
    graph = from_network(net)
    out, dropped = drop_silent_modes(graph)
    for layer in range(2):
        p = f"layers.{layer}"
        silent = ((t[f"{p}.b_re"] == 0) & (t[f"{p}.b_im"] == 0)) | ((t[f"{p}.c_re"] == 0) & (t[f"{p}.c_im"] == 0))
        assert 0 < silent.sum() < silent.size
        x = out.node(f"x.{layer}")
        assert dropped[f"x.{layer}"] == silent.sum() and x.size == silent.size - silent.sum()
        assert np.array_equal(x.kept, ~silent)
        np.testing.assert_array_equal(x.neuron_values("a_re"), t[f"{p}.a_re"][~silent])
        assert out.node(f"{p}.expansion").weights.shape == (x.size, 8)
        for part in ("c_re", "c_im"):  # the columns kept are those of the kept modes, in h·P + p order
            np.testing.assert_array_equal(out.node(f"{p}.{part}").weights,
                                          graph.node(f"{p}.{part}").weights[:, (~silent).reshape(-1)])
    assert drop_silent_modes(out)[1] == {}  # nothing more to drop
    again = graph_from_dict(json.loads(out.to_json(tensors=True)))
    assert np.array_equal(again.node("x.0").kept, out.node("x.0").kept) and again.node("x.0").size == out.node("x.0").size


def test_a_layer_whose_modes_are_all_silent_loses_its_s4d_node_and_still_maps():
    net = random_network(d_model=4, d_state=4, n_layers=2, seed=1)
    tensors = {**net.tensors, "layers.1.b_re": np.zeros((4, 2), np.int32), "layers.1.b_im": np.zeros((4, 2), np.int32)}
    silent = type(net)(net.n_layers, net.pooling, tensors, net.exponents)
    graph, info = run_all(from_network(silent))
    assert info["silent_neurons_dropped"]["x.1"] == 8
    names = {n.name for n in graph.nodes}
    assert "x.1" not in names and not names & {"layers.1.expansion", "layers.1.c_re", "layers.1.c_im"}
    assert "layers.1.d" in names  # y.1 still gets D·u
    dense = compile_graph(from_network(net))
    assert compile_graph(graph).traffic.total("neuron_ops") < dense.traffic.total("neuron_ops")


def test_parallel_groups_fuse_only_when_exact():
    graph = small_graph(d_model=4, d_state=4, n_layers=1)
    twin = replace(graph.node("mixers.0"), name="mixers.0b")
    edges = list(graph.edges) + [e for e in [replace(e, src="mixers.0b") if e.src == "mixers.0" else
                                             replace(e, dst="mixers.0b") if e.dst == "mixers.0" else None
                                             for e in graph.edges] if e is not None]
    nodes = list(graph.nodes)
    nodes.insert(nodes.index(graph.node("mixers.0")) + 1, twin)
    doubled = Graph(tuple(nodes), tuple(edges), graph.meta)
    _, fused = fuse_parallel_groups(doubled)
    assert fused == []  # a right shift floors each group separately: merging would change results
    exact = [replace(n, weights=n.weights // 4, exponent=0) if n.name.startswith("mixers.0") else n
             for n in doubled.nodes]
    out, fused = fuse_parallel_groups(doubled.replace_nodes(exact))
    assert fused == ["mixers.0b into mixers.0"]
    assert np.array_equal(out.node("mixers.0").weights, 2 * (graph.node("mixers.0").weights // 4))


def test_schedules_follow_the_depth():
    graph, _ = run_all(small_graph(d_model=4, d_state=4, n_layers=4))
    pipe, fall = schedule(graph, "pipelined"), schedule(graph, "fall-through")
    assert pipe.latency_steps == fall.latency_steps == graph.depth() == 14
    assert pipe.tokens_per_step == 1.0 and fall.tokens_per_step == pytest.approx(1 / 14)
    # the rule the Lava neurons follow: x.0, two synaptic steps in, works on token k in step k·period + 2
    assert [token_at(t, pipe.hops["x.0"], pipe.period) for t in range(5)] == [None, None, 0, 1, 2]
    assert [(t, token_at(t, fall.hops["x.0"], fall.period)) for t in range(31)
            if token_at(t, fall.hops["x.0"], fall.period) is not None] == [(2, 0), (16, 1), (30, 2)]
    with pytest.raises(ValueError, match="unknown mode"):
        schedule(graph, "bursty")


def _check_load_from_the_graph(graph: Graph, core) -> None:
    """A core's load recounted slice by slice from the graph's weights (the allocator uses prefix sums): state,
    work, synapses and synaptic memory exactly; input axons at least one per distinct source column feeding
    the slice (the allocator may count more for non-contiguous patterns), plus one output axon per port."""
    state = ops = synapses = synaptic = axons = 0
    for s in core.slices:
        kind = rs.neuron_kind(graph.node(s.node))
        state += s.neurons * kind.variables * rs.VARIABLE_BYTES
        ops += s.neurons * kind.ops
        for group in graph.synapses_into(s.node):
            nz = group.weights[s.start:s.stop] != 0
            synapses += int(nz.sum())
            synaptic += int(rs.synaptic_row_bytes(nz.sum(axis=1), group.fan_in, group.sparse).sum())
            axons += int(nz.any(axis=0).sum()) * rs.INPUT_AXON_BYTES
        axons += len(_synapse_ports(graph, s.node)) * rs.OUTPUT_AXON_BYTES
    load = core.load
    assert (load.state_bytes, load.neuron_ops, load.synapses, load.synaptic_bytes) == (state, ops, synapses,
                                                                                        synaptic)
    assert load.axon_bytes >= axons


def _check_allocation(graph: Graph, alloc) -> None:
    placed = {n.name: n.size for n in graph.nodes if isinstance(n, (Graded, S4DStates)) or n.name == "logits"}
    covered = {name: np.zeros(size, int) for name, size in placed.items()}
    for core in alloc.cores:
        load = core.load
        assert load.neurons <= alloc.limits.neurons_per_core
        assert load.synaptic_bytes <= alloc.limits.synaptic_memory_bytes
        assert load.memory_bytes <= alloc.limits.core_memory_bytes
        assert load.neurons == sum(s.neurons for s in core.slices)
        assert core.chip == core.index // alloc.limits.cores_per_chip
        _check_load_from_the_graph(graph, core)
        for s in core.slices:
            covered[s.node][s.start:s.stop] += 1
    assert all((c == 1).all() for c in covered.values())  # every neuron placed exactly once
    assert alloc.chips == -(-len(alloc.cores) // alloc.limits.cores_per_chip)


@settings(max_examples=25, deadline=None)
@given(d_model=st.integers(1, 24), modes=st.integers(1, 12), n_layers=st.integers(1, 3),
       d_input=st.integers(1, 3), n_classes=st.integers(1, 10), neurons=st.integers(6, 300),
       synaptic=st.integers(400, 4000), extra=st.integers(0, 4000), budget=st.integers(24, 2000),
       seed=st.integers(0, 1000))
def test_allocation_respects_every_limit(d_model, modes, n_layers, d_input, n_classes, neurons, synaptic, extra,
                                         budget, seed):
    graph, _ = run_all(small_graph(d_input=d_input, d_model=d_model, d_state=2 * modes, n_layers=n_layers,
                                   n_classes=n_classes, seed=seed))
    # shrink the core so that random small models need many cores and every limit binds somewhere
    limits = rs.Limits(neurons_per_core=neurons, synaptic_memory_bytes=synaptic, core_memory_bytes=synaptic + extra,
                       budget_neuron_ops=budget, cores_per_chip=8)
    try:
        fewest = allocate(graph, "cores", limits=limits)
    except MappingError as err:
        assert "cannot be mapped: one neuron needs" in str(err)
        return
    _check_allocation(graph, fewest)
    spread = allocate(graph, "latency", limits=limits)
    _check_allocation(graph, spread)
    assert len(fewest.cores) <= len(spread.cores)
    assert all(c.load.work() <= spread.work_cap for c in spread.cores)
    # the calibrated budget holds unless it would need more chips than memory does
    assert spread.work_cap <= max(budget, 24) or spread.chips == fewest.chips
    forced = allocate(graph, cores=len(fewest.cores) + 3, limits=limits)
    _check_allocation(graph, forced)
    assert len(forced.cores) <= len(fewest.cores) + 3
    busiest = lambda a: max(c.load.work() for c in a.cores)  # noqa: E731
    assert busiest(forced) <= busiest(fewest)


def test_a_model_too_large_for_one_chip_spans_chips_or_is_refused():
    graph, _ = run_all(small_graph(d_model=64, d_state=64, n_layers=4, n_classes=10))
    small_cores = replace(rs.LOIHI2, neurons_per_core=48)  # 8,192 S4D neurons + the rest > 120 cores
    compiled = compile_graph(graph, objective="cores", limits=small_cores)
    _check_allocation(graph, compiled.allocation)
    assert compiled.allocation.chips == 2 and compiled.traffic.chip_messages > 0
    with pytest.raises(MappingError, match=r"needs 1\d\d neurocores, \d+ more than the 120 of 1 chip\(s\): "
                                           r"from node 'x\.\d' \(layer \d\) on, .* bound by neurons"):
        allocate(graph, "cores", max_chips=1, limits=small_cores)


def test_a_neuron_larger_than_a_core_is_refused_naming_node_resource_and_shortfall():
    graph, _ = run_all(small_graph(d_model=16, d_state=4, n_layers=1))
    # a ReLU neuron stores 2 + 2 sparse C synapses and 1 D synapse of 3 bytes each: 15 bytes
    with pytest.raises(MappingError, match=r"node 'y.0' \(layer 0\) cannot be mapped: one neuron needs 15 "
                                           r"synaptic memory bytes, 3 more than the 12 a neurocore has"):
        allocate(graph, "cores", limits=replace(rs.LOIHI2, synaptic_memory_bytes=12))
    with pytest.raises(ValueError, match="unknown objective"):
        allocate(graph, "area")
    with pytest.raises(MappingError, match=r"--cores 0 is too few"):
        allocate(graph, cores=0)


def test_layer_table_of_a_paper_sized_model():
    compiled = compile_graph(small_graph(d_model=64, d_state=64, n_layers=4, n_classes=10))
    rows = layer_table(compiled)
    assert [r["layer"] for r in rows] == ["encoder", "layer 0", "layer 1", "layer 2", "layer 3", "decoder"]
    assert rows[1]["neurons"] == 64 * 64 // 2 + 2 * 64
    _check_allocation(compiled.graph, compiled.allocation)


def test_summary_fields_and_estimates():
    compiled = compile_graph(small_graph(d_model=8, d_state=8, n_layers=2), "fall-through")
    result = summary(compiled)
    for key in ("neurocores", "chips", "mode", "objective", "latency_steps", "tokens_per_step",
                "synaptic_memory_bytes", "messages_per_token", "compile_seconds", "activity"):
        assert key in result
    assert result["mode"] == "fall-through" and result["tokens_per_step"] == pytest.approx(1 / 8)
    assert result["objective"] == "latency"  # the default
    for key in ("estimated_latency_us_per_token_range", "estimated_energy_uj_per_token_range",
                "estimated_tokens_per_s_range", "estimated_step_ns_range"):
        low, high = result[key]
        assert 0 < low < high
        assert float(f"{low:.3g}") == low  # three significant figures
    assert "estimate" in result["estimates_note"]


def test_simulation_inputs_are_the_users_file_then_the_shipped_samples(tmp_path):
    from compiler import samples as shipped
    from compiler.synthetic import random_inputs, write_exported
    from s4d import samples

    net = random_network(d_input=2, d_model=4, d_state=4, n_layers=1)
    x = random_inputs(net, 3, 4)
    zoo_dir = tmp_path / "zoo-model"
    zoo_dir.mkdir()
    model = write_exported(net, zoo_dir / "export")
    np.savez(zoo_dir / shipped.SAMPLES_FILE, sequences=x.astype(np.uint8), labels=np.array([1, 0, 2]))
    inputs, labels, source = samples.select(model, {}, 2)
    assert np.array_equal(inputs, x[:2]) and labels.tolist() == [1, 0] and source == "shipped samples.npz"
    np.savez(tmp_path / "mine.npz", sequences=x[::-1].astype(np.uint8))
    inputs, labels, source = samples.select(model, {}, 3, tmp_path / "mine.npz")
    assert np.array_equal(inputs, x[::-1]) and labels is None and source.startswith("--inputs")
    np.savez(tmp_path / "bad.npz", inputs=x)
    with pytest.raises(ValueError, match="needs an array 'sequences'"):
        shipped.read_samples(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="names no task and ships no samples.npz"):
        samples.select(tmp_path / "nowhere" / "x", {"task": None}, 1)


def test_fall_through_steps_last_only_as_long_as_their_stage():
    graph = small_graph(d_model=16, d_state=16, n_layers=3)
    pipe, fall = (compile_graph(graph, mode) for mode in ("pipelined", "fall-through"))
    assert len(pipe.allocation.cores) == len(fall.allocation.cores)
    for b in (0, 1):
        # each fall-through step waits only for the cores of its own hop, a pipelined one for the busiest of all
        assert fall.estimate.latency_us[b] <= pipe.estimate.latency_us[b]
        # but a pipelined chip admits a token every step
        assert pipe.estimate.tokens_per_s[b] > fall.estimate.tokens_per_s[b]


def test_out_keeps_the_users_files_and_gets_the_usual_permissions(tmp_path):
    import os

    from compiler.pipeline import OUTPUT_FILES, write_outputs

    compiled = compile_graph(small_graph())
    result = summary(compiled)
    old = os.umask(0o022)
    try:
        fresh = write_outputs(tmp_path / "fresh", compiled, result)
        assert sorted(p.name for p in fresh.iterdir()) == sorted(OUTPUT_FILES)
        assert fresh.stat().st_mode & 0o777 == 0o755 and (fresh / "ir.json").stat().st_mode & 0o777 == 0o644
        write_outputs(fresh, compiled, {**result, "note": "again"})  # its own files are replaced without --force
        assert json.loads((fresh / "report.json").read_text())["note"] == "again"
        mine = tmp_path / "mine"
        mine.mkdir()
        (mine / "notes.txt").write_text("my notes\n")
        with pytest.raises(FileExistsError, match=r"notes\.txt.*--force"):
            write_outputs(mine, compiled, result)
        assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
        write_outputs(mine, compiled, result, force=True)
        assert (mine / "notes.txt").read_text() == "my notes\n"
        assert sorted(p.name for p in mine.iterdir()) == sorted(OUTPUT_FILES + ("notes.txt",))
        assert (mine / "report.json").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


@pytest.mark.parametrize("mode", ["pipelined", "fall-through"])
def test_an_idle_mapping_costs_the_leakage_of_its_cores_over_a_token(mode):
    from compiler.schedule import Schedule
    from compiler.traffic import Traffic, estimate

    cores, depth = 10, 4
    idle = Traffic(np.zeros((5, cores, depth + 1)), 0.0, 0.0, 0.0, 0.0)
    est = estimate(idle, Schedule(mode, depth, {}), cores)
    token_s = (est.step_ns[1] * 1e-9) * (depth if mode == "fall-through" else 1)  # one token's time, high end
    watts = rs.STATIC_MW_PER_CORE[1] * 1e-3 * cores
    assert est.step_ns[1] == rs.BARRIER_NS[1]  # no work: each step is the barrier alone
    assert est.energy_uj_per_token[1] == pytest.approx(watts * token_s * 1e6)  # J → µJ
