"""Frontend: an exported model's integer network → the IR graph (docs/fixed_point.md section 2, as nodes).

The synapse groups, their mantissas and weight exponents come from `FixedNetwork.groups`, so the
graph carries exactly the arithmetic of the spec; the network's S4D neuron variant (split or folded) decides
whether the S4D nodes feed two C groups from ports re/im or one ones group from port out. The D group skips the S4D neurons, one hop shorter than
the C path, so it gets a one-step synaptic delay and both reach the ReLU neurons in the same step.
"""
from __future__ import annotations

from compiler import fixed_point as fp
from compiler.exported import ExportedModel
from compiler.ir import Edge, Graded, Graph, Input, Output, Readout, S4DStates, SynapseGroup


def from_exported(model: ExportedModel) -> Graph:
    graph = from_network(model.network)
    meta = dict(graph.meta, architecture=dict(model.architecture), task=model.task, source=str(model.path))
    return Graph(graph.nodes, graph.edges, meta)


def from_network(net: fp.FixedNetwork) -> Graph:
    """The IR of a validated fixed-point network, nodes in data-flow order."""
    w, t = net.widths, net.tensors
    groups = net.groups
    nodes: list = []
    edges: list[Edge] = []

    def connect(group_name: str, src: str, dst: str, src_width: int, dst_port: str = "in",
                src_port: str = "out", delay: int = 0) -> None:
        g = groups[group_name]
        nodes.append(SynapseGroup(group_name, g.mantissa, g.weight_exp, w.weight, delay=delay))
        edges.append(Edge(src, group_name, src_width, src_port=src_port))
        edges.append(Edge(group_name, dst, w.accumulator, port=dst_port))

    d_input = int(t["encoder.weight"].shape[1])
    nodes.append(Input("input", d_input, w.input))
    connect("encoder", "input", "u.0", w.input)
    nodes.append(Graded("u.0", net.d_model, w.message, relu=False, bias=t["encoder.bias"]))
    for layer in range(net.n_layers):
        p = f"layers.{layer}"
        shift_a, shift_b, shift_msg = net.s4d_shifts(layer)
        connect(f"{p}.expansion", f"u.{layer}", f"x.{layer}", w.message)
        folded = dict(variant="folded", c_re=t[f"{p}.c_re"], c_im=t[f"{p}.c_im"]) if net.neuron == "folded" else {}
        nodes.append(S4DStates(f"x.{layer}", net.d_model, net.n_modes, t[f"{p}.a_re"], t[f"{p}.a_im"],
                               t[f"{p}.b_re"], t[f"{p}.b_im"], shift_a, shift_b, shift_msg, w.coef, w.state,
                               w.message, **folded))
        if folded:
            connect(f"{p}.reduction", f"x.{layer}", f"y.{layer}", w.message)
        else:
            connect(f"{p}.c_re", f"x.{layer}", f"y.{layer}", w.message, src_port="re")
            connect(f"{p}.c_im", f"x.{layer}", f"y.{layer}", w.message, src_port="im")
        connect(f"{p}.d", f"u.{layer}", f"y.{layer}", w.message, delay=1)
        nodes.append(Graded(f"y.{layer}", net.d_model, w.message, relu=True))
        connect(f"mixers.{layer}", f"y.{layer}", f"u.{layer + 1}", w.message)
        nodes.append(Graded(f"u.{layer + 1}", net.d_model, w.message, relu=False, bias=t[f"mixers.{layer}.bias"]))
    n_classes = int(t["decoder.weight"].shape[0])
    connect("decoder", f"u.{net.n_layers}", "logits", w.message)
    nodes.append(Readout("logits", n_classes, w.state, t["decoder.bias"], accumulate=net.pooling == "mean"))
    nodes.append(Output("output", n_classes))
    edges.append(Edge("logits", "output", w.state))
    order = _topological(nodes, edges)
    meta = {"widths": w.to_dict(), "pooling": net.pooling, "d_model": net.d_model, "n_modes": net.n_modes,
            "n_layers": net.n_layers, "neuron": net.neuron}
    return Graph(tuple(order), tuple(edges), meta)


def _topological(nodes: list, edges: list[Edge]) -> list:
    """Nodes sorted so every edge points forward (Kahn's algorithm, stable in insertion order)."""
    indegree = {n.name: 0 for n in nodes}
    for e in edges:
        indegree[e.dst] += 1
    by_name = {n.name: n for n in nodes}
    ready = [n.name for n in nodes if indegree[n.name] == 0]
    order = []
    while ready:
        name = ready.pop(0)
        order.append(by_name[name])
        for e in edges:
            if e.src == name:
                indegree[e.dst] -= 1
                if indegree[e.dst] == 0:
                    ready.append(e.dst)
    if len(order) != len(nodes):
        raise ValueError("the network has a cycle; the compiler maps feed-forward graphs only")
    return order
