"""The mapper's sparse scorer: the sparse view of a batch of dense count rows, bit-equal to the slow path.

Two row layouts, one scorer kernel (:func:`_kernel`):

- :class:`NestSparseBatch` (any hierarchy): the general kernel's rows (``cost.fast_nest.kernel_rows``:
  columns ``cost.nest_arrays.NestLayout.columns``, every (level, role, action) apart) of a batch of
  ``NestArrays``; equal bit for bit to ``accelsim.sparse.view.sparse_view`` on ``count_actions`` of
  each nest (its energy, and the max of its latency-bound parts) (tests/test_sparse_nest_batch.py).
  The keeps differ from nest to nest in the general space, so what ``sparse.model.plan`` derives from
  them (compressed pairs, network hop parents, the steps and their keys, the gated energy terms) is
  built once per distinct keeps pattern and cached.
- :class:`SparseBatch` (fixed-shape archs): the count rows of ``accelsim.cost.fast.FixedBatch`` (one keeps
  pattern: the dataflow's), equal to ``accelsim.mapper.sparse_rank.sparse_score`` (the count rows as
  actions, ``sparse.layer.dense_table``) bit for bit (tests/test_sparse_batch.py).

Both follow ``accelsim.sparse.model.analyze`` step by step: per count column, data and metadata
words = the dense words x the format's per-word factors of its (level, role) (``Format.per_word``; a
network action follows its receiving level's format, ``sparse.model.Plan.source``), then each gating/skipping step of ``plan`` in the
spec's order moves its ineffective fraction to gated words (or drops it; a storage step as one
sub-step per set of blocks its keys serve, ``Step.groups``, its fraction per distinct served tile:
the child's tile times the spatial factors of the fanouts ``_spanned``); effective and gated MACs
from ``mac_steps``; energy = the priced table (``sparse.model.priced_actions``) summed in the energy
table's canonical order (``cost.energy.canonical``; a zero count adds 0.0, so keys the slow table
lacks change nothing); cycles = the latency bound of the compressed words (``cost.bound.bound_parts``
on ``sparse.model.bandwidth_actions``: data + metadata + gated per key, each level's words over its
instances x bandwidth, each network's busiest stream over its parent's instances, the skipped MACs'
cycles with load imbalance). Every float operation is the slow path's, in its order.

What depends on the mapping beyond the dense counts is evaluated by the slow path's own functions
(``Format.per_word``/``ratio_of``, ``group_q``, ``imbalance_t``, ``Format.words``; the keeps
pattern's plan), once per distinct value of what it depends on (a tile's extents; the keeps; the
lockstep run and the active units), kept for the layer in the scorer's ``mapper.sparse_memo.RowMemo``:
one numba pass finds every row's values (one hash look-up per tile level, keeps and lockstep run),
a second (:func:`_kernel`) scores the rows. With one-rank formats linear in the tile (CP, bitmask) or
any format at the backing store (whose tile is the whole tensor in every mapping: Eyeriss v1's RLE),
condition tiles of one element and no skipping (Eyeriss v1's preset) the fixed shape looks up
nothing. A reduced output update's box is keyed by its extents and the placed dims' runs
(``sparse.model.placed_dims``); a row whose box serves a plain dim as a lattice cut by a ceil edge
(:func:`_plain_cuts`, listing such rows and possibly a few more, never fewer) reads an extra memo row
(``RowMemo.extra``, one per (memo group, key, those dims' runs), found again by :func:`_plain_find`)
holding ``update_q`` of its box with those runs, so every row equals the slow path and the usual keys
stay one word (the generated look-up pass stays on).

Capacity: each kept tile's compressed words (``Format.part_words``, the spec's ``expected`` or ``worst``
size) against the stores of ``accelsim.sparse.model.capacity_checks`` (the hierarchy's capacity groups,
the spec's metadata stores), as ``accelsim.sparse.model.capacity_problems`` checks them
(:meth:`NestSparseBatch.fits`; :meth:`SparseBatch.glb_over` / ``rf_fits``), so mappings that fit
only compressed are proposed; :meth:`NestSparseBatch.cap_scale` gives the general space
(``mapper.nest_space``) a lower bound of the compressed words per dense word to repair towards.
:func:`unsupported` names what the batch path does not cover (actual masks; on the fixed rows, a MAC
feature on a psum row that merges actions); the mapper then re-ranks the dense shortlist instead
(``accelsim.mapper.sparse_rank``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from accelsim.cost.counts import _placed
from accelsim.cost.energy import canonical
from accelsim.cost.fast import COL_ACTIVE_PES, COLUMNS
from accelsim.cost.fast_nest import _prefetch
from accelsim.cost.nest_arrays import HEAD, NestArrays, NestLayout
from accelsim.energy_table import EnergyTable, arch_table, network_name
from accelsim.errors import ConfigError
from accelsim.hierarchy import from_arch
from accelsim.loopnest import LevelMap, LoopNest
from accelsim.mapper import score_kernel
from accelsim.mapper.batch import _tile_need
from accelsim.mapper.nest_space import tile_words_batch
from accelsim.mapper.sparse_memo import RowMemo, _find_or_add, _runs, _slot, dim_axes, gap_runs
from accelsim.mapping import COLS as COLS_LEVEL
from accelsim.mapping import DRAM as DRAM_LEVEL
from accelsim.mapping import GLB as GLB_LEVEL
from accelsim.mapping import LEVELS as MAPPING_LEVELS
from accelsim.mapping import RF as RF_LEVEL
from accelsim.mapping import ROWS as ROWS_LEVEL
from accelsim.names import (
    ANY_ROLE,
    COMPUTE,
    DOWN,
    DOWN_DEST,
    DRAIN,
    DRAM,
    FILL,
    GATED,
    GLB,
    IFMAP,
    METADATA,
    PSUM,
    READ,
    REG,
    RF,
    ROLES,
    UP,
    UP_SRC,
    UPDATE,
    WEIGHT,
    sparse_action,
)
from accelsim.problem import Problem, from_layer
from accelsim.sparse.density import DENSE, Actual, Structured
from accelsim.sparse.formats import META_WORDS, Format, axis_names
from accelsim.sparse.model import (
    CapacityCheck,
    Plan,
    Served,
    Step,
    balanced,
    capacity_checks,
    chosen_spec,
    dim_positions,
    expects_lockstep,
    group_ons,
    group_q,
    imbalance_t,
    lockstep_fraction,
    mac_steps,
    never_empty,
    placed_dims,
    plan,
    ratio_at,
    ratio_of,
    role_axes,
    served_windows,
    update_q,
    window_axes,
    window_dims,
)
from accelsim.sparse.spec import META_READ, WORST, SparseSpec, check_on
from accelsim.sparse.view import check_masks

LEVELS = (DRAM, GLB, RF, REG)
NO_LOOPS = len(MAPPING_LEVELS)        # below the register: no mapping level
# level index (LEVELS) -> first mapping level (accelsim.mapping.LEVELS) below its cut
START = {LEVELS.index(DRAM): DRAM_LEVEL, LEVELS.index(GLB): GLB_LEVEL, LEVELS.index(RF): RF_LEVEL,
         LEVELS.index(REG): NO_LOOPS}
N_ROLES = len(ROLES)
SLACK = 1.0 - 1e-12       # a lower bound's margin against float rounding (the exact check decides)


def unsupported(spec: SparseSpec, models: dict, reg_keep: tuple[bool, ...] | None = None,
                problem: Problem | None = None) -> str | None:
    """Why the batch path cannot score this sparsity exactly (None: it can). ``reg_keep``: the fixed
    shape's register keeps (its count rows merge the RF's psum reads and drains without a psum
    register); None for the general rows, which keep every action apart. ``problem``: a condition at
    density 1 whose tensor has padding can still be empty over it (``sparse.model.never_empty``) and
    counts as a condition; without it only densities below 1 count."""
    if any(isinstance(m, Actual) for m in models.values()):
        return "actual masks (their exact MAC counts come from the masks, not a density)"
    if reg_keep is not None and not reg_keep[ROLES.index(PSUM)] and any(ft.role is None for ft in spec.features):
        return "a MAC feature without a psum register (the RF's psum row merges reads and drains)"
    if spec.skipped_metadata == META_READ:
        return "skipped accesses that still read their metadata (skipped_metadata: read)"
    for ft in spec.features:
        if ft.role is not None and sum(not isinstance(models.get(c, DENSE), Structured)
                                       and (models.get(c, DENSE).density < 1.0 if problem is None
                                            else not never_empty(problem, c, models))
                                       for c in ft.on) >= 2:
            return (f"a {ft.kind} of {ft.role} at {ft.level} on two conditions that can be empty, not N:M (its exact "
                    "fraction reads the child's tile, which the served-tile key does not carry)")
    return None


def _nest(keeps: tuple[tuple[bool, ...], ...]) -> LoopNest:
    def roles(keep: tuple[bool, ...]) -> tuple[str, ...]:
        return tuple(r for r, k in zip(ROLES, keep) if k)

    glb, rf, reg = keeps
    return LoopNest((LevelMap(DRAM, keeps=ROLES), LevelMap(GLB, keeps=roles(glb)), LevelMap(RF, keeps=roles(rf)),
                     LevelMap(REG, keeps=roles(reg))))


@njit(cache=True)
def _dim_extents(f3, first, sizes):
    """(B, D) per dim the product of ``f3``'s factors from level ``first`` on, clipped to ``sizes``."""
    B, M, D = f3.shape
    out = np.empty((B, D), dtype=np.int64)
    for b in range(B):
        for d in range(D):
            e = 1
            for m in range(first, M):
                e *= f3[b, m, d]
            out[b, d] = e if e < sizes[d] else sizes[d]
    return out


@njit(cache=True)
def _level_products(factors, spatial):
    """(B, L, D) per level and dim its temporal factor times its fanout's x and y factors."""
    B, L, D = factors.shape
    out = np.empty((B, L, D), dtype=np.int64)
    for b in range(B):
        for i in range(L):
            for d in range(D):
                out[b, i, d] = factors[b, i, d] * spatial[b, i, 0, d] * spatial[b, i, 1, d]
    return out


