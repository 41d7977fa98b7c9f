"""Broadcast bus: one bus per data type; every word goes on the bus once and every PE that needs it
takes it in the same cycle (multicast is free). Partial sums of PEs that share an output are
reduced by an adder tree before they reach the bus (DianNao-style), so only distinct outputs use it.

Delivery cycles = distinct words / ``words_per_cycle``. Energy: one hop per word a PE receives or
sends (the ISCA'16 normalized 'array' access), the behaviour the cost model always had.
"""

from __future__ import annotations

from noc.flow import Flow, Layout
from noc.model import INF, NocModel, Param, Settings


def delivery_cycles(flow: Flow, s: Settings) -> float:
    return flow.unique / s["words_per_cycle"]


def bandwidth_bound(s: Settings) -> tuple:
    """Each distinct word takes one bus slot: 1 / words_per_cycle per word, every stream."""
    return ((0.0, 1.0 / s["words_per_cycle"]),) * 4


def latency(layout: Layout, s: Settings) -> float:
    return float(s["latency_cycles"])


def unlimited(s: Settings) -> Settings:
    return {**s, "words_per_cycle": INF, "latency_cycles": 0}


MODEL = NocModel(
    name="bus",
    title="broadcast bus per data type (free multicast)",
    params={
        "words_per_cycle": Param(float, 1.0, "words the bus carries per cycle"),
        "latency_cycles": Param(int, 1, "cycles from the buffer to every PE", minimum=0),
    },
    delivery_cycles=delivery_cycles,
    latency=latency,
    bandwidth_bound=bandwidth_bound,
    unlimited=unlimited,
)
