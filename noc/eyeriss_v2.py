"""Eyeriss v2 hierarchical mesh (HM-NoC; Chen et al., JETCAS 2019).

The PE array is cut into clusters of ``cluster_rows x cluster_cols`` PEs. Each PE cluster has a
router cluster (``ifmap_ports`` ifmap routers, ``weight_ports`` weight routers, ``psum_ports``
psum routers, each ``words_per_cycle`` wide) fed by its own GLB cluster (weights: by the off-chip
link); router clusters form a 2-D mesh; inside a cluster the routers reach every PE. Each data
type's network is configured per layer to one of four modes:

- ``broadcast``: one source feeds every cluster; each distinct word is sent once.
  cycles = distinct words / (ports x width) of that one source;
- ``unicast``: every PE gets its own copy from its cluster's source, all clusters in parallel;
  cycles = max over clusters of (PEs x words per PE) / (ports x width);
- ``grouped_multicast`` / ``interleaved_multicast``: clusters that need the same data (adjacent
  ones, or ones a stride apart) share one source and PEs inside a cluster that need the same word
  get it once; cycles = max over clusters of (distinct data groups x words per group) /
  (ports x width). The two differ in which clusters may share, so they cost the same cycles
  here and differ in mesh hops;
- ``auto`` (default): the fastest of the four for the layer, as the chip is configured per layer.

Partial sums leave through the psum routers in the same way (``psum_out``), the spatial
accumulation being done by the PEs on the way.

Bandwidth bound (``bandwidth_bound``, used by the latency bound and the simulator over any
hierarchy), declared when ``bound_clusters`` (the router clusters the network spans) is given: a
router cluster takes at most ``ports x words_per_cycle`` words of a stream per cycle, the
``bound_clusters`` clusters in parallel. When each destination is a whole router cluster
(``cluster_rows = cluster_cols = 1``: the mesh between the clusters, a level of GLB clusters
below it) every word a destination receives crosses its router ports: ``a = 1 / (clusters x ports
x width)`` per delivered word; inside a cluster (destinations are PEs) a router multicasts a word
to every PE of the cluster that needs it at once, so only distinct words use its ports: ``b = 1 /
(clusters x ports x width)`` per distinct word. Both are lower bounds on every mode's cycles above
(balanced clusters). ``bound_clusters: 0`` (the default) declares no bound: the fixed-shape flat
model (configs/eyeriss_v2_flat.yaml) keeps its free network, the calibrated v2-vs-v1 comparison
(tests/validation/test_eyeriss_v2.py) is made with it. Energy: one hop per word a PE receives or sends,
plus, for a network fixed to a multicast or broadcast mode, mesh hops between router clusters for
each distinct word (grouped: 1, interleaved: 2, broadcast: clusters - 1); ``auto`` and
``unicast`` keep traffic inside the cluster (no extra hops).
"""

from __future__ import annotations

from functools import lru_cache

from noc.flow import STREAMS, Flow, Layout
from noc.model import INF, NocModel, Param, Settings

MODES = ("auto", "broadcast", "unicast", "grouped_multicast", "interleaved_multicast")
PORTS_KEY = {"ifmap": "ifmap_ports", "weight": "weight_ports", "psum_in": "psum_ports", "psum_out": "psum_ports"}
MODE_KEY = {"ifmap": "ifmap_mode", "weight": "weight_mode", "psum_in": "psum_mode", "psum_out": "psum_mode"}


