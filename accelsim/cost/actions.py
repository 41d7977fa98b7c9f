"""Exact action counts of a problem on any hierarchy under any loop nest: a labelled table.

``count_actions(problem, hierarchy, nest) -> Actions``: ``storage[(level, role, action)]`` for the
actions of ``accelsim.names.STORAGE_ACTIONS`` and ``network[(level, role, action)]`` (the network
of the fanout below ``level``) for ``NETWORK_ACTIONS``, plus MACs, ideal cycles and active compute
units. Exact integers.

The counting rules (which event volume becomes which action) are written once, in :func:`assemble`,
over an *oracle* that answers two questions for a hop (parent -> child) of one tensor:

- ``volume(role, cut, instance_loops, streamed)`` -> (sum of tile volumes over refill events,
  sum of overlaps kept by sliding refills), where the events are counted separately per
  instance of the spatial loops in ``instance_loops`` and the other spatial loops above the cut are
  unioned (a multicast is one event);
- ``first(role, parent, cut)``: distinct (parent instance, output element) pairs (first touches);
  ``cut`` is the hop's child tile cut, for oracles that measure the first-touched tiles (a compressed
  output: ``accelsim.sparse.exact``) rather than count elements.

:class:`Analytic` answers in closed form (product over dims and tensor axes; a coupled axis such as
``stride*P + R - pad`` summed over its tiles); ``accelsim.interp_general.BruteForce`` by walking the
schedule. The two must agree exactly (tests/test_core_exact.py). Sparsity will add gated/skipped/
metadata actions as further entries computed from these dense counts, never by changing them.

Rules, per tensor and hop parent -> child (child = next level keeping the tensor, or the compute
level), with S_par the spatial loops above the parent, S_ch those above the child, f_1..f_k the
fanouts the hop crosses and S_j = S_par + loops of f_1..f_{j-1}; V = volume - overlap, U = volume:
- operands: parent read V(S_par); child fill V(S_ch); network f_j: down V(S_j), down_dest V(S_j + f_j);
- output into a buffer: parent update U(S_par); fills = U(S_par) - first(parent): parent read and
  child fill; child drain U(S_ch); network f_j: up U(S_j), up_src U(S_j + f_j), down = down_dest = fills;
- output into the compute level (no accumulator): parent read and update U(S_par) (every MAC
  read-modify-writes); network f_j: down = down_dest = up = U(S_j), up_src U(S_j + f_j).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from accelsim.cost.lattice import _count_in, _overlap_in, count_tuples
from accelsim.hierarchy import Hierarchy
from accelsim.loopnest import Flat, LoopNest, flatten
from accelsim.names import (
    COMPUTE,
    DOWN,
    DOWN_DEST,
    DRAIN,
    FILL,
    IFMAP,
    OPERAND_ROLES,
    OUTPUT_ROLE,
    PSUM,
    READ,
    ROLES,
    UP,
    UP_SRC,
    UPDATE,
)
from accelsim.problem import Coord, Problem
from accelsim.vector_ops import unit_of

PREFIX, TILE, DROPPED = 0, 1, 2
Tile = range | frozenset[int]     # a dim's indices in one tile: a range when contiguous


@dataclass(frozen=True)
class Actions:
    macs: int
    cycles: int                     # ideal: temporal steps (one MAC per active compute unit per step)
    active: int                     # compute units the nest uses (product of its spatial factors)
    storage: dict = field(default_factory=dict)   # (level, role, action) -> words
    network: dict = field(default_factory=dict)   # (level of the fanout, role, action) -> words
    ops: dict = field(default_factory=dict)       # (unit, op kind) -> non-MAC ops (accelsim.vector_ops)

    def get(self, level: str, role: str, action: str) -> int:
        if action == COMPUTE:
            return self.macs
        return self.storage.get((level, role, action), self.network.get((level, role, action), 0))

    def table(self) -> list[tuple[str, str, str, int]]:
        """All nonzero entries, sorted: (level, role, action, words); network rows say ``level.net``."""
        rows = [(lv, r, a, n) for (lv, r, a), n in self.storage.items() if n]
        rows += [(f"{lv}.net", r, a, n) for (lv, r, a), n in self.network.items() if n]
        return sorted(rows)


class Oracle(Protocol):
    def volume(self, role: str, cut: int, instance: frozenset[int], streamed: bool) -> tuple[int, int]: ...

    def first(self, role: str, parent: int, cut: int) -> int: ...

    def macs(self) -> int: ...

    def cycles(self) -> int: ...


def spatial_above(flat: Flat, level: int) -> frozenset[int]:
    """Positions of spatial loops of fanouts hanging above storage level ``level``."""
    return frozenset(i for i, lp in enumerate(flat.loops) if lp.spatial and lp.level < level)


def assemble(problem: Problem, hierarchy: Hierarchy, nest: LoopNest, oracle: Oracle,
             flat: Flat | None = None) -> Actions:
    """Apply the counting rules (module docstring) to an oracle's event volumes."""
    flat = flat if flat is not None else flatten(problem, nest)
    n_levels = len(nest.levels)
    storage: dict = {}
    network: dict = {}
    names = [lm.level for lm in nest.levels]

    def add(table: dict, key: tuple[str, str, str], n: int) -> None:
        table[key] = table.get(key, 0) + n

    for role in ROLES:
        chain = [i for i in range(n_levels) if nest.keeps(i, role) or i == 0] + [n_levels]
        for par, ch in zip(chain, chain[1:]):
            streamed = ch == n_levels
            cut = flat.cut_of(ch, role)
            s_par = spatial_above(flat, par)
            s_ch = spatial_above(flat, ch)
            crossed = [j for j in range(par, ch) if hierarchy.levels[j].fanout is not None]

            def vol(s: frozenset[int], net: bool, role: str = role, cut=cut, streamed: bool = streamed) -> int:
                v, o = oracle.volume(role, cut, s, streamed)
                return v - o if net else v

            def fan(j: int) -> frozenset[int]:
                return frozenset(i for i, lp in enumerate(flat.loops) if lp.spatial and lp.level == j)

            pname = names[par]
            if role in OPERAND_ROLES:
                add(storage, (pname, role, READ), vol(s_par, True))
                if not streamed:
                    add(storage, (names[ch], role, FILL), vol(s_ch, True))
                s = s_par
                for j in crossed:
                    add(network, (names[j], role, DOWN), vol(s, True))
                    s = s | fan(j)
                    add(network, (names[j], role, DOWN_DEST), vol(s, True))
                continue
            u_par = vol(s_par, False)
            if streamed:
                add(storage, (pname, role, READ), u_par)
                add(storage, (pname, role, UPDATE), u_par)
                s = s_par
                for j in crossed:
                    u = vol(s, False)
                    for a in (DOWN, DOWN_DEST, UP):
                        add(network, (names[j], role, a), u)
                    s = s | fan(j)
                    add(network, (names[j], role, UP_SRC), vol(s, False))
                continue
            fills = u_par - oracle.first(role, par, cut)
            add(storage, (pname, role, UPDATE), u_par)
            add(storage, (pname, role, READ), fills)
            add(storage, (names[ch], role, FILL), fills)
            add(storage, (names[ch], role, DRAIN), vol(s_ch, False))
            s = s_par
            for j in crossed:
                add(network, (names[j], role, UP), vol(s, False))
                add(network, (names[j], role, DOWN), fills)
                add(network, (names[j], role, DOWN_DEST), fills)
                s = s | fan(j)
                add(network, (names[j], role, UP_SRC), vol(s, False))
    active = 1
    for lp in flat.loops:
        if lp.spatial:
            active *= lp.factor
    return Actions(oracle.macs(), oracle.cycles(), active, storage, network)