def _spanned(h, st: Step, lo: int) -> tuple[int, ...]:
    """The levels ``lo .. child - 1`` with a fanout: whose spatial loops the accesses of a storage step
    served from ``lo`` (``sparse.model.served_from``) span beyond the child's tile."""
    assert st.child is not None
    return tuple(j for j in range(lo, st.child) if h.levels[j].fanout is not None)


def _reuse_dims(problem: Problem, st: Step) -> tuple[bool, ...]:
    """Per dim whether it indexes a storage step's role: the memo's reuse walk (``mapper.sparse_memo``)
    stops at a loop of such a dim (``sparse.model.reuse_loops``)."""
    assert st.role is not None
    rel = problem.relevant(st.role)
    return tuple(d in rel for d in problem.dim_names)


def _extents(problem: Problem, e: np.ndarray, memo: RowMemo, runs: bool, slide: bool = False) -> Served:
    """A memo key's served tile (``sparse.model.served_extents``): per-dim extents, then (a served tile's
    key) per window axis its count of distinct coordinates, or (``runs``: a key carrying runs) per dim of
    the memo's ``runs_dims`` its runs' code (``RowMemo.runs_of``); ``slide``: then the code of the loop a
    refill slides along (``RowMemo.slide_of``)."""
    dims = problem.dim_names
    sl = memo.slide_of(int(e[-1])) if slide else None
    moved = (dims[sl[0]], sl[1], sl[2]) if sl is not None else None
    if runs:
        codes = e[len(dims):len(dims) + len(memo.runs_dims)]
        by_dim = {dims[d]: r for d, r in memo.runs_of(codes).items()}
        ext = {d: int(v) for d, v in zip(dims, e)}
        points = {d: dim_positions(r, problem.size(d))[0] for d, r in by_dim.items()}   # served_extents' lattices
        return Served(ext, served_windows(problem, ext, points), points or None, None, by_dim or None, moved)
    axes = window_axes(problem)
    windows = {w: int(v) for w, v in zip(axes, e[len(dims):len(dims) + len(axes)])}
    return Served({d: int(v) for d, v in zip(dims, e)}, windows or None, slide=moved)


def _slide_dims(problem: Problem, st: Step) -> tuple[bool, ...] | None:
    """Per dim whether it is a window dim of a storage step's role (``sparse.model.window_dims``: a refill
    may slide along it, ``sparse.model.slide_loop``); None when the role has none or the child is the compute."""
    assert st.role is not None
    wd = window_dims(problem, st.role)
    return tuple(d in wd for d in problem.dim_names) if wd else None


def _slides(problem: Problem, spec: SparseSpec) -> bool:
    """Some storage feature's tensor has a window axis: its served-tile keys may carry a sliding loop."""
    return any(ft.role is not None and window_dims(problem, ft.role) for ft in spec.features)


def _gap_dims(problem: Problem, spec, below) -> tuple[int, ...]:
    """The dims a storage step's served tile may hold as more than one run (``sparse.model.dim_runs``):
    with a storage child below the feature's level, those its role ignores (the temporal loops the child
    keeps the tile over, outside an unserved fanout); every dim where a step's accesses may span two
    fanouts, or span a fanout that has a level below it (the case found: a level between the fanout and
    the child that does not keep the role, or any level below the fanout when the child is the compute,
    whose loops sit inside the served spatial ones; taken broadly, for any fanout at or below the
    feature's level with a level under it: only more dims in the key, never a wrong value).
    ``below(level, role)``: (whether a level below keeps the role, the fanout levels at or below,
    whether one of them has a level below it)."""
    out: set[str] = set()
    for ft in spec.features:
        if ft.role is not None:
            child, fans, deep = below(ft.level, ft.role)
            if child:
                out |= set(problem.dim_names) - problem.relevant(ft.role)
            if fans >= 2 or deep:
                out |= set(problem.dim_names)
    return tuple(i for i, d in enumerate(problem.dim_names) if d in out)


def _placed_dims(problem: Problem) -> tuple[int, ...]:
    """The dims of ``sparse.model.placed_dims`` (indices, ascending): the only ones whose runs
    ``sparse.model.update_q`` reads (a window dim's lattice, its accesses' edge and padding classes)."""
    return tuple(i for i, d in enumerate(problem.dim_names) if d in placed_dims(problem))


def _windows(problem: Problem) -> np.ndarray:
    """``sparse.model.window_axes`` as the memo's rows (dim index, coefficient, dim index, coefficient)."""
    dims = problem.dim_names
    return np.array([(dims.index(d1), k1, dims.index(d2), k2) for d1, k1, d2, k2 in window_axes(problem)],
                    dtype=np.int64).reshape(-1, 4)


def _part_words(fmt: Format, part: str, model, size: int, word_bits: int):
    """A memo function of a tile's extents: the words of its ``part`` (``Format.part_words``)."""
    def words(e) -> float:
        return fmt.part_words(part, [int(x) for x in e], model, size, word_bits)
    return words


class _Pairs:
    """Per compressed (level index, role) pair, its (data, metadata) words per dense word
    (``sparse.model.ratio_of``): a constant when the format is linear in the tile or the level is the
    backing store (whose tile is the whole tensor), else per row a function of the per-dim extents of
    the role's dims at the level (its tile positions' classes: edges, padding) in the scorer's
    ``RowMemo``; ``first(level)``: the first of the rows' levels below the level's cut. ``pairs``' formats
    come from a spec whose ``adaptive`` choices are made (``sparse.model.chosen_spec``)."""

    def __init__(self, problem: Problem, models: dict, word_bits: int, pairs: list[tuple[int, str, Format]],
                 memo: RowMemo, first):
        self.index = {(i, r): j for j, (i, r, _) in enumerate(pairs)}
        self.const = np.zeros((2, max(1, len(pairs))), dtype=np.float64)
        self.fn = np.full(max(1, len(pairs)), -1, dtype=np.int64)      # per pair its memo function, -1: constant
        full = {d: problem.size(d) for d in problem.dim_names}
        for j, (i, r, fmt) in enumerate(pairs):
            model = models.get(r, DENSE)
            if fmt.tile_free or i == 0:
                self.const[0, j], self.const[1, j] = ratio_of(fmt, problem, full, r, model, word_bits)
            else:     # keyed by the per-dim extents of the role's dims: its tile positions' classes
                rel = tuple(d for d in problem.dim_names if d in problem.relevant(r))
                axes = dim_axes(problem)[[problem.dim_names.index(d) for d in rel]]
                fmt = fmt.on(axis_names(problem.tensor(r)), f"inner (tensor {r!r} of {problem.name!r})")  # chosen
                self.fn[j] = memo.tile(lambda e, fmt=fmt, model=model, r=r, rel=rel: ratio_at(
                    fmt, problem, dict(zip(rel, (int(x) for x in e))), r, model, word_bits), first(i), axes, 2)


class _Terms:
    """Every energy term a keeps pattern may price, in the table's canonical order, once per layer:
    the effective MACs, the gated MACs, per key its data, metadata and gated words
    (``sparse.model.priced_actions``' names). The kernel's values per row are data (K keys),
    metadata (K), gated (K), effective MACs, gated MACs; a term is (value index, pJ each)."""

    def __init__(self, keys: list, n_storage: int, compute: str, table: EnergyTable):
        K = len(keys)
        terms: dict = {(compute, ANY_ROLE, COMPUTE): 3 * K, (compute, ANY_ROLE, sparse_action(GATED, COMPUTE)): 3 * K + 1}
        for k, (lv, r, a) in enumerate(keys):
            comp = lv if k < n_storage else network_name(lv)
            terms[(comp, r, a)] = k
            terms[(comp, r, sparse_action(METADATA, a))] = K + k
            terms[(comp, r, sparse_action(GATED, a))] = 2 * K + k
        self.K, self.table = K, table
        self.order = canonical(list(terms), table)
        self.index = [terms[t] for t in self.order]
        self.pj = [_price(table, t) for t in self.order]

    def select(self, src: list[int], gated_keys: set[int], gated_macs: float) -> tuple[np.ndarray, np.ndarray]:
        """The terms of one keeps pattern: every data term, the metadata of compressed keys (``src``
        >= 0), the gated words of the keys a gating step moves, the gated MACs when any. Terms that
        always add 0.0 are left out (a zero price; an uncompressed key's metadata, always 0.0):
        adding 0.0 changes no sum."""
        K = self.K
        idx, pj = [], []
        for t, i, w in zip(self.order, self.index, self.pj):
            if (K <= i < 2 * K and src[i - K] < 0 or 2 * K <= i < 3 * K and i - 2 * K not in gated_keys
                    or i == 3 * K + 1 and not gated_macs):
                continue
            if w is None:
                w = self.table.pj(*t)       # raises: the table does not price an action this pattern has
            if w != 0.0:
                idx.append(i)
                pj.append(w)
        return np.array(idx, dtype=np.int64), np.array(pj, dtype=np.float64)


def _price(table: EnergyTable, key: tuple[str, str, str]) -> float | None:
    try:
        return table.pj(*key)
    except ConfigError:         # only an error if a pattern has the action (``_Terms.select``)
        return None


