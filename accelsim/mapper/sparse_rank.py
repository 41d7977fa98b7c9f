"""The mapper with sparsity: :func:`search_sparse` searches with the sparse model itself when it can
(``accelsim.mapper.sparse_batch`` in the batch path: capacity by compressed size, sparse costs), else
re-ranks the dense search's shortlist (:func:`rerank`).

``rerank(layer, arch, candidates, objective, spec, models)``: among the candidates (the dense search's
shortlist, best first, all legal on the dense capacities), those whose compressed tiles fit
(``accelsim.sparse.model.capacity_problems`` on the arch's hierarchy, the spec's expected or worst
size) are scored with the objective of ``accelsim.mapper.score`` on the sparse energy
(``accelsim.sparse.layer``: compression, gating, skipping) and the sparse latency bound (the
compressed words at each level's bandwidth, the skipped MACs' cycles: ``bandwidth_counts``). The
first best wins (ties keep the dense order). The fallback for what the batch path does not cover
(``sparse_batch.unsupported``: actual masks; a layer outside the int64 kernel's range): there, a
mapping that only fits by compressed size is not proposed.
"""

from __future__ import annotations

from dataclasses import replace

from accelsim.cost.bound import latency_bound
from accelsim.errors import ConfigError
from accelsim.mapper.score import OBJECTIVES, sparse_score
from accelsim.mapper.sparse_fit import NAMED, fitting, fixed_nests
from accelsim.sparse.layer import bandwidth_counts


def rerank(layer, arch, candidates: tuple, objective: str, spec, models):
    """(best mapping, its sparse score) over the candidates that fit by compressed size. ConfigError
    when none does (a worst-case size above the dense one), naming the first candidate's overflow and the
    way out (``sparse_fit.fitting``)."""
    pool = fitting(candidates, *fixed_nests(layer, arch), spec, models,
                   f"layer {layer.name!r}: no mapping of the search's shortlist", NAMED)
    best = None
    for m in pool:
        s, _ = sparse_score(layer, arch, m, objective, spec, models)
        if best is None or s < best[1]:
            best = (m, s)
    assert best is not None
    return best


def search_sparse(layer, arch, dataflow, spec, sparse_spec, models):
    """A ``SearchResult`` whose mapping is the best by the sparse objective (module docstring); its
    ``sparse`` field says which way was taken."""
    from accelsim.cost.encode import encode_layer
    from accelsim.cost.model import evaluate
    from accelsim.mapper.score import Score
    from accelsim.mapper.search import search, search_batch
    from accelsim.mapper.space import keeps
    from accelsim.mapper.sparse_batch import unsupported

    reason = unsupported(sparse_spec, models, keeps(arch, dataflow)[2])
    if reason is None:
        try:
            encode_layer(layer)
        except ConfigError:
            reason = "the layer is outside the batch kernel's exact int64 range"
    if reason is None:
        return search_batch(layer, arch, dataflow, spec, sparse=(sparse_spec, models))
    found = search(layer, arch, dataflow, spec)
    pool = tuple(dict.fromkeys(found.shortlist or (found.mapping,)))
    best, s = rerank(layer, arch, pool, spec.objective, sparse_spec, models)
    _, sl = sparse_score(layer, arch, best, spec.objective, sparse_spec, models)
    cycles = latency_bound(bandwidth_counts(sl), arch)
    return replace(found, mapping=best, result=evaluate(layer, arch, best, validate=False),
                   score=Score(s, sl.energy_pj, cycles), sparse=f"dense shortlist re-ranked by the sparse objective ({reason})")


def rerank_nests(problem, hierarchy, candidates: tuple, objective: str, spec, models, table):
    """Level-list hierarchies where the sparse search does not apply (``sparse_batch.unsupported``:
    actual masks; otherwise ``nest_search.search_nest(sparse=...)`` searches with sparsity): the
    candidate nest (the general mapper's shortlist and the named one) with the best sparse objective,
    on the sparse energy and the sparse latency bound (``accelsim.sparse.view``), among those whose
    compressed tiles fit (``capacity_problems``); the first best wins. ConfigError when none fits,
    naming the first overflow and the way out (``sparse_fit.fitting``)."""
    from accelsim.cost.actions import count_actions
    from accelsim.sparse.view import sparse_view

    pool = fitting(candidates, problem, hierarchy, lambda nest: nest, spec, models,
                   f"problem {problem.name!r}: no nest of the search's shortlist", NAMED)
    best = None
    for nest in pool:
        v = sparse_view(problem, hierarchy, nest, count_actions(problem, hierarchy, nest), spec, models, table)
        s = OBJECTIVES[objective](v.energy_pj, v.bound_cycles)
        if best is None or s < best[1]:
            best = (nest, s)
    assert best is not None
    return best[0]