# ---- the closed-form oracle ----------------------------------------------------------------

class Analytic:
    """Event volumes in closed form: a product over the tensor's axes of per-axis sums (simple axes
    sum to the dim; coupled axes are summed over their tiles), times, for every dim that does not
    index the tensor, how many distinct digit tuples the kept loops of that dim take."""

    def __init__(self, problem: Problem, flat: Flat):
        self.problem = problem
        self.flat = flat
        self.sizes = dict(problem.dims)
        self.rel = {t.role: t.dims for t in problem.tensors}
        self.coords = {t.role: [(c, problem.is_simple(c)) for c in t.coords] for t in problem.tensors}
        self._cache: dict = {}

    def macs(self) -> int:
        return self.problem.macs

    def cycles(self) -> int:
        out = 1
        for d in self.problem.dim_names:
            out *= count_tuples(self.sizes[d], [(lp.factor, lp.span, not lp.spatial)
                                                       for lp in self.flat.loops if lp.dim == d])
        return out

    def first(self, role: str, parent: int, cut: int) -> int:
        rel = self.rel[role]
        out = 1
        for d in self.problem.dim_names:
            D = self.sizes[d]
            if d in rel:
                out *= D
            else:
                out *= count_tuples(D, [(lp.factor, lp.span, lp.spatial and lp.level < parent)
                                        for lp in self.flat.loops if lp.dim == d])
        return out

    def roles(self, role: str, cut: int, instance: frozenset[int], streamed: bool) -> tuple[list[int], int]:
        rel = self.rel[role]
        loops = self.flat.loops
        last_rel = -1
        if not streamed:
            for i in range(cut):
                if not loops[i].spatial and loops[i].dim in rel:
                    last_rel = i
        out = []
        for i, lp in enumerate(loops):
            r = lp.dim in rel
            if i >= cut:
                out.append(TILE if r else DROPPED)
            elif lp.spatial:
                out.append(PREFIX if i in instance else (TILE if r else DROPPED))
            else:
                out.append(PREFIX if (streamed or i <= last_rel) else DROPPED)
        return out, last_rel

    def volume(self, role: str, cut: int, instance: frozenset[int], streamed: bool) -> tuple[int, int]:
        key = (role, cut, instance, streamed)
        if key not in self._cache:
            self._cache[key] = self._volume(role, cut, instance, streamed)
        return self._cache[key]

    def _volume(self, role: str, cut: int, instance: frozenset[int], streamed: bool) -> tuple[int, int]:
        loop_roles, slide = self.roles(role, cut, instance, streamed)
        rel = self.rel[role]
        kept: dict[str, list[tuple[int, int, bool]]] = {d: [] for d in self.sizes if d not in rel}
        for lp, ro in zip(self.flat.loops, loop_roles):
            if lp.dim in kept:
                kept[lp.dim].append((lp.factor, lp.span, ro == PREFIX))
        mult = 1
        for d, loops in kept.items():
            mult *= count_tuples(self.sizes[d], loops)
        sums = []
        for c, simple in self.coords[role]:
            if simple:
                sums.append((self.sizes[c.terms[0][0]], 0))
            else:
                sums.append(self._axis(c, loop_roles, slide))
        vol = mult
        for s, _ in sums:
            vol *= s
        ovl = 0
        for a, (_, o) in enumerate(sums):
            if o:
                term = o
                for b, (s, _) in enumerate(sums):
                    if b != a:
                        term *= s
                ovl += term
        return vol, mult * ovl

    def _tiles(self, d: str, loop_roles: list[int], slide: int) -> list[tuple[Tile, Tile | None]]:
        """Per valid prefix tuple of dim ``d``: (its tile, the previous tile when this refill slides
        along ``d``, else None). A tile is a range when contiguous, else a frozenset of indices."""
        D = self.sizes[d]
        mine = [(i, lp, ro) for i, (lp, ro) in enumerate(zip(self.flat.loops, loop_roles)) if lp.dim == d]
        prefix = [(i, lp) for i, lp, ro in mine if ro == PREFIX]
        tile = [lp for _, lp, ro in mine if ro == TILE]
        # contiguous when the tile loops are the innermost loops of d (spans 1, f1, f1*f2, ...)
        contiguous = True
        run = 1
        for lp in sorted(tile, key=lambda x: x.span):
            if lp.span != run:
                contiguous = False
            run *= lp.factor
        if contiguous:
            # the tiles are [j*run, (j+1)*run) clipped; a refill slides when the slide loop's digit,
            # (start // span) % factor, is >= 1, and its previous tile starts one span earlier
            sl = [lp for i, lp in prefix if i == slide]
            out_c: list[tuple[Tile, Tile | None]] = []
            for start in range(0, D, run):
                cur = range(start, min(start + run, D))
                prev = None
                if sl and (start // sl[0].span) % sl[0].factor >= 1:
                    b = start - sl[0].span
                    prev = range(b, min(b + run, D))
                out_c.append((cur, prev))
            return out_c
        offsets: frozenset[int] | None = None
        if not contiguous:
            vals = {0}
            for lp in tile:
                vals = {v + k * lp.span for v in vals for k in range(lp.factor)}
            offsets = frozenset(vals)
        length = run

        def make(base: int) -> Tile:
            if offsets is None:
                return range(base, max(base, min(base + length, D)))
            return frozenset(base + o for o in offsets if base + o < D)

        out: list[tuple[Tile, Tile | None]] = []
        digits = [0] * len(prefix)

        def rec(k: int, base: int) -> None:
            if k == len(prefix):
                prev = None
                for (i, lp), dg in zip(prefix, digits):
                    if i == slide and dg >= 1:
                        prev = make(base - lp.span)
                out.append((make(base), prev))
                return
            i, lp = prefix[k]
            for v in range(lp.factor):
                b = base + v * lp.span
                if b >= D:
                    break
                digits[k] = v
                rec(k + 1, b)
            digits[k] = 0

        rec(0, 0)
        return out

    def _layout(self, d: str, loop_roles: list[int], slide: int) -> tuple[int, Any]:
        """(tile length if the tiles of ``d`` are contiguous [j*len, (j+1)*len), else 0; the sliding
        loop if it is a loop of ``d``, else None)."""
        run = 1
        slide_loop = None
        tiles = []
        for i, (lp, ro) in enumerate(zip(self.flat.loops, loop_roles)):
            if lp.dim != d:
                continue
            if ro == TILE:
                tiles.append(lp)
            elif i == slide:
                slide_loop = lp
        for lp in sorted(tiles, key=lambda x: x.span):
            if lp.span != run:
                return 0, slide_loop
            run *= lp.factor
        return run, slide_loop

    def _axis(self, c: Coord, loop_roles: list[int], slide: int) -> tuple[int, int]:
        """(sum over tiles of the coordinate values in [0, size), sum of overlaps of sliding refills)."""
        (d1, k1), *rest = c.terms
        lay1 = self._layout(d1, loop_roles, slide)
        lay2 = self._layout(rest[0][0], loop_roles, slide) if rest else (1, None)
        if lay1[0] and lay2[0]:
            # contiguous tiles (the common case): the sliding dim (if any) walks its tiles one by
            # one; the other's tiles are an arithmetic run (the lattice is symmetric in the two)
            n1, k_1, n2, k_2 = (self.sizes[d1], k1, self.sizes[rest[0][0]] if rest else 1, rest[0][1] if rest else 1)
            (run1, sl1), (run2, sl2) = lay1, lay2
            if sl2 is not None:
                n1, k_1, run1, sl1, n2, k_2, run2 = n2, k_2, run2, sl2, n1, k_1, run1
            def tile(i: int) -> tuple[int, int, int, int]:
                start = i * run1
                ln = min(run1, n1 - start)
                if sl1 is not None and (start // sl1.span) % sl1.factor >= 1:
                    return (start, ln, sl1.span, min(run1, n1 - start + sl1.span))
                return (start, ln, -1, 0)

            n_tiles = -(-n1 // run1)
            lo_i, hi_i, extra = _interior(n1, run1, n2, run2, k_1, k_2, c.offset, c.size, sl1)
            if hi_i >= lo_i:   # whole d1 tiles inside the coordinate range: one term each, added in bulk
                total, _ = _pairs_by_rows([(lo_i * run1, run1, -1, 0)], run2, n2, k_1, k_2, c.offset, c.size)
                total *= hi_i - lo_i + 1
                ovl = 0
                if sl1 is not None and extra:
                    _, per = _pairs_by_rows([(lo_i * run1, run1, sl1.span, run1)], run2, n2, k_1, k_2, c.offset,
                                            c.size)
                    ovl = per * extra
                rest_t, rest_o = _pairs_by_rows([tile(i) for i in range(0, lo_i)] + [tile(i) for i in range(
                    hi_i + 1, n_tiles)], run2, n2, k_1, k_2, c.offset, c.size)
                return total + rest_t, ovl + rest_o
            return _pairs_by_rows([tile(i) for i in range(n_tiles)], run2, n2, k_1, k_2, c.offset, c.size)
        t1 = self._tiles(d1, loop_roles, slide)
        if rest:
            (d2, k2), = rest
            t2 = self._tiles(d2, loop_roles, slide)
        else:
            k2, t2 = 1, [(range(1), None)]
        total = ovl = 0
        # at least one dim has non-contiguous tiles: explicit index sets
        for a, pa in t1:
            for b, pb in t2:
                total += _count(a, b, k1, k2, c.offset, c.size)
                if pa is not None:
                    ovl += _overlap(a, b, pa, b, k1, k2, c.offset, c.size)
                elif pb is not None:
                    ovl += _overlap(a, b, a, pb, k1, k2, c.offset, c.size)
        return total, ovl


GROUP_INTERIOR = True    # tests switch it off to compare with the tile-by-tile walk


def _interior(n1: int, run1: int, n2: int, run2: int, k1: int, k2: int, off: int, size: int,
              slide) -> tuple[int, int, int]:
    """The whole d1 tiles [lo, hi] whose pairs with every d2 tile lie inside [0, size) (no padding, no
    border): they all give the same sum, so a huge dim is counted in closed form, not tile by tile
    (only the border tiles, within the padding, are walked). Also how many of them are steps of the
    sliding loop. (lo > hi: none, or the sliding loop's span is not a whole number of tiles.)"""
    if not GROUP_INTERIOR:
        return 0, -1, 0
    whole = n1 // run1                                  # tiles 0 .. whole-1 have length run1
    step = k1 * run1
    nfull, rem = divmod(n2, run2)
    # the largest coordinate any d2 tile reaches, relative to the d1 tile's start: the last d2 tile's end
    last_start = k2 * run2 * (nfull if rem else nfull - 1)
    reach = last_start + k1 * (run1 - 1) + k2 * ((rem if rem else run2) - 1) + 1
    lo = max(0, -(off // step))                         # first tile whose coordinates start >= 0
    hi = min(whole - 1, (size - reach - off) // step)   # last tile whose coordinates all end inside
    if hi < lo:
        return 0, -1, 0
    steps = 0
    if slide is not None:
        if slide.span % run1:
            return 0, -1, 0
        m, f = slide.span // run1, slide.factor

        def restarts(n: int) -> int:                    # i in [0, n) with (i // m) % f == 0
            q, r = divmod(n, m * f)
            return q * m + min(r, m)

        steps = (hi + 1 - lo) - (restarts(hi + 1) - restarts(lo))
    return lo, hi, steps


def _pairs_by_rows(ia: list[tuple[int, int, int, int]], t2: int, d2: int, k1: int, k2: int, off: int,
                   size: int) -> tuple[int, int]:
    """Sum over (d1 tile, d2 tile) pairs of the coordinate values in [0, size) (and the overlaps of
    d1 tiles that slide), the d2 tiles being [j*t2, (j+1)*t2) clipped to d2."""
    nfull, rem = divmod(d2, t2)
    step = k2 * t2
    total = ovl = 0
    for sa, la, da, lpa in ia:
        c0 = k1 * sa + off
        span = k1 * (la - 1) + k2 * (t2 - 1) + 1
        jlo = max(0, -(c0 // step))                     # first j whose window starts at >= 0
        jhi = min(nfull - 1, (size - span - c0) // step)   # last j whose window ends inside
        edges: tuple[range, ...] = (range(nfull),)
        if jhi >= jlo:
            n_in = jhi - jlo + 1
            total += n_in * _count_in(la, t2, k1, k2, 0, span)
            if da >= 0:
                ovl += n_in * _overlap_in(la, t2, lpa, t2, k1 * da, k1, k2, 0, span)
            edges = (range(jlo), range(jhi + 1, nfull))
        for j, lb in [(j, t2) for r in edges for j in r] + ([(nfull, rem)] if rem else []):
            base = c0 + k2 * t2 * j
            lo, hi = -base, size - base
            total += _count_in(la, lb, k1, k2, lo, hi)
            if da >= 0:
                ovl += _overlap_in(la, lb, lpa, lb, k1 * da, k1, k2, lo, hi)
    return total, ovl


def _values(a: Tile, b: Tile, k1: int, k2: int, off: int) -> set[int]:
    return {k1 * x + k2 * y + off for x in a for y in b}


def _count(a: Tile, b: Tile, k1: int, k2: int, off: int, size: int) -> int:
    if isinstance(a, range) and isinstance(b, range):
        if not a or not b:
            return 0
        base = k1 * a.start + k2 * b.start + off
        return _count_in(len(a), len(b), k1, k2, -base, size - base)
    return sum(1 for v in _values(a, b, k1, k2, off) if 0 <= v < size)


def _overlap(a: Tile, b: Tile, a2: Tile, b2: Tile, k1: int, k2: int, off: int, size: int) -> int:
    if isinstance(a, range) and isinstance(b, range) and isinstance(a2, range) and isinstance(b2, range):
        if not (a and b and a2 and b2):
            return 0
        base = k1 * a.start + k2 * b.start + off
        base2 = k1 * a2.start + k2 * b2.start + off
        return _overlap_in(len(a), len(b), len(a2), len(b2), base - base2, k1, k2, -base, size - base)
    old = _values(a2, b2, k1, k2, off)
    return sum(1 for v in _values(a, b, k1, k2, off) if 0 <= v < size and v in old)


def count_actions(problem: Problem, hierarchy: Hierarchy, nest: LoopNest) -> Actions:
    """Exact action table (closed form). Pure; assumes a legal nest (``loopnest.check``)."""
    flat = flatten(problem, nest)
    return assemble(problem, hierarchy, nest, Analytic(problem, flat), flat)


def add_actions(tables: list[Actions] | tuple[Actions, ...]) -> Actions:
    """The entry-wise sum of action tables (MACs, cycles, every storage, network and op entry), e.g. a
    network's whole run priced once by ``cost.energy.energy_of``; ``active`` is the largest."""
    storage: dict = {}
    network: dict = {}
    ops: dict = {}
    macs = cycles = active = 0
    for t in tables:
        macs += t.macs
        cycles += t.cycles
        active = max(active, t.active)
        for mine, theirs in ((storage, t.storage), (network, t.network), (ops, t.ops)):
            for k, n in theirs.items():
                mine[k] = mine.get(k, 0) + n
    return Actions(macs, cycles, active, storage, network, ops)


def streamed_actions(hierarchy: Hierarchy, in_words: int, out_words: int,
                     ops: dict[str, int] | None = None) -> Actions:
    """Work without MACs streamed once through the first buffer: the backing store ``read`` ifmap
    (``in_words``) and ``update`` psum (``out_words``); the level under it ``fill`` and ``read``
    ifmap, ``update`` and ``drain`` psum (each word once). ``ops`` (op kind -> count,
    ``accelsim.vector_ops``) run on the non-MAC unit (``vector_ops.unit_of``): the vector unit (its
    time is the bound's vector part, ``cost.bound.bound_parts``), else the MAC array (compute cycles
    ``ceil(ops / compute units)``); without ops, no compute cycles."""
    top = hierarchy.levels[0].name
    storage = {(top, IFMAP, READ): in_words, (top, PSUM, UPDATE): out_words}
    if len(hierarchy.levels) > 1:
        first = hierarchy.levels[1].name
        storage.update({(first, IFMAP, FILL): in_words, (first, IFMAP, READ): in_words,
                        (first, PSUM, UPDATE): out_words, (first, PSUM, DRAIN): out_words})
    placed = op_actions(hierarchy, ops or {})
    return Actions(0, placed.cycles, 0, storage, {}, placed.ops)


def op_actions(hierarchy: Hierarchy, ops: dict[str, int]) -> Actions:
    """Non-MAC ops alone (op kind -> count, ``accelsim.vector_ops``) on the unit that runs them
    (``vector_ops.unit_of``): on the vector unit no compute cycles (its time is the bound's vector
    part, ``cost.bound.bound_parts``), on the MAC array ``ceil(ops / compute units)`` compute cycles.
    The one place a lone vector node, a vector layer's tile in a fused group and a fixed-shape
    streaming layer put their ops."""
    unit, lanes = unit_of(hierarchy)
    counts = {(unit, k): n for k, n in ops.items() if n}
    total = sum(counts.values())
    cycles = -(-total // lanes) if unit == hierarchy.compute.name else 0
    return Actions(0, cycles, 0, {}, {}, counts)


__all__ = ["Actions", "Analytic", "OUTPUT_ROLE", "add_actions", "assemble", "count_actions", "op_actions", "spatial_above",
           "streamed_actions"]
