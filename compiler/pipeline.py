"""The whole compiler in one call: IR → passes → allocation → schedule → estimates, plus the report.

`compile_graph` is what `s4d compile` runs without simulation; `verify` runs sequences through the Lava
network and through the NumPy reference of the spec and compares every readout value of every token.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compiler import fixed_point as fp
from compiler import resources as rs
from compiler.allocate import Allocation, allocate
from compiler.ir import Graded, Graph, Readout, S4DStates, SynapseGroup
from compiler.passes import run_all
from compiler.schedule import Schedule, schedule

ESTIMATE_NOTE = ("estimated_* values are lower-bound estimates from the max-affine runtime model "
                 "(Timcheck et al. 2026) with assumed constants (compiler/resources.py), not measurements")


@dataclass(frozen=True)
class Compiled:
    graph: Graph
    passes: dict
    allocation: Allocation
    schedule: Schedule
    estimate: rs.Estimate
    seconds: float


def compile_graph(graph: Graph, mode: str = "pipelined", objective: str = "cores",
                  max_chips: int = rs.MAX_CHIPS) -> Compiled:
    start = time.perf_counter()
    graph, info = run_all(graph)
    sched = schedule(graph, mode)
    alloc = allocate(graph, objective, max_chips)
    stages = alloc.stage_loads(sched.hops, sched.depth) if sched.mode == "fall-through" else None
    est = rs.estimate([c.load for c in alloc.cores], alloc.chips, alloc.inter_chip_bits, sched.depth, stages)
    return Compiled(graph, info, alloc, sched, est, time.perf_counter() - start)


def messages_per_token(graph: Graph) -> int:
    """Messages the neurons send for one token if every neuron sends in its step: one per neuron and outgoing
    synapse group (a split S4D neuron feeds two groups, re and im; a folded one feeds one)."""
    return sum(graph.node(e.src).size for e in graph.edges if isinstance(graph.node(e.dst), SynapseGroup))


def summary(c: Compiled) -> dict:
    """The figures of a compilation, as `s4d compile --json` prints them."""
    return {
        "neuron": c.graph.meta.get("neuron", "split"),
        "neurocores": len(c.allocation.cores),
        "chips": c.allocation.chips,
        "mode": c.schedule.mode,
        "objective": c.allocation.objective,
        "latency_steps": c.schedule.latency_steps,
        "tokens_per_step": c.schedule.tokens_per_step,
        "synaptic_memory_bytes": c.allocation.synaptic_memory_bytes,
        "messages_per_token": messages_per_token(c.graph),
        "estimated_latency_us": round(c.estimate.latency_us, 4),
        "estimated_step_ns": round(c.estimate.step_ns, 1),
        "estimated_energy_uj_per_token": round(c.estimate.energy_uj_per_token, 6),
        "estimates_note": ESTIMATE_NOTE,
        "compile_seconds": round(c.seconds, 4),
        "passes": c.passes,
    }


def layer_of(name: str, n_layers: int) -> str:
    """Which network layer a neuron node belongs to, for the per-layer table."""
    kind, _, index = name.partition(".")
    if name == "u.0":
        return "encoder"
    if kind in ("x", "y"):
        return f"layer {index}"
    if kind == "u":
        return f"layer {int(index) - 1}"
    return "decoder"


def layer_table(c: Compiled) -> list[dict]:
    """Per layer: neurons, nonzero synapses, neurocores touched, memory bytes (neuron state + synapses)."""
    n_layers = int(c.graph.meta.get("n_layers", 0))
    rows: dict[str, dict] = {}
    cores_of: dict[str, set] = {}
    for core in c.allocation.cores:
        for s in core.slices:
            cores_of.setdefault(layer_of(s.node, n_layers), set()).add(core.index)
    for node in c.graph.nodes:
        if not isinstance(node, (Graded, S4DStates, Readout)):
            continue
        layer = layer_of(node.name, n_layers)
        row = rows.setdefault(layer, {"layer": layer, "neurons": 0, "synapses": 0, "memory_bytes": 0})
        groups = c.graph.synapses_into(node.name)
        row["neurons"] += node.size
        row["synapses"] += sum(g.nonzero for g in groups)
        row["memory_bytes"] += rs.neuron_state_bytes(node) * node.size + sum(
            rs.synaptic_bytes(g) for g in groups)
    for layer, row in rows.items():
        row["cores"] = len(cores_of.get(layer, ()))
    return list(rows.values())


def format_report(c: Compiled, result: dict) -> str:
    lines = [f"{'layer':<10} {'neurons':>8} {'synapses':>9} {'cores':>6} {'memory KiB':>11}"]
    for row in layer_table(c):
        lines.append(f"{row['layer']:<10} {row['neurons']:>8,} {row['synapses']:>9,} {row['cores']:>6} "
                     f"{row['memory_bytes'] / 1024:>11.1f}")
    lines.append("(a layer's cores may be shared with other layers, so the column can sum to more than the total)")
    lines.append("")
    lines.append(f"{result['neuron']} S4D neurons: neurocores {result['neurocores']} on {result['chips']} chip(s), "
                 f"objective {result['objective']}; "
                 f"synaptic memory {result['synaptic_memory_bytes']:,} bytes")
    lines.append(f"mode {result['mode']}: latency {result['latency_steps']} steps, "
                 f"{result['tokens_per_step']:.4g} tokens/step")
    lines.append(f"estimated: {result['estimated_step_ns']} ns/step, latency {result['estimated_latency_us']} µs, "
                 f"{result['estimated_energy_uj_per_token']} µJ/token ({ESTIMATE_NOTE})")
    if "bit_exact" in result:
        lines.append(f"simulated {result['simulated_sequences']} sequence(s) in Lava: bit_exact "
                     f"{result['bit_exact']}, accuracy {result['lava_accuracy']}, "
                     f"{result['lava_steps_per_second']:.1f} steps/s")
    lines.append(f"compiled in {result['compile_seconds']} s")
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


def write_outputs(out_dir, c: Compiled, result: dict) -> Path:
    """ir.json (with tensors), allocation.json and report.json, written to a temporary sibling and renamed."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        (tmp / "ir.json").write_text(c.graph.to_json(tensors=True))
        cores = [{"core": core.index, "chip": core.chip,
                  "slices": [{"node": s.node, "start": s.start, "stop": s.stop} for s in core.slices],
                  "load": vars(core.load).copy()} for core in c.allocation.cores]
        (tmp / "allocation.json").write_text(json.dumps({"objective": c.allocation.objective, "cores": cores},
                                                        indent=1))
        (tmp / "report.json").write_text(json.dumps({**result, "layers": layer_table(c)}, indent=1))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
