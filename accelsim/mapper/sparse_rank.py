"""The mapper with sparsity: the search's shortlist re-ranked by the sparse objective.

``rerank(layer, arch, candidates, objective, spec, models)``: among the candidates (the dense search's
shortlist, best first, all legal on the dense capacities), those whose compressed tiles fit
(``accelsim.sparse.model.capacity_problems`` on the arch's hierarchy, the spec's expected or worst
size) are scored with the objective of ``accelsim.mapper.score`` on the sparse energy
(``accelsim.sparse.layer``: compression, gating, skipping) and the sparse latency bound (the
compressed words at each level's bandwidth, the skipped MACs' cycles: ``bandwidth_counts``). The
first best wins (ties keep the dense order). The dense search does not see sparsity; a mapping
that only fits by compressed size is not proposed (a stated limit, docs/sparsity.md).
"""

from __future__ import annotations

from accelsim.cost.bound import latency_bound
from accelsim.errors import ConfigError
from accelsim.hierarchy import from_arch
from accelsim.loopnest import from_fixed
from accelsim.mapper.score import OBJECTIVES
from accelsim.problem import from_layer
from accelsim.sparse.layer import SparseLayer, bandwidth_counts, sparse_layer
from accelsim.sparse.model import capacity_problems


def sparse_score(layer, arch, m, objective: str, spec, models) -> tuple[float, SparseLayer]:
    sl = sparse_layer(layer, arch, m, spec, models)
    cycles = latency_bound(bandwidth_counts(sl), arch)
    return OBJECTIVES[objective](sl.energy_pj, cycles), sl


def rerank(layer, arch, candidates: tuple, objective: str, spec, models):
    """(best mapping, its sparse score) over the candidates that fit by compressed size. ConfigError
    when none does (a worst-case size above the dense one), naming the first candidate's overflow."""
    h = from_arch(arch)
    problem = from_layer(layer)
    best = None
    first_problem = None
    for m in candidates:
        bad = capacity_problems(problem, h, from_fixed(m, h), spec, models)
        if bad:
            first_problem = first_problem or bad[0][1]
            continue
        s, _ = sparse_score(layer, arch, m, objective, spec, models)
        if best is None or s < best[1]:
            best = (m, s)
    if best is None:
        raise ConfigError(f"layer {layer.name!r}: no mapping of the search's shortlist fits by compressed size "
                          f"({first_problem})", source=spec.source)
    return best
