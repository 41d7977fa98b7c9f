"""Exact compressed words under actual masks: every moved tile measured on the mask, in its format.

Under an actual mask (``accelsim.sparse.density.Actual``) of an operand (ifmap, weight), the words an
action moves are not a density times the dense words: each refill / read event moves one tile (the
coordinates its points touch, clipped to the tensor; ``accelsim.cost.actions``), and in a compressed
format that tile costs

- **payload**: its entries after the last rank (the nonzeros for B / CP; every coordinate under a
  present fiber for U / UOP; RLE adds a zero entry per 2^w zeros before a nonzero: on the last rank a
  stored zero; on an inner rank an entry whose sub-fiber is all zeros, stored by the ranks below as
  any fiber, e.g. a bitmask of zeros under B, every coordinate under U: the expected model's reading);
- **metadata**: the format's bits on that tile (``accelsim.sparse.formats`` rank by rank, the tile's
  axes grouped into ranks from the innermost axis): UOP ``(L + 1) * w`` per present fiber, B ``L`` per
  present fiber, CP ``w`` per nonempty coordinate, RLE ``w`` per entry; ``packing`` and ``adaptive``
  per tile as in the expected model.

A sliding refill keeps the overlap with the previous tile: it moves the tile's measure minus the kept
overlap's (an intersection box measured the same way), as the dense count subtracts the overlap's
volume. The event volumes come from the dense counting rules applied once (``accelsim.cost.actions.
assemble``) to :class:`MaskOracle`, whose events are the closed form's (``Analytic.roles`` and its
tiles per dim): a product over the tensor's axes of per-axis value sets, each distinct tile weighted
by the refills of the dims that do not index the tensor. The ground truth is the brute-force
interpreter walking the schedule with a measure of its own (tests/test_sparse_exact.py).

Which format measures an action: a storage action at level L is L's format; a network action of a
hop is the receiving level's (``accelsim.sparse.formats.hop_format_level``: sent down to a child that
stores the tensor compressed, the child's; else the hop parent's, as it holds the data). Invariants: with an uncompressed
format the measure is the dense volume; payload + metadata are exact integers (metadata in bits).
The output (psum) role, whose fills are its updates minus its first touches, is exact in every format
when its axes are each one dim (:func:`exact_for`): its tiles at a cut then partition it, so a tile's
first update touches all of it and the first touches are measured tile by tile (:meth:`MaskOracle.first`);
its mask: the final output's nonzeros, partial sums taken with the same zeros. An output axis of two
dims falls back to element-by-element first touches, exact for the formats :func:`additive` admits.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from accelsim.cost.actions import PREFIX, Analytic, assemble, spatial_above
from accelsim.errors import ConfigError
from accelsim.hierarchy import Hierarchy
from accelsim.loopnest import Flat, LoopNest, flatten
from accelsim.names import OPERAND_ROLES
from accelsim.problem import Problem
from accelsim.sparse.formats import CP, RLE, UOP, B, Format, U, hop_format_level


def tile_measure(fmt: Format, tiles: np.ndarray, word_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(payload entries, metadata bits) of each of ``n`` same-shaped tiles ``tiles`` (n, *extents), bool."""
    n = tiles.shape[0]
    if fmt.inner and tiles.ndim > 2:        # the axes in the order the ranks group them (``Format.on``)
        fmt.ordered(list(tiles.shape[1:]))
        tiles = tiles.transpose(0, *[1 + i for i in fmt.perm])
    ext = list(tiles.shape[1:]) or [1]
    size = math.prod(ext)
    k = len(fmt.ranks)
    if k > len(ext):
        ext = [1] * (k - len(ext)) + ext
    lens = [math.prod(ext[: len(ext) - k + 1])] + ext[len(ext) - k + 1:]
    a = tiles.reshape(n, *lens).astype(bool)
    present = np.ones((n,), dtype=bool)      # fibers entering rank i, over the prefix coordinates
    empty = np.zeros(n)                      # all-zero fibers entering rank i: under an RLE zero entry above
    meta = np.zeros(n)
    for i, rank in enumerate(fmt.ranks):
        nonempty = a.any(axis=tuple(range(i + 2, k + 1))) if i + 1 < k else a     # (n, L0..Li)
        pres = np.broadcast_to(present[..., None], nonempty.shape)
        fibers = present.reshape(n, -1).sum(axis=1) + empty
        if rank.kind == U:
            present = pres.copy()
            empty = empty * lens[i]
        elif rank.kind == UOP:
            meta += fibers * (lens[i] + 1) * rank.bits
            present = pres.copy()
            empty = empty * lens[i]
        elif rank.kind == B:
            meta += fibers * lens[i]
            present = pres & nonempty
            empty = np.zeros(n)
        elif rank.kind == CP:
            present = pres & nonempty
            meta += present.reshape(n, -1).sum(axis=1) * rank.bits
            empty = np.zeros(n)
        elif rank.kind == RLE:      # an all-zero fiber has no entries (trailing zeros need none)
            present = pres & nonempty
            empty = _rle_extras(present.reshape(n, -1, lens[i]), 2 ** rank.bits)
            meta += (present.reshape(n, -1).sum(axis=1) + empty) * rank.bits
        else:       # pragma: no cover - parse_format admits no other kind
            raise ConfigError(f"unknown rank kind {rank.kind!r}")
    payload = present.reshape(n, -1).sum(axis=1) + empty
    if fmt.packing is not None:
        per, bits = fmt.packing
        meta = np.maximum(0.0, payload * bits / per - payload * word_bits)
    if fmt.adaptive:
        keep = payload * word_bits + meta >= size * word_bits
        payload = np.where(keep, float(size), payload)
        meta = np.where(keep, 0.0, meta)
    return payload.astype(float), meta.astype(float)


