"""What the sparse batch scorer (``mapper.sparse_batch``) needs per row beyond the dense counts, looked
up for a whole batch in one numba pass: the values of the slow path's own functions, each computed once
per distinct argument and kept for the layer.

A :class:`RowMemo` holds functions of three kinds of per-row argument, one lookup per group:

- a tile at level ``first`` (a group per level, keyed by the per-dim extents of the loops from level
  ``first`` on, each clipped to its dim's size; every function of the level shares the lookup): a
  function gets the tile's extent per axis (``axes``, one row per axis: dim, coefficient, second dim
  or -1, its coefficient, size: ``sparse.model.role_axes`` gives ``sparse.model.role_extents``,
  :func:`dim_axes` the per-dim extents themselves) and is called once per distinct value of those, so tiles that
  differ only in dims a tensor does not see share its evaluation;
- a served tile (a group per (level ``first``, levels ``span``)): the tile at ``first`` times, per dim,
  the factors of the levels in ``span`` (nest rows: their fanouts' spatial factors; fixed-shape rows:
  the mapping levels' factors), each clipped to its dim's size: the blocks one multicast access serves
  (``sparse.model.served_extents``), and, for a step of a role kept at a storage child, the temporal
  loops above ``first`` over which the child keeps the role's tile (``sparse.model.reuse_loops``: walking
  outwards from ``first``, the temporal loops of dims the role ignores, up to the first of a dim indexing
  it; the loop order is read per row, but the key is still the served extents: the order never enters
  it), keyed and evaluated as a tile, plus per window axis (``sparse.model.window_axes``) its count of
  distinct coordinates over the served indices (``served_extents``' windows, exact when a dim's served
  loops are interleaved with an unserved one: :func:`_window`, radix the axis's reach
  k1 (size1 - 1) + k2 (size2 - 1) + 1), passed to the function after its per-axis extents; a served
  tile of a storage step or a reduced output update (registered with ``runs``: all of ``runs_dims`` or the
  group's own of them, the others' codes 0) carries instead, per dim that may be served as more
  than one run (``runs_dims``), the code of its runs (``sparse.model.dim_runs``: where each access's
  indices lie, so the step's fraction sums the accesses at a dim's edge apart, ``sparse.model.
  edge_classes``): 0 for one run from 0, else 1 + its rank among every canonical runs tuple of the dim
  (:func:`gap_runs`; found by bisection, :func:`_runs_code`), radix their count + 1 (its own digits);
- the row's keeps (one group): one int per level, bit t set when it keeps role t;
- the lockstep run (one group): (``sparse.model.lockstep_run``, the active units).

Invariants: a value is the function's own float (or pair of floats) at that argument, so the batch
equals the slow path bit for bit; the argument itself is the key (group + its ints, compared whole;
every int has a known range and is packed as a mixed-radix digit, the group first, into as few int64
words as hold them exactly (each word's product of radices below 2^62): a tile's extent e as e - 1,
radix its dim's size; a level's keeps, radix 2^roles; the lockstep run, radix the product over dims
of 2 x size (no loop over-tiles, so a dim's factors multiply to less), the active units, radix the
units + 1; a value outside its range is refused, never wrapped), so no size of a layer makes two
arguments share a key; on the usual layers every key is one word. Keys live in one open-addressing
hash table (numba, a key's words and its row side by side: one cache line per probe; at most half
full). :meth:`RowMemo.resolve` computes every row's arguments and looks them up in one pass; a key
not yet known is added during the pass (so each distinct argument is evaluated once, in the order
rows first meet it: deterministic), then its functions are evaluated in Python. Rows are the general
kernel's nests (factors x both fanout factors per level; the lockstep run: the temporal factors below
the innermost level with a spatial factor above 1) or the fixed shape's mappings
(``accelsim.mapping.LEVELS``; the RF's loops when the array is used, else every temporal loop).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numba import njit

from accelsim.cost.fast_nest import _prefetch
from accelsim.errors import ConfigError
from accelsim.mapper.batch import _touched
from accelsim.mapper.memo_kernel import AHEAD, KEEPS_DIRECT_BITS, loaded_pass, memo_pass, structure
from accelsim.mapping import COLS, ROWS
from accelsim.mapping import DRAM as DRAM_LEVEL
from accelsim.mapping import GLB as GLB_LEVEL
from accelsim.mapping import RF as RF_LEVEL
from accelsim.names import ROLES
from accelsim.problem import Problem


def dim_axes(problem: Problem) -> np.ndarray:
    """The axes of a tile's per-dim extents: one per dim."""
    return np.array([(i, 1, -1, 1, problem.size(d)) for i, d in enumerate(problem.dim_names)],
                    dtype=np.int64).reshape(-1, 5)


GROUPS = 1 << 8          # a key's first digit: its group (levels + 3 + the served-tile groups)
EXTRA_GROUP = GROUPS - 1  # the group of :meth:`RowMemo.extra`'s rows (no function, never looked up)
TOO_LARGE = -2           # ``_resolve``'s answer when an int is outside its digit's range
GENERATED_MIN = 2048     # batches of at least this many rows use the generated pass (``resolve``)
SLIDE_MAX = 1 << 20      # the largest window dim whose sliding loops a key codes (``RowMemo`` ``slides``)


