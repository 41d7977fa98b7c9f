"""The mapper over any hierarchy: ``search_nest(problem, hierarchy, *, objective, budget, seed,
energy_weights) -> NestSearchResult``.

ZigZag's split: the space proposes (``mapper.nest_space.NestSpace``: factor splits over every level
and fanout axis, loop orders, keep/bypass choices the arch allows, under its capacities and unsplit
constraints), the cost model scores (``cost.fast_nest``: the exact action table per nest, energy =
counts . weights, the latency bound), a reducer keeps the best. Half the budget samples the space at
random, the other half climbs by local moves from the best distinct nests so far. Nests given as
``start`` are always candidates (a search is never worse than them). Same arguments, same seed:
same result, bit for bit (all randomness from one ``numpy.random.default_rng(seed)``; ties broken by
energy, cycles, then the nest's arrays).

Objectives (``mapper.score.OBJECTIVES``): ``energy`` (counts . energy_weights), ``cycles`` (the
latency bound over the hierarchy) and ``edp`` (their product). ``energy_weights`` has one weight
per count column of ``NestLayout(problem, hierarchy).columns`` (the energy table's per-action
energies; macs carries the MAC energy); it is required for ``energy`` and ``edp``.

With sparsity (``sparse=(spec, models, table)``): the search itself is sparse. Every nest is scored
by ``mapper.sparse_batch.NestSparseBatch`` on the kernel's rows (the sparse energy through ``table``
and the sparse latency bound, equal to ``sparse.view.sparse_view`` bit for bit); capacity is by
compressed size: the space repairs overflows towards a lower bound of the compressed words
(``NestSparseBatch.cap_scale``) and the exact check (``NestSparseBatch.fits``, which equals
``sparse.model.capacity_problems``) keeps only nests that fit, so nests that fit only compressed
are proposed. Start nests are kept only when they fit compressed; a per-pass one is scored by the
slow path (``sparse_view``). The caller checks ``sparse_batch.unsupported`` first (actual masks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from accelsim import limits
from accelsim.cost.actions import count_actions
from accelsim.cost.fast_nest import (
    BoundParams,
    bound_nests,
    bound_params,
    count_nests,
    energy_nests,
    kernel_rows,
    nest_memo,
)
from accelsim.cost.nest_arrays import NestArrays, NestLayout, decode_nest, encode_nests
from accelsim.errors import ConfigError
from accelsim.hierarchy import Hierarchy
from accelsim.loopnest import LoopNest, problems_of
from accelsim.mapper.nest_space import NestSpace
from accelsim.mapper.score import OBJECTIVES
from accelsim.mapper.sparse_batch import NestSparseBatch
from accelsim.problem import Problem

BATCH = 512          # proposals per call while exploring
CLIMB_BATCH = 64     # children per call while climbing
KEEP = 16            # distinct best nests kept (the climb's parents)
NEEDS_ENERGY = ("energy", "edp")


@dataclass(frozen=True)
class NestScore:
    objective: float
    energy: float | None       # counts . energy_weights (None: no weights given)
    cycles: float              # the latency bound


@dataclass(frozen=True)
class NestSearchResult:
    nest: LoopNest
    score: NestScore
    evaluated: int             # legal nests scored (start nests included)
    proposed: int              # nests drawn, illegal ones included
    stopped_by: str            # "budget" or "space" (50 rounds without a legal proposal)
    shortlist: tuple[LoopNest, ...] = ()     # best distinct nests, best first
    left_out: int = 0          # legal proposals not scored: the kernel leaves them to count_actions (a
                               # coupled axis with non-contiguous tiles), the search skips them
    sparse: str = ""           # how sparsity entered the search (empty: a dense search)


@dataclass(frozen=True)
class Scorer:
    """The cost model side: counts, energy, bound and objective of a batch of nests."""

    layout: NestLayout
    objective: str
    weights: np.ndarray | None
    bound: BoundParams
    sparse: NestSparseBatch | None = None     # the sparse scorer (a sparse search), else dense

    def __call__(self, arrays: NestArrays, memo) -> tuple[NestArrays, np.ndarray, int]:
        """(the nests the kernel scored, their (n, 3) objective, energy (nan without weights), cycles;
        how many it left out: non-contiguous coupled tiles, which count_actions alone counts)."""
        rows, left = kernel_rows(self.layout, arrays, memo)
        n_left = int(left.sum())
        if n_left:
            keep = np.flatnonzero(~left)
            arrays, rows = arrays.take(keep), rows[keep]
        return arrays, self.rows(rows, arrays), n_left

    def rows(self, rows: np.ndarray, arrays: NestArrays) -> np.ndarray:
        """(n, 3) objective, energy, cycles of the nests' count rows."""
        if self.sparse is not None:
            energy, cycles = self.sparse.score(rows, arrays)
        else:
            cycles = bound_nests(self.layout, rows, self.bound)
            energy = energy_nests(rows, self.weights) if self.weights is not None else np.full(len(rows), np.nan)
        return np.column_stack([OBJECTIVES[self.objective](energy, cycles), energy, cycles])


