"""The latency bound (Eyexam step 6): a layer needs at least its compute cycles, and at least the
cycles each storage level and each network need to move its words at their bandwidths.

One definition over any hierarchy, :func:`bound_parts` / :func:`hierarchy_bound`, on the action
table (``accelsim.cost.actions.Actions``) and the hierarchy's bandwidths. The fixed-shape bound
(:func:`latency_bound` on ``Counts``, which the mapper scores with) is a view of it: its count rows
are read back into an action table (:func:`traffic_actions_of_counts`) over the arch's level list
(``accelsim.hierarchy.from_arch``), tested equal to the general bound of the general count
(tests/test_run_hierarchy.py). The mapper's batches are bounded by the numba twin of
:func:`hierarchy_bound`, ``accelsim.cost.fast_nest.bound_nests`` (the fixed shape's through
``accelsim.cost.fast.FixedBatch.cycles``), tested equal to :func:`latency_bound` on shipped archs.
"""

from __future__ import annotations

from functools import lru_cache

from accelsim.cost.actions import Actions
from accelsim.cost.counts import L_DRAM, L_GLB, L_NOC, Counts
from accelsim.hierarchy import Hierarchy, from_arch
from accelsim.names import DOWN, DOWN_DEST, DRAIN, DRAM, FILL, GLB, IFMAP, PSUM, READ, ROLES, UP, UP_SRC, UPDATE, WEIGHT
from accelsim.vector_ops import unit_of

COMPUTE_PART = "compute"


def stream_words(actions: Actions, level: str) -> tuple[tuple[int, int], ...]:
    """Per stream of the network below ``level`` (ifmap, weight, psum in, psum out, the NoC models'
    order): (words delivered to or sent by the children, distinct words crossing at the parent)."""
    n = actions.network

    def g(role: str, a: str) -> int:
        return n.get((level, role, a), 0)

    return ((g(IFMAP, DOWN_DEST), g(IFMAP, DOWN)), (g(WEIGHT, DOWN_DEST), g(WEIGHT, DOWN)),
            (g(PSUM, DOWN_DEST), g(PSUM, DOWN)), (g(PSUM, UP_SRC), g(PSUM, UP)))


def bound_parts(actions: Actions, hierarchy: Hierarchy) -> dict[str, float]:
    """Cycles each part of the hierarchy needs at least, keyed ``compute``, each level's name and
    ``LEVEL.net`` for the network of the fanout below LEVEL (parts without a bandwidth limit are 0):

    - compute: ``actions.cycles`` (temporal steps; every compute unit one MAC per cycle; non-MAC ops
      the table runs on the compute units are in them);
    - the vector unit (a hierarchy with ``vector:``; a part only when the table has ops on it), keyed
      by its name: its ops (``actions.ops`` of
      that unit) over its lanes (``vector_ops.unit_of``: lanes per instance of the level it hangs
      below, times those instances);
    - storage level L with ``n`` instances (product of the fanouts above it; the table sums all
      instances and the busiest instance moves at least the average):
      ``max((read + drain) / (n * read_bw), (fill + update) / (n * write_bw),
      (read + drain + fill + update) / (n * bandwidth))``, each term only where the level gives
      that bandwidth (``bandwidth``: one port shared by reads and writes);
    - network below L (``n`` instances of L): ``max over streams s of (a_s * delivered_s +
      b_s * distinct_s) / n`` with the NoC model's per-stream ``(a, b)``
      (``noc.registry.network_bound``) and the words of :func:`stream_words`.
    """
    from noc.registry import network_bound

    out: dict[str, float] = {COMPUTE_PART: float(actions.cycles)}
    vec = hierarchy.vector
    if vec is not None:
        vec_ops = sum(n for (u, _), n in actions.ops.items() if u == vec.name)
        if vec_ops:
            out[vec.name] = vec_ops / unit_of(hierarchy)[1]
    s = actions.storage
    copies = 1
    for lv in hierarchy.levels:
        out_words = sum(s.get((lv.name, r, a), 0) for r in ROLES for a in (READ, DRAIN))
        in_words = sum(s.get((lv.name, r, a), 0) for r in ROLES for a in (FILL, UPDATE))
        terms = [0.0]
        if lv.read_bandwidth is not None:
            terms.append(out_words / (copies * lv.read_bandwidth))
        if lv.write_bandwidth is not None:
            terms.append(in_words / (copies * lv.write_bandwidth))
        if lv.bandwidth is not None:
            terms.append((out_words + in_words) / (copies * lv.bandwidth))
        out[lv.name] = max(terms)
        if lv.fanout is not None:
            ab = network_bound(lv.fanout.network, lv.fanout.params)
            out[f"{lv.name}.net"] = max(a * delivered + b * distinct for (a, b), (delivered, distinct)
                                        in zip(ab, stream_words(actions, lv.name))) / copies
            copies *= lv.fanout.size
    return out


