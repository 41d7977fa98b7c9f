"""Exact gating / skipping of a storage level's reads under actual masks: the refill events a feature
makes ineffective, and the words they would have moved.

A storage feature at level L for tensor r on condition roles C acts on the hop L -> child (the next
level keeping r, or the compute): L's reads of r, the hop's network words and the child's fills.
Under actual masks of every condition role it is counted event by event (the brute-force interpreter
counts the same, tests/test_sparse_exact_gating.py):

- a **block** is the set of points sharing the digits of every loop above the child's cut (one child
  instance during one of its tiles; at the compute, one MAC). It is *ineffective* when some condition
  role has no nonzero among the coordinates its points touch (padding reads zero): the condition's
  co-temporal tile at the child is empty;
- a **refill event** is one of the dense counting rules' events (``accelsim.cost.actions``): a parent
  read serves the union of the child instances below it (multicast) for every iteration it is reused
  (stationarity); an event is *ineffective* when every block among its points is — nothing downstream
  uses it. A read multicast to k destinations is thus ineffective only when all k are;
- an ineffective event's dense words (its tile's in-range elements, minus the overlap a sliding refill
  keeps) are gated or skipped, in the action's format: times its rho_L (``accelsim.sparse.exact``,
  applied by the caller, ``accelsim.sparse.model.analyze``). The schedule does not change: the next sliding refill still moves
  only its own new words, so per action effective + gated + skipped words = the words without the
  feature (the choice between "refetch what a gated refill did not bring" and this partition is this one);
- several features on the same (level, tensor) act in order: the k-th removes the events ineffective
  under it and under none of the earlier ones;
- a compute feature's read-modify-write of the output at the level feeding the compute is the same
  count with the output as the tensor, the compute as the child (blocks: MACs) and the MAC features'
  conditions so far as one group (``accelsim.sparse.model.analyze``): an update that reduces several
  PEs' MACs is ineffective only when all of them are.

:class:`DeadOracle` answers ``accelsim.cost.actions.assemble``'s questions with the ineffective events'
measures (one hop, one tensor), vectorised over the flattened loops' digit grid, one axis per loop
above the event tile, never broadcast in memory: per condition role, whether each block's tile holds a
nonzero (a separable contraction of the mask with per-axis membership matrices), spread over the loops
of the condition dims, reduced over the loops an event spans; the loops of other dims change no block,
so they enter as counts (their cells' existence under ceil tiling a factor per dim); each event's dense
words the product of its axes' value counts. Its memory is the conditions' blocks (refused above
:data:`MAX_CELLS`).
:func:`per_mac_dead` is the closed form of the common case where each read serves one MAC (child the
compute, no spatial loop at or below L, ifmap / weight conditions): counts of MACs over the masks
(``accelsim.sparse.masks.effective_macs``), no grid. Invariant: the dead words of a key never exceed its
dense words.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from accelsim.cost.actions import PREFIX, TILE, Analytic
from accelsim.errors import ConfigError
from accelsim.loopnest import Flat
from accelsim.names import IFMAP, WEIGHT
from accelsim.problem import Problem
from accelsim.sparse.masks import effective_macs

MAX_CELLS = 1 << 27      # condition blocks the exact gating may walk (their masks' reduction: memory)


def _offsets(flat: Flat, positions: list[int]) -> np.ndarray:
    """Every sum of digit x span over the loops at ``positions`` (one dim's), sorted."""
    vals = np.zeros(1, dtype=np.int64)
    for i in positions:
        lp = flat.loops[i]
        vals = (vals[:, None] + np.arange(lp.factor, dtype=np.int64)[None, :] * lp.span).ravel()
    return np.sort(vals)


def _digits_base(flat: Flat, positions: list[int]) -> np.ndarray:
    """Per digit tuple of the loops at ``positions`` (C order, outer first), sum of digit x span."""
    base = np.zeros(1, dtype=np.int64)
    for i in positions:
        lp = flat.loops[i]
        base = (base[:, None] + np.arange(lp.factor, dtype=np.int64)[None, :] * lp.span).ravel()
    return base


class DeadOracle:
    """The ineffective events of one hop of ``role`` (module docstring): ``volume`` answers, for the hop's
    tile cut ``hop_cut``, the dense words of the events ineffective under any of ``groups`` (each a tuple
    of condition roles, their masks in ``masks``); any other role or cut measures zero. ``block_cut``: the
    child level's cut (its blocks)."""

    def __init__(self, problem: Problem, flat: Flat, role: str, groups: list[tuple[str, ...]],
                 masks: dict[str, np.ndarray], hop_cut: int, block_cut: int):
        self.problem, self.flat, self.role = problem, flat, role
        self.groups, self.masks = groups, masks
        self.hop_cut, self.block_cut = hop_cut, block_cut
        self.analytic = Analytic(problem, flat)
        self._cells: dict = {}
        self._volumes: dict = {}
        self.support = {d for g in groups for c in g for d in problem.relevant(c)}     # the condition dims

    def macs(self) -> int:
        return 0

    def cycles(self) -> int:
        return 0

    def first(self, role: str, parent: int, cut: int) -> int:
        return 0

    # ---- the blocks ------------------------------------------------------------------------------

    def _alive(self, c: str) -> np.ndarray:
        """Per block (one axis per problem dim: the dim's tile index above the block cut; 1 where c does
        not depend on the dim), whether c's tile in it holds a nonzero."""
        problem, flat, bc = self.problem, self.flat, self.block_cut
        loops = flat.loops
        tensor = problem.tensor(c)
        idx_of: dict[str, np.ndarray] = {}        # per dim: (tiles, offsets) indices, -1 out of range
        for d in tensor.dims:
            above = [i for i in range(bc) if loops[i].dim == d]
            below = [i for i in range(bc, len(loops)) if loops[i].dim == d]
            base = _digits_base(flat, above)
            idx = base[:, None] + _offsets(flat, below)[None, :]
            idx_of[d] = np.where(idx < problem.size(d), idx, -1)
        t = np.asarray(self.masks[c] != 0, dtype=np.float32)     # only > 0 matters: sums of 0/1 never cancel
        labels: list[str] = []
        for a, coord in enumerate(tensor.coords):
            dims = [d for d, _ in coord.terms]
            if len(set(dims)) != len(dims) or set(dims) & set(labels):
                raise ConfigError(f"{problem.name}: a dim indexes two axes of {c}: exact gating needs each dim "
                                  f"in one axis")
            v = np.full((1, 1), coord.offset, dtype=np.int64)
            ok = np.ones((1, 1), dtype=bool)
            for d, k in coord.terms:      # (combos, values): combos in C order over the axis's dims
                ix = idx_of[d]
                v = (v[:, None, :, None] + k * ix[None, :, None, :]).reshape(v.shape[0] * ix.shape[0], -1)
                ok = (ok[:, None, :, None] & (ix >= 0)[None, :, None, :]).reshape(v.shape)
            ok &= (v >= 0) & (v < coord.size)
            member = np.zeros((v.shape[0], coord.size), dtype=np.float32)
            rows = np.broadcast_to(np.arange(v.shape[0])[:, None], v.shape)
            member[rows[ok], v[ok]] = 1.0
            t = np.minimum(np.moveaxis(np.tensordot(member, t, axes=([1], [a])), 0, a), 1.0)
            labels += dims
        alive = (t > 0).reshape([idx_of[d].shape[0] for d in labels])
        alive = alive.transpose([labels.index(d) for d in problem.dim_names if d in labels])
        return alive.reshape([idx_of[d].shape[0] if d in labels else 1 for d in problem.dim_names])

    def _cell_grid(self) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        """Over the digits of the loops above the hop's tile (one axis per loop, outermost first, size 1
        where the value does not depend on the loop: nothing is broadcast in memory): per group, whether
        the cell's block is ineffective or the cell has no point, over the axes of the condition dims
        (``self.support``) alone; and per dim whether the cell's start is inside it (ceil tiling; a dim
        without overshoot is left out: always inside)."""
        if self._cells:
            return self._cells["dead"], self._cells["exists"]
        problem, flat, bc, cut = self.problem, self.flat, self.block_cut, self.hop_cut
        loops = flat.loops
        dims = problem.dim_names
        size = math.prod(loops[i].factor for i in range(bc) if loops[i].dim in self.support)
        if size > MAX_CELLS:
            raise ConfigError(f"{problem.name}: exact gating of {self.role} under actual masks walks {size:,} blocks "
                              f"of its conditions (limit {MAX_CELLS:,}): give a condition a uniform density, or a "
                              f"smaller layer")
        exists: dict[str, np.ndarray] = {}
        for d in dims:
            pos = [i for i in range(cut) if loops[i].dim == d]
            base = _digits_base(flat, pos)
            if base.max() >= problem.size(d):
                shape = [1] * cut
                for i in pos:
                    shape[i] = loops[i].factor
                exists[d] = (base < problem.size(d)).reshape(shape)
        inside = np.ones([1] * cut, dtype=bool)
        for d, e in exists.items():
            if d in self.support:
                inside = inside & e
        alive = {c: self._alive(c) for c in sorted({c for g in self.groups for c in g})}
        above = {d: [i for i in range(bc) if loops[i].dim == d] for d in dims}
        order = [i for d in dims for i in above[d]]
        perm = [order.index(i) for i in range(bc)]

        def spread(arr: np.ndarray) -> np.ndarray:
            """Per-dim tile indices (size 1: independent) -> one axis per loop above the hop's tile."""
            split = [(loops[i].factor if arr.shape[j] > 1 else 1) for j, d in enumerate(dims) for i in above[d]]
            out = arr.reshape(split).transpose(perm)
            return out[(...,) + (None,) * (cut - bc)]

        dead = []
        for g in self.groups:
            block_dead = np.zeros([1] * len(dims), dtype=bool)
            for c in g:
                block_dead = block_dead | ~alive[c]
            dead.append(spread(block_dead) | ~inside)
        self._cells.update(dead=dead, exists=exists)
        return dead, exists

    # ---- the events -----------------------------------------------------------------------------

    def volume(self, role: str, cut: int, instance: frozenset[int], streamed: bool) -> Any:
        if role != self.role or cut != self.hop_cut:
            return 0.0, 0.0
        key = (instance, streamed)
        if key not in self._volumes:
            self._volumes[key] = self._volume(cut, instance, streamed)
        return self._volumes[key]

    def _volume(self, cut: int, instance: frozenset[int], streamed: bool) -> Any:
        """Events = digit tuples of the prefix loops; an event counts when it has a point and all its cells
        (over the spanned loops) are ineffective. The cells' existence factors over dims, so the count is
        a product of one factor over the condition dims' axes and one per other dim with overshoot (a cell
        of a dim outside the conditions changes no block: ``all`` over it keeps the block's value, ``any``
        of its existence is its own factor); each factor is summed over the prefix loops the tensor's
        tile does not depend on before the words are weighed."""
        role = self.role
        loops = self.flat.loops
        loop_roles, slide = self.analytic.roles(role, cut, instance, streamed)
        prefix = [i for i in range(cut) if loop_roles[i] == PREFIX]
        spanned = [i for i in range(cut) if loop_roles[i] != PREFIX]
        dead_g, exists = self._cell_grid()
        dead = np.zeros([1] * cut, dtype=bool)
        for dg in dead_g:       # an event is ineffective when all its cells are (reduce only real axes)
            dead = dead | dg.all(axis=tuple(i for i in spanned if dg.shape[i] > 1), keepdims=True)
        factors = [dead]        # [the condition dims' factor, then one per other dim with overshoot]
        owner: dict[str, int] = {}
        for d, e in exists.items():
            ex = np.asarray(e.any(axis=tuple(i for i in spanned if e.shape[i] > 1), keepdims=True))
            if d in self.support:
                factors[0] = factors[0] & ex
            else:
                owner[d] = len(factors)
                factors.append(ex)
        factors = [f.reshape([f.shape[i] for i in prefix]).astype(np.float64) for f in factors]   # counts < 2^53
        if not factors[0].any():
            return 0.0, 0.0
        cur, ovl = self._event_measures(loop_roles, slide, prefix)
        for j, i in enumerate(prefix):
            if cur.shape[j] > 1:
                continue
            k = owner.get(loops[i].dim, 0)      # the one factor that varies along the loop (if any)
            factors[k] = factors[k].sum(axis=j, keepdims=True) if factors[k].shape[j] > 1 else factors[k] * loops[i].factor
        per_tile = factors[0]
        for f in factors[1:]:
            per_tile = per_tile * f
        for j in range(per_tile.ndim):
            if per_tile.shape[j] == 1 and cur.shape[j] > 1:     # the same count for every tile along it
                cur, ovl = cur.sum(axis=j, keepdims=True), ovl.sum(axis=j, keepdims=True)
        axes = list(range(per_tile.ndim))
        return (float(np.tensordot(per_tile, cur, axes=(axes, axes))),
                float(np.tensordot(per_tile, ovl, axes=(axes, axes))))

    def _event_measures(self, loop_roles: list[int], slide: int, prefix: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Per event (one axis per prefix loop, 1 where the tile does not depend on it) its tile's dense
        words (in-range elements), and its sliding overlap's (0 when it does not slide)."""
        problem, flat = self.problem, self.flat
        loops = flat.loops
        rel = problem.relevant(self.role)
        per_dim: dict[str, tuple[list[int], list, list]] = {}
        for d in rel:
            pre = [i for i in prefix if loops[i].dim == d]
            offs = _offsets(flat, [i for i, lp in enumerate(loops) if lp.dim == d and loop_roles[i] == TILE])
            D = problem.size(d)
            cur_t, prev_t = [], []
            for digits in itertools.product(*[range(loops[i].factor) for i in pre]):
                base = sum(v * loops[i].span for v, i in zip(digits, pre))
                ix = base + offs
                cur_t.append(ix[ix < D] if base < D else ix[:0])
                prev = None
                for v, i in zip(digits, pre):
                    if i == slide and v >= 1:
                        px = base - loops[i].span + offs
                        prev = px[px < D]
                prev_t.append(prev)
            per_dim[d] = (pre, cur_t, prev_t)
        axes_cur, axes_ovl, labels = [], [], []
        sliding_axis = None
        for a, coord in enumerate(problem.tensor(self.role).coords):
            dims = [d for d, _ in coord.terms]
            cur_vals, ovl_vals = [], []
            for combo in itertools.product(*[range(len(per_dim[d][1])) for d in dims]):
                cur = _axis_values(coord, [per_dim[d][1][j] for d, j in zip(dims, combo)])
                prev = None
                for jj, (d, j) in enumerate(zip(dims, combo)):
                    p = per_dim[d][2][j]
                    if p is not None:
                        prev = _axis_values(coord, [p if kk == jj else per_dim[dd][1][m]
                                                    for kk, (dd, m) in enumerate(zip(dims, combo))])
                        sliding_axis = a
                cur_vals.append(cur)
                ovl_vals.append(np.intersect1d(cur, prev) if prev is not None else cur[:0])
            axes_cur.append(cur_vals)
            axes_ovl.append(ovl_vals)
            labels += dims
        cur = _box_volumes(axes_cur)
        if sliding_axis is None:
            ovl = np.zeros_like(cur)
        else:
            ovl = _box_volumes([axes_ovl[b] if b == sliding_axis else axes_cur[b] for b in range(len(axes_cur))])
        # (per axis its combos) -> per label dim its prefix loops' digits -> prefix loops in position order
        split = [loops[i].factor for d in labels for i in per_dim[d][0]]
        order = [i for d in labels for i in per_dim[d][0]]
        shape = [loops[i].factor if i in order else 1 for i in prefix]
        perm = [order.index(i) for i in prefix if i in order]

        def place(arr: np.ndarray) -> np.ndarray:
            return arr.reshape(split).transpose(perm).reshape(shape)

        return place(cur), place(ovl)


def _axis_values(coord: Any, index_sets: list[np.ndarray]) -> np.ndarray:
    """The in-range coordinate values of one axis over its dims' index arrays."""
    v = np.full(1, coord.offset, dtype=np.int64)
    for (_, k), ix in zip(coord.terms, index_sets):
        v = (v[:, None] + k * ix[None, :]).ravel()
    v = np.unique(v)
    return v[(v >= 0) & (v < coord.size)]


def _box_volumes(axes: list[list[np.ndarray]]) -> np.ndarray:
    """The element count of every box of the product of the axes' value sets: (len(axes[0]), ...)."""
    out = np.ones([len(v) for v in axes])
    for a, vals in enumerate(axes):
        shape = [1] * len(axes)
        shape[a] = len(vals)
        out = out * np.array([len(v) for v in vals], dtype=float).reshape(shape)
    return out


def per_mac_dead(problem: Problem, role: str, conditions: set[str], masks: dict[str, np.ndarray]) -> int:
    """The reads of ``role`` (its in-range elements: a padding read moves nothing) whose MAC has some
    condition zero, when each read serves one MAC (module docstring): counts of MACs over the masks
    (``accelsim.sparse.masks.effective_macs``). Conditions ifmap / weight, every one an actual mask in
    ``masks``."""
    def count(conds: bool) -> int:
        ones = np.ones(tuple(c.size for c in problem.tensor(role).coords), dtype=bool)
        args = [masks[r] if conds and r in conditions else (ones if r == role else None) for r in (IFMAP, WEIGHT)]
        return effective_macs(problem, *args)

    return count(False) - count(True)


def dead_words(problem: Problem, hierarchy: Any, nest: Any, flat: Flat, role: str, level: int, child: int,
               groups: list[tuple[str, ...]], models: dict,
               keys: tuple[tuple[str, str, str], ...]) -> dict[tuple[str, str, str], float]:
    """Per action key of ``keys`` (actions of the hop ``level`` -> ``child`` of ``role``: the level's
    reads, its updates for the output, the network words of the fanouts it crosses, the child's fill):
    the dense words of the events ineffective under any of ``groups`` (every condition an actual mask
    in ``models``), for the caller to scale by the key's format ratio (``accelsim.sparse.exact``)."""
    from accelsim.cost.actions import assemble

    n = len(nest.levels)
    masks = {c: models[c].mask for g in groups for c in g}
    conds = {c for g in groups for c in g}
    if child == n and not any(lp.spatial and lp.level >= level for lp in flat.loops) and conds <= {IFMAP, WEIGHT} \
            and role in (IFMAP, WEIGHT):
        dead = float(per_mac_dead(problem, role, conds, masks))
        return {k: dead for k in keys}
    acts = assemble(problem, hierarchy, nest, DeadOracle(problem, flat, role, groups, masks, flat.cut_of(child, role),
                                                         flat.cut(child)), flat)
    return {k: float(acts.storage.get(k, acts.network.get(k, 0.0))) for k in keys}


__all__ = ["MAX_CELLS", "DeadOracle", "dead_words", "per_mac_dead"]