def _check(objective: str, budget: int, seed: int, weights, layout: NestLayout, sparse: bool = False) -> np.ndarray | None:
    if not isinstance(objective, str) or objective not in OBJECTIVES:
        raise ConfigError(f"unknown objective {objective!r}; allowed: {', '.join(OBJECTIVES)}")
    if isinstance(budget, bool) or not isinstance(budget, int) or not 1 <= budget <= limits.MAX_SEARCH_BUDGET:
        raise ConfigError(f"search budget must be an integer 1..{limits.MAX_SEARCH_BUDGET:,}, got {budget!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= limits.MAX_SEED:
        raise ConfigError(f"search seed must be an integer 0..{limits.MAX_SEED} (2**32 - 1), got {seed!r}")
    if weights is None:
        if objective in NEEDS_ENERGY and not sparse:
            raise ConfigError(f"objective {objective!r} needs energy weights (one per count column of the "
                              "hierarchy's action table); allowed without them: cycles")
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (layout.width,) or not np.all(np.isfinite(w)):
        raise ConfigError(f"energy weights need {layout.width} finite numbers (one per count column), got shape "
                          f"{w.shape}")
    return w


def search_nest(problem: Problem, hierarchy: Hierarchy, *, objective: str = "energy", budget: int = 10000,
                seed: int = 0, energy_weights: np.ndarray | None = None,
                start: Sequence[LoopNest] = (), sparse: tuple | None = None) -> NestSearchResult:
    """The best legal nest found within ``budget`` scored nests (see the module docstring);
    ``sparse``: (SparseSpec, {role: density model}, EnergyTable) for a sparse search."""
    layout = NestLayout(problem, hierarchy)
    weights = _check(objective, budget, seed, energy_weights, layout, sparse is not None)
    sb = None
    if sparse is not None:
        sb = NestSparseBatch(layout, *sparse)
        if sb.reason is not None:
            raise ConfigError(f"problem {problem.name!r}: the sparse batch scorer does not cover {sb.reason}")
    score = Scorer(layout, objective, weights, bound_params(layout), sb)
    space = NestSpace(layout, None if sb is None else sb.cap_scale())
    memo = nest_memo(layout)
    left_out = 0
    rng = np.random.default_rng(seed)
    top: NestArrays | None = None
    top_obj = np.zeros((0, 3))
    evaluated = proposed = 0
    stopped_by = "budget"

    def merge(cand: NestArrays, scored: np.ndarray) -> None:
        nonlocal top, top_obj
        pool = cand if top is None else NestArrays.concat([top, cand])
        pool_obj = scored if top is None else np.concatenate([top_obj, scored])
        flat = np.concatenate([a.reshape(a.shape[0], -1) for a in pool], axis=1)
        # objective, then energy, then cycles, then the arrays themselves: a total order
        order = np.lexsort(tuple(flat[:, k] for k in range(flat.shape[1] - 1, -1, -1))
                           + (pool_obj[:, 2], np.nan_to_num(pool_obj[:, 1]), pool_obj[:, 0]))
        chosen: list[int] = []
        seen: set[bytes] = set()
        for i in order:
            key = flat[i].tobytes()
            if key not in seen:
                seen.add(key)
                chosen.append(int(i))
            if len(chosen) == KEEP:
                break
        idx = np.array(chosen, dtype=np.int64)
        top, top_obj = pool.take(idx), pool_obj[idx]

    def exact_objective(nest: LoopNest) -> np.ndarray | None:
        """A per-pass nest's (objective, energy, cycles) by count_actions (None: it does not fit compressed)."""
        actions = count_actions(problem, hierarchy, nest)
        if sparse is None:
            return score.rows(layout.row_of(actions)[None, :], encode_nests(layout, []))[0]
        from accelsim.sparse.model import capacity_problems
        from accelsim.sparse.view import sparse_view

        spec, models, table = sparse
        if capacity_problems(problem, hierarchy, nest, spec, models):
            return None
        v = sparse_view(problem, hierarchy, nest, actions, spec, models, table)
        return np.array([OBJECTIVES[objective](v.energy_pj, v.bound_cycles), v.energy_pj, v.bound_cycles])

    # start nests with per-pass tiles (LevelMap.per_pass) are outside the arrays: kept beside the pool,
    # counted by count_actions (objective, energy, cycles, nest)
    exact: list[tuple[float, float, float, LoopNest]] = []
    if start:
        for i, nest in enumerate(start):
            bad = problems_of(problem, hierarchy, nest)
            if bad:
                raise ConfigError(f"start nest {i}: {bad[0][1]}", key=bad[0][0])
        plain = [n for n in start if not any(lm.per_pass for lm in n.levels)]
        for nest in start:
            if any(lm.per_pass for lm in nest.levels):
                obj = exact_objective(nest)
                if obj is not None:
                    exact.append((float(obj[0]), float(obj[1]), float(obj[2]), nest))
                    evaluated += 1
        if plain:
            arrays = encode_nests(layout, plain)
            if sb is not None:           # only the start nests that fit by compressed size
                arrays = arrays.take(np.flatnonzero(sb.fits(arrays)))
            if arrays.n_nests:
                merge(arrays, score.rows(count_nests(layout, arrays, memo), arrays))   # start nests: scored exactly
                evaluated += arrays.n_nests
    unfit: LoopNest | None = None      # a proposal the compressed capacity rejected while nothing was kept
    explore = budget // 2
    empty_rounds = 0
    while evaluated < budget:
        exploring = top is None or evaluated < explore
        n = min(BATCH if exploring else CLIMB_BATCH, budget - evaluated)
        cand = space.propose(rng, n) if exploring or top is None else space.mutate(rng, top, n)
        proposed += n
        if sb is not None and cand.n_nests:         # the exact compressed capacity
            fits = sb.fits(cand)
            if unfit is None and top is None and not fits.all():     # to name the cause if nothing ever fits
                unfit = decode_nest(layout, cand, int(np.flatnonzero(~fits)[0]))
            cand = cand.take(np.flatnonzero(fits))
        if cand.n_nests == 0:
            empty_rounds += 1
            if empty_rounds > 50:
                stopped_by = "space"
                break
            continue
        cand, scored, n_left = score(cand, memo)
        left_out += n_left
        if cand.n_nests:
            evaluated += cand.n_nests
            merge(cand, scored)
    if top is None and not exact:
        what = (f"no legal nest found for problem {problem.name!r} on hierarchy {hierarchy.name!r} "
                f"within {proposed} proposals")
        if sparse is not None and unfit is not None:     # the space's nests are legal but by compressed size
            from accelsim.errors import CompressedCapacityError
            from accelsim.mapper.sparse_fit import way_out
            from accelsim.sparse.model import capacity_problems

            spec, models, _ = sparse
            over = capacity_problems(problem, hierarchy, unfit, spec, models)[0]
            hint = way_out(problem, hierarchy, unfit, spec, models, over, False,
                           "a larger --search-budget may find one (the smallest tile takes {used} words)")
            raise CompressedCapacityError(f"{what}: the compressed capacity ({spec.capacity} size) rejected every "
                                          f"nest the space proposed, e.g. {over.message}; {hint}", over,
                                          source=spec.source)
        raise ConfigError(what)
    ranked = [(float(o[0]), float(np.nan_to_num(o[1])), float(o[2]), k) for k, o in enumerate(top_obj)]
    ranked += [(o, float(np.nan_to_num(e)), c, -1 - k) for k, (o, e, c, _) in enumerate(exact)]
    ranked.sort(key=lambda x: x[:3])          # stable: the pool's order among ties, then the exact ones
    def nest_at(k: int) -> LoopNest:
        if k < 0:
            return exact[-1 - k][3]
        assert top is not None
        return decode_nest(layout, top, k)

    nests = [nest_at(k) for *_, k in ranked[:KEEP]]
    k0 = ranked[0][3]
    best = top_obj[k0] if k0 >= 0 else exact[-1 - k0][:3]
    if sb is not None and sb.skip.proxy:
        # the batch's sparse cycles are the binomial proxy of the lockstep imbalance (sparse_batch._Skipping):
        # the kept nests re-scored on the slow model (the objective energy: the first alone, its ranking by
        # energy unchanged), with the start nests that fit, so the search is never worse than them on it
        # (review rev29 on the fixed-shape search); a kept nest fits (the batch checked it)
        pool = list(nests if objective != "energy" else nests[:1])
        pool += [n for n in dict.fromkeys(start) if n not in nests]
        rescored = []
        for i, nest in enumerate(pool):
            obj = exact_objective(nest)
            if obj is not None:
                rescored.append(((float(obj[0]), float(obj[1]), float(obj[2])), i))
        rescored.sort()
        best = rescored[0][0]
        kept = len(nests) if objective != "energy" else 1
        nests = ([pool[i] for _, i in rescored] + [n for n in nests[kept:] if n not in pool])[:KEEP]
    best_energy = None if weights is None and sb is None else float(best[1])
    return NestSearchResult(nests[0], NestScore(float(best[0]), best_energy, float(best[2])),
                            evaluated, proposed, stopped_by, tuple(nests), left_out,
                            "" if sb is None else "searched with sparsity (compressed capacity, sparse costs)")




def fixed_arch_weights(layout: NestLayout, arch) -> np.ndarray:
    """The energy weights of a fixed-shape ``accelsim.arch.Arch`` over ``layout`` (its hierarchy is
    ``hierarchy.from_arch(arch)``): the arch's energy table (``energy_table.arch_table``: read and
    drain at the read pJ, fill and update at the write pJ, the array network by its NoC model's hop
    coefficients, registers 0) per count column (``cost.energy.column_weights``)."""
    from accelsim.cost.energy import column_weights
    from accelsim.energy_table import arch_table
    from accelsim.names import DRAM, GLB, RF

    if layout.levels[:3] != (DRAM, GLB, RF):
        raise ConfigError(f"fixed_arch_weights needs the fixed shape's levels (dram, glb, rf, ...), got "
                          f"{list(layout.levels)}")
    return column_weights(layout, arch_table(arch))


def named_starts(layer, arch, hierarchy: Hierarchy) -> tuple[LoopNest, ...]:
    """The named mapping of every dataflow that runs ``layer`` on the fixed-shape ``arch``, as nests
    over ``hierarchy`` (``from_arch(arch)``): the start nests that make a search over the hierarchy
    never worse than today's fixed-shape mapper, which always scores its dataflow's named mapping."""
    from accelsim.legality import problems_of as fixed_problems_of
    from accelsim.loopnest import from_fixed
    from dataflows import registry

    out = []
    for name in sorted(registry.names()):
        try:
            m = registry.get(name).named(layer, arch)
        except ConfigError:          # this dataflow cannot map the layer on this arch
            continue
        if not fixed_problems_of(layer, m, arch):
            out.append(from_fixed(m, hierarchy))
    return tuple(out)


__all__ = ["NestScore", "NestSearchResult", "Scorer", "fixed_arch_weights", "named_starts", "search_nest"]