class _Skipping:
    """The sparse cycles' factor per row (``sparse.model.analyze`` step 3): 1 without skipped MACs; p
    (``sparse.model.lockstep_fraction``: the fraction not skipped, gated MACs keeping their slots; with
    several active units, of the MACs whose operands are elements) when every skipping condition is
    structured; else E[max over the active units of Binomial(t, p)] / t (``sparse.model.imbalance_t``),
    t the lockstep run: a lockstep function of the scorer's ``RowMemo`` (``fn``; -1 without one: the
    constant ``p``, one unit's, the same for any number of units)."""

    def __init__(self, spec: SparseSpec, models: dict, pl: Plan, problem: Problem, skipped: float, macs: int,
                 memo: RowMemo):
        self.mode = int(bool(skipped and macs))               # 1: the dense cycles x the factor
        self.p = lockstep_fraction(pl, problem, models, macs, skipped, 1) if self.mode else 0.0
        many = lockstep_fraction(pl, problem, models, macs, skipped, 2) if self.mode else 0.0
        self.fn = -1
        # the slow model takes the expected maximum over random masks here (sparse.model.lockstep_expected),
        # no closed form of (run, units): these cycles are its binomial proxy, and the search re-scores its
        # shortlist on the slow model (mapper.search, mapper.nest_search)
        self.proxy = bool(self.mode) and not balanced(spec, models) and expects_lockstep(pl, models)
        if self.mode and not balanced(spec, models):
            self.fn = memo.lockstep(lambda a: imbalance_t(int(a[0]), int(a[1]), self.p if a[1] <= 1 else many))
        elif self.mode and many != self.p:
            self.fn = memo.lockstep(lambda a: self.p if a[1] <= 1 else many)


