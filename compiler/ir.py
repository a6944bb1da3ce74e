"""The compiler's typed graph: what a Loihi 2 network is made of, independent of any framework.

Neuron nodes (Input, Graded, S4DStates, Readout, Output) hold state and emit messages; SynapseGroup nodes
connect them and hold integer weights. Every edge carries messages of a declared bit width, so passes can
check widths before anything is placed on a neurocore. Nodes are frozen: passes build new graphs.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Iterator, Union

import numpy as np


def _frozen_int_array(values) -> np.ndarray:
    """An int64 copy that cannot be written to, so a frozen node really is immutable."""
    array = np.array(values, dtype=np.int64)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Input:
    """Tokens entering the chip from the host, `size` unsigned integers of `width` bits per time step."""

    name: str
    size: int
    width: int

    @property
    def signed(self) -> bool:
        return False


@dataclass(frozen=True, eq=False)
class SynapseGroup:
    """Integer weights [out, in] applied to the incoming messages, then scaled by 2**exponent.

    `weights` are the signed mantissas m; as in Lava's bit-accurate Dense (docs/fixed_point.md section 3) the
    result is floor(Σ_j 2·m_ij·s_j · 2**exponent), an arithmetic shift; `delay` extra time steps hold it
    back (Loihi 2 allows up to 63); `sparse` stores only the nonzero synapses.
    """

    name: str
    weights: np.ndarray
    exponent: int
    weight_bits: int
    delay: int = 0
    sparse: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", _frozen_int_array(self.weights))
        if self.weights.ndim != 2:
            raise ValueError(f"synapse group {self.name!r}: weights must be 2-D [out, in], got {self.weights.shape}")

    @property
    def size(self) -> int:
        return int(self.weights.shape[0])

    @property
    def fan_in(self) -> int:
        return int(self.weights.shape[1])

    @property
    def nonzero(self) -> int:
        return int(np.count_nonzero(self.weights))


@dataclass(frozen=True, eq=False)
class Graded:
    """Graded-spike neurons, stateless: each step v = synaptic input (+ bias) is sent as a `width`-bit message.

    A channel neuron (relu=False) saturates v + bias to the signed width; a ReLU neuron sends v clipped to the
    unsigned range [0, 2**width − 1] (docs/fixed_point.md section 2).
    """

    name: str
    size: int
    width: int
    relu: bool
    bias: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.bias is not None:
            object.__setattr__(self, "bias", _frozen_int_array(self.bias))
            if self.bias.shape != (self.size,):
                raise ValueError(f"graded node {self.name!r}: bias shape {self.bias.shape} != ({self.size},)")

    @property
    def signed(self) -> bool:
        return not self.relu


S4D_VARIANTS = ("split", "folded")


@dataclass(frozen=True, eq=False)
class S4DStates:
    """H·P complex S4D modes, one programmable neuron each with a real and an imaginary state variable.

    Each step (docs/fixed_point.md section 4) neuron h·P + p takes its channel message u and updates
    x ← a·x + b̄·u with integer coefficients and floor shifts `shift_a`, `shift_b`, saturating the state to
    `state_bits`. Then, saturated to `message_bits`:

    - variant "split" sends floor(x / 2**shift_msg) twice per step, the real part on output port "re" and the
      imaginary part on port "im" (C is applied by synapse groups);
    - variant "folded" keeps c in the neuron (`c_re` = 2 Re c, `c_im` = −2 Im c, `coef_bits` wide) and sends
      one message per step on port "out", floor((c_re·x_re + c_im·x_im) / 2**shift_msg) = 2·Re(c·x): half
      the messages, two more multiplies per update.

    `kept` [channels, modes] marks the modes that have a neuron on the chip (None: all of them); a pass drops
    the silent ones (passes.drop_silent_modes). The neurons on the chip are the kept modes in h·P + p order.
    """

    name: str
    channels: int
    modes: int
    a_re: np.ndarray
    a_im: np.ndarray
    b_re: np.ndarray
    b_im: np.ndarray
    shift_a: int
    shift_b: int
    shift_msg: int
    coef_bits: int
    state_bits: int
    message_bits: int
    variant: str = "split"  # "split": messages re and im, C in synapses; "folded": one message Re(2·c·x)
    c_re: np.ndarray | None = None  # folded only
    c_im: np.ndarray | None = None
    kept: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.variant not in S4D_VARIANTS:
            raise ValueError(f"S4D node {self.name!r}: variant {self.variant!r} is not one of {S4D_VARIANTS}")
        folded = self.variant == "folded"
        if (self.c_re is None or self.c_im is None) == folded:
            raise ValueError(f"S4D node {self.name!r}: c_re and c_im are needed by the folded variant only")
        for attr in self.coefficients:
            value = _frozen_int_array(getattr(self, attr))
            if value.shape != (self.channels, self.modes):
                raise ValueError(f"S4D node {self.name!r}: {attr} shape {value.shape} != "
                                 f"({self.channels}, {self.modes})")
            object.__setattr__(self, attr, value)
        if self.kept is not None:
            kept = np.asarray(self.kept)
            if kept.shape != (self.channels, self.modes) or not np.isin(kept, (0, 1)).all():
                raise ValueError(f"S4D node {self.name!r}: kept must be a boolean mask of shape "
                                 f"({self.channels}, {self.modes}), got {kept.dtype} {kept.shape}")
            kept = kept.astype(bool)
            kept.setflags(write=False)
            object.__setattr__(self, "kept", kept)

    def neuron_values(self, attr: str) -> np.ndarray:
        """A coefficient of the neurons on the chip, flat in their order."""
        value = getattr(self, attr)
        return value.reshape(-1) if self.kept is None else value[self.kept]

    @property
    def coefficients(self) -> tuple[str, ...]:
        """Names of the per-neuron integer coefficients this variant keeps."""
        return ("a_re", "a_im", "b_re", "b_im") + (("c_re", "c_im") if self.variant == "folded" else ())

    @property
    def ports(self) -> tuple[str, ...]:
        """Output ports; each neuron sends one message per port per step."""
        return ("out",) if self.variant == "folded" else ("re", "im")

    @property
    def size(self) -> int:
        """Neurons (kept complex modes) on the chip; each sends one message per output port."""
        return self.channels * self.modes if self.kept is None else int(self.kept.sum())

    @property
    def width(self) -> int:
        return self.message_bits

    @property
    def signed(self) -> bool:
        return True


@dataclass(frozen=True, eq=False)
class Readout:
    """Readout neurons: z ← saturate(z + input + bias) over the tokens (running-sum pooling) or, without
    `accumulate`, z = saturate(input + bias); the class is argmax z at every step."""

    name: str
    size: int
    width: int
    bias: np.ndarray
    accumulate: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "bias", _frozen_int_array(self.bias))

    @property
    def signed(self) -> bool:
        return True


@dataclass(frozen=True, eq=False)
class Output:
    """Messages leaving the chip to the host each time step."""

    name: str
    size: int


Node = Union[Input, SynapseGroup, Graded, S4DStates, Readout, Output]


def layer_of(name: str) -> str:
    """Which network layer a neuron node belongs to (names from the frontend: u.L, x.L, y.L, logits)."""
    kind, _, index = name.partition(".")
    if name == "u.0":
        return "encoder"
    if kind in ("x", "y"):
        return f"layer {index}"
    if kind == "u":
        return f"layer {int(index) - 1}"
    return "decoder"


def max_message(node: Node) -> int:
    """Largest magnitude a neuron node can send: 2**w − 1 unsigned, 2**(w−1) − 1 signed."""
    return (1 << node.width) - 1 if not node.signed else (1 << (node.width - 1)) - 1


@dataclass(frozen=True)
class Edge:
    """Values of `width` bits flowing from output `src_port` of `src` into input `port` of `dst`."""

    src: str
    dst: str
    width: int
    port: str = "in"
    src_port: str = "out"


@dataclass(frozen=True)
class Graph:
    """Nodes in topological order plus the edges between them."""

    nodes: tuple
    edges: tuple[Edge, ...]
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        names = [n.name for n in self.nodes]
        if len(set(names)) != len(names):
            raise ValueError("IR node names must be unique")
        known = set(names)
        for edge in self.edges:
            for end in (edge.src, edge.dst):
                if end not in known:
                    raise ValueError(f"edge {edge.src} -> {edge.dst} names unknown node {end!r}")
        position = {name: i for i, name in enumerate(names)}
        for edge in self.edges:
            if position[edge.src] >= position[edge.dst]:
                raise ValueError(f"nodes are not in topological order: {edge.src} -> {edge.dst}")

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no IR node named {name!r}")

    def inputs_of(self, name: str) -> list[Edge]:
        return [e for e in self.edges if e.dst == name]

    def outputs_of(self, name: str) -> list[Edge]:
        return [e for e in self.edges if e.src == name]

    def synapses_into(self, name: str) -> list[SynapseGroup]:
        return [self.node(e.src) for e in self.inputs_of(name) if isinstance(self.node(e.src), SynapseGroup)]

    def source_of(self, group: str) -> tuple[Node, str]:
        """The neuron node feeding a synapse group (each group has exactly one) and its output port."""
        (edge,) = self.inputs_of(group)
        return self.node(edge.src), edge.src_port

    def target_of(self, group: str) -> tuple[Node, str]:
        (edge,) = self.outputs_of(group)
        return self.node(edge.dst), edge.port

    def of_type(self, kind) -> Iterator:
        return (n for n in self.nodes if isinstance(n, kind))

    def hops(self) -> dict[str, int]:
        """Time steps from the input to each node: every synapse group adds one step plus its delay."""
        steps: dict[str, int] = {}
        for n in self.nodes:
            incoming = [steps[e.src] for e in self.inputs_of(n.name)]
            base = max(incoming, default=0)
            if isinstance(n, SynapseGroup):
                base += 1 + n.delay
            elif len(set(incoming)) > 1:
                raise ValueError(f"inputs of {n.name!r} arrive at different time steps {sorted(set(incoming))}; "
                                 "add a synaptic delay on the shorter path")
            steps[n.name] = base
        return steps

    def depth(self) -> int:
        """Time steps a token takes from the input to the output."""
        return max(self.hops().values())

    def to_dict(self, tensors: bool = False) -> dict:
        """A JSON-ready description; integer tensors only when `tensors` (they can be large)."""
        return {
            "meta": self.meta,
            "nodes": [_node_dict(n, tensors) for n in self.nodes],
            "edges": [vars(e).copy() for e in self.edges],
        }

    def to_json(self, tensors: bool = False) -> str:
        return json.dumps(self.to_dict(tensors), indent=1)

    def replace_nodes(self, nodes, edges=None) -> "Graph":
        return Graph(tuple(nodes), tuple(self.edges if edges is None else edges), self.meta)


def _node_dict(node: Node, tensors: bool) -> dict:
    out: dict = {"type": type(node).__name__}
    for f in fields(node):
        value = getattr(node, f.name)
        if isinstance(value, np.ndarray):
            summary = {"shape": list(value.shape), "min": int(value.min(initial=0)), "max": int(value.max(initial=0))}
            if isinstance(node, SynapseGroup) and f.name == "weights":
                summary["nonzero"] = node.nonzero
            if tensors:
                summary["values"] = value.tolist()
            value = summary
        out[f.name] = value
    return out


def node_from_dict(data: dict) -> Node:
    """Inverse of the tensor-carrying JSON form (for IR files written with tensors)."""
    kinds = {cls.__name__: cls for cls in (Input, SynapseGroup, Graded, S4DStates, Readout, Output)}
    cls = kinds[data["type"]]
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if isinstance(value, dict) and "shape" in value:
            if "values" not in value:
                raise ValueError(f"IR node {data.get('name')!r}: field {f.name} was saved without tensors")
            value = np.array(value["values"], dtype=np.int64).reshape(value["shape"])
        kwargs[f.name] = value
    return cls(**kwargs)


def graph_from_dict(data: dict) -> Graph:
    return Graph(tuple(node_from_dict(n) for n in data["nodes"]), tuple(Edge(**e) for e in data["edges"]),
                 data.get("meta", {}))

