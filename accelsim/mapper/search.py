"""search(layer, arch, dataflow, spec) -> SearchResult: propose, score, reduce.

Half the budget samples the dataflow's space at random (space.Space); the other half climbs by
local moves (one or a few at a time) from the best mappings found so far, rotating among the top
few. The named mapping is always a candidate, so a search is never worse than it. Same seed, same
answer: all randomness comes from one ``random.Random(seed)``.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from accelsim import limits
from accelsim.cost.counts import count
from accelsim.cost.model import LayerResult, evaluate
from accelsim.errors import ConfigError
from accelsim.legality import problems_of
from accelsim.mapper.score import OBJECTIVES, Score, score, sparse_score
from accelsim.mapper.space import Space, mutate
from accelsim.mapping import Mapping
from workloads.layer import Layer

TOP = 6


@dataclass(frozen=True)
class SearchSpec:
    objective: str = "energy"
    budget: int = 10000
    seed: int = 0
    time_limit_s: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.objective, str) or self.objective not in OBJECTIVES:
            raise ConfigError(f"unknown objective {self.objective!r}; allowed: {', '.join(OBJECTIVES)}")
        # a budget above the limit needs a time limit: the two together bound the run
        top = limits.MAX_SEARCH_BUDGET if self.time_limit_s is None else 2**62
        if isinstance(self.budget, bool) or not isinstance(self.budget, int) or not 1 <= self.budget <= top:
            raise ConfigError(f"search budget must be an integer 1..{limits.MAX_SEARCH_BUDGET:,} (more only with "
                              f"a time limit), got {self.budget!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= limits.MAX_SEED:
            raise ConfigError(f"search seed must be an integer 0..{limits.MAX_SEED} (2**32 - 1), got {self.seed!r}")
        if self.time_limit_s is not None and (isinstance(self.time_limit_s, bool) or not isinstance(
                self.time_limit_s, (int, float)) or not 0 < self.time_limit_s < float("inf")):
            raise ConfigError(f"time limit must be a finite number > 0 seconds, got {self.time_limit_s!r}")


@dataclass(frozen=True)
class SearchResult:
    mapping: Mapping
    result: LayerResult
    score: Score
    evaluated: int          # distinct legal mappings scored, the named mapping included
    proposed: int           # proposals drawn, repeats and illegal ones included
    stopped_by: str         # "budget", "time_limit" or "space" (no new proposals found)
    shortlist: tuple[Mapping, ...] = ()   # the best distinct mappings by score, best first (mapping included)
    sparse: str = ""                      # how sparsity entered the search (empty: a dense search)


def _key(s: Score, m: Mapping) -> tuple:
    return (s.objective, s.energy_pj, s.cycles, m.factors, m.orders)


def search(layer: Layer, arch, dataflow, spec: SearchSpec) -> SearchResult:
    """The mapper: the array path when the layer fits the int64 kernel, else the Python path."""
    try:
        from accelsim.cost.encode import encode_layer

        encode_layer(layer)
    except ConfigError:
        return search_python(layer, arch, dataflow, spec)
    return search_batch(layer, arch, dataflow, spec)


def search_python(layer: Layer, arch, dataflow, spec: SearchSpec) -> SearchResult:
    """The mapper one mapping at a time on the plain-Python cost model (any layer size)."""
    rng = random.Random(spec.seed)
    start = time.perf_counter()
    seen: set = set()
    top: list[tuple[tuple, Mapping, Score]] = []     # best first, at most TOP
    evaluated = proposed = 0
    stopped_by = "space"

    def consider(m: Mapping) -> None:
        nonlocal evaluated
        ident = (m.factors, m.orders)
        if ident in seen:
            return
        seen.add(ident)
        if problems_of(layer, m, arch):
            return
        s = score(count(layer, m), arch, spec.objective)
        evaluated += 1
        top.append((_key(s, m), m, s))
        top.sort(key=lambda entry: entry[0])
        del top[TOP:]

    try:
        consider(dataflow.named(layer, arch))
    except ConfigError:
        pass
    space = Space(layer, arch, dataflow)
    explore = spec.budget // 2
    while proposed < spec.budget * 20:
        if evaluated >= spec.budget:
            stopped_by = "budget"
            break
        if spec.time_limit_s is not None and time.perf_counter() - start > spec.time_limit_s:
            stopped_by = "time_limit"
            break
        proposed += 1
        if not top or evaluated < explore:
            consider(space.propose(rng))
        else:
            m = top[proposed % len(top)][1]
            for _ in range(1 + (rng.random() < 0.3) + (rng.random() < 0.1)):
                m = mutate(layer, arch, dataflow, m, rng)
            consider(m)
    if not top:
        raise ConfigError(f"no legal mapping found for layer {layer.name!r} with dataflow {dataflow.name!r} "
                          f"on {arch.name!r} within {proposed} proposals")
    _, m, s = top[0]
    return SearchResult(m, evaluate(layer, arch, m, validate=False), s, evaluated, proposed, stopped_by,
                        tuple(entry[1] for entry in top))


# ---------------------------------------------------------------------------------------------
# the array path: the same propose / score / reduce pipeline, a batch at a time

BATCH = 512          # proposals per array call while exploring
CLIMB_BATCH = 64     # children per call while climbing (more rounds, fresher parents)
KEEP = 16


def _objective_sparse(scorer, counts, factors, orders, objective: str):
    energy, cycles = scorer.score(counts, factors, orders)
    return OBJECTIVES[objective](energy, cycles), energy, cycles


def _named(layer: Layer, arch, dataflow, sparse: tuple | None = None) -> Mapping | None:
    """The dataflow's named mapping of the layer, or None when its rule cannot map it (ConfigError from
    the rule: the search then has no named candidate, as the Python path). ``sparse`` = (SparseSpec,
    models): its tiles cut until they fit by compressed size (``mapper.sparse_fit``, as a sparse run
    takes it), None when none fits."""
    try:
        m = dataflow.named(layer, arch)
        if sparse is not None:
            from accelsim.mapper.sparse_fit import fit_fixed

            m = fit_fixed(layer, arch, m, sparse[0], sparse[1], dataflow.name)
        return m
    except ConfigError:
        return None


def _score_exactly(layer: Layer, arch, m: Mapping, objective: str, sparse: tuple | None):
    """(Score, m, LayerResult or None) of a mapping the arrays cannot hold (a per-pass GLB tile), on the
    slow path: the cost model (dense) or the sparse model (``sparse`` = (SparseSpec, models): the
    slow twin of the batch's sparse score, ``mapper.score.sparse_score``). None when the mapping is not legal (dense rules; sparse:
    also by compressed size)."""
    if problems_of(layer, m, arch):
        return None
    if sparse is None:
        result = evaluate(layer, arch, m, validate=False)
        return score(result.counts, arch, objective), m, result
    from accelsim.mapper.sparse_fit import fixed_nests
    from accelsim.sparse.model import capacity_problems

    problem, h, nest_of = fixed_nests(layer, arch)
    if capacity_problems(problem, h, nest_of(m), *sparse):
        return None
    return _sparse_score(layer, arch, m, objective, sparse), m, None


def _sparse_score(layer: Layer, arch, m: Mapping, objective: str, sparse: tuple) -> Score:
    """A mapping's Score on the slow sparse model (``mapper.score.sparse_score`` and the sparse latency
    bound): the batch's sparse score's slow twin."""
    from accelsim.cost.bound import latency_bound
    from accelsim.sparse.layer import bandwidth_counts

    obj, sl = sparse_score(layer, arch, m, objective, *sparse)
    return Score(obj, sl.energy_pj, latency_bound(bandwidth_counts(sl), arch))


def _compressed_cause(layer: Layer, arch, dataflow, lay, proposals, sparse: tuple, what: str) -> None:
    """Raise ``CompressedCapacityError`` when the dense rules keep some of a sparse search's
    ``proposals`` (its last batch, none legal by compressed size) and a kept one's compressed tiles
    overflow (``sparse.model.capacity_problems``: the overflow is the error's typed cause)."""
    import numpy as np

    from accelsim.cost.encode import decode
    from accelsim.errors import CompressedCapacityError
    from accelsim.mapper.batch import BatchSpace
    from accelsim.mapper.sparse_fit import fixed_nests, way_out
    from accelsim.sparse.model import capacity_problems

    dense, _ = BatchSpace(layer, arch, dataflow, lay).legal(np.random.default_rng(0), proposals)
    problem, h, nest_of = fixed_nests(layer, arch)
    for i in range(len(dense)):
        nest = nest_of(decode(dense, i))
        over = capacity_problems(problem, h, nest, *sparse)
        if over:
            spec = sparse[0]
            hint = way_out(problem, h, nest, spec, sparse[1], over[0], False,
                           "a larger --search-budget may find one (the smallest tile takes {used} words)")
            raise CompressedCapacityError(f"{what}: the compressed capacity ({spec.capacity} size) rejected the "
                                          f"candidates the dense rules keep, e.g. {over[0].message}; {hint}",
                                          over[0], source=spec.source)


def search_batch(layer: Layer, arch, dataflow, spec: SearchSpec, sparse: tuple | None = None) -> SearchResult:
    """The mapper on arrays (numba scoring). Raises ConfigError if the layer is outside the int64
    kernel's exact range (use :func:`search`, which falls back to the Python path).

    ``sparse`` = (SparseSpec, {role: density model}): the search itself is sparse
    (accelsim.mapper.sparse_batch): capacity by compressed size, every proposal scored with the sparse
    energy and latency bound (the score is the sparse one); the caller checks
    ``sparse_batch.unsupported`` first."""
    import numpy as np

    from accelsim.cost.encode import MappingArrays, decode, encode_batch, encode_layer
    from accelsim.cost.fast import FixedBatch
    from accelsim.mapper.batch import BatchSpace

    lay = encode_layer(layer)
    fixed = FixedBatch(layer, arch)     # the general kernel over from_arch(arch): counts, energy, bound
    rng = np.random.default_rng(spec.seed)
    start = time.perf_counter()
    space = BatchSpace(layer, arch, dataflow, lay)
    scorer = None
    if sparse is not None:
        from accelsim.mapper.sparse_batch import SparseBatch

        scorer = SparseBatch(layer, arch, tuple(tuple(bool(x) for x in k) for k in space.keep), *sparse)
        space = BatchSpace(layer, arch, dataflow, lay, capacity=scorer)

    def objective(cand: MappingArrays, keep: np.ndarray):
        """(objective, energy, cycles) of the mappings ``keep`` of ``cand``: written as nests, counted by
        the general kernel; the scores read from its rows."""
        rows = fixed.rows(fixed.nests(cand, keep))
        if scorer is not None:
            return _objective_sparse(scorer, fixed.counts(rows), cand.factors[keep], cand.orders[keep], spec.objective)
        energy, cycles = fixed.energy(rows), fixed.cycles(rows)
        return OBJECTIVES[spec.objective](energy, cycles), energy, cycles
    top: MappingArrays | None = None
    top_obj = np.zeros((0, 3))            # per kept mapping: objective, energy, cycles
    evaluated = proposed = 0
    stopped_by = "budget"

    def merge(cand: MappingArrays, keep: np.ndarray, scored) -> None:
        """Keep the KEEP best distinct mappings of the pool (the kept ones, then mappings ``keep`` of
        ``cand``), ranked as the Python path ranks them (_key): objective, then energy, then cycles
        (ties of a cycles bound go to the cheaper mapping). Only the chosen ones are copied."""
        nonlocal top, top_obj
        n_top = 0 if top is None else len(top_obj)
        pool_obj = np.column_stack(scored) if top is None else np.concatenate([top_obj, np.column_stack(scored)])
        order = np.lexsort((pool_obj[:, 2], pool_obj[:, 1], pool_obj[:, 0]))
        # drop exact duplicates so the climb keeps several distinct parents
        picked: list[int] = []
        seen: set = set()
        for i in order:
            if i < n_top:
                assert top is not None
                key = top.factors[i].tobytes() + top.orders[i].tobytes()
            else:
                j = keep[i - n_top]
                key = cand.factors[j].tobytes() + cand.orders[j].tobytes()
            if key not in seen:
                seen.add(key)
                picked.append(int(i))
            if len(picked) == KEEP:
                break
        idx = np.array(picked, dtype=np.int64)
        old = idx < n_top                        # chosen from the kept ones, the rest from cand
        rows = keep[np.where(old, 0, idx - n_top)]
        new = MappingArrays(*(a[rows] for a in cand))
        if top is not None and old.any():
            for a, b in zip(new, top):
                a[old] = b[idx[old]]
        top, top_obj = new, pool_obj[idx]

    # the dataflow's named mapping is always a candidate (a search is never worse than it); one with a
    # per-pass GLB tile (Mapping.glb_pass) is outside the arrays: scored exactly on the slow path (dense:
    # the cost model; sparse: the slow sparse model) and kept beside the pool
    unfit: MappingArrays | None = None     # a sparse search's last proposals while none was legal
    exact_named = None        # (Score, the named mapping, its LayerResult or None)
    named = _named(layer, arch, dataflow, sparse)
    if named is not None and any(named.glb_pass):
        exact_named = _score_exactly(layer, arch, named, spec.objective, None if scorer is None else sparse)
        evaluated += exact_named is not None
    elif named is not None:
        _, arrays = encode_batch(layer, [named])
        keep = np.arange(1)
        if scorer is not None:           # legal by compressed size (repaired into it if needed)
            keep = space.legal_index(np.random.default_rng(spec.seed), arrays)
        if len(keep) and (scorer is not None or not problems_of(layer, named, arch)):
            merge(arrays, keep, objective(arrays, keep))
            evaluated += 1
    explore = spec.budget // 2
    empty_rounds = 0
    while evaluated < spec.budget:
        if spec.time_limit_s is not None and time.perf_counter() - start > spec.time_limit_s:
            stopped_by = "time_limit"
            break
        exploring = top is None or evaluated < explore
        n = min(BATCH if exploring else CLIMB_BATCH, spec.budget - evaluated)
        cand = space.propose(rng, n) if exploring or top is None else space.mutate(rng, top, n)
        proposed += n
        if scorer is not None and top is None:     # kept to name the cause if nothing is ever legal
            unfit = MappingArrays(*(a.copy() for a in cand))
        keep = space.legal_index(rng, cand)
        if len(keep) == 0:
            empty_rounds += 1
            if empty_rounds > 50:
                stopped_by = "space"
                break
            continue
        scored = objective(cand, keep)
        evaluated += len(keep)
        merge(cand, keep, scored)
    if top is None and exact_named is None:
        what = (f"no legal mapping found for layer {layer.name!r} with dataflow {dataflow.name!r} "
                f"on {arch.name!r} within {proposed} proposals")
        if sparse is not None and unfit is not None:
            _compressed_cause(layer, arch, dataflow, lay, unfit, sparse, what)
        raise ConfigError(what)
    shortlist = [] if top is None else [decode(top, i) for i in range(len(top.factors))]
    if top is not None:
        m = shortlist[0]
        result = evaluate(layer, arch, m, validate=False)
        best = score(result.counts, arch, spec.objective) if scorer is None else Score(*map(float, top_obj[0]))
    if exact_named is not None:       # ranked as the Python path ranks (_key); the pool by its batch
        s, named, named_result = exact_named          # scores (equal to the exact ones bit for bit, tested)
        if top is None or _key(s, named) < _key(best, m):
            m, best = named, s
            result = named_result or evaluate(layer, arch, named, validate=False)
        ranked = sorted([(_key(Score(*map(float, top_obj[i])), x), i) for i, x in enumerate(shortlist)]
                        + [(_key(s, named), -1)])
        shortlist = [named if i < 0 else shortlist[i] for _, i in ranked[:KEEP]]
    if scorer is not None and scorer.skip.proxy and shortlist:
        # the batch's sparse cycles are the binomial proxy of the lockstep imbalance (sparse_batch._Skipping):
        # the shortlist re-scored on the slow model (the objective energy: the first alone, its ranking by
        # energy unchanged), with the named mapping (fit by compressed size) so the search is never worse than
        # it on the slow model (review rev29); every shortlisted mapping is legal by the batch's rules,
        # compressed capacity included: none is dropped (review rev28: the dense rules had dropped those that
        # fit only compressed)
        assert sparse is not None
        pool = shortlist if spec.objective != "energy" else shortlist[:1]
        extra = [named] if named is not None and named not in shortlist else []   # never worse than it (rev29)
        exact = sorted(((_sparse_score(layer, arch, x, spec.objective, sparse), x) for x in pool + extra),
                       key=lambda sx: _key(*sx))
        best, m = exact[0]
        result = evaluate(layer, arch, m, validate=False)
        shortlist = ([x for _, x in exact] + shortlist[len(pool):])[:KEEP]
    return SearchResult(m, result, best, evaluated, proposed, stopped_by, tuple(shortlist),
                        "" if scorer is None else "searched with sparsity (compressed capacity, sparse costs)")