class NestSparseBatch:
    """The sparse scorer of one (problem, hierarchy) over the general kernel's rows (module docstring)."""

    def __init__(self, layout: NestLayout, spec: SparseSpec, models: dict, table: EnergyTable):
        problem, h = layout.problem, layout.hierarchy
        check_on(spec, h)
        check_masks(problem, models)
        spec = chosen_spec(spec, problem, models, h.word_bits)
        self.reason = unsupported(spec, models, problem=problem)
        self.layout, self.problem, self.hierarchy = layout, problem, h
        self.spec, self.models, self.table = spec, models, table
        self.wb = h.word_bits
        self.dims = layout.problem_arrays.sizes
        self.names = layout.levels
        self.lidx = {nm: i for i, nm in enumerate(self.names)}
        cols = layout.columns
        self.keys: list[tuple[str, str, str]] = [c for c in cols[len(HEAD):] if isinstance(c, tuple)]
        self.n_storage = layout.network_base - len(HEAD)
        self.kcol = np.arange(len(HEAD), layout.width, dtype=np.int64)
        self.live = np.zeros(len(self.kcol), dtype=np.bool_)        # keys nonzero in some row scored so far
        self.prepared: dict = {}                                    # _score_rows' _prepare, for the live keys
        self.gen: dict = {}           # _row_kernel's choice ("generated": None / True / False) and structure
        self.kidx_s = {k: i for i, k in enumerate(self.keys[:self.n_storage])}
        self.kidx_n = {k: self.n_storage + i for i, k in enumerate(self.keys[self.n_storage:])}
        self.c_cycles, self.c_active = HEAD.index("cycles"), HEAD.index("active")
        # every (level index, role) a nest may hold compressed (the backing store always holds its tensors)
        pairs = [(i, r, spec.format(nm, r)) for r in ROLES for i, nm in enumerate(self.names)
                 if (i == 0 or h.levels[i].keeps_role(r)) and spec.format(nm, r).compressed]
        # what depends on a nest beyond its counts, per distinct tile / keeps / lockstep run (a level's
        # tile: the loops of it and below)
        units = math.prod(lv.fanout.size for lv in h.levels if lv.fanout is not None)
        fans = tuple(i for i, lv in enumerate(h.levels) if lv.fanout is not None)
        def below(level: str, role: str) -> tuple[bool, int, bool]:
            i = self.names.index(level)
            return (any(lv.keeps_role(role) for lv in h.levels[i + 1:]), sum(1 for j in fans if j >= i),
                    any(i <= j < len(h.levels) - 1 for j in fans))
        self.storage_runs = _gap_dims(problem, spec, below)
        # an output update reducing a box whose fanout sits above a level's temporal loops (a fanout with a
        # storage level below it) may serve a dim as a lattice: its group carries the runs of the placed dims
        # (``sparse.model.update_q`` walks their lattices and their accesses' edge and padding classes; a
        # plain dim's lattice is taken as the run of its count, its extent, already in the key)
        lattice = any(ft.role is None for ft in spec.features) and any(j < len(h.levels) - 1 for j in fans)
        self.update_runs = _placed_dims(problem) if lattice else ()
        # a plain dim (not placed) an update box may serve as a lattice cut by a ceil edge, its counts then
        # not the run's (``sparse.model.plain_positions``): the key does not carry its runs (they would make
        # the usual keys two words), so the rows whose box has one (:func:`_plain_cuts`: about 1 in 100 of
        # the clustered Eyeriss v2 benchmark's nests) read an extra memo row holding ``update_q`` of their
        # box with those runs (``_plain_exact``, ``RowMemo.extra``), one per (key, plain dims' runs)
        self.plain_cut = np.array([i for i, d in enumerate(problem.dim_names) if lattice and i not in self.update_runs
                                   and gap_runs(problem.size(d), len(fans))], dtype=np.int64)
        self.fan = np.array([1 if lv.fanout is not None else 0 for lv in h.levels], dtype=np.int64)
        self.plain_tab: np.ndarray | None = None        # (group, key's row, runs) -> its extra memo row (_plain_find)
        self.plain_n = 0                                # boxes in plain_tab
        self.plain_fns = 0                              # the memo's functions when plain_tab was made
        self.update_info: dict[int, tuple] = {}         # per update fraction (q_fns index): (step, MACs' fraction)
        self.update_masks: tuple = (None, None, None, None)   # (the look-ups, columns, spans' masks, fractions)
        self.memo = RowMemo(self.dims, len(self.names), nest=True, units=units, fanouts=fans,
                            windows=_windows(problem), runs_dims=tuple(sorted({*self.storage_runs, *self.update_runs})),
                            runs_max=len(fans), slides=_slides(problem, spec))
        self.pairs = _Pairs(problem, models, self.wb, pairs, self.memo, lambda i: i)
        # the MAC steps act on the conditions alone: the same for every keeps pattern
        all_keep = plan(self._keeps_nest([[1] * N_ROLES] * len(self.names)), spec)
        ms = mac_steps(all_keep, problem, models, problem.macs)
        self.eff, self.gated_macs, self.skipped_macs = ms.effective, ms.gated, ms.skipped
        self.skip = _Skipping(spec, models, all_keep, problem, self.skipped_macs, problem.macs, self.memo)
        # the storage steps' fractions that depend on a child's tile: one memo function per (conditions, child)
        self.q_index: dict[tuple, int] = {}
        self.q_fns: list[int] = []
        self.terms = _Terms(self.keys, self.n_storage, h.compute.name, table)
        self.pattern_fn = self.memo.keeps(self._new_pattern)
        self.pattern_parts: list[tuple] = []
        self.lazy_uses: dict[int, np.ndarray] = {}     # _fill_lazy's per-pattern uses of each lazy fraction
        self.look: tuple[int, _Lookups] | None = None    # score's look-ups, for this many step fractions
        self.stacked: tuple | None = None          # (patterns stacked, the kernel's views of them)
        self.stack_arrays: dict | None = None
        self._bound_arrays()
        self._capacity_parts()

    # ---- the keeps patterns ----------------------------------------------------------------------
    def _keeps_nest(self, keeps) -> LoopNest:
        """A nest with these keeps ((levels, roles) 0/1) and no loops: what ``sparse.model.plan`` reads."""
        return LoopNest(tuple(LevelMap(nm, keeps=tuple(r for r, k in zip(ROLES, keeps[i]) if k))
                              for i, nm in enumerate(self.names)))

    def _q_column(self, st: Step, span: tuple[int, ...], ons: tuple[tuple[str, ...], ...]) -> int:
        """The memo function of a storage step's fraction for accesses serving the child's tile times the
        fanouts of the levels ``span`` (none: the child's tile) times, at a storage child, the loops it
        keeps the step's tile over (``sparse.model.reuse_loops``); ``ons``: the conditions of the features
        so far on its (level, tensor) (``sparse.model.group_q``)."""
        key = (ons, st.child, span, st.role)
        j = self.q_index.get(key)
        if j is None:
            problem, models, n = self.problem, self.models, len(self.names)
            assert st.child is not None
            j = self.q_index[key] = len(self.q_fns)

            by_runs = bool(self.storage_runs and self.memo.runs_max)           # keyed by runs, else windows
            reuse = _reuse_dims(problem, st) if st.child < n else None
            slide = _slide_dims(problem, st) if reuse is not None and self.memo.slide_radix else None

            def q(e: np.ndarray, st: Step = st) -> float:
                return group_q(ons, st, problem, _extents(problem, e, self.memo, by_runs, slide is not None), models, n)

            self.q_fns.append(self.memo.span(q, st.child, span, dim_axes(problem), reuse=reuse, runs=self.storage_runs,
                                             slide=slide)
                              if span or reuse else self.memo.tile(q, st.child, dim_axes(problem)))
        return j

    def _update_column(self, st: Step, span: tuple[int, ...], mac_fraction: float) -> int:
        """The memo function of a MAC step's fraction for output updates reducing the MACs below the
        fanouts of the levels ``span`` (``sparse.model.update_q`` on their box)."""
        key = ("mac", st.on, st.prev, span, mac_fraction)
        j = self.q_index.get(key)
        if j is None:
            problem, models = self.problem, self.models
            j = self.q_index[key] = len(self.q_fns)

            memo, by_runs = self.memo, bool(self.update_runs and self.memo.runs_max)

            def q(e: np.ndarray, st: Step = st) -> float:
                return update_q(st, problem, _extents(problem, e, memo, by_runs), models, mac_fraction)

            self.q_fns.append(self.memo.span(q, len(self.names), span, dim_axes(problem), lazy=True,
                                             runs=self.update_runs))
            self.update_info[j] = (st, mac_fraction)
        return j

    def _fill_lazy(self, idx: np.ndarray, look: _Lookups) -> None:
        """Evaluate the lazy step fractions (the update boxes: a Python enumeration each) only at the
        keys of rows whose keeps pattern uses them; every other value stays NaN and is never read."""
        memo = self.memo
        lazy = [(j, f) for j, f in enumerate(self.q_fns) if f in memo.lazy]
        if not lazy:
            return
        base = 2 + len(self.pairs.fn)          # _Lookups' order: pattern, skipping, pairs, step fractions
        for j, f in lazy:
            uses = self.lazy_uses.get(j)       # per pattern whether it uses fraction j (patterns only grow)
            if uses is None or len(uses) < len(self.pattern_parts):
                have = 0 if uses is None else len(uses)
                more = np.array([j in part[3] for part in self.pattern_parts[have:]], dtype=np.bool_)
                uses = self.lazy_uses[j] = more if uses is None else np.concatenate([uses, more])
            rows = _unfilled(idx, look.col[0], look.slot[0], look.col[base + j], memo.fns[f][1], memo.vals, uses)
            if len(rows):
                memo.fill(f, rows)

    def _pattern(self, keeps) -> tuple:
        """What the spec does on nests with these keeps (``sparse.model.plan``) as kernel inputs."""
        pl = plan(self._keeps_nest(keeps), self.spec)
        n = len(self.names)
        comp = {pr for pr, _ in pl.compressed}
        src = []
        for k, key in enumerate(self.keys):
            pr = pl.source(key, k >= self.n_storage)
            src.append(self.pairs.index[pr] if pr in comp else -1)
        ms = mac_steps(pl, self.problem, self.models, self.problem.macs)
        ons = group_ons(pl)
        keys, gates, qi, qc = [], [], [], []
        for s, st in enumerate(pl.steps):
            if st.child is None:
                for lo, group in st.groups():     # one sub-step per set of MACs an update reduces (analyze)
                    span = tuple(j for j in range(lo, n) if self.hierarchy.levels[j].fanout is not None)
                    keys.append([self.kidx_s[k] for k in group if k in self.kidx_s]
                                + [self.kidx_n[k] for k in group if k in self.kidx_n])
                    gates.append(st.gate)
                    qi.append(self._update_column(st, span, ms.q[s]) if span else -1)
                    qc.append(0.0 if span else ms.q[s])
                continue
            for lo, group in st.groups():         # one sub-step per set of blocks served (sparse.model.analyze)
                span = _spanned(self.hierarchy, st, lo)
                keys.append([self.kidx_s[k] for k in group if k in self.kidx_s]
                            + [self.kidx_n[k] for k in group if k in self.kidx_n])
                gates.append(st.gate)
                fs = ons[s]
                assert fs is not None
                if st.child == n and not span:
                    qi.append(-1)
                    qc.append(group_q(fs, st, self.problem, None, self.models, n))
                else:
                    qi.append(self._q_column(st, span, fs))
                    qc.append(0.0)
        gated_keys = {k for ks, g in zip(keys, gates) if g for k in ks}
        terms = self.terms.select(src, gated_keys, self.gated_macs)
        return src, keys, gates, qi, qc, terms

    def _new_pattern(self, codes: np.ndarray) -> float:
        """Plan a keeps pattern (per level an int, bit t: it keeps role t); its index, as the memo's float."""
        keeps = [[(int(code) >> t) & 1 for t in range(N_ROLES)] for code in codes]
        self.pattern_parts.append(self._pattern(keeps))
        return float(len(self.pattern_parts) - 1)

    def _stack(self) -> tuple:
        """Every planned pattern's kernel inputs stacked: rows written once per pattern, the arrays
        re-made (with room to grow) only when a pattern does not fit their rows or widths."""
        parts = self.pattern_parts
        n = len(parts)
        if self.stacked is not None and self.stacked[0] == n:
            return self.stacked[1]
        new = parts[0 if self.stacked is None else self.stacked[0]:]
        S = max([len(pp[1]) for pp in new] + [1])
        W = max([len(ks) for pp in new for ks in pp[1]] + [1])
        T = max([len(pp[5][0]) for pp in new] + [1])
        arrs = self.stack_arrays
        if (arrs is None or n > arrs["src"].shape[0] or S > arrs["st_gate"].shape[1]
                or W > arrs["st_keys"].shape[2] or T > arrs["e_idx"].shape[1]):
            S = max([len(pp[1]) for pp in parts] + [1])           # every pattern is written again
            W = max([len(ks) for pp in parts for ks in pp[1]] + [1])
            T = max([len(pp[5][0]) for pp in parts] + [1])
            rows = max(16, 2 * n)
            arrs = self.stack_arrays = {
                "src": np.full((rows, len(self.keys)), -1, dtype=np.int64),
                "st_keys": np.full((rows, S, W), -1, dtype=np.int64), "st_gate": np.zeros((rows, S), dtype=np.bool_),
                "st_qi": np.full((rows, S), -1, dtype=np.int64), "st_qc": np.zeros((rows, S), dtype=np.float64),
                "st_n": np.zeros(rows, dtype=np.int64), "e_idx": np.zeros((rows, T), dtype=np.int64),
                "e_w": np.zeros((rows, T), dtype=np.float64), "e_len": np.zeros(rows, dtype=np.int64)}
            first = 0
        else:
            first = self.stacked[0] if self.stacked is not None else 0
        for p in range(first, n):
            src, keys, gates, qi, qc, (e_idx, e_w) = parts[p]
            arrs["src"][p, :len(src)] = src
            arrs["st_n"][p] = len(keys)
            for s_, ks in enumerate(keys):
                arrs["st_keys"][p, s_, :len(ks)] = ks
                arrs["st_gate"][p, s_], arrs["st_qi"][p, s_], arrs["st_qc"][p, s_] = gates[s_], qi[s_], qc[s_]
            arrs["e_idx"][p, :len(e_idx)] = e_idx
            arrs["e_w"][p, :len(e_w)] = e_w
            arrs["e_len"][p] = len(e_idx)
        view = tuple(arrs[k][:n] for k in ("src", "st_keys", "st_gate", "st_qi", "st_qc", "st_n", "e_idx", "e_w",
                                          "e_len"))
        self.stacked = (n, view)
        return view

    # ---- the latency bound's inputs -----------------------------------------------------------------
    def _bound_arrays(self) -> None:
        """Per level its read + drain and fill + update keys (``bound_parts``' order) and instances x
        bandwidth (0: none); per fanout its streams' (delivered, distinct) keys, NoC (a, b), instances."""
        from noc.registry import network_bound

        lv_out, lv_in, lv_den, net_keys, net_ab, net_den = [], [], [], [], [], []
        copies = 1
        for lv in self.hierarchy.levels:
            lv_out.append([self.kidx_s[(lv.name, r, a)] for r in ROLES for a in (READ, DRAIN)])
            lv_in.append([self.kidx_s[(lv.name, r, a)] for r in ROLES for a in (FILL, UPDATE)])
            lv_den.append([0.0 if bw is None else copies * bw
                           for bw in (lv.read_bandwidth, lv.write_bandwidth, lv.bandwidth)])
            if lv.fanout is not None:
                def k(role: str, a: str, lv=lv) -> int:
                    return self.kidx_n[(lv.name, role, a)]
                net_keys.append([[k(IFMAP, DOWN_DEST), k(IFMAP, DOWN), -1], [k(WEIGHT, DOWN_DEST), k(WEIGHT, DOWN), -1],
                                 [k(PSUM, DOWN_DEST), k(PSUM, DOWN), -1], [k(PSUM, UP_SRC), k(PSUM, UP), -1]])
                net_ab.append(network_bound(lv.fanout.network, lv.fanout.params))
                net_den.append(float(copies))
                copies *= lv.fanout.size
        self.lv_out = np.array(lv_out, dtype=np.int64)
        self.lv_in = np.array(lv_in, dtype=np.int64)
        self.lv_den = np.array(lv_den, dtype=np.float64)
        self.net_keys = np.array(net_keys, dtype=np.int64).reshape(-1, 4, 3)
        self.net_ab = np.array(net_ab, dtype=np.float64).reshape(-1, 4, 2)
        self.net_den = np.array(net_den, dtype=np.float64)

    # ---- capacity by compressed size ----------------------------------------------------------------
    def _capacity_parts(self) -> None:
        """Per level with stores (``sparse.model.capacity_checks``), per (role, part) it may keep: its
        words per dense word (a format linear in the tile) or a memo function of the level's tile
        (:func:`_part_words`); and the lower bound per dense word :meth:`cap_scale` gives the space."""
        problem, spec, h = self.problem, self.spec, self.hierarchy
        L = len(self.names)
        self.scale = np.ones((L, N_ROLES), dtype=np.float64)
        self.caps: list[tuple[int, tuple[CapacityCheck, ...], dict[tuple[str, str], tuple[float, int]]]] = []
        checks = capacity_checks(h, spec)
        for i, lv in enumerate(h.levels):
            here = tuple(c for c in checks if c.level == lv.name)
            if i == 0 or not here:
                continue
            per_part: dict[tuple[str, str], tuple[float, int]] = {}
            for r, part in (m for c in here for m in c.members):
                if not lv.keeps_role(r) or (r, part) in per_part:
                    continue
                t = ROLES.index(r)
                fmt = spec.format_on(lv.name, r, problem)
                model = DENSE if spec.capacity == WORST else self.models.get(r, DENSE)
                size = problem.elements(r)
                if fmt.tile_free:
                    per_part[(r, part)] = (fmt.part_per_word(part, model, size, self.wb), -1)
                    if fmt.compressed and part != META_WORDS:
                        self.scale[i, t] = per_part[(r, part)][0] * SLACK
                else:
                    per_part[(r, part)] = (0.0, self.memo.tile(_part_words(fmt, part, model, size, self.wb), i,
                                                               role_axes(problem, r)))
                    if part != META_WORDS:   # payload >= the tile's expected nonzeros (``Format.per_tile``)
                        self.scale[i, t] = (1.0 - model.p_empty(1, size)) * SLACK
            self.caps.append((i, here, per_part))
        self.cap_fns = [fn for _, _, per_part in self.caps for _, fn in per_part.values() if fn >= 0]

    def cap_scale(self) -> np.ndarray:
        """(levels, roles) a lower bound of the compressed words per dense word of each kept tile (1 where
        uncompressed): what ``mapper.nest_space.NestSpace`` repairs capacity overflows towards."""
        return self.scale

    def fits(self, arrays: NestArrays) -> np.ndarray:
        """(B,) every store holds its kept tiles' compressed words (``capacity_problems``)."""
        B = arrays.n_nests
        ok = np.ones(B, dtype=bool)
        if not self.caps:
            return ok
        factors, spatial, keeps = _nest_inputs(arrays)
        look, col, slot = self.memo.columns(self.cap_fns)
        idx = self.memo.resolve(look, factors, spatial, keeps) if self.cap_fns else None
        f3 = _level_products(factors, spatial)
        pa = self.layout.problem_arrays
        for i, checks, per_part in self.caps:
            dense = tile_words_batch(_dim_extents(f3, i, self.dims), pa.rel, pa.coupled)
            words = {}
            for (r, part), (c, fn) in per_part.items():
                if fn < 0:
                    w = dense[:, ROLES.index(r)] * c
                else:
                    assert idx is not None
                    j = self.cap_fns.index(fn)
                    w = self.memo.vals[idx[:, col[j]], slot[j]]
                words[(r, part)] = np.where(keeps[:, i, ROLES.index(r)] != 0, w, 0.0)
            for store in checks:
                used = np.zeros(B, dtype=np.float64)
                for m in store.members:
                    if m in words:
                        used = used + words[m]
                ok &= ~(used > store.words)
        return ok

    # ---- scores -------------------------------------------------------------------------------------
    def score(self, rows: np.ndarray, arrays: NestArrays) -> tuple[np.ndarray, np.ndarray]:
        """(energy pJ, latency-bound cycles) of each nest from its dense row (module docstring)."""
        B = rows.shape[0]
        c = np.ascontiguousarray(rows, dtype=np.int64)
        factors, spatial, keeps = _nest_inputs(arrays)
        while True:          # a new keeps pattern may add a step's memo function: look up again
            n_q = len(self.q_fns)
            if self.look is None or self.look[0] != n_q:    # made again only when a fraction was added
                self.look = (n_q, _Lookups(self.memo, self.pattern_fn, self.pairs, self.q_fns, self.skip))
            look = self.look[1]
            idx = self.memo.resolve(look.groups, factors, spatial, keeps, c[:, self.c_active],
                                    np.ascontiguousarray(arrays.orders, dtype=np.int64),
                                    uses=(int(look.slot[0]), look.uses(self.pattern_parts)))
            if len(self.q_fns) == n_q:
                break
        self._fill_lazy(idx, look)
        if len(self.plain_cut):
            self._plain_exact(idx, look, factors, spatial)
        src, st_keys, st_gate, st_qi, st_qc, st_n, e_idx, e_w, e_len = self._stack()
        energy = np.empty(B, dtype=np.float64)
        cycles = np.empty(B, dtype=np.float64)
        _score_rows(self.prepared, self.live, c, self.kcol, idx, self.memo.vals, look.col, look.slot, src,
                    self.pairs.const, st_keys, st_gate, st_qi, st_qc, st_n, e_idx, e_w, e_len, self.eff,
                    self.gated_macs, self.skip.mode, self.skip.p, self.c_cycles, self.lv_out, self.lv_in, self.lv_den,
                    self.net_keys, self.net_ab, self.net_den, energy, cycles, self.gen)
        return energy, cycles

    def _update_masks(self, look: _Lookups) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
        """Per memo group of the update box fractions (``_update_column``): the column of ``score``'s
        look-ups holding its memo row (-1 where a row's keeps pattern does not read it), its span (1 at its
        levels: ``_plain_cuts``) and its fractions (indices in ``q_fns``)."""
        if self.update_masks[0] is not look:
            base = 2 + look.n_pairs                        # _Lookups' order: pattern, skipping, pairs, fractions
            groups: dict[int, list[int]] = {}
            for j in sorted(self.update_info):
                groups.setdefault(self.memo.fns[self.q_fns[j]][0], []).append(j)
            masks = self.memo.span_mask[[g - self.memo.span_base for g in groups]].astype(np.int64)
            cols = np.array([int(look.col[base + js[0]]) for js in groups.values()], dtype=np.int64)
            self.update_masks = (look, cols, np.ascontiguousarray(masks), list(groups.values()))
        return self.update_masks[1], self.update_masks[2], self.update_masks[3]

    def _plain_exact(self, idx: np.ndarray, look: _Lookups, factors: np.ndarray, spatial: np.ndarray) -> None:
        """Point each row whose update box serves a plain dim as a lattice cut by an edge (:func:`_plain_cuts`)
        at an extra memo row holding ``update_q`` of its box with those dims' runs for every update fraction
        of the group (``RowMemo.extra``, one per (group, key, runs); the rest of the box from its key, the
        group's other values the key's): the slow path's values, which the key alone does not give."""
        cols, masks, mine = self._update_masks(look)
        if not len(cols):
            return
        width = 2 * len(self.names) + 3
        memo, problem, dims = self.memo, self.problem, self.problem.dim_names
        K = 2 + len(self.plain_cut) * width
        if self.plain_tab is None or self.plain_fns != len(memo.fns):   # a function added since: not evaluated
            self.plain_tab = np.full((1 << 10, K + 1), -1, dtype=np.int64)  # at the extra rows, made again
            self.plain_n, self.plain_fns = 0, len(memo.fns)
        hits = _plain_cuts(idx, cols, factors, spatial, self.fan, masks, self.plain_cut, self.dims, width,
                           self.plain_tab)
        if not len(hits):                        # every box found (its row pointed at) or none listed
            return
        todo: dict[tuple, list[int]] = {}        # boxes met for the first time: the nests reading them
        for h in hits.tolist():
            todo.setdefault(tuple(h[1:]), []).append(h[0])
        keyrows, values = [], []
        for key in todo:
            row = key[1]
            e = memo.arguments(np.array([row], dtype=np.int64))[0]
            box = _extents(problem, e, memo, bool(self.update_runs and memo.runs_max))
            runs = dict(box.runs or {})
            for i, d in enumerate(self.plain_cut):
                part = key[2 + i * width:2 + (i + 1) * width]
                if part[0]:
                    runs[dims[d]] = tuple(x for x in part if x)
            points = {d: dim_positions(r_, problem.size(d))[0] for d, r_ in runs.items()}
            box = Served(box.ext, served_windows(problem, box.ext, points), points or None, None, runs or None)
            vs = {}
            for j in mine[key[0]]:               # every update fraction of the group: its exact value
                st, mac_fraction = self.update_info[j]
                vs[memo.fns[self.q_fns[j]][1]] = update_q(st, problem, box, self.models, mac_fraction)
            keyrows.append(row)
            values.append(vs)
        made = memo.extra(keyrows, values)
        if 2 * (self.plain_n + len(todo)) > len(self.plain_tab):      # at most half full: grow, insert again
            old = self.plain_tab[self.plain_tab[:, K] >= 0]
            cap = len(self.plain_tab)
            while 2 * (self.plain_n + len(todo)) > cap:
                cap *= 2
            self.plain_tab = np.full((cap, K + 1), -1, dtype=np.int64)
            for o in old:
                _plain_find(self.plain_tab, o[:K], o[K])
        for (key, nests), r in zip(todo.items(), made.tolist()):
            _plain_find(self.plain_tab, np.array(key, dtype=np.int64), r)
            self.plain_n += 1
            for b in nests:
                idx[b, cols[key[0]]] = r