def _rle_extras(rows: np.ndarray, run: int) -> np.ndarray:
    """Per tile, the zero entries a run field of ``run`` values needs: floor(gap / run) per gap of
    zeros before a nonzero (trailing zeros end with the fiber and need none)."""
    n, m, L = rows.shape
    pos = np.arange(L)
    last = np.where(rows, pos, -1)
    prev = np.maximum.accumulate(np.concatenate([np.full((n, m, 1), -1), last[..., :-1]], axis=2), axis=2)
    gaps = np.where(rows, pos - prev - 1, 0)
    return (gaps // run).reshape(n, -1).sum(axis=1).astype(float)


class MaskOracle:
    """Event measures of one tensor under its mask in one format (module docstring); the other roles
    measure zero. Answers ``accelsim.cost.actions.assemble``'s questions with [payload, metadata bits]."""

    def __init__(self, problem: Problem, flat: Flat, role: str, mask: np.ndarray, fmt: Format, word_bits: int):
        self.problem, self.flat, self.role, self.mask, self.fmt, self.wb = problem, flat, role, mask, fmt, word_bits
        self.analytic = Analytic(problem, flat)
        self._cache: dict = {}
        axes_of: dict[str, int] = {}
        for a, c in enumerate(problem.tensor(role).coords):
            for d, _ in c.terms:
                if d in axes_of:
                    raise ConfigError(f"{problem.name}: dim {d} indexes two axes of {role}: exact actual-mask words "
                                      f"need each dim in one axis")
                axes_of[d] = a

    # measures are [payload, metadata bits] arrays where the dense oracles answer ints (``Any`` here)
    def macs(self) -> Any:
        return np.zeros(2)

    def cycles(self) -> Any:
        return np.zeros(2)

    def first(self, role: str, parent: int, cut: int) -> Any:
        """The output's first touches at the hop whose child tiles lie below ``cut``: per parent instance,
        each distinct tile measured once (its first update touches every element of it: tiles of simple
        axes partition the output). An output axis of two dims (tiles that overlap) is measured element
        by element instead (exact for the formats :func:`additive` admits)."""
        if role != self.role:
            return np.zeros(2)
        from accelsim.cost.lattice import count_tuples

        rel = self.problem.relevant(role)
        above = spatial_above(self.flat, parent)
        copies = 1
        for d in self.problem.dim_names:
            if d not in rel:
                copies *= count_tuples(self.problem.size(d), [(lp.factor, lp.span, i in above)
                                                              for i, lp in enumerate(self.flat.loops) if lp.dim == d])
        coords = self.problem.tensor(role).coords
        if any(len(c.terms) > 1 for c in coords):
            p, m = tile_measure(self.fmt, (self.mask != 0).reshape(-1, 1), self.wb)
            return np.array([p.sum(), m.sum()]) * copies
        loop_roles, _ = self.analytic.roles(role, cut, above, False)
        tiles = {d: self.analytic._tiles(d, loop_roles, -1) for d in rel}
        return self._sum([[_values(c, [t]) for t, _ in tiles[c.terms[0][0]]] for c in coords]) * copies

    def volume(self, role: str, cut: int, instance: frozenset[int], streamed: bool) -> Any:
        if role != self.role:
            return np.zeros(2), np.zeros(2)
        key = (cut, instance, streamed)
        if key not in self._cache:
            self._cache[key] = self._volume(cut, instance, streamed)
        return self._cache[key]

    def _volume(self, cut: int, instance: frozenset[int], streamed: bool) -> tuple[np.ndarray, np.ndarray]:
        from accelsim.cost.lattice import count_tuples

        an, problem, role = self.analytic, self.problem, self.role
        loop_roles, slide = an.roles(role, cut, instance, streamed)
        rel = problem.relevant(role)
        mult = 1
        for d in problem.dim_names:
            if d not in rel:
                mult *= count_tuples(problem.size(d), [(lp.factor, lp.span, ro == PREFIX) for lp, ro in
                                                       zip(self.flat.loops, loop_roles) if lp.dim == d])
        tiles = {d: an._tiles(d, loop_roles, slide) for d in rel}
        # per axis: [(values, previous values or None)] over the product of its dims' tiles
        per_axis = []
        for c in problem.tensor(role).coords:
            dims = [d for d, _ in c.terms]
            opts = []
            for combo in itertools.product(*[tiles[d] for d in dims]):
                cur = _values(c, [t for t, _ in combo])
                prev = None
                for j, (_, p) in enumerate(combo):
                    if p is not None:
                        prev = _values(c, [p if jj == j else t for jj, (t, _) in enumerate(combo)])
                opts.append((cur, prev))
            per_axis.append(opts)
        total = self._sum([[v for v, _ in opts] for opts in per_axis])
        ovl = np.zeros(2)
        for a, opts in enumerate(per_axis):       # the axis whose tiles slide: intersection boxes
            sliding = [np.intersect1d(v, p) for v, p in opts if p is not None]
            if sliding:
                ovl += self._sum([sliding if b == a else [v for v, _ in o] for b, o in enumerate(per_axis)])
        return total * mult, ovl * mult

    def _sum(self, axes: list[list[np.ndarray]]) -> np.ndarray:
        """Sum of [payload, metadata bits] over every box of the product of the axes' value sets."""
        out = np.zeros(2)
        for _, pm in self._picks(axes):
            out += pm.reshape(-1, 2).sum(axis=0)
        return out

    def boxes(self, axes: list[list[np.ndarray]]) -> np.ndarray:
        """[payload, metadata bits] of every box of the product of the axes' value sets: an array
        (len(axes[0]), ..., len(axes[-1]), 2); an empty value set measures 0."""
        out = np.zeros(tuple(len(v) for v in axes) + (2,))
        for where, pm in self._picks(axes):
            out[np.ix_(*where)] = pm
        return out

    def _picks(self, axes: list[list[np.ndarray]]):
        """(per axis the indices into its value sets, their boxes' [payload, metadata bits] (counts..., 2))
        over the product of the axes' value sets, grouped by equal lengths, in chunks of bounded memory;
        boxes with an empty axis are left out (they measure 0)."""
        groups = []
        for vals in axes:
            by: dict[int, list[int]] = {}
            for j, v in enumerate(vals):
                by.setdefault(len(v), []).append(j)
            groups.append([(np.array(js), np.stack([vals[j] for j in js])) for js in by.values()])
        k = len(axes)
        todo = [list(pick) for pick in itertools.product(*groups)]
        while todo:
            pick = todo.pop()
            counts = [g.shape[0] for _, g in pick]
            lens = [g.shape[1] for _, g in pick]
            if 0 in lens:
                continue
            if math.prod(counts) * math.prod(lens) > _CHUNK and max(counts) > 1:   # bound the gather's memory
                a = counts.index(max(counts))
                half = counts[a] // 2
                js, g = pick[a]
                todo += [pick[:a] + [(js[:half], g[:half])] + pick[a + 1:],
                         pick[:a] + [(js[half:], g[half:])] + pick[a + 1:]]
                continue
            idx = []
            for a, (_, g) in enumerate(pick):
                shape = [1] * (2 * k)
                shape[a], shape[k + a] = g.shape
                idx.append(g.reshape(shape))
            sub = self.mask[tuple(idx)] != 0                       # (n_0..n_k-1, len_0..len_k-1)
            p, m = tile_measure(self.fmt, sub.reshape(math.prod(counts), *lens), self.wb)
            yield [js for js, _ in pick], np.stack([p, m], axis=-1).reshape(*counts, 2)


_CHUNK = 1 << 22        # elements gathered at once (boxes x box size)


def _values(c, tiles: list) -> np.ndarray:
    """The in-range coordinate values of one axis over its dims' index sets."""
    grids = np.meshgrid(*[np.fromiter(t, dtype=np.int64) for t in tiles], indexing="ij")
    v = sum(k * g for (_, k), g in zip(c.terms, grids)) + c.offset
    v = np.unique(np.asarray(v).ravel())
    return v[(v >= 0) & (v < c.size)]


def exact_for(problem: Problem, role: str, fmt: Format) -> bool:
    """Whether :func:`exact_words` counts ``role`` exactly in ``fmt``: every operand; the output when its
    axes are each one dim (its tiles partition it, so each first touch is a whole tile) or the format
    is :func:`additive`."""
    return (role in OPERAND_ROLES or additive(fmt)
            or all(len(c.terms) == 1 for c in problem.tensor(role).coords))


def additive(fmt: Format) -> bool:
    """A format whose measure of a tile is the sum of its elements' (one rank of U, B or CP, packed or not,
    never adaptive): the output's fills (updates minus first touches) are then exact per element."""
    return len(fmt.ranks) == 1 and fmt.ranks[0].kind in (U, B, CP) and not fmt.adaptive


def exact_words(problem: Problem, hierarchy: Hierarchy, nest: LoopNest, role: str, mask: np.ndarray,
                fmt_of: Callable[[str], Format], compressed: list[int]) -> tuple[dict, dict, dict, dict]:
    """(data_s, meta_s, data_n, meta_n) of ``role`` at the levels ``compressed`` (indices into the nest)
    and the network actions whose words are in their format (``formats.hop_format_level``: the hop's
    receiving level's): payload words and metadata words (bits / word bits),
    exact for ``mask``. ``fmt_of(level)``: the role's format there."""
    flat = flatten(problem, nest)
    names = [lm.level for lm in nest.levels]
    n = len(names)
    chain = [i for i in range(n) if nest.keeps(i, role) or i == 0] + [n]
    hop_of = {j: (par, ch) for par, ch in zip(chain, chain[1:]) for j in range(par, ch)}

    def source(j: int, action: str) -> int:       # the level whose format a network action's words are in
        par, ch = hop_of[j]
        return hop_format_level(par, ch, action, ch < n and fmt_of(names[ch]).compressed)

    wb = hierarchy.word_bits
    out: tuple[dict, dict, dict, dict] = ({}, {}, {}, {})
    for i in compressed:
        acts = assemble(problem, hierarchy, nest, MaskOracle(problem, flat, role, mask, fmt_of(names[i]), wb), flat)
        for (lv, r, a), v in acts.storage.items():
            if r == role and lv == names[i]:
                out[0][(lv, r, a)] = float(v[0])
                out[1][(lv, r, a)] = float(v[1]) / wb
        for (lv, r, a), v in acts.network.items():
            if r == role and names.index(lv) in hop_of and source(names.index(lv), a) == i:
                out[2][(lv, r, a)] = float(v[0])
                out[3][(lv, r, a)] = float(v[1]) / wb
    return out


__all__ = ["MaskOracle", "additive", "exact_for", "exact_words", "tile_measure"]