@lru_cache(maxsize=1024)
def cluster_loads(layout: Layout, cr: int, cc: int) -> tuple[int, int]:
    """(most PEs in one cluster, most distinct data groups in one cluster)."""
    members: dict[tuple[int, int], list[int]] = {}
    for i, (r, c) in enumerate(zip(layout.pe_rows, layout.pe_cols)):
        members.setdefault((r // cr, c // cc), []).append(i)
    pes = max(len(v) for v in members.values())
    distinct = max(len({layout.groups[i] for i in v}) for v in members.values())
    return pes, distinct


def mode_cycles(flow: Flow, s: Settings, mode: str) -> float:
    lay = flow.layout
    if lay.pes == 0 or flow.delivered <= 0:
        return 0.0
    bw = s[PORTS_KEY[flow.stream]] * s["words_per_cycle"]
    per_pe = flow.per_pe
    if mode == "broadcast":
        return min(flow.unique, lay.distinct * per_pe) / bw
    most_pes, most_groups = cluster_loads(lay, s["cluster_rows"], s["cluster_cols"])
    if mode == "unicast":
        return most_pes * per_pe / bw
    return most_groups * per_pe / bw


def chosen_mode(flow: Flow, s: Settings) -> str:
    mode = s[MODE_KEY[flow.stream]]
    if mode != "auto":
        return mode
    best = min(MODES[1:], key=lambda m: (mode_cycles(flow, s, m), MODES.index(m)))
    return best


def delivery_cycles(flow: Flow, s: Settings) -> float:
    return mode_cycles(flow, s, chosen_mode(flow, s))


def latency(layout: Layout, s: Settings) -> float:
    """Mesh hops to the farthest cluster plus one into the cluster."""
    n_r = -(-layout.rows_used // s["cluster_rows"])
    n_c = -(-layout.cols_used // s["cluster_cols"])
    return s["hop_cycles"] * (n_r + n_c - 1)


EXTRA_HOPS = {"auto": 0.0, "unicast": 0.0, "grouped_multicast": 1.0, "interleaved_multicast": 2.0}


def hop_coefficients(rows: int, cols: int, s: Settings):
    n_clusters = (-(-rows // s["cluster_rows"])) * (-(-cols // s["cluster_cols"]))
    out = []
    for key in ("ifmap_mode", "weight_mode", "psum_mode"):
        mode = s[key]
        out.append((1.0, float(n_clusters - 1) if mode == "broadcast" else EXTRA_HOPS[mode]))
    return tuple(out)


def bandwidth_bound(s: Settings) -> tuple:
    """Per stream (a, b) cycles per delivered and per distinct word (module docstring)."""
    n = s["bound_clusters"]
    if n == 0:
        return ((0.0, 0.0),) * 4
    whole = s["cluster_rows"] * s["cluster_cols"] == 1
    out = []
    for stream in STREAMS:
        per = 1.0 / (n * s[PORTS_KEY[stream]] * s["words_per_cycle"])
        out.append((per, 0.0) if whole else (0.0, per))
    return tuple(out)


def unlimited(s: Settings) -> Settings:
    return {**s, "words_per_cycle": INF, "hop_cycles": 0}


def _mode(help_: str, default: str = "auto") -> Param:
    return Param(str, default, help_, MODES)


MODEL = NocModel(
    name="eyeriss_v2",
    title="Eyeriss v2 hierarchical mesh (GLB, router and PE clusters; four modes per data type)",
    params={
        "cluster_rows": Param(int, 3, "PE rows per cluster"),
        "cluster_cols": Param(int, 4, "PE columns per cluster"),
        "ifmap_mode": _mode("ifmap network mode"),
        "weight_mode": _mode("weight network mode"),
        "psum_mode": _mode("psum network mode"),
        "words_per_cycle": Param(float, 1.0, "width of each router port, words/cycle"),
        "ifmap_ports": Param(int, 3, "ifmap routers per cluster"),
        "weight_ports": Param(int, 3, "weight routers per cluster"),
        "psum_ports": Param(int, 4, "psum routers per cluster"),
        "hop_cycles": Param(int, 1, "router latency per mesh hop, cycles", minimum=0),
        "bound_clusters": Param(int, 0, "router clusters the network spans, for its bandwidth bound (0: "
                                        "no bound declared)", minimum=0),
    },
    delivery_cycles=delivery_cycles,
    latency=latency,
    hop_coefficients=hop_coefficients,
    bandwidth_bound=bandwidth_bound,
    unlimited=unlimited,
)