@njit(cache=True)
def _plain_find(tab, key, row):
    """The extra memo row of a box's ``key`` in ``tab`` (``sparse_memo``'s table: per slot the key then its
    row, -1: empty; its hash ``_slot`` and insertion ``_find_or_add``), -1 when not there; ``row`` >= 0:
    add it with that row (not there)."""
    mask = tab.shape[0] - 1
    s = _slot(key, mask)
    if row >= 0:
        _find_or_add(tab, key, s, row)
        return -1
    K = key.shape[0]
    while tab[s, K] >= 0:
        k = 0
        while k < K and tab[s, k] == key[k]:
            k += 1
        if k == K:
            return tab[s, K]
        s = (s + 1) & mask
    return -1


@njit(cache=True)
def _plain_cuts(idx, cols, factors, spatial, fan, masks, dims, sizes, width, tab):
    """The update boxes its keeps pattern reads (``idx``'s column ``cols[s]`` not -1; the fanouts of the span
    ``masks[s]``' 1 levels over the MACs) that serve one of ``dims`` as a lattice whose accesses do not all
    hold the full count of served indices (``sparse.model.plain_positions`` then differs from the run of
    its extent's): its served loops (``sparse_memo._runs``: the spanned fanouts) interleaved with an
    unserved one, and the dim's size not a multiple of the runs' product or the last served run clipped.
    Otherwise every access holds the product of the served runs, min(extent, size), and that product
    divides the size: the run of the extent's counts, as the key takes it. Per such box a row: the nest,
    s, the key's memo row, then per dim of ``dims`` its runs (``width`` ints, zero-padded; all zero: one run
    from 0). A box may be listed without a cut (never the converse)."""
    B, L, D = factors.shape
    P = dims.shape[0]
    out = np.empty((B * masks.shape[0] + 1, 3 + P * width), dtype=np.int64)
    n_out = 0
    tserved = np.zeros((L, D), dtype=np.int64)
    buf = np.zeros(width, dtype=np.int64)
    for b in range(B):
        for s in range(masks.shape[0]):
            if cols[s] < 0 or idx[b, cols[s]] < 0:
                continue
            for k in range(3, out.shape[1]):
                out[n_out, k] = 0
            cut = False
            for i in range(P):
                d = dims[i]
                gap, unserved, ext = False, False, 1
                for m in range(L - 1, -1, -1):
                    if fan[m]:
                        f = spatial[b, m, 0, d] * spatial[b, m, 1, d]
                        if f > 1:
                            if masks[s, m]:
                                gap |= unserved
                                ext *= f
                            else:
                                unserved = True
                    if factors[b, m, d] > 1:
                        unserved = True
                if not gap:
                    continue
                n = _runs(True, factors, spatial, fan, b, L, masks[s], tserved, 1, d, sizes[d], buf)
                total, full = 1, 1
                for k in range(n):
                    total *= buf[k]
                    if k % 2 == 0:
                        full *= buf[k]
                    out[n_out, 3 + i * width + k] = buf[k]
                cut |= full != ext or sizes[d] % total != 0
            if cut:
                out[n_out, 0] = b
                out[n_out, 1] = s
                out[n_out, 2] = idx[b, cols[s]]
                r = _plain_find(tab, out[n_out, 1:], -1)
                if r >= 0:                # a box met before: its extra row
                    idx[b, cols[s]] = r
                else:
                    n_out += 1
    return out[:n_out]


