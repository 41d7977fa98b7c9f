"""Attention groups for the network mapper (``accelsim.mapper.network``): where a workload graph
holds an attention, and what each attention dataflow costs there.

An attention in a graph is ``transformer.to_graph``'s pattern: a grouped GEMM (Q.K^T, ``g``
groups), then a ``softmax`` node reading only it, then a grouped GEMM (A.V, ``g`` groups) reading
the softmax, at consecutive positions. Its shape: batch N, heads g, M = the GEMMs' rows (H), L =
the scores GEMM's outputs per group, E = its inputs per group, F = the A.V GEMM's outputs per group.

:func:`attention_candidates` prices every dataflow of ``model.DATAFLOWS`` for each such run on the
mapper's target hierarchy (a level-list hierarchy, or a fixed-shape arch's ``hierarchy.from_arch``),
the einsums under the target dataflow's named mapping (``dataflows.nest_rule``; on a fixed-shape
arch the fixed path's, as each GEMM alone gets there): cycles (the
dataflow's latency bound, ``cost.bound.bound_parts`` per phase) and DRAM words of the dataflow
(``model.evaluate``), energy = its action table (``Result.actions``) priced by the one energy sum
with the target's table.

Invariants: runs do not overlap; each run's candidates are the dataflows whose tiles fit the arch's
buffer, in ``DATAFLOWS`` order (a dataflow that does not fit is left out, never priced).
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.attention.cascade import AttentionShape
from accelsim.attention.model import DATAFLOWS, evaluate
from accelsim.attention.movement import named_nests
from accelsim.cost.energy import energy_of
from accelsim.errors import CapacityError
from accelsim.hierarchy import Hierarchy


@dataclass(frozen=True)
class AttentionCost:
    dataflow: str
    energy_pj: float
    cycles: int
    dram_words: int


def attention_runs(graph) -> dict[tuple[int, int], AttentionShape]:
    """(first, last) node positions of each attention of ``graph`` -> its shape (module docstring)."""
    from workloads.layer import LayerKind

    out: dict[tuple[int, int], AttentionShape] = {}
    nodes = graph.nodes
    for j in range(len(nodes) - 2):
        qk, sm, av = nodes[j:j + 3]
        g = qk.groups
        if not (qk.kind is LayerKind.GEMM and sm.kind is LayerKind.SOFTMAX and av.kind is LayerKind.GEMM
                and g > 1 and av.groups == g and graph.producers(sm.name) == (qk.name,)
                and graph.producers(av.name)[:1] == (sm.name,) and qk.H == av.H == sm.H):
            continue
        if out and max(i for _, i in out) >= j:
            continue
        out[(j, j + 2)] = AttentionShape(qk.N, g, qk.H, qk.K // g, qk.C // g, av.K // g)
    return out


def attention_candidates(graph, h: Hierarchy, table, flow=None,
                         arch=None) -> dict[tuple[int, int], tuple[AttentionCost, ...]]:
    """Every attention run of ``graph`` -> the cost of each dataflow on hierarchy ``h`` priced by
    ``table``, the einsums under ``flow``'s named mapping (a ``dataflows.registry`` flow; default the
    hierarchy's dataflow; with ``arch``, the fixed-shape arch ``h`` comes from, the fixed path's named
    mapping: ``movement.named_nests``) (module docstring)."""
    runs = attention_runs(graph)
    if not runs:
        return {}
    _, nest_of = named_nests(h, flow, arch)
    memo: dict[AttentionShape, tuple[AttentionCost, ...]] = {}
    out = {}
    for key, shape in runs.items():
        if shape not in memo:
            costs = []
            for d in DATAFLOWS:
                try:
                    r = evaluate(h, shape, d, nest_of)
                except CapacityError:        # its tiles do not fit this buffer: not a candidate
                    continue
                costs.append(AttentionCost(d, energy_of(r.actions, h, table).total_pj, r.cycles, r.dram_words))
            memo[shape] = tuple(costs)
        out[key] = memo[shape]
    return out
