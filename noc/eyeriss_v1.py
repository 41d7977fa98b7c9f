"""Eyeriss v1 NoC (Chen et al., JSSC 2017).

- Global input network (GIN), one per data type (ifmap, filter, psum in): a Y-bus that spans the
  12 PE rows and one X-bus per row. Each word carries a (row ID, column ID) tag; the multicast
  controllers on the X-buses and in the PEs compare it with their configured IDs, so one word
  reaches every PE that needs it in a single cycle (RS's diagonal ifmap reuse is expressed with
  the IDs). Delivery cycles = distinct words / the network's width in words per cycle.
- Global output network (GON): the same structure in reverse; carries the finished (reduced)
  partial sums from the top PE of each column back to the buffer.
- Local network: a link between each pair of vertically adjacent PEs that passes psums up a
  column for the spatial accumulation (``local_links: pe_pair``; ``column``: one shared link per
  column, the model before JSSC'17's one link per PE pair was read). A PE adds the psum arriving from below with its own adder, so each such
  word costs the receiving PE ``accumulate_cycles`` cycles it cannot spend on MACs.

The width of each network falls back to ``words_per_cycle`` unless given on its own.
Energy: one hop per word a PE receives or sends, as the bus.
"""

from __future__ import annotations

from noc.flow import STREAMS, Flow, Layout
from noc.model import INF, NocModel, Param, Settings

WIDTH_KEY = {"ifmap": "ifmap_words_per_cycle", "weight": "weight_words_per_cycle",
             "psum_in": "psum_words_per_cycle", "psum_out": "gon_words_per_cycle"}


def width(stream: str, s: Settings) -> float:
    own = s.get(WIDTH_KEY[stream])
    return s["words_per_cycle"] if own is None else own


def local_links(flow: Flow, s: Settings) -> int:
    """Vertical psum links the pass's spatial reduction runs on: one per pair of vertically
    adjacent PEs that pass a psum (the chip, JSSC'17: every PE has its own link to the PE above),
    or one per column (``local_links: column``, a column's PEs taking turns on one link)."""
    if s["local_links"] == "column":
        return max(1, flow.layout.cols_used)
    return max(1, flow.layout.pes - flow.layout.distinct)


def delivery_cycles(flow: Flow, s: Settings) -> float:
    t = flow.unique / width(flow.stream, s)
    if flow.stream == "psum_out" and flow.reduced:
        # local links, all in parallel: the psums passed up, spread over the links
        t = max(t, flow.reduced / (local_links(flow, s) * s["local_words_per_cycle"]))
    return t


def bandwidth_bound(s: Settings) -> tuple:
    """Each distinct word takes one slot of its own network (GIN per data type, GON)."""
    return tuple((0.0, 1.0 / width(stream, s)) for stream in STREAMS)


def pe_cycles(flow: Flow, s: Settings) -> float:
    """Cycles the busiest receiving PE spends adding psums from its neighbour, per pass."""
    if flow.stream != "psum_out" or not flow.reduced:
        return 0.0
    receivers = flow.layout.pes - flow.layout.distinct
    if receivers <= 0:
        return 0.0
    return s["accumulate_cycles"] * flow.reduced / receivers


def latency(layout: Layout, s: Settings) -> float:
    return float(s["latency_cycles"])


def unlimited(s: Settings) -> Settings:
    out = {**s, "words_per_cycle": INF, "local_words_per_cycle": INF, "latency_cycles": 0,
           "accumulate_cycles": 0}
    for key in WIDTH_KEY.values():
        out[key] = None
    return out


MODEL = NocModel(
    name="eyeriss_v1",
    title="Eyeriss v1: GIN (Y-bus + X-buses, ID-matched multicast), GON, local psum links",
    params={
        "words_per_cycle": Param(float, 1.0, "default width of each global network, words/cycle"),
        "ifmap_words_per_cycle": Param(float, None, "ifmap GIN width (default: words_per_cycle)", optional=True),
        "weight_words_per_cycle": Param(float, None, "filter GIN width (default: words_per_cycle)", optional=True),
        "psum_words_per_cycle": Param(float, None, "psum GIN width (default: words_per_cycle)", optional=True),
        "gon_words_per_cycle": Param(float, None, "GON width (default: words_per_cycle)", optional=True),
        "local_words_per_cycle": Param(float, 1.0, "words per cycle on each vertical psum link"),
        "local_links": Param(str, "pe_pair", "vertical psum links: one per PE pair (the chip) or one per column",
                             choices=("pe_pair", "column")),
        "accumulate_cycles": Param(int, 1, "PE cycles to add one psum arriving from below", minimum=0),
        "latency_cycles": Param(int, 1, "cycles from the buffer to the PEs (single-cycle multicast)",
                                minimum=0),
    },
    delivery_cycles=delivery_cycles,
    pe_cycles=pe_cycles,
    latency=latency,
    bandwidth_bound=bandwidth_bound,
    unlimited=unlimited,
)
