"""Schedules: when tokens enter the network and when each neuron group works on them.

Every synapse group adds one time step (plus its delay), so a token reaches node n at hop(n) steps after it
entered and leaves after `depth` steps.

- pipelined: a new token every step; token k is at node n in step k + hop(n). Throughput 1 token/step.
- fall-through: token k enters at step k·depth, after token k−1 has left; throughput 1/depth tokens/step.

Stateful neurons update only in the steps that carry a token for them (`token_at`), so neither the pipeline's
filling nor the idle steps of fall-through touch their state; the Lava process models apply the same rule.
"""
from __future__ import annotations

from dataclasses import dataclass

from compiler.ir import Graph

MODES = ("pipelined", "fall-through")


def token_at(step: int, hop: int, period: int) -> int | None:
    """Index of the token a node `hop` synaptic steps downstream of the input works on in 0-based step `step`,
    or None in an idle step: token k enters in step k·period and reaches the node in step k·period + hop."""
    offset = step - hop
    if offset < 0 or offset % period:
        return None
    return offset // period


@dataclass(frozen=True)
class Schedule:
    mode: str
    depth: int  # time steps from input to output
    hops: dict  # node name → step offset after the token entered

    @property
    def period(self) -> int:
        """Time steps between consecutive tokens."""
        return 1 if self.mode == "pipelined" else self.depth

    @property
    def latency_steps(self) -> int:
        return self.depth

    @property
    def tokens_per_step(self) -> float:
        return 1.0 / self.period

    def total_steps(self, tokens: int) -> int:
        """Steps until the last of `tokens` tokens has left the network (its entry step counts too)."""
        return (tokens - 1) * self.period + self.depth + 1

    def entry_step(self, token: int) -> int:
        """0-based step at which token `token` enters."""
        return token * self.period

    def output_step(self, token: int) -> int:
        return self.entry_step(token) + self.depth


def schedule(graph: Graph, mode: str) -> Schedule:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {MODES}")
    hops = graph.hops()
    return Schedule(mode, max(hops.values()), hops)