class RowMemo:
    """Functions of a row's tiles, keeps or lockstep run, memoised for a layer (module docstring).
    ``levels``: the rows' levels L (tiles at 0..L: L is the one-element tile below the last level);
    ``nest``: rows are nests (``NestArrays``) rather than fixed-shape mappings; ``units``: the most
    active units a row may have (the lockstep group's second int); ``fanouts``: the nests' levels with a
    fanout (a legal nest has spatial factors there only)."""

    def __init__(self, sizes: np.ndarray, levels: int, nest: bool, units: int, fanouts: tuple[int, ...] = (),
                 windows: np.ndarray | None = None, runs_dims: tuple[int, ...] = (), runs_max: int = 0,
                 slides: bool = False):
        self.sizes = np.ascontiguousarray(sizes, dtype=np.int64)
        # a served tile registered with ``runs`` is keyed by its per-dim extents and, per dim of
        # ``runs_dims``, its served loops' runs (``sparse.model.dim_runs``) as a code: 0 one run from 0, else
        # 1 + the rank of (E0, U1, E2, ...) among every canonical runs tuple of up to ``runs_max`` gaps in
        # a dim of its size (:func:`gap_runs`), radix their count + 1 (its own digits, ``runs_digits``;
        # no window counts: the runs give them)
        self.runs_dims = np.array(runs_dims if runs_max else (), dtype=np.int64)
        self.runs_max = int(runs_max) if len(self.runs_dims) else 0
        self.runs_list = [gap_runs(int(self.sizes[d]), self.runs_max) for d in self.runs_dims]
        width = 2 * self.runs_max + 1
        self.runs_tab = np.zeros((len(self.runs_list), max([len(t) for t in self.runs_list] + [1]), width),
                                 dtype=np.int64)
        for i, tab in enumerate(self.runs_list):
            for j, t in enumerate(tab):
                self.runs_tab[i, j, :len(t)] = t
        self.runs_len = np.array([len(t) for t in self.runs_list], dtype=np.int64)
        # the window axes (``sparse.model.window_axes``: dim index, coefficient, dim index, coefficient):
        # a served tile's key carries each one's count of distinct coordinates (``served_extents``)
        self.win = np.zeros((0, 4), dtype=np.int64) if windows is None else np.ascontiguousarray(windows, dtype=np.int64)
        self.L, self.nest = levels, nest
        self.fan = np.zeros(levels, dtype=np.int64)     # nests: 1 at the levels with a fanout
        self.fan[list(fanouts)] = 1
        self.keeps_group, self.lockstep_group = levels + 1, levels + 2
        self.tile_digits = _digits([GROUPS] + [max(1, int(n)) for n in self.sizes])   # a clipped extent - 1
        wrad = [int(k1 * (self.sizes[d1] - 1) + k2 * (self.sizes[d2] - 1) + 1) for d1, k1, d2, k2 in self.win]
        # ``slides``: a served tile registered with ``slide`` also carries its sliding loop's code (the last
        # digit of both layouts: 0 none, else off[d] + pre[d, span] + factor - 2 for a loop of window dim d,
        # its (span, factor) ranked among those a loop of a dim of that size can have (span below the
        # size, 2 <= factor <= ceil(size / span): no loop over-tiles; pre[d, span] counts those of the
        # spans below), off[d] = 1 + the counts of the window dims before it: ``sparse.model.slide_loop``)
        wdims = sorted({int(self.win[a, i]) for a in range(len(self.win)) for i in (0, 2)}) if slides else []
        if any(int(self.sizes[d]) > SLIDE_MAX for d in wdims):
            raise ConfigError(f"sparse batch memo: a window dim above {SLIDE_MAX} (its sliding loops' codes)")
        self.slide_off = np.full(len(self.sizes), -1, dtype=np.int64)
        self.slide_pre = np.zeros((len(self.sizes), max([1] + [int(self.sizes[d]) for d in wdims]) + 1),
                                  dtype=np.int64)
        at = 1
        for d in wdims:
            size = int(self.sizes[d])
            for span in range(1, size + 1):
                self.slide_pre[d, span] = self.slide_pre[d, span - 1] + (-(-size // (span - 1)) - 1 if span > 1 else 0)
            self.slide_off[d] = at
            at += int(self.slide_pre[d, size])
        self.slide_radix = at if slides else 0
        srad = [self.slide_radix] if slides else []
        self.span_digits = _digits([GROUPS] + [max(1, int(n)) for n in self.sizes] + wrad + srad)  # + a window count - 1
        self.runs_digits = _digits([GROUPS] + [max(1, int(n)) for n in self.sizes] + [len(t) + 1 for t in self.runs_list]
                                   + srad)
        self.keeps_digits = _digits([GROUPS] + [1 << len(ROLES)] * levels)
        run = min(math.prod(2 * max(1, int(n)) for n in self.sizes), (1 << 62) - 1)
        self.lock_digits = _digits([GROUPS, run, int(units) + 1])
        self.width = max(self.span_digits[2], self.keeps_digits[2], self.lock_digits[2],
                         self.runs_digits[2] if self.runs_max else 1)   # int64 words per key
        self.fns: list[tuple[int, int, Callable, np.ndarray | None, dict]] = []   # (group, slot, fn, axes, values)
        self.lazy: set[int] = set()                               # functions evaluated only on request (fill)
        self.slots = [0] * (levels + 3)                           # per group: value columns used
        self.span_base = levels + 3                               # served-tile groups from here on
        self.span_index: dict[tuple, int] = {}
        self.span_first = np.zeros(0, dtype=np.int64)             # per served-tile group: its level ``first``
        self.span_mask = np.zeros((0, levels), dtype=np.int64)    # and 1 at the levels of its ``span``
        self.span_rel = np.zeros((0, len(sizes) + 1), dtype=np.int64)   # and its reuse: a flag, 1 per dim indexing the role
        self.span_runs = np.zeros(0, dtype=np.int64)              # and its runs dims (bit i: runs_dims[i]), 0: none
        self.span_slide = np.zeros((0, len(sizes) + 1), dtype=np.int64)  # and its slide: a flag, 1 per window dim of the role
        self.entries = np.zeros((0, self.width), dtype=np.int64)  # every key, in the order first met
        self.structures: dict[bytes, tuple | None] = {}          # per groups looked up: memo_kernel.structure
        self.generated: bool | None = None                        # resolve's default ``generated``
        self.keeps_rows: dict[int, np.ndarray] = {}   # per roles: a known keeps key's row by its bits (-1: not yet)
        self.vals = np.zeros((0, 2), dtype=np.float64)            # per key, its group's functions' values
        self._table(1 << 10)

    # ---- functions ----------------------------------------------------------------------------
    def tile(self, fn: Callable, first: int, axes: np.ndarray, values: int = 1) -> int:
        """Register ``fn`` of the extent per axis (an int64 array; ``axes`` as in the module docstring)
        of the tile at level ``first``, giving ``values`` floats (1: a float, 2: a pair); its id."""
        return self._add(first, fn, values, np.ascontiguousarray(axes, dtype=np.int64))

    def span(self, fn: Callable, first: int, span: tuple[int, ...], axes: np.ndarray, values: int = 1,
             reuse: tuple[bool, ...] | None = None, lazy: bool = False,
             runs: bool | tuple[int, ...] = False, slide: tuple[bool, ...] | None = None) -> int:
        """Register ``fn`` of the extent per axis of the served tile (module docstring) at level ``first``
        spanning the levels ``span`` (and, ``reuse`` given: per dim whether it indexes the role, the
        temporal loops the child keeps the role's tile over); its id. ``lazy``: evaluated only where the
        caller asks (:meth:`fill`), its other values left NaN. ``runs``: keyed by the runs of the dims
        ``runs_dims`` (a tuple: of those of its dims only, the others' codes 0) instead of the window counts
        (``fn`` gets their codes after the extents: :meth:`runs_of`). ``slide`` (with ``reuse``; the memo made
        with ``slides``): per dim whether it is a window dim of the role: the key also carries the loop a
        refill slides along when it is one of them (``sparse.model.slide_loop``; ``fn`` gets its code last:
        :meth:`slide_of`)."""
        dims = [int(d) for d in self.runs_dims] if runs is True else list(runs or ())
        bits = sum(1 << i for i, d in enumerate(int(x) for x in self.runs_dims) if d in dims) if self.runs_max else 0
        if slide is not None and not (self.slide_radix and reuse is not None and any(slide)):
            slide = None
        group = self.span_index.get((first, span, reuse, bits, slide))
        if group is None:
            group = self.span_index[(first, span, reuse, bits, slide)] = self.span_base + len(self.span_index)
            self.span_runs = np.append(self.span_runs, bits).astype(np.int64)
            srow = np.zeros((1, len(self.sizes) + 1), dtype=np.int64)
            if slide is not None:
                srow[0, 0] = 1
                srow[0, 1:] = slide
            self.span_slide = np.concatenate([self.span_slide, srow])
            if group >= EXTRA_GROUP:
                raise ConfigError(f"sparse batch memo: more than {EXTRA_GROUP - self.span_base} served-tile groups")
            rel = np.zeros((1, len(self.sizes) + 1), dtype=np.int64)
            if reuse is not None:
                rel[0, 0] = 1
                rel[0, 1:] = reuse
            self.span_rel = np.concatenate([self.span_rel, rel])
            self.slots.append(0)
            self.span_first = np.append(self.span_first, first).astype(np.int64)
            mask = np.zeros((1, self.L), dtype=np.int64)
            mask[0, list(span)] = 1
            self.span_mask = np.concatenate([self.span_mask, mask])
        return self._add(group, fn, values, np.ascontiguousarray(axes, dtype=np.int64), lazy)

    def fill(self, f: int, rows: np.ndarray) -> None:
        """A lazy function's values at these keys (rows of :attr:`entries`) where not yet evaluated."""
        rows = np.unique(rows)
        self._eval(f, rows[np.isnan(self.vals[rows, self.fns[f][1]])], force=True)

    def extra(self, rows: list[int], values: list[dict[int, float]]) -> np.ndarray:
        """Rows of :attr:`vals` that no key finds, each holding key row ``rows[i]``'s values with
        ``values[i]`` (slot -> value) in place of some; their indices. Their keys are :data:`EXTRA_GROUP`
        and an ordinal, which no look-up makes; a caller points a row's look-up at one
        (``sparse_batch.NestSparseBatch._plain_exact``: values the key does not determine). Rows are only
        appended; a function registered later is not evaluated at them (the caller makes them again)."""
        n0 = int(np.count_nonzero(self.entries[:, 0] % GROUPS == EXTRA_GROUP)) if len(self.entries) else 0
        keys = np.zeros((len(rows), self.width), dtype=np.int64)
        keys[:, 0] = EXTRA_GROUP + GROUPS * np.arange(n0, n0 + len(rows), dtype=np.int64)
        base = len(self.entries)
        self.entries = np.concatenate([self.entries, keys])
        if 2 * len(self.entries) > len(self.table):       # at most half full, as ``resolve`` keeps it
            cap = 2 * len(self.table)
            while 2 * len(self.entries) > cap:
                cap *= 2
            self._table(cap)
        else:
            for i in range(len(rows)):
                _find_or_add(self.table, keys[i], _slot(keys[i], len(self.table) - 1), base + i)
        add = self.vals[np.asarray(rows, dtype=np.int64)]
        for i, vs in enumerate(values):
            for slot, v in vs.items():
                add[i, slot] = v
        self.vals = np.concatenate([self.vals, add])
        return np.arange(base, base + len(rows), dtype=np.int64)

    def keeps(self, fn: Callable) -> int:
        """Register ``fn`` of a row's keeps (per level an int, bit t: it keeps role t); its id."""
        return self._add(self.keeps_group, fn, 1)

    def lockstep(self, fn: Callable) -> int:
        """Register ``fn`` of (lockstep run, active units); its id."""
        return self._add(self.lockstep_group, fn, 1)

    def _add(self, group: int, fn: Callable, values: int, axes: np.ndarray | None = None, lazy: bool = False) -> int:
        slot = self.slots[group]
        self.slots[group] += values
        if self.slots[group] > self.vals.shape[1]:
            self.vals = np.pad(self.vals, ((0, 0), (0, self.slots[group] - self.vals.shape[1])),
                               constant_values=np.nan)
        self.fns.append((group, slot, fn, axes, {}))
        if lazy:
            self.lazy.add(len(self.fns) - 1)
        self._eval(len(self.fns) - 1, np.flatnonzero(self.entries[:, 0] % GROUPS == group))   # its group's keys
        return len(self.fns) - 1

    def _eval(self, f: int, rows: np.ndarray, force: bool = False) -> None:
        """Function f's values at these rows' keys (once per distinct argument; a lazy one only when
        ``force``d, by :meth:`fill`)."""
        group, slot, fn, axes, known = self.fns[f]
        if not len(rows) or (f in self.lazy and not force):
            return
        args = self.arguments(rows)
        if axes is not None:        # a served tile's window counts follow its per-axis extents
            D = len(self.sizes)
            args = np.concatenate([_axis_extents(np.ascontiguousarray(args[:, :D]), axes), args[:, D:]], axis=1)
        for r, a in zip(rows, args):
            key = a.tobytes()
            v = known.get(key)
            if v is None:
                v = known[key] = fn(a)
            if isinstance(v, tuple):
                self.vals[r, slot:slot + len(v)] = v
            else:
                self.vals[r, slot] = v

    def slide_of(self, code: int) -> tuple[int, int, int] | None:
        """(dim index, span, factor) of a key's slide code (None: 0, no slide along a window dim)."""
        if not code:
            return None
        d = max((int(x) for x in np.flatnonzero((self.slide_off >= 0) & (self.slide_off <= code))),
                key=lambda x: int(self.slide_off[x]))          # the window dim whose codes hold it
        rest = int(code) - int(self.slide_off[d])
        span = int(np.searchsorted(self.slide_pre[d, :int(self.sizes[d]) + 1], rest, side="right")) - 1
        return d, span, rest - int(self.slide_pre[d, span]) + 2

    def runs_of(self, codes) -> dict[int, tuple[int, ...]]:
        """Dim index -> its runs (``sparse.model.dim_runs``) from a key's run codes (dims with more than one)."""
        return {int(d): self.runs_list[i][int(c) - 1] for i, (d, c) in enumerate(zip(self.runs_dims, codes)) if c}

    def arguments(self, rows: np.ndarray) -> np.ndarray:
        """The arguments of these keys (all of one group): a tile's per-dim extents, the per-level keeps
        codes, or (lockstep run, active units); a served tile carrying runs: its extents, then its run codes."""
        keys = self.entries[rows]
        group = self.entries[rows[0], 0] % GROUPS if len(rows) else 0
        if group <= self.L:
            return _unpack(keys, self.tile_digits) + 1
        if group >= self.span_base and self.span_runs[group - self.span_base]:
            args = _unpack(keys, self.runs_digits)
            args[:, :len(self.sizes)] += 1
            return args
        if group >= self.span_base:
            args = _unpack(keys, self.span_digits) + 1
            if self.slide_radix:
                args[:, -1] -= 1                  # the slide code as is
            return args
        return _unpack(keys, self.keeps_digits if group == self.keeps_group else self.lock_digits)

    # ---- look-ups -----------------------------------------------------------------------------
    def _table(self, cap: int) -> None:
        """The hash table with ``cap`` slots (a power of 2): per slot a key's words, then its row (-1: empty)."""
        self.table = np.zeros((cap, self.width + 1), dtype=np.int64)
        self.table[:, -1] = -1
        _insert(self.table, self.entries)

    def columns(self, fns: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(groups to look up, per fn its column of :meth:`resolve`'s rows, per fn its slot of :attr:`vals`)."""
        groups = sorted({self.fns[f][0] for f in fns})
        col = np.array([groups.index(self.fns[f][0]) for f in fns], dtype=np.int64)
        slot = np.array([self.fns[f][1] for f in fns], dtype=np.int64)
        return np.array(groups, dtype=np.int64), col, slot

    def resolve(self, groups: np.ndarray, factors: np.ndarray, spatial: np.ndarray | None = None,
                keeps: np.ndarray | None = None, active: np.ndarray | None = None,
                orders: np.ndarray | None = None, generated: bool | None = None,
                uses: tuple[int, np.ndarray] | None = None) -> np.ndarray:
        """(B, len(groups)) per row and group its key's row of :attr:`vals` (new keys added and their
        functions evaluated). ``factors`` (B, L, D) and, for nests, ``spatial`` (B, L, 2, D) and
        ``keeps`` (B, L, roles); ``active`` (B,) the active units (the lockstep group); ``orders`` the
        temporal loop orders (nests: (B, L, D); fixed-shape rows: (B, 3, D), DRAM / GLB / RF), needed by
        a served tile with reuse. ``generated``: look up with the pass generated for this memo's
        structure (``mapper.memo_kernel``: about 2x faster, ~5 s of numba compile once per structure
        and machine; one-word keys only) or the generic one (the same rows, bit for
        bit); None (default): generated for batches of ``GENERATED_MIN`` rows or more and whenever
        this process has already loaded the structure's pass. ``uses``: (slot, (P, len(groups)) bool):
        the keeps group's function at ``slot`` gives a row's pattern (a float index below P), and a row
        whose keeps key was known before this pass looks up only the groups its pattern uses (the others
        -1 in the answer: a scorer reads only the values its pattern uses); None: every group."""
        B = factors.shape[0]
        sp = spatial if spatial is not None else np.ones((0, self.L, 2, factors.shape[2]), dtype=np.int64)
        kp = keeps if keeps is not None else np.zeros((0, self.L, 1), dtype=np.int64)
        ac = active if active is not None else np.zeros(0, dtype=np.int64)
        od = orders if orders is not None else np.zeros((0, 1, factors.shape[2]), dtype=np.int64)
        assert orders is not None or not any(g >= self.span_base and self.span_rel[g - self.span_base, 0]
                                             for g in groups), "a served tile with reuse needs the loop orders"
        out = np.empty((B, len(groups)), dtype=np.int64)
        if not len(groups):
            return out
        pslot, use = uses if uses is not None else (0, np.zeros((0, len(groups)), dtype=np.bool_))
        assert use.shape[1] == len(groups)
        fn = self._generated(groups, kp.shape[2], B, self.generated if generated is None else generated)
        while True:
            room = len(self.table) // 2 - len(self.entries)         # keys the table takes at most half full
            new = np.empty((max(0, min(room, B * len(groups))), self.width), dtype=np.int64)
            if fn is not None:
                n = fn(factors, sp, kp, ac, od, self.sizes, self.span_digits[1][1:], self.span_digits[3][1:],
                       self.keeps_digits[1][1:], self.lock_digits[1][1:], self.lock_digits[3][1:], self.span_rel,
                       self.span_mask, self.fan, self.win, self.table, len(self.entries), out, new, self.vals, pslot,
                       use, self.runs_tab, self.runs_len, self.runs_digits[1][1:], self._keeps_rows(kp.shape[2]),
                       self.span_slide, self.slide_off, self.slide_pre)
            else:
                n = _resolve(self.nest, factors, sp, kp, ac, self.sizes, groups, self.keeps_group, self.lockstep_group,
                             *_inner(self.span_digits), *_inner(self.keeps_digits), *_inner(self.lock_digits),
                             self.table, len(self.entries), out, new, self.span_base, self.span_first, self.span_mask,
                             self.fan, od, self.span_rel, self.win, self.vals, pslot, use, self.span_runs,
                             self.runs_dims, self.runs_tab, self.runs_len, *_inner(self.runs_digits)[:2],
                             self.span_slide, self.slide_off, self.slide_pre)
            if n >= 0:
                break
            if n == TOO_LARGE:
                self._table(len(self.table))       # drop this pass's keys
                raise ConfigError("sparse batch memo: a row's factor below 1, or its lockstep run or active units "
                                  "above the layer's range (the rows must be legal nests of this layer)")
            cap = 2 * len(self.table)           # full: drop this pass's keys, grow, run again
            while cap // 2 < len(self.entries) + B * len(groups) and cap < 4 * len(self.table):
                cap *= 2
            self._table(cap)
        if n:
            self._added(new[:n])
        return out

    def _keeps_rows(self, roles: int) -> np.ndarray:
        """The generated pass's direct map of keeps keys known before a pass (``memo_kernel.KEEPS_DIRECT_BITS``):
        per keeps bits (level m's role t: bit m x roles + t) the key's row, -1 until met; a row, once known,
        never changes (rows are only appended; a failed pass drops only its own new keys)."""
        rows = self.keeps_rows.get(roles)
        if rows is None:
            bits = roles * self.L
            rows = self.keeps_rows[roles] = np.full(1 << bits if bits <= KEEPS_DIRECT_BITS else 0, -1, dtype=np.int64)
        return rows

    def _generated(self, groups: np.ndarray, roles: int, rows: int, generated: bool | None):
        """The generated look-up pass for these groups (``resolve``'s ``generated``), or None."""
        if generated is False:
            return None
        key = groups.tobytes()
        if key not in self.structures:          # a group's definition never changes once registered
            self.structures[key] = structure(self, groups)
        shape = self.structures[key]
        if shape is None:
            return None
        fn = loaded_pass(shape, roles)
        if fn is None and (generated or rows >= GENERATED_MIN):
            fn = memo_pass(shape, roles)
        return fn

    def _added(self, new: np.ndarray) -> None:
        """Evaluate every function at the new keys (the keeps group last: planning a pattern may register
        a tile function, which is then evaluated at every key of its level, these included)."""
        base = len(self.entries)
        self.entries = np.concatenate([self.entries, new])
        self.vals = np.concatenate([self.vals, np.full((len(new), self.vals.shape[1]), np.nan)])
        order = sorted(range(len(self.fns)), key=lambda f: self.fns[f][0] == self.keeps_group)
        for f in order:
            self._eval(f, base + np.flatnonzero(new[:, 0] % GROUPS == self.fns[f][0]))


def _digits(radices: list[int]) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Mixed-radix packing of ints with these radices (each below 2^62): per int its word and
    multiplier, the words (each word's product of radices below 2^62: exact in int64), the radices."""
    word, mult, w, m = [], [], 0, 1
    for r in radices:
        if m * r >= 1 << 62:
            w, m = w + 1, 1
        word.append(w)
        mult.append(m)
        m *= r
    return (np.array(word, dtype=np.int64), np.array(mult, dtype=np.int64), w + 1 if radices else 0,
            np.array(radices, dtype=np.int64))


def _unpack(keys: np.ndarray, digits: tuple) -> np.ndarray:
    """(n, ints) the ints packed in each key's words (``keys`` (n, words)), the group digit left out."""
    word, mult, _, radix = digits
    return np.ascontiguousarray(keys[:, word[1:]] // mult[1:] % radix[1:])


def _inner(digits: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The word, multiplier and radix of each int after the group digit."""
    word, mult, _, radix = digits
    return word[1:], mult[1:], radix[1:]


@njit(cache=True, inline="always")
def _slot(key, mask):
    """The key's first slot: its words multiplied in (xor-multiply), then a murmur3 finaliser (every
    bit mixed)."""
    h = np.uint64(key[0]) * np.uint64(0x9E3779B97F4A7C15)
    for w in range(1, key.shape[0]):
        h = (h ^ np.uint64(key[w])) * np.uint64(0x9E3779B97F4A7C15)
    return _finish(h, mask)


@njit(cache=True, inline="always")
def _slot1(k, mask):
    """``_slot`` of a one-word key."""
    return _finish(np.uint64(k) * np.uint64(0x9E3779B97F4A7C15), mask)


@njit(cache=True, inline="always")
def _finish(h, mask):
    """The murmur3 finaliser, masked to a slot."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    return np.int64(h & np.uint64(mask))


@njit(cache=True, inline="always")
def _find_or_add1(table, k, s, row):
    """``_find_or_add`` of a one-word key (``s``: its first slot)."""
    mask = table.shape[0] - 1
    while True:
        r = table[s, 1]
        if r < 0:
            table[s, 0] = k
            table[s, 1] = row
            return -1 - row
        if table[s, 0] == k:
            return r
        s = (s + 1) & mask


@njit(cache=True)
def _insert(table, keys):
    """Add keys (their rows: their positions) to an empty table."""
    mask = table.shape[0] - 1
    W = keys.shape[1]
    for i in range(keys.shape[0]):
        s = _slot(keys[i], mask)
        while table[s, W] >= 0:
            s = (s + 1) & mask
        table[s, :W] = keys[i]
        table[s, W] = i


@njit(cache=True, inline="always")
def _find_or_add(table, key, s, row):
    """The key's row (``s``: its first slot, ``_slot``); a key not there is added with ``row``
    (returns -1 - row)."""
    mask = table.shape[0] - 1
    W = key.shape[0]
    while True:
        r = table[s, W]
        if r < 0:
            for w in range(W):
                table[s, w] = key[w]
            table[s, W] = row
            return -1 - row
        same = True
        for w in range(W):
            if table[s, w] != key[w]:
                same = False
                break
        if same:
            return r
        s = (s + 1) & mask


@njit(cache=True)
def _resolve(nest, factors, spatial, keeps, active, sizes, groups, keeps_group, lockstep_group, tile_word, tile_mult,
             tile_radix, keeps_word, keeps_mult, keeps_radix, lock_word, lock_mult, lock_radix, table, known, out, new,
             span_base, span_first, span_mask, fan, orders, span_rel, win, vals, pslot, uses, span_runs, runs_dims,
             runs_tab, runs_len, runs_word, runs_mult, span_slide, slide_off, slide_pre):
    """Per row and group its key (module docstring), found or added (rows ``known`` on, also into
    ``new``); returns how many were added, -1 when ``new`` is full (the table then holds keys
    without values: the caller rebuilds it), or ``TOO_LARGE`` for an int outside its digit's range (the
    table then holds keys without values too). Pipelined one row deep: row b's keeps key is made and
    found or added at once (its pattern, ``vals[r, pslot]`` when known before this pass, selects the
    groups ``uses`` says it reads: the others are not made, their rows -1), its other keys made and
    their first slots prefetched (and the input lines of row b + ``AHEAD``), then row b - 1's other keys
    are probed, so a probe rarely waits on memory (the table outgrows the L2 cache). Keys are found or
    added in that order (the generated pass, ``mapper.memo_kernel``, keeps it: the same rows)."""
    B, L, D = factors.shape
    W = table.shape[1] - 1
    G = groups.shape[0]
    mask = table.shape[0] - 1
    pro = np.empty((L + 1, D), dtype=np.int64)        # per level, per dim: the product of the loops from it on
    ring = np.zeros((2, G, W), dtype=np.int64)        # rows b and b - 1: their keys
    ring_s = np.zeros((2, G), dtype=np.int64)         # and each key's first slot
    ext = np.ones(D, dtype=np.int64)                  # a tile's per-dim extents, before clipping
    A = win.shape[0]
    tserved = np.zeros((L, D), dtype=np.int64)        # a served tile's reuse loops (per level, dim)
    big = 1                                           # the largest window dim
    for a in range(A):
        big = max(big, sizes[win[a, 0]], sizes[win[a, 2]])
    p1 = np.empty(big, dtype=np.int64)                # a window axis's two dims' served indices
    p2 = np.empty(big, dtype=np.int64)
    mark = np.zeros(tile_radix[D:D + A].max() if A else 1, dtype=np.bool_)
    runs = np.zeros(2 * L + 3, dtype=np.int64)       # a dim's runs (sparse.model.dim_runs)
    RD = runs_dims.shape[0]
    top = L + 1                                       # the outermost tile level looked up (L + 1: none)
    any_keeps = False
    any_span = False
    jk = -1                                           # the keeps group's column
    for j in range(G):
        g = groups[j]
        first = span_first[g - span_base] if g >= span_base else g
        if first < top:
            top = first
        any_keeps |= g == keeps_group
        any_span |= g >= span_base
        if g == keeps_group:
            jk = j
    n_new = 0
    for b in range(B + 1):
        if b < B:
            ba = b + AHEAD if b + AHEAD < B else b
            for off in range(0, L * D, 8):
                if nest:                              # (fixed-shape rows: measured faster without)
                    _prefetch(factors, ba * L * D + off)
            if nest and any_span and orders.shape[0]:
                OD = orders.shape[1] * D
                for off in range(0, OD, 8):
                    _prefetch(orders, ba * OD + off)
            if nest:
                for off in range(0, L * 2 * D, 8):
                    _prefetch(spatial, ba * L * 2 * D + off)
                if any_keeps:
                    KR = L * keeps.shape[2]
                    _prefetch(keeps, ba * KR)
                    _prefetch(keeps, ba * KR + KR - 1)
            cur = b & 1
            if top <= L:
                for d in range(D):
                    pro[L, d] = 1
                for m in range(L - 1, top - 1, -1):
                    if nest and fan[m]:               # a level without a fanout has no spatial factor
                        for d in range(D):
                            pro[m, d] = pro[m + 1, d] * (factors[b, m, d] * spatial[b, m, 0, d] * spatial[b, m, 1, d])
                    else:
                        for d in range(D):
                            pro[m, d] = pro[m + 1, d] * factors[b, m, d]
            pat = -1                                      # row b's pattern (-1: unknown, every group)
            if jk >= 0:
                key = ring[cur, jk]
                for w in range(1, W):
                    key[w] = 0
                k0 = keeps_group
                for m in range(L):
                    code = 0
                    for t in range(keeps.shape[2]):
                        if keeps[b, m, t] != 0:
                            code |= 1 << t
                    k0 = _digit(key, k0, keeps_word[m], code * keeps_mult[m])
                key[0] = k0
                r = _find_or_add(table, key, _slot(key, mask), known + n_new)
                if r < 0:
                    if n_new == new.shape[0]:
                        return -1
                    new[n_new, :] = key
                    n_new += 1
                    r = -1 - r
                out[b, jk] = r
                if r < known and uses.shape[0]:
                    pat = int(vals[r, pslot])
            for j in range(G):
                g = groups[j]
                key = ring[cur, j]
                if j == jk:
                    continue
                if pat >= 0 and pat < uses.shape[0] and not uses[pat, j]:
                    key[0] = -1                           # not read by the row's pattern: not looked up
                    continue
                if W > 1:                                 # (a loop over a run-time W: a memset call)
                    for w in range(1, W):
                        key[w] = 0
                k0 = g                                    # word 0 in a register: the group, then its digits
                if g == lockstep_group:
                    run = _lockstep_nest(factors, spatial, fan, b) if nest else _lockstep_fixed(factors, b)
                    if not (0 < run < lock_radix[0] and 0 <= active[b] < lock_radix[1]):
                        return TOO_LARGE
                    k0 = _digit(key, k0, lock_word[0], run * lock_mult[0])
                    k0 = _digit(key, k0, lock_word[1], active[b] * lock_mult[1])
                else:
                    s = g - span_base if g >= span_base else -1
                    first = span_first[s] if s >= 0 else g
                    for d in range(D):
                        ext[d] = pro[first, d]
                    if s >= 0:                            # a served tile: x the reuse loops, x the spanned fanouts
                        if A or span_runs[s]:
                            tserved[:first, :] = 0
                        slid = -1
                        if span_rel[s, 0]:
                            slid = _reuse(nest, factors, orders, b, first, span_rel[s], ext, tserved)
                        for m in range(L):
                            if span_mask[s, m]:
                                for d in range(D):
                                    ext[d] *= spatial[b, m, 0, d] * spatial[b, m, 1, d] if nest else factors[b, m, d]
                    low = False
                    for d in range(D):
                        e = ext[d]
                        low |= e < 1
                        k0 = _digit(key, k0, tile_word[d], ((e if e < sizes[d] else sizes[d]) - 1) * tile_mult[d])
                    if low:
                        return TOO_LARGE
                    if s >= 0 and span_runs[s]:           # per dim of runs_dims (of its bits) its runs' code
                        for i in range(RD):
                            if not (span_runs[s] >> i) & 1:
                                continue
                            d = runs_dims[i]
                            c = _runs_code(nest, factors, spatial, fan, b, first, span_mask[s], tserved, pro[first, d],
                                           d, sizes[d], runs, runs_tab[i], runs_len[i])
                            if c < 0:
                                return TOO_LARGE
                            k0 = _digit(key, k0, runs_word[D + i], c * runs_mult[D + i])
                    elif s >= 0:
                        for a in range(A):
                            c = _window(nest, factors, spatial, fan, b, first, span_mask[s], tserved, pro, ext, sizes,
                                        win[a], p1, p2, mark)
                            k0 = _digit(key, k0, tile_word[D + a], (c - 1) * tile_mult[D + a])
                    if s >= 0 and span_slide[s, 0]:       # the loop a refill slides along (its code, last)
                        c = _slide_code(nest, factors, spatial, fan, b, first, slid, pro[first], span_slide[s],
                                        slide_off, slide_pre, sizes)
                        if c < 0:
                            return TOO_LARGE
                        if span_runs[s]:
                            k0 = _digit(key, k0, runs_word[runs_word.shape[0] - 1], c * runs_mult[runs_mult.shape[0] - 1])
                        else:
                            k0 = _digit(key, k0, tile_word[tile_word.shape[0] - 1], c * tile_mult[tile_mult.shape[0] - 1])
                key[0] = k0
                sl = _slot(key, mask)
                ring_s[cur, j] = sl
                _prefetch(table, sl * (W + 1))
        if b == 0:
            continue
        pb = (b - 1) & 1                                   # row b - 1: probe its keys
        for j in range(G):
            if j == jk:
                continue
            if ring[pb, j, 0] < 0:
                out[b - 1, j] = -1
                continue
            r = _find_or_add(table, ring[pb, j], ring_s[pb, j], known + n_new)
            if r < 0:
                if n_new == new.shape[0]:
                    return -1
                new[n_new, :] = ring[pb, j]
                n_new += 1
                r = -1 - r
            out[b - 1, j] = r
    return n_new


@njit(cache=True, inline="always")
def _reuse(nest, factors, orders, b, first, rel, mult, served):
    """``sparse.model.reuse_loops`` of row b's child at level ``first``, multiplied into ``mult`` per dim
    (and marked 1 in ``served`` per level and dim): the temporal loops above ``first`` from the innermost
    outwards (a level's temporal loops in its order, inner last; fanouts skipped) while their dim does
    not index the role (``rel[1 + d]``). Fixed-shape rows: mapping levels DRAM, GLB, (ROWS, COLS:
    spatial), RF, orders DRAM / GLB / RF. Returns where the walk stopped, m x D + d (level m's loop of dim d:
    the loop a refill slides along, ``sparse.model.slide_loop``), or -1 when it did not."""
    D = factors.shape[2]
    for m in range(first - 1, -1, -1):
        if nest:
            t = m
        elif m == RF_LEVEL:
            t = 2
        elif m == GLB_LEVEL:
            t = 1
        elif m == DRAM_LEVEL:
            t = 0
        else:
            continue
        stop = False                  # selects, not branches: where the walk stops varies from row to row
        at = -1
        for k in range(D - 1, -1, -1):
            d = orders[b, t, k]
            f = factors[b, m, d]
            hit = (f > 1) & (rel[1 + d] != 0)
            at = m * D + d if hit and not stop else at
            stop |= hit
            mult[d] *= 1 if stop else f
            served[m, d] = 0 if stop else 1
        if stop:
            return at
    return -1


@njit(cache=True)
def _slide_code(nest, factors, spatial, fan, b, first, at, inner, window, off, pre, sizes):
    """The key's slide code (``RowMemo`` ``slides``) of the loop :func:`_reuse` stopped at (``at`` = m x D + d;
    -1: none): 0 unless d is a window dim of the role (``window[1 + d]``), else off[d] + pre[d, span] +
    factor - 2, span the product of d's loops inside it (``inner``: per dim the loops from level ``first``
    on, then the levels between, and at level m its fanout, inside its temporal loop); -1 when the loop
    over-tiles its dim (no legal nest)."""
    if at < 0:
        return 0
    D = factors.shape[2]
    m, d = at // D, at % D
    if not window[1 + d]:
        return 0
    span = inner[d]
    for j in range(first - 1, m, -1):
        span *= factors[b, j, d] * (spatial[b, j, 0, d] * spatial[b, j, 1, d] if nest and fan[j] else 1)
    if nest and fan[m]:
        span *= spatial[b, m, 0, d] * spatial[b, m, 1, d]
    f = factors[b, m, d]
    size = sizes[d]
    if span >= size or f < 2 or f > (size + span - 1) // span:
        return -1
    return off[d] + pre[d, span] + f - 2


@njit(cache=True, inline="always")
def _loop(nest, factors, spatial, fan, b, m, d, mask, tserved, part):
    """(factor, served) of level m's loop of dim d above a served tile: ``part`` 0 its fanout's (x and y,
    inner to its temporal loop; served when the level is spanned, ``mask[m]``), 1 its temporal loop
    (served when a reuse loop, ``tserved[m, d]``). Fixed-shape rows: ROWS and COLS are the spatial
    levels, the others temporal."""
    if nest:
        if part == 0:
            return (spatial[b, m, 0, d] * spatial[b, m, 1, d] if fan[m] else 1), mask[m] != 0
        return factors[b, m, d], tserved[m, d] != 0
    if (m == ROWS or m == COLS) == (part == 0):
        return factors[b, m, d], (mask[m] if part == 0 else tserved[m, d]) != 0
    return 1, False


@njit(cache=True, inline="always")
def _lattice(nest, factors, spatial, fan, b, first, mask, tserved, inner, d, size, pts):
    """``sparse.model.served_points`` of dim d in row b's served tile at level ``first`` (its loops from
    ``first`` on, ``inner`` in all, then the loops above as :func:`_loop` serves them): -1 when the
    served loops are one run from 0, else the served indices below ``size`` (into ``pts``) and their count."""
    gap, unserved = False, False
    for m in range(first - 1, -1, -1):
        for part in range(2):
            f, sv = _loop(nest, factors, spatial, fan, b, m, d, mask, tserved, part)
            if f > 1:
                gap |= sv & unserved
                unserved |= not sv
    if not gap:
        return -1
    n = inner if inner < size else size
    for i in range(n):
        pts[i] = i
    span = inner
    for m in range(first - 1, -1, -1):
        for part in range(2):
            f, sv = _loop(nest, factors, spatial, fan, b, m, d, mask, tserved, part)
            if f > 1 and sv:
                n0 = n
                for j in range(1, f):
                    for i in range(n0):
                        v = pts[i] + j * span
                        if v < size:
                            pts[n] = v
                            n += 1
            span *= f
    return n


@njit(cache=True)
def _runs(nest, factors, spatial, fan, b, first, mask, tserved, inner, d, size, out):
    """``sparse.model.dim_runs`` of dim d in row b's served tile at level ``first`` (its loops from
    ``first`` on, ``inner`` in all, served; then the loops above as :func:`_loop` serves them, inner
    first): the products of its alternating served and unserved runs into ``out``, the last served one
    clipped to ceil(size / the product inside it); their count (1: one run from 0)."""
    n = 0
    prod = inner
    on = True
    for m in range(first - 1, -1, -1):
        for part in range(2):
            f, sv = _loop(nest, factors, spatial, fan, b, m, d, mask, tserved, part)
            if f > 1:
                if sv != on:
                    if n < out.shape[0]:
                        out[n] = prod
                    n += 1
                    prod = 1
                    on = sv
                prod *= f
    if on:
        if n < out.shape[0]:
            out[n] = prod
        n += 1
    if n > out.shape[0]:
        return n
    inside = 1
    for i in range(n - 1):
        inside *= out[i]
    last = (size + inside - 1) // inside
    if out[n - 1] > last:
        out[n - 1] = last
    return n


@njit(cache=True)
def _runs_code(nest, factors, spatial, fan, b, first, mask, tserved, inner, d, size, buf, tab, n_tab):
    """The code of dim d's runs in row b's served tile (:func:`_runs`): 0 when one run from 0, else 1 + its
    rank in ``tab`` (its first ``n_tab`` rows: :func:`gap_runs`, zero-padded, ascending), found by
    bisection; -1 when not there (more gaps than the table holds)."""
    n = _runs(nest, factors, spatial, fan, b, first, mask, tserved, inner, d, size, buf)
    W = tab.shape[1]
    if n == 1:
        return 0
    if n > W:
        return -1
    for i in range(n, W):
        buf[i] = 0
    lo, hi = 0, n_tab
    while lo < hi:
        mid = (lo + hi) // 2
        c = 0
        for i in range(W):
            if tab[mid, i] != buf[i]:
                c = -1 if tab[mid, i] < buf[i] else 1
                break
        if c == 0:
            return mid + 1
        if c < 0:
            lo = mid + 1
        else:
            hi = mid
    return -1


def gap_runs(size: int, gaps: int) -> list[tuple[int, ...]]:
    """Every canonical runs tuple (``sparse.model.dim_runs``) with 1 to ``gaps`` gaps of a dim of ``size``,
    ascending: (E0, U1, E2, ...) with E0 >= 1, every later run >= 2, each run's first loop's span (the
    product of the runs inside it) below ``size`` (no loop over-tiles), the last served run at most
    ceil(size / the product inside it) (its clip)."""
    out: list[tuple[int, ...]] = []

    def grow(prefix: tuple[int, ...], inside: int, k: int) -> None:
        for u in range(2, size):
            at = inside * u
            if at >= size:
                break
            out.extend(prefix + (u, e) for e in range(2, -(-size // at) + 1))
            if k + 1 < gaps:
                for e in range(2, size):
                    if at * e >= size:
                        break
                    grow(prefix + (u, e), at * e, k + 1)
    for e0 in range(1, size):
        if gaps:
            grow((e0,), e0, 0)
    return sorted(out)


@njit(cache=True)
def _window(nest, factors, spatial, fan, b, first, mask, tserved, pro, ext, sizes, w, p1, p2, mark):
    """``sparse.model.served_extents``' count of distinct coordinates of window axis ``w`` (dim, coefficient,
    dim, coefficient) over row b's served tile (``ext``: its per-dim extents before clipping): the two
    dims' served indices (:func:`_lattice`) combined; ``batch._touched`` of the clipped extents when both
    are runs from 0."""
    d1, k1, d2, k2 = w[0], w[1], w[2], w[3]
    n1 = _lattice(nest, factors, spatial, fan, b, first, mask, tserved, pro[first, d1], d1, sizes[d1], p1)
    n2 = _lattice(nest, factors, spatial, fan, b, first, mask, tserved, pro[first, d2], d2, sizes[d2], p2)
    e1 = ext[d1] if ext[d1] < sizes[d1] else sizes[d1]
    e2 = ext[d2] if ext[d2] < sizes[d2] else sizes[d2]
    if n1 < 0 and n2 < 0:
        return _touched(e1, e2, k1, k2)
    if n1 < 0 and k1 == 1:        # the runs [k2 q, k2 q + e1) from each q ascending: each adds min(e1, gap)
        c = e1
        for j in range(1, n2):
            g = k2 * (p2[j] - p2[j - 1])
            c += g if g < e1 else e1
        return c
    if n2 < 0 and k2 == 1:
        c = e2
        for i in range(1, n1):
            g = k1 * (p1[i] - p1[i - 1])
            c += g if g < e2 else e2
        return c
    if n1 < 0:
        n1 = e1
        for i in range(n1):
            p1[i] = i
    if n2 < 0:
        n2 = e2
        for i in range(n2):
            p2[i] = i
    c = 0
    for i in range(n1):
        for j in range(n2):
            v = k1 * p1[i] + k2 * p2[j]
            if not mark[v]:
                mark[v] = True
                c += 1
    for i in range(n1):
        for j in range(n2):
            mark[k1 * p1[i] + k2 * p2[j]] = False
    return c


@njit(cache=True, inline="always")
def _digit(key, k0, word, x):
    """Add a digit's ``x`` (its value x its multiplier) to word ``word`` of the key: word 0 is the
    running ``k0`` (returned), the others ``key``'s."""
    if word == 0:
        return k0 + x
    key[word] += x
    return k0


@njit(cache=True)
def _axis_extents(ext, axes):
    """(n, axes) per row of per-dim extents ``ext`` its extent per axis (``sparse.model.role_extents``:
    a one-term axis touches (e - 1) x k + 1 rows; clipped to the axis' size)."""
    out = np.empty((ext.shape[0], axes.shape[0]), dtype=np.int64)
    for i in range(ext.shape[0]):
        for a in range(axes.shape[0]):
            e2 = ext[i, axes[a, 2]] if axes[a, 2] >= 0 else 1
            n = _touched(ext[i, axes[a, 0]], e2, axes[a, 1], axes[a, 3])
            out[i, a] = n if n < axes[a, 4] else axes[a, 4]
    return out


@njit(cache=True, inline="always")
def _lockstep_nest(factors, spatial, fan, b):
    """``sparse.model.lockstep_run`` of nest b: the temporal factors of the levels below the innermost
    level with a spatial factor above 1 (a level's fanout loops follow its temporal ones; ``fan``: the
    levels with a fanout, the others' spatial factors are 1), else all."""
    L, D = factors.shape[1], factors.shape[2]
    t = 1
    for m in range(L - 1, -1, -1):
        if fan[m]:
            spread = False            # one branch per fanout, not one per dim
            for d in range(D):
                spread |= (spatial[b, m, 0, d] > 1) | (spatial[b, m, 1, d] > 1)
            if spread:
                return t
        for d in range(D):
            t *= factors[b, m, d]
    return t


@njit(cache=True, inline="always")
def _lockstep_fixed(factors, b):
    """``sparse.model.lockstep_run`` of fixed-shape mapping b: the RF's loops when a spatial factor is
    above 1, else DRAM x GLB x RF."""
    D = factors.shape[2]
    used = False
    for d in range(D):
        if factors[b, ROWS, d] > 1 or factors[b, COLS, d] > 1:
            used = True
    t = 1
    for d in range(D):
        t *= factors[b, RF_LEVEL, d] if used else factors[b, DRAM_LEVEL, d] * factors[b, GLB_LEVEL, d] * factors[b, RF_LEVEL, d]
    return t


__all__ = ["RowMemo", "dim_axes"]