def _nest_inputs(arrays: NestArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(np.ascontiguousarray(a, dtype=np.int64) for a in (arrays.factors, arrays.spatial, arrays.keeps))  # type: ignore[return-value]


class _Lookups:
    """The memo groups a score looks up and, per value the kernel reads, the column of the looked-up
    rows and the slot of ``RowMemo.vals`` (column -1: not looked up): ``col``/``slot`` entries 0 the
    keeps pattern (-1: the one pattern 0), 1 the skipping factor (-1: ``_Skipping.p``), then per
    compressed pair (-1: its constant ``_Pairs.const``), then per step fraction."""

    def __init__(self, memo: RowMemo, pattern_fn: int, pairs: _Pairs, q_fns: list[int], skip: _Skipping):
        fns = [pattern_fn, skip.fn] + [int(f) for f in pairs.fn] + list(q_fns)
        used = [f for f in fns if f >= 0]
        groups, col, slot = memo.columns(used)
        self.groups = groups
        self.col = np.full(len(fns), -1, dtype=np.int64)
        self.slot = np.zeros(len(fns), dtype=np.int64)
        j = 0
        for i, f in enumerate(fns):
            if f >= 0:
                self.col[i], self.slot[i] = col[j], slot[j]
                j += 1
        self.n_pairs = len(pairs.fn)
        self.used = np.zeros((0, len(groups)), dtype=np.bool_)

    def uses(self, patterns: list[tuple]) -> np.ndarray:
        """(patterns, groups) whether a keeps pattern (``NestSparseBatch._pattern``'s parts) reads a value
        of the group: the skipping factor, its compressed keys' pairs, its steps' fractions (grown as
        patterns are planned; the rows a pattern does not read are not looked up, ``RowMemo.resolve``)."""
        have = self.used.shape[0]
        if have < len(patterns):
            more = np.zeros((len(patterns) - have, len(self.groups)), dtype=np.bool_)
            for p, (src, _, _, qi, _, _) in enumerate(patterns[have:]):
                read = [1] + [2 + j for j in set(src) if j >= 0] + [2 + self.n_pairs + j for j in qi if j >= 0]
                for i in read:
                    if self.col[i] >= 0:
                        more[p, self.col[i]] = True
            self.used = np.concatenate([self.used, more])
        return self.used


class SparseBatch:
    """The sparse scorer of one fixed-shape layer over ``cost.fast.FixedBatch``'s count rows (module docstring)."""

    def __init__(self, layer, arch, keeps: tuple[tuple[bool, ...], ...], spec: SparseSpec, models: dict):
        h = from_arch(arch)
        check_on(spec, h)
        self.problem = problem = from_layer(layer)
        spec = chosen_spec(spec, problem, models, arch.word_bits)
        self.reason = unsupported(spec, models, keeps[2], problem)
        self.models, self.spec, self.wb = models, spec, arch.word_bits
        self.dims = np.array([problem.size(d) for d in problem.dim_names], dtype=np.int64)
        nest = _nest(keeps)
        pl = plan(nest, spec)
        n = len(LEVELS)
        storage, network = _placed()
        self.keys = [k for _, k in storage] + [k for _, k in network]
        self.kcol = np.array([COLUMNS.index(nm) for nm, _ in storage] + [COLUMNS.index(nm) for nm, _ in network],
                             dtype=np.int64)
        self.live = np.zeros(len(self.kcol), dtype=np.bool_)        # keys nonzero in some row scored so far
        self.prepared: dict = {}                                    # _score_rows' _prepare, for the live keys
        self.gen: dict = {}           # _row_kernel's choice ("generated": None / True / False) and structure
        kidx = {k: i for i, k in enumerate(self.keys)}
        n_storage = len(storage)
        # per key: the (level index, role) whose format sets its data / metadata words
        src = [pl.source(k, j >= n_storage) for j, k in enumerate(self.keys)]
        # what depends on a mapping beyond its counts, per distinct tile / lockstep run (a level's tile:
        # the mapping levels from the first below its cut)
        def below(level: str, role: str) -> tuple[bool, int, bool]:   # one array (ROWS, COLS: spanned together)
            i = LEVELS.index(level)
            return any(keep[ROLES.index(role)] for keep in keeps[i:]), 0, False
        self.memo = RowMemo(self.dims, NO_LOOPS, nest=False, units=arch.pes, windows=_windows(problem),
                            runs_dims=_gap_dims(problem, spec, below), runs_max=2, slides=_slides(problem, spec))
        self.pairs = _Pairs(problem, models, self.wb, [(i, r, fmt) for (i, r), fmt in pl.compressed], self.memo,
                            lambda i: START[i])
        self.src = np.array([[self.pairs.index.get(s_, -1) for s_ in src]], dtype=np.int64)
        # steps: key lists, gate flags, constant q or a per-row cache keyed by the child's extents
        ms = mac_steps(pl, problem, models, layer.macs)
        ons = group_ons(pl)
        keys, gates, qc = [], [], []
        self.q_fns: list[int] = []
        qi = []
        for i, st in enumerate(pl.steps):
            if st.child is None:
                keys.append([kidx[k] for k in st.keys_s + st.keys_n if k in kidx])
                gates.append(st.gate)
                qi.append(-1)
                qc.append(ms.q[i])
                continue
            for lo, group in st.groups():         # one sub-step per set of blocks served (sparse.model.analyze)
                keys.append([kidx[k] for k in group if k in kidx])
                gates.append(st.gate)
                # the array's spatial loops are the mapping levels ROWS and COLS (the GLB's fanout)
                span = (ROWS_LEVEL, COLS_LEVEL) if LEVELS.index(GLB) in _spanned(h, st, lo) else ()
                first = NO_LOOPS if st.child == n else START[st.child]
                fs = ons[i]
                assert fs is not None
                if st.child == n and not span:     # the compute: each access serves one MAC
                    qi.append(-1)
                    qc.append(group_q(fs, st, problem, None, models, n))
                    continue
                qi.append(len(self.q_fns))
                qc.append(0.0)

                reuse = _reuse_dims(problem, st) if st.child < n else None
                slide = _slide_dims(problem, st) if reuse is not None and self.memo.slide_radix else None
                by_runs = bool(self.memo.runs_max)

                def q(e: np.ndarray, st: Step = st, by_runs: bool = by_runs, slid: bool = slide is not None,
                      fs: tuple = fs) -> float:
                    return group_q(fs, st, problem, _extents(problem, e, self.memo, by_runs, slid), models, n)

                self.q_fns.append(self.memo.span(q, first, span, dim_axes(problem), reuse=reuse, runs=True, slide=slide)
                                  if span or reuse else self.memo.tile(q, first, dim_axes(problem)))
        S, W = max(1, len(keys)), max([len(ks) for ks in keys] + [1])
        self.st_keys = np.full((1, S, W), -1, dtype=np.int64)
        for s_, ks in enumerate(keys):
            self.st_keys[0, s_, :len(ks)] = ks
        self.st_gate = np.array([gates + [False] * (S - len(gates))], dtype=np.bool_)
        self.st_qi = np.array([qi + [-1] * (S - len(qi))], dtype=np.int64)
        self.st_qc = np.array([qc + [0.0] * (S - len(qc))], dtype=np.float64)
        self.st_n = np.array([len(keys)], dtype=np.int64)
        self.eff, self.gated_macs, self.skipped_macs = ms.effective, ms.gated, ms.skipped
        self.skip = _Skipping(spec, models, pl, problem, self.skipped_macs, layer.macs, self.memo)
        self.look = _Lookups(self.memo, -1, self.pairs, self.q_fns, self.skip)
        gated_keys = {k for ks, g in zip(keys, gates) if g for k in ks}
        e_idx, e_w = _Terms(self.keys, n_storage, h.compute.name, arch_table(arch)).select(
            list(self.src[0]), gated_keys, self.gated_macs)
        self.e_idx, self.e_w, self.e_len = e_idx[None, :], e_w[None, :], np.array([len(e_idx)], dtype=np.int64)
        # the latency bound's inputs: DRAM and GLB (one instance each; the count rows merge read and
        # drain, fill and update) and the array network below the GLB (its psum rows as traffic_actions_of_counts)
        lv_out, lv_in, lv_den = [], [], []
        for li, name in enumerate((DRAM, GLB)):
            level = h.levels[li]
            lv_out.append([kidx[(name, r, READ)] for r in ROLES])
            lv_in.append([kidx[(name, r, FILL)] for r in ROLES])
            lv_den.append([level.read_bandwidth or 0.0, level.write_bandwidth or 0.0, level.bandwidth or 0.0])
        self.lv_out = np.array(lv_out, dtype=np.int64)
        self.lv_in = np.array(lv_in, dtype=np.int64)
        self.lv_den = np.array(lv_den, dtype=np.float64)
        from noc.registry import network_bound

        fan = h.levels[1].fanout
        assert fan is not None
        self.net_ab = np.array(network_bound(fan.network, fan.params), dtype=np.float64).reshape(1, 4, 2)

        def g(r: str, a: str) -> int:
            return kidx[(GLB, r, a)]
        self.net_keys = np.array([[[g(IFMAP, DOWN_DEST), g(IFMAP, DOWN), -1], [g(WEIGHT, DOWN_DEST), g(WEIGHT, DOWN), -1],
                                   [g(PSUM, DOWN_DEST), g(PSUM, DOWN_DEST), -1],
                                   [g(PSUM, UP_SRC), g(PSUM, DOWN), g(PSUM, DOWN_DEST)]]], dtype=np.int64)
        self.net_den = np.ones(1, dtype=np.float64)
        # capacity: per level, its stores (sparse.model.capacity_checks) and per kept (role, part) its
        # words per dense tile word, or a cache
        self.caps: list[tuple[int, tuple[CapacityCheck, ...], dict[tuple[str, str], tuple[float, int]]]] = []
        checks = capacity_checks(h, spec)
        for li in (LEVELS.index(GLB), LEVELS.index(RF), LEVELS.index(REG)):
            level = h.levels[li]
            kept = nest.levels[li].keeps
            here = tuple(c for c in checks if c.level == level.name)
            per_part: dict[tuple[str, str], tuple[float, int]] = {}
            for r, part in (m for c in here for m in c.members):
                if r not in kept or (r, part) in per_part:
                    continue
                fmt = spec.format_on(level.name, r, problem)
                model = DENSE if spec.capacity == WORST else models.get(r, DENSE)
                if fmt.tile_free:
                    per_part[(r, part)] = (fmt.part_per_word(part, model, problem.elements(r), self.wb), -1)
                else:
                    per_part[(r, part)] = (0.0, self.memo.tile(_part_words(fmt, part, model, problem.elements(r),
                                                                           self.wb), START[li], role_axes(problem, r)))
            self.caps.append((li, here, per_part))

    # ---- capacity ---------------------------------------------------------------------------
    def words(self, factors: np.ndarray, lay: np.ndarray, li: int) -> dict[tuple[str, str], np.ndarray]:
        """Per kept (role, part), (B,) compressed words of its tile at level ``li`` (an index of LEVELS
        below DRAM)."""
        _, _, per_part = self.caps[li - 1]
        out = {}
        dense = (_needs(lay, factors, START[li]) if START[li] < NO_LOOPS
                 else np.ones((len(factors), N_ROLES), dtype=np.int64))
        fns = [fn for _, fn in per_part.values() if fn >= 0]
        groups, col, slot = self.memo.columns(fns)
        idx = self.memo.resolve(groups, np.ascontiguousarray(factors, dtype=np.int64))
        for (r, part), (c, fn) in per_part.items():
            if fn < 0:
                out[(r, part)] = dense[:, ROLES.index(r)] * c
            else:
                j = fns.index(fn)
                out[(r, part)] = self.memo.vals[idx[:, col[j]], slot[j]]
        return out

    def over(self, factors: np.ndarray, lay: np.ndarray, li: int) -> np.ndarray:
        """(B, G) whether each capacity group of level ``li`` overflows by compressed size (columns as the
        level's groups; a role's own metadata store overflowing marks its group)."""
        _, checks, _ = self.caps[li - 1]
        w = self.words(factors, lay, li)
        data = [c for c in checks if not c.metadata]
        out = np.zeros((len(factors), len(data)), dtype=bool)
        for store in checks:
            used: np.ndarray | int = 0
            for m in store.members:
                used = used + w.get(m, np.zeros(len(factors)))
            g = next((k for k, c in enumerate(data) if store.members[0][0] in (r for r, _ in c.members)), None) \
                if store.metadata else data.index(store)
            if g is None:
                out = np.concatenate([out, np.zeros((len(factors), 1), dtype=bool)], axis=1)
                g = out.shape[1] - 1
            out[:, g] |= used > store.words
        return out

    def glb_over(self, factors: np.ndarray, lay: np.ndarray) -> np.ndarray:
        return self.over(factors, lay, LEVELS.index(GLB))

    def rf_fits(self, factors: np.ndarray, lay: np.ndarray) -> np.ndarray:
        fits = ~self.over(factors, lay, LEVELS.index(RF)).any(axis=1)
        return np.asarray(fits & ~self.over(factors, lay, LEVELS.index(REG)).any(axis=1))

    # ---- scores -----------------------------------------------------------------------------
    def score(self, counts: np.ndarray, factors: np.ndarray, orders: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(energy pJ, latency-bound cycles) of each row (its mapping's ``factors`` and DRAM / GLB / RF
        ``orders``), as the slow sparse path (module docstring)."""
        B = counts.shape[0]
        c = np.ascontiguousarray(counts, dtype=np.int64)
        look = self.look
        idx = self.memo.resolve(look.groups, np.ascontiguousarray(factors, dtype=np.int64), active=c[:, COL_ACTIVE_PES],
                                orders=np.ascontiguousarray(orders, dtype=np.int64))
        energy = np.empty(B, dtype=np.float64)
        cycles = np.empty(B, dtype=np.float64)
        _score_rows(self.prepared, self.live, c, self.kcol, idx, self.memo.vals, look.col, look.slot, self.src,
                    self.pairs.const, self.st_keys, self.st_gate, self.st_qi, self.st_qc, self.st_n, self.e_idx, self.e_w, self.e_len,
                    self.eff, self.gated_macs, self.skip.mode, self.skip.p, COLUMNS.index("cycles"), self.lv_out,
                    self.lv_in, self.lv_den, self.net_keys, self.net_ab, self.net_den, energy, cycles, self.gen)
        return energy, cycles


@njit(cache=True)
def _unfilled(idx, pcol, pslot, col, slot, vals, uses):
    """The memo rows (column ``col`` of ``idx``) whose value at ``slot`` is still NaN, of the rows
    whose keeps pattern (column ``pcol``, value at ``pslot``) ``uses`` it (repeats kept)."""
    out = np.empty(idx.shape[0], dtype=np.int64)
    n = 0
    for b in range(idx.shape[0]):
        if uses[int(vals[idx[b, pcol], pslot])]:
            r = idx[b, col]
            if np.isnan(vals[r, slot]):
                out[n] = r
                n += 1
    return out[:n]


@njit(cache=True)
def _needs(lay, factors, first_level):
    out = np.zeros((factors.shape[0], N_ROLES), dtype=np.int64)
    for i in range(factors.shape[0]):
        need = _tile_need(lay, factors[i], first_level)
        for k in range(N_ROLES):
            out[i, k] = need[k]
    return out


@njit(cache=True, inline="always")
def _live_only(keys, is_live):
    """Per row of ``keys`` its live keys (in order) and how many."""
    out = np.empty_like(keys)
    n = np.zeros(keys.shape[0], dtype=np.int64)
    for i in range(keys.shape[0]):
        for j in range(keys.shape[1]):
            if is_live[keys[i, j]]:
                out[i, n[i]] = keys[i, j]
                n[i] += 1
    return out, n


def _score_rows(prepared: dict, live: np.ndarray, c: np.ndarray, kcol: np.ndarray, idx, vals, col, slot, src, pconst,
                st_keys, st_gate, st_qi, st_qc, st_n, e_idx, e_w, e_len, eff, gmacs, mode, skip_p, c_cycles, lv_out,
                lv_in, lv_den, net_keys, net_ab, net_den, energy, cycles, gen: dict) -> None:
    """:func:`_kernel` (or its generated form, :func:`_row_kernel`) with the scorer's live keys ``live``
    (K,) bool, grown (here, for good) by the keys nonzero in this batch when a row has one outside them,
    and the batch scored again. ``prepared``: the scorer's :func:`_prepare` of its patterns and live keys
    (made again when either changed: patterns are only appended, so their count and table widths name
    them)."""
    kernel = _row_kernel(gen, c, kcol, lv_out, lv_in, lv_den, net_keys)
    while True:
        key = (src.shape[0], e_idx.shape[1], st_keys.shape[1:], live.tobytes())
        prep = prepared.get(key)
        if prep is None:
            prepared.clear()
            prep = prepared[key] = _prepare(live, c.shape[1], kcol, src, pconst.shape[1], e_idx, e_w, e_len, lv_out,
                                            lv_in, lv_den)
        off, lk, fk, fj, nc, t_idx, t_w, t_len, o_keys, o_n, i_keys, i_n, bw_levels = prep
        if kernel(c, kcol, off, lk, fk, fj, nc, idx, vals, col, slot, pconst, st_keys, st_gate, st_qi, st_qc, st_n, t_idx,
                  t_w, t_len, eff, gmacs, mode, skip_p, c_cycles, o_keys, o_n, i_keys, i_n, lv_den, bw_levels,
                  net_keys, net_ab, net_den, energy, cycles) < 0:
            return
        live |= (c[:, kcol] != 0).any(axis=0)


_TEMPLATE: list[str] = []


def _row_kernel(gen: dict, c: np.ndarray, kcol: np.ndarray, lv_out, lv_in, lv_den, net_keys):
    """:func:`_kernel`, or its form generated for the scorer's structure (``mapper.score_kernel``: the
    same rows; ~5 s of numba compile once per structure and machine) for batches of
    ``score_kernel.GENERATED_MIN`` rows or more and any batch once this process has loaded it;
    ``gen["generated"]`` True / False forces it or the generic one."""
    want = gen.get("generated")
    if want is False:
        return _kernel
    shape = gen.get("shape")
    if shape is None or shape[1] != c.shape[1]:
        shape = gen["shape"] = score_kernel.structure(kcol, c.shape[1], lv_out, lv_in, lv_den, net_keys)
    fn = score_kernel.loaded_kernel(shape)
    if fn is None and (want or c.shape[0] >= score_kernel.GENERATED_MIN):
        if not _TEMPLATE:
            import inspect
            _TEMPLATE.append(inspect.getsource(_kernel.py_func))
        fn = score_kernel.kernel_for(shape, _TEMPLATE[0])
    return _kernel if fn is None else fn


@njit(cache=True)
def _prepare(cand, width, kcol, src, n_pairs, e_idx, e_w, e_len, lv_out, lv_in, lv_den):
    """What :func:`_kernel` reads per row, for the live keys ``cand`` (K,) bool: per count column -1 (every
    bit: the kernel's check is an AND, vectorised; an int64 product is not with AVX2) when it must be 0 (a
    key not live); the live keys; per pattern and live key its pair (``n_pairs``: uncompressed); per pattern
    its energy terms of live values (a dead key's value is 0.0 and adds 0.0); per level with a bandwidth its
    live read + drain and fill + update keys."""
    K = kcol.shape[0]
    off = np.zeros(width, dtype=np.int64)
    live = np.zeros(K, dtype=np.int64)
    n_live = 0
    for k in range(K):
        if cand[k]:
            live[n_live] = k
            n_live += 1
        else:
            off[kcol[k]] = -1
    is_live = np.zeros(3 * K + 2, dtype=np.bool_)
    for kk in range(n_live):
        is_live[live[kk]] = True
        is_live[K + live[kk]] = True
        is_live[2 * K + live[kk]] = True
    is_live[3 * K] = True
    is_live[3 * K + 1] = True
    P = e_idx.shape[0]
    t_idx = np.empty_like(e_idx)
    t_w = np.empty_like(e_w)
    t_len = np.zeros(P, dtype=np.int64)
    for p in range(P):
        n = 0
        for e in range(e_len[p]):
            if is_live[e_idx[p, e]]:
                t_idx[p, n] = e_idx[p, e]
                t_w[p, n] = e_w[p, e]
                n += 1
        t_len[p] = n
    o_keys, o_n = _live_only(lv_out, is_live)
    i_keys, i_n = _live_only(lv_in, is_live)
    bw_levels = np.zeros(lv_den.shape[0], dtype=np.int64)
    n_bw = 0
    for li in range(lv_den.shape[0]):
        if lv_den[li, 0] > 0.0 or lv_den[li, 1] > 0.0 or lv_den[li, 2] > 0.0:
            bw_levels[n_bw] = li
            n_bw += 1
    fk = np.empty((src.shape[0], n_live), dtype=np.int64)    # per pattern its compressed live keys
    fj = np.empty((src.shape[0], n_live), dtype=np.int64)    # and their pairs
    nc = np.zeros(src.shape[0], dtype=np.int64)
    for p in range(src.shape[0]):
        for kk in range(n_live):
            j = src[p, live[kk]]
            if j >= 0:
                fk[p, nc[p]] = live[kk]
                fj[p, nc[p]] = j
                nc[p] += 1
    return off, live[:n_live].copy(), fk, fj, nc, t_idx, t_w, t_len, o_keys, o_n, i_keys, i_n, bw_levels[:n_bw].copy()


@njit(cache=True)
def _kernel(c, kcol, off, lk, fk, fj, nc, idx, vals, col, slot, pconst, st_keys, st_gate, st_qi, st_qc, st_n, t_idx, t_w,
            t_len, eff, gmacs, mode, skip_p, c_cycles, o_keys, o_n, i_keys, i_n, lv_den, bw_levels, net_keys, net_ab,
            net_den, energy, cycles):
    """Per row b (a memo value: ``vals[idx[b, col[i]], slot[i]]`` as ``_Lookups`` numbers them; col -1:
    not looked up): its keeps pattern p (value 0, or pattern 0); data / metadata words per key (the
    count; a compressed key's times its pair j's factors, value 2 + j or ``pconst``); the steps in
    order (q: value 2 + pairs + ``st_qi`` or the pattern's constant); the energy terms in canonical
    order (``v[t_idx]``: data K, metadata K, gated K, effective and gated MACs); then the latency bound
    (module docstring; with ``mode`` 1 the dense cycles x the skipping factor, value 1 or ``skip_p``).
    Row by row, in order (the rows are read once, as the dense kernel wrote them: taking them by
    keeps pattern, 32 at a time as vectors, was 1.3x faster on rows in cache but slower on a batch
    the dense kernel had just written, and on the search's batches of 512).

    Only the live keys (:func:`_prepare`: ``lk``) are filled, stepped, priced and bounded: the others must
    be 0 in every row and their words are never copied (they stay 0.0 from the start, row after row: a
    step moves q x 0.0 = 0.0 with q a fraction, an energy term or a bound adds 0.0; copying the live
    ones only: 0.159 -> 0.152 us per nest on the clustered Eyeriss v2 benchmark).
    Returns -1, or the first row with a nonzero count in a column ``off`` (its caller grows the live
    keys and scores again): each row is checked as it is scored, so the rows are read once."""
    K = kcol.shape[0]                     # <K> (mapper.score_kernel: these marked lines are specialised)
    B = c.shape[0]
    NJ = pconst.shape[1]
    pd = pconst[0].copy()
    pm = pconst[1].copy()
    q0 = 2 + NJ                           # the first step fraction's value
    v = np.zeros(3 * K + 2)               # metadata and gated words are 0.0 between rows (reset after each)
    v[3 * K] = eff
    v[3 * K + 1] = gmacs
    W = c.shape[1]
    G = idx.shape[1]
    V = vals.shape[1]
    for b in range(B):
        # prefetched: the row and memo values of row b + 2 (the pattern tables of row b + 1's pattern as
        # well was measured slower: a few hundred patterns' tables stay in cache)
        ba = b + 2 if b + 2 < B else b
        for j in range(0, W, 8):
            _prefetch(c, ba * W + j)
        for j in range(G):
            if idx[ba, j] >= 0:           # (-1: a group the row's pattern does not read)
                _prefetch(vals, idx[ba, j] * V)
        outside = 0
        for j in range(c.shape[1]):       # <W> contiguous, no branch: vectorised
            outside |= c[b, j] & off[j]
        if outside != 0:
            return b
        p = int(vals[idx[b, col[0]], slot[0]]) if col[0] >= 0 else 0
        for j in range(NJ):
            if col[2 + j] >= 0:
                r = idx[b, col[2 + j]]
                if r >= 0:                # (-1: a pair the row's pattern does not read)
                    pd[j] = vals[r, slot[2 + j]]
                    pm[j] = vals[r, slot[2 + j] + 1]
        for kk in range(lk.shape[0]):     # the live keys' words (a key not live stays 0.0 from the start)
            k = lk[kk]
            v[k] = float(c[b, kcol[k]])   # <copy>
        for kk in range(nc[p]):           # the compressed ones: data and metadata words by their pair
            k = fk[p, kk]
            j = fj[p, kk]
            w = v[k]
            v[k] = w * pd[j]
            v[K + k] = w * pm[j]
        for s in range(st_n[p]):
            qj = st_qi[p, s]
            q = vals[idx[b, col[q0 + qj]], slot[q0 + qj]] if qj >= 0 else st_qc[p, s]
            for j in range(st_keys.shape[2]):
                k = st_keys[p, s, j]
                if k < 0:
                    break
                dq = v[k] * q
                v[k] = v[k] - dq
                if st_gate[p, s]:
                    v[2 * K + k] = v[2 * K + k] + dq
                else:
                    v[K + k] = v[K + k] - v[K + k] * q
        acc = 0.0
        for e in range(t_len[p]):
            acc = acc + v[t_idx[p, e]] * t_w[p, e]
        energy[b] = acc
        # the latency bound of the compressed words (data + metadata + gated per key)
        dense_cycles = float(c[b, c_cycles])
        if mode == 1:
            cyc = dense_cycles * (vals[idx[b, col[1]], slot[1]] if col[1] >= 0 else skip_p)
        else:
            cyc = dense_cycles
        best = float(math.ceil(cyc))
        # <bound>
        for ll in range(bw_levels.shape[0]):
            li = bw_levels[ll]
            out_w = 0.0
            for j in range(o_n[li]):
                k = o_keys[li, j]
                out_w = out_w + ((v[k] + v[K + k]) + v[2 * K + k])
            in_w = 0.0
            for j in range(i_n[li]):
                k = i_keys[li, j]
                in_w = in_w + ((v[k] + v[K + k]) + v[2 * K + k])
            # the maxima as selects, not branches (which part binds varies from row to row)
            if lv_den[li, 0] > 0.0:
                x = out_w / lv_den[li, 0]
                best = x if x > best else best
            if lv_den[li, 1] > 0.0:
                x = in_w / lv_den[li, 1]
                best = x if x > best else best
            if lv_den[li, 2] > 0.0:
                x = (out_w + in_w) / lv_den[li, 2]
                best = x if x > best else best
        for f in range(net_keys.shape[0]):
            busiest = 0.0
            for s in range(4):
                k = net_keys[f, s, 0]
                delivered = (v[k] + v[K + k]) + v[2 * K + k]
                k = net_keys[f, s, 1]
                distinct = (v[k] + v[K + k]) + v[2 * K + k]
                k = net_keys[f, s, 2]
                if k >= 0:
                    distinct = distinct - ((v[k] + v[K + k]) + v[2 * K + k])
                x = net_ab[f, s, 0] * delivered + net_ab[f, s, 1] * distinct
                busiest = x if s == 0 or x > busiest else busiest
            x = busiest / net_den[f]
            best = x if x > best else best
        # </bound>
        cycles[b] = best
        for kk in range(nc[p]):
            v[K + fk[p, kk]] = 0.0
        for s in range(st_n[p]):
            if st_gate[p, s]:
                for j in range(st_keys.shape[2]):
                    k = st_keys[p, s, j]
                    if k < 0:
                        break
                    v[2 * K + k] = 0.0
    return -1


__all__ = ["NestSparseBatch", "SparseBatch", "unsupported"]