def hierarchy_bound(actions: Actions, hierarchy: Hierarchy) -> float:
    """Cycles can be no fewer than compute or any level's or network's traffic / bandwidth."""
    return max(bound_parts(actions, hierarchy).values())


# ---- the fixed shape's view (count rows, accelsim.cost.counts.Counts) ---------------------------

def traffic_actions_of_counts(counts: Counts) -> Actions:
    """The DRAM, GLB and array-network entries of the fixed shape's action table, read back from its
    count rows (reads = read + drain, writes = fill + update; the array network's delivered words
    are the NoC row, its distinct words ``noc_transfers``; a partial sum sent down is delivered once
    per child, so its down words are its delivered words). Enough for :func:`bound_parts`."""
    storage = {}
    for li, name in ((L_DRAM, DRAM), (L_GLB, GLB)):
        for ti, r in enumerate(ROLES):
            storage[(name, r, READ)] = counts.reads[li][ti]
            storage[(name, r, FILL)] = counts.writes[li][ti]
    r_noc, w_noc, u = counts.reads[L_NOC], counts.writes[L_NOC], counts.noc_transfers
    network = {(GLB, IFMAP, DOWN_DEST): r_noc[0], (GLB, IFMAP, DOWN): u[0],
               (GLB, WEIGHT, DOWN_DEST): r_noc[1], (GLB, WEIGHT, DOWN): u[1],
               (GLB, PSUM, DOWN_DEST): r_noc[2], (GLB, PSUM, DOWN): r_noc[2],
               (GLB, PSUM, UP_SRC): w_noc[2], (GLB, PSUM, UP): u[2] - r_noc[2]}
    return Actions(counts.macs, counts.cycles, counts.active_pes, storage, network)


@lru_cache(maxsize=64)
def _levels(arch) -> Hierarchy:
    return from_arch(arch)


def bandwidth_cycles(counts: Counts, arch) -> tuple[float, float, float]:
    """Cycles the DRAM, the GLB and the busiest NoC stream need to move this layer's words."""
    parts = bound_parts(traffic_actions_of_counts(counts), _levels(arch))
    return parts[DRAM], parts[GLB], parts[f"{GLB}.net"]


def noc_cycles(counts: Counts, arch) -> tuple[float, ...]:
    """Per NoC stream, the cycles its network needs at least (the NoC model's bandwidth bound)."""
    from noc.registry import bandwidth_bound

    a = traffic_actions_of_counts(counts)
    return tuple(x * delivered + y * distinct
                 for (x, y), (delivered, distinct) in zip(bandwidth_bound(arch), stream_words(a, GLB)))


def latency_bound(counts: Counts, arch) -> float:
    """The fixed shape's bound: :func:`hierarchy_bound` of its count rows over ``from_arch(arch)``."""
    return hierarchy_bound(traffic_actions_of_counts(counts), _levels(arch))


__all__ = ["COMPUTE_PART", "bandwidth_cycles", "bound_parts", "hierarchy_bound", "traffic_actions_of_counts",
           "latency_bound", "noc_cycles", "stream_words"]
