"""Unicast 2-D mesh: the buffer injects at the corner router (0, 0); every destination PE gets its
own copy of a word (no multicast) and every PE's partial sum travels to the buffer on its own (no
in-network reduction). X-Y routing.

Delivery cycles = words received (or sent) by PEs / ``words_per_cycle`` (the injection link).
Latency: ``hop_cycles`` per router on the way to the farthest active PE. Energy: each word costs
its route length, taken as the mean Manhattan distance from the corner over the whole array
(``(rows - 1) / 2 + (cols - 1) / 2``) plus the injection hop.
"""

from __future__ import annotations

from noc.flow import Flow, Layout
from noc.model import INF, NocModel, Param, Settings


def delivery_cycles(flow: Flow, s: Settings) -> float:
    return flow.delivered / s["words_per_cycle"]


def bandwidth_bound(s: Settings) -> tuple:
    """Every delivered copy crosses the injection link: 1 / words_per_cycle per delivered word."""
    return ((1.0 / s["words_per_cycle"], 0.0),) * 4


def latency(layout: Layout, s: Settings) -> float:
    return s["hop_cycles"] * (layout.rows_used + layout.cols_used - 1)


def mean_route(rows: int, cols: int) -> float:
    return (rows - 1) / 2 + (cols - 1) / 2 + 1


def hop_coefficients(rows: int, cols: int, s: Settings):
    return ((mean_route(rows, cols), 0.0),) * 3


def unlimited(s: Settings) -> Settings:
    return {**s, "words_per_cycle": INF, "hop_cycles": 0}


MODEL = NocModel(
    name="mesh",
    title="unicast 2-D mesh, injected at one corner",
    params={
        "words_per_cycle": Param(float, 1.0, "words the injection link carries per cycle"),
        "hop_cycles": Param(int, 1, "router latency per hop, cycles", minimum=0),
    },
    delivery_cycles=delivery_cycles,
    latency=latency,
    hop_coefficients=hop_coefficients,
    bandwidth_bound=bandwidth_bound,
    unlimited=unlimited,
)
