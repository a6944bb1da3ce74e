"""The whole compiler in one call: IR → passes → allocation → schedule → traffic → estimates, plus the report.

`compile_graph` is what `s4d compile` runs without simulation; `verify` runs sequences through the Lava
network and through the NumPy reference of the spec and compares every readout value of every token.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compiler import fixed_point as fp
from compiler import resources as rs
from compiler.activity import node_rates, rates_json
from compiler.allocate import PLACED, Allocation, allocate
from compiler.ir import Graph, layer_of
from compiler.outputs import write_files
from compiler.passes import run_all
from compiler.schedule import Schedule, schedule
from compiler.traffic import Estimate, Traffic, estimate, traffic

ESTIMATE_NOTE = ("estimated_* values are estimates, not measurements: [low, high] from the max-affine runtime "
                 "model (Timcheck et al. 2026) with per-operation times and energies bounded by Hala Point (low) "
                 "and Loihi 1 (high); each constant's provenance is in compiler/resources.py")


@dataclass(frozen=True)
class Compiled:
    graph: Graph
    passes: dict
    allocation: Allocation
    schedule: Schedule
    traffic: Traffic
    estimate: Estimate
    rates: dict | None
    seconds: float


def compile_graph(graph: Graph, mode: str = "pipelined", objective: str = "latency",
                  max_chips: int = rs.MAX_CHIPS, cores: int | None = None, rates: dict | None = None,
                  limits: rs.Limits | None = None) -> Compiled:
    """Passes, allocation (on `limits`, default Loihi 2), schedule, traffic at `rates` (measured activity, per
    neuron from `activity.measure` or per node; None = every value non-zero)."""
    start = time.perf_counter()
    graph, info = run_all(graph)
    rates = node_rates(rates, graph)
    sched = schedule(graph, mode)
    alloc = allocate(graph, objective, max_chips, cores, limits)
    load = traffic(graph, alloc, rates)
    est = estimate(load, sched, len(alloc.cores))
    return Compiled(graph, info, alloc, sched, load, est, rates, time.perf_counter() - start)


def sig3(x: float) -> float:
    """Three significant figures: the precision the estimates deserve."""
    return float(f"{x:.3g}")


def _range(pair) -> list[float]:
    return [sig3(pair[0]), sig3(pair[1])]


def estimates(c: Compiled) -> dict:
    e = c.estimate
    return {"estimated_step_ns_range": _range(e.step_ns),
            "estimated_latency_us_per_token_range": _range(e.latency_us),
            "estimated_tokens_per_s_range": _range(e.tokens_per_s),
            "estimated_energy_uj_per_token_range": _range(e.energy_uj_per_token)}


def summary(c: Compiled) -> dict:
    """The figures of a compilation, as `s4d compile --json` prints them."""
    t = c.traffic
    cap = c.allocation.work_cap
    return {
        "neuron": c.graph.meta.get("neuron", "split"),
        "neurocores": len(c.allocation.cores),
        "chips": c.allocation.chips,
        "mode": c.schedule.mode,
        "objective": c.allocation.objective,
        "core_work_cap_neuron_ops": None if cap is None else round(cap),
        "latency_steps": c.schedule.latency_steps,
        "tokens_per_step": c.schedule.tokens_per_step,
        "synaptic_memory_bytes": c.allocation.synaptic_memory_bytes,
        "messages_per_token": {"total": sig3(t.messages), "local": sig3(t.local_messages),
                               "mesh": sig3(t.mesh_messages), "chip_links": sig3(t.chip_messages)},
        "synaptic_ops_per_token": sig3(t.total("synaptic_ops")),
        "neuron_ops_per_token": sig3(t.total("neuron_ops")),
        **estimates(c),
        "activity": activity_json(c.rates),
        "estimates_note": ESTIMATE_NOTE,
        "compile_seconds": round(c.seconds, 3),
        "passes": c.passes,
    }


def activity_json(rates: dict | None) -> dict:
    if not rates:
        return {"source": "assumed: every value non-zero (no calibration sequences)", "rates": {}}
    return {"source": "measured: non-zero fraction of graded spikes in the fixed-point reference",
            "rates": rates_json(rates)}


def sweep(graph: Graph, mode: str = "pipelined", rates: dict | None = None, max_chips: int = rs.MAX_CHIPS,
          points: int = 8) -> list[dict]:
    """The model mapped onto a geometric range of core counts, from the fewest memory allows to every core of
    the chips the latency objective uses, plus that objective's count: cores → step, latency, throughput,
    energy per token."""
    graph, _ = run_all(graph)
    fewest = len(allocate(graph, "cores", max_chips).cores)
    latency = allocate(graph, "latency", max_chips)
    default = len(latency.cores)
    neurons = sum(n.size for n in graph.nodes if isinstance(n, PLACED))
    top = max(fewest, min(latency.chips * latency.limits.cores_per_chip, neurons))
    counts = sorted({int(round(x)) for x in np.geomspace(fewest, top, points)} | {default})
    rows = []
    for n in counts:
        c = compile_graph(graph, mode, max_chips=max_chips, cores=n, rates=rates)
        rows.append({"cores_requested": n, "neurocores": len(c.allocation.cores), "chips": c.allocation.chips,
                     "latency_objective": n == default, **estimates(c)})
    return rows


def layer_table(c: Compiled) -> list[dict]:
    """Per layer: neurons, nonzero synapses, neurocores touched, memory bytes (neuron state + synapses)."""
    rows: dict[str, dict] = {}
    cores_of: dict[str, set] = {}
    for core in c.allocation.cores:
        for s in core.slices:
            cores_of.setdefault(layer_of(s.node), set()).add(core.index)
    for node in c.graph.nodes:
        if not isinstance(node, PLACED):
            continue
        layer = layer_of(node.name)
        row = rows.setdefault(layer, {"layer": layer, "neurons": 0, "synapses": 0, "memory_bytes": 0})
        groups = c.graph.synapses_into(node.name)
        row["neurons"] += node.size
        row["synapses"] += sum(g.nonzero for g in groups)
        row["memory_bytes"] += rs.neuron_state_bytes(node) * node.size + sum(
            rs.synaptic_bytes(g) for g in groups)
    for layer, row in rows.items():
        row["cores"] = len(cores_of.get(layer, ()))
    return list(rows.values())


def fmt3(x: float) -> str:
    """Three significant figures in plain notation (12,300 / 45.6 / 0.0789)."""
    if x == 0:
        return "0"
    decimals = 2 - math.floor(math.log10(abs(x)))
    return f"{round(x, decimals):,.{max(decimals, 0)}f}"


def _pair(values, unit: str) -> str:
    return f"{fmt3(values[0])}–{fmt3(values[1])} {unit}"


def format_report(c: Compiled, result: dict) -> str:
    lines = [f"{'layer':<10} {'neurons':>8} {'synapses':>9} {'cores':>6} {'memory KiB':>11}"]
    for row in layer_table(c):
        lines.append(f"{row['layer']:<10} {row['neurons']:>8,} {row['synapses']:>9,} {row['cores']:>6} "
                     f"{row['memory_bytes'] / 1024:>11.1f}")
    lines.append("(a layer's cores may be shared with other layers, so the column can sum to more than the total)")
    silent = result["passes"]["silent_neurons_dropped"]
    if silent:
        lines.append(f"{sum(silent.values()):,} silent S4D neurons left off the chip (b̄ = 0: never driven, or "
                     f"C = 0: never heard): " + ", ".join(f"{k} {v:,}" for k, v in silent.items()))
    lines.append("")
    cap = result["core_work_cap_neuron_ops"]
    per_chip = c.allocation.limits.cores_per_chip
    lines.append(f"neurocores {result['neurocores']} on {result['chips']} chip(s) ({per_chip} per chip), "
                 f"objective {result['objective']}" + (f", at most {cap:,} neuron ops per core per step" if cap else "")
                 + f"; synaptic memory {result['synaptic_memory_bytes']:,} bytes")
    m = result["messages_per_token"]
    lines.append(f"messages per token {fmt3(m['total'])}: {fmt3(m['local'])} stay in their core, {fmt3(m['mesh'])} "
                 f"cross the mesh, {fmt3(m['chip_links'])} cross chips; synaptic ops "
                 f"{fmt3(result['synaptic_ops_per_token'])}")
    act = result["activity"]
    rates = ", ".join(f"{k} {fmt3(v)}" for k, v in act["rates"].items())
    lines.append(f"activity {act['source']}" + (f"; non-zero fraction {rates}" if rates else ""))
    lines.append(f"mode {result['mode']}: latency {result['latency_steps']} steps, "
                 f"{result['tokens_per_step']:.3g} tokens/step")
    lines.append(f"estimate (range from Hala Point to Loihi 1 per-operation figures, not a measurement): "
                 f"step {_pair(result['estimated_step_ns_range'], 'ns')}, "
                 f"latency {_pair(result['estimated_latency_us_per_token_range'], 'µs')}/token, "
                 f"{_pair(result['estimated_tokens_per_s_range'], 'tokens/s')}, "
                 f"{_pair(result['estimated_energy_uj_per_token_range'], 'µJ')}/token")
    if "paper_comparison" in result:
        for row in result["paper_comparison"]:
            lines.append(f"paper (arXiv 2409.15022) {row['model']}: {row['paper_neurocores']} neurocores on 1 chip; "
                         f"ours {row['neurocores']} on {row['chips']} chip(s) ({row['how']}, {row['error_percent']:+.1f} %; "
                         f"the budget alone asks for {row['neurocores_at_budget']})")
    if "sweep" in result:
        lines.append("sweep (estimate): cores → latency µs/token, tokens/s, energy µJ/token")
        for p in result["sweep"]:
            lines.append(f"  {p['neurocores']:>5} → {_pair(p['estimated_latency_us_per_token_range'], 'µs')}, "
                         f"{_pair(p['estimated_tokens_per_s_range'], 'tokens/s')}, "
                         f"{_pair(p['estimated_energy_uj_per_token_range'], 'µJ')}")
    if "bit_exact" in result:
        lines.append(f"simulated {result['simulated_sequences']} sequence(s) in Lava: bit_exact "
                     f"{result['bit_exact']}, accuracy {result['lava_accuracy']}, "
                     f"{result['lava_steps_per_second']:.3g} steps/s")
    lines.append(f"compiled in {result['compile_seconds']:.3g} s")
    return "\n".join(lines)


def verify(c: Compiled, net: fp.FixedNetwork, inputs: np.ndarray, labels=None, progress=None) -> dict:
    """Run `inputs` [N, L, C] through Lava and the NumPy reference; compare every token's readout."""
    from compiler.emit import simulate

    run = simulate(c.graph, c.schedule, inputs, progress)
    reference = fp.run(net, inputs)
    equal = run.logits.shape == reference.shape and bool(np.array_equal(run.logits, reference))
    result = {"simulated_sequences": int(len(inputs)), "simulated_tokens": int(inputs.shape[0] * inputs.shape[1]),
              "bit_exact": equal, "lava_steps": run.steps,
              "lava_steps_per_second": round(run.steps_per_second, 2), "lava_accuracy": None}
    if not equal:
        where = np.argwhere(run.logits != reference)[0]
        result["first_mismatch"] = {"sequence": int(where[0]), "token": int(where[1]),
                                    "lava": run.logits[tuple(where[:2])].tolist(),
                                    "reference": reference[tuple(where[:2])].tolist()}
    if labels is not None:
        for key, logits in (("lava_accuracy", run.logits), ("fixed_accuracy", reference)):
            result[key] = round(float(np.mean(logits[:, -1].argmax(axis=-1) == np.asarray(labels))), 6)
    return result


OUTPUT_FILES = ("ir.json", "allocation.json", "report.json")


def write_outputs(out_dir, c: Compiled, result: dict, force: bool = False) -> Path:
    """ir.json (with tensors), allocation.json and report.json in `out_dir` (compiler/outputs.py: written whole
    or not at all; a directory holding other files is refused unless `force`, which replaces only these)."""
    cores = [{"core": core.index, "chip": core.chip,
              "slices": [{"node": s.node, "start": s.start, "stop": s.stop} for s in core.slices],
              "load": vars(core.load).copy()} for core in c.allocation.cores]
    files = {"ir.json": c.graph.to_json(tensors=True),
             "allocation.json": json.dumps({"objective": c.allocation.objective, "cores": cores}, indent=1),
             "report.json": json.dumps({**result, "layers": layer_table(c)}, indent=1)}
    return write_files(out_dir, {name: files[name].encode() for name in OUTPUT_FILES}, force)
