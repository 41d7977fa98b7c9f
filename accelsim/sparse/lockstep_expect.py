"""Expected lockstep cycles under uniform densities: the mean over random masks, class of runs by class.

The compute units synchronise after each *run* (``sparse.lockstep``: the temporal loops above the innermost
spatial loop name the runs, the spatial loops the units, the temporal loops below it a unit's MACs in a
run); a run lasts its busiest unit's kept slots. Under uniform densities the masks are random (each
conditioned tensor a uniformly random set of k nonzero elements of its N, k = d x N rounded down or up at
random so that E[k] = d x N: the expected effective MACs stay the uniform model's MACs x prod d, and
when d x N is whole the masks are the hypergeometric occupancy's), and the sparse cycles are the dense cycles x
``E[sum over runs of the busiest unit's kept slots] / sum over runs of the busiest unit's MACs``.

Units share operands (a WS array's units in a column read one ifmap element) and a unit re-reads an operand
within a run (an RS PE uses one ifmap element once per filter row it holds), so the units' kept slots are
correlated sums, not independent binomials: their expected maximum has no closed form. It is computed as
follows, exactly up to sampling:

- By linearity the expectation is the sum over runs of each run's expected maximum. A run's distribution
  depends only on where its window overhangs the tensors (padding reads zero) and the problem (a ceil
  tile's points outside it are no MACs): the elements a run's points read are the run's base plus a
  local offset, so two runs with the same overhangs have the same distribution (the masks' marginals on
  a window do not depend on where it sits). The runs are grouped into such *classes* (:func:`classes`,
  counted per set of dims that share a coordinate, then combined as a product).
- Per class, random masks are drawn on the elements of the box its points read (the bounding box of their
  coordinates, less padding: the first m positions of a uniformly random arrangement of the tensor's
  nonzeros, sequential hypergeometric draws; a class's arrays are kept for its later draws up to
  ``KEEP_POINTS`` points over the classes, else rebuilt: memory), and the busiest unit's kept slots (the
  MAC features in order: a gated MAC keeps its slot, a skipped one frees it) averaged. A pilot (64 draws
  per class, fewer for a class of many points: ``PILOT_WORK``, at least ``MIN_DRAWS``) sets how many draws
  each class needs for the whole ratio's standard error to stay under ``TOL`` of it (at most
  ``MAX_SAMPLES`` or ``MAX_WORK`` point-draws; the error met is returned with the ratio); then that many
  fresh draws make the estimate (the pilot's are dropped, so the stopping rule does not bias it; where
  the error is still above 1.5 ``TOL``, once more from those; the error returned may be up to 1.5 ``TOL``, or more where
  the caps bind). Where a class's draws all agree its variance is taken as that of a value one slot away
  with probability 3 / (its draws over every stage) (the rule of three), so a pilot that missed a rare
  busiest unit still draws more (a rare outcome far more than one slot away can still be missed).

Deterministic: a class's draws come from a splitmix64 stream seeded by its index (``_next``: the
same input gives the same ratio, bit for bit). Only when every condition of the MAC features up to the
last skip is a uniform density of the ifmap or the weight (else None: the caller's model).
Invariant: 0 <= ratio <= 1; with one unit it is the mean fraction of slots kept.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from accelsim.loopnest import Flat, lockstep_loops
from accelsim.names import IFMAP, WEIGHT
from accelsim.problem import Problem
from accelsim.sparse.lockstep import odometer, overrun_dims, slot_codes

TOL = 0.01              # the ratio's standard error sought, relative to it
PILOT = 64              # a class's first draws (the pilot), at most
PILOT_WORK = 1 << 22    # the pilot's points x draws at most (at least MIN_DRAWS draws)
MIN_DRAWS = 2           # draws per class at least
MAX_SAMPLES = 1 << 15   # draws per class at most
MAX_WORK = 1 << 26      # points x draws per class at most (at least MIN_DRAWS; the error met is returned)
KEEP_POINTS = 1 << 23   # the classes' points whose arrays are kept between stages (else rebuilt: memory)
MAX_BOX = 1 << 26       # positions of a tensor's box a run may read at most (int32 codes, a byte each per class)
MAX_CLASSES = 1 << 12   # classes of runs at most (else None: the caller's model)
ROLES = (IFMAP, WEIGHT)


@njit(cache=True)
def _next(state):
    """splitmix64: (new state, a float uniform in [0, 1) from its top 53 bits)."""
    state = state + np.uint64(0x9E3779B97F4A7C15)
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return state, float(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _draw(out, m, n, nnz, state):
    """``out[:m]``: m positions of a uniformly random arrangement of k nonzeros among n (0/1), k the float
    ``nnz`` rounded at random (down or up, so that E[k] = nnz); the state."""
    state, x = _next(state)
    left = int(math.floor(nnz))
    if x < nnz - left:
        left += 1
    for j in range(m):
        state, x = _next(state)
        if x * (n - j) < left:
            out[j] = 1
            left -= 1
        else:
            out[j] = 0
    return state


@njit(cache=True)
def _sample(starts, code_i, code_w, m_i, n_i, nnz_i, m_w, n_w, nnz_w, slot_of, samples, state):
    """Over ``samples`` draws of random masks: the sum and the sum of squares of the busiest unit's kept
    slots, and the state. Unit u's points are ``starts[u]:starts[u + 1]``; ``code_*`` a point's element
    among the m drawn (-1: padding, zero); ``slot_of[2 x ifmap nonzero + weight nonzero]``."""
    U = starts.shape[0] - 1
    nz_i = np.zeros(max(m_i, 1), dtype=np.int64)
    nz_w = np.zeros(max(m_w, 1), dtype=np.int64)
    s1 = 0.0
    s2 = 0.0
    for _ in range(samples):
        state = _draw(nz_i, m_i, n_i, nnz_i, state)
        state = _draw(nz_w, m_w, n_w, nnz_w, state)
        best = 0
        for u in range(U):
            kept = 0
            for j in range(starts[u], starts[u + 1]):
                a = code_i[j]
                b = code_w[j]
                zi = nz_i[a] if a >= 0 else 0
                zw = nz_w[b] if b >= 0 else 0
                kept += slot_of[2 * zi + zw]
            if kept > best:
                best = kept
        s1 += best
        s2 += best * best
    return s1, s2, state


def _local(groups: tuple, dim: str) -> tuple[np.ndarray, np.ndarray]:
    """Dim ``dim``'s index contribution per point of the units' and of a run's loops (the runs' own:
    :func:`classes`, per component)."""
    units, inner = (odometer(g, [lp.span if lp.dim == dim else 0 for lp in g]) for g in groups[1:])
    return units, inner


@dataclass(frozen=True, eq=False)
class _Item:
    """One quantity a run's class depends on: a conditioned tensor's coordinate (padding below 0 and at or
    above its size) or a dim ceil tiling overruns (``coef`` {dim: 1}, no ``low`` side). ``unit`` / ``inner``:
    its local value per unit and per point of a run (:func:`_item`), reaching [lmin, lmax]; a run's base b
    puts the run's points at b + local."""
    coef: dict
    offset: int
    size: int
    low: bool
    unit: np.ndarray
    inner: np.ndarray

    @property
    def lmin(self) -> int:
        return int(self.unit.min() + self.inner.min())

    @property
    def lmax(self) -> int:
        return int(self.unit.max() + self.inner.max())

    @property
    def width(self) -> int:
        return self.lmax - self.lmin + 1

    def key(self, base: np.ndarray) -> np.ndarray:
        """Per run base: (low overhang, high overhang) coded as one int (each capped at the width: wholly out)."""
        lo = np.clip(-(base + self.lmin), 0, self.width) if self.low else np.zeros_like(base)
        hi = np.clip(base + self.lmax - (self.size - 1), 0, self.width)
        return lo * (self.width + 1) + hi

    def allowed(self, key: int) -> tuple[int, int]:
        """The local values inside the tensor (or the problem) for a class's key: [lmin + lo, lmax - hi]."""
        lo, hi = divmod(key, self.width + 1)
        return self.lmin + lo, self.lmax - hi


def _item(coef: dict, offset: int, size: int, low: bool, loc: dict, units: int, points: int) -> _Item:
    """The :class:`_Item` of a coordinate ``sum(coef[d] x d) + offset`` valid in [0, size), its local values
    from ``loc`` (dim -> :func:`_local`)."""
    unit = np.zeros(units, dtype=np.int64)
    inner = np.zeros(points, dtype=np.int64)
    for d, k in coef.items():
        unit = unit + k * loc[d][0]
        inner = inner + k * loc[d][1]
    return _Item(coef, offset, size, low, unit, inner)


def classes(flat: Flat, items: list[_Item]) -> list[tuple[tuple[int, ...], int]] | None:
    """The runs grouped by their items' keys: [(one key per item, runs)], the keys sorted. The dims linked by
    an item are one component; each component's runs' loops are enumerated alone and the classes combined
    as a product (a run's loops on a dim no item reads multiply every count). None above ``MAX_CLASSES``."""
    runs = lockstep_loops(flat)[0]
    parent: dict = {}

    def find(d):
        while parent.setdefault(d, d) != d:
            d = parent[d]
        return d
    for it in items:
        ds = list(it.coef)
        for d in ds[1:]:
            parent[find(d)] = find(ds[0])
    comps: dict = {}
    for i, it in enumerate(items):          # a coordinate of no dim (its offset alone): a component of its own
        comps.setdefault(find(next(iter(it.coef))) if it.coef else f"#{i}", []).append(i)
    free = math.prod(lp.factor for lp in runs if lp.dim not in parent)
    parts = []
    for root, idx in sorted(comps.items()):
        loops = [lp for lp in runs if lp.dim in parent and find(lp.dim) == root]
        base = {d: odometer(loops, [lp.span if lp.dim == d else 0 for lp in loops])
                for d in {d for i in idx for d in items[i].coef}}
        zero = np.zeros(1, dtype=np.int64)
        keys = np.stack([items[i].key(items[i].offset + sum((k * base[d] for d, k in items[i].coef.items()), zero))
                         for i in idx], axis=1)
        uniq, counts = np.unique(keys, axis=0, return_counts=True)
        parts.append((idx, uniq, counts))
    if math.prod(len(p[2]) for p in parts) > MAX_CLASSES:
        return None
    out = []
    for combo in itertools.product(*[range(len(p[2])) for p in parts]):
        key = [0] * len(items)
        count = free
        for (idx, uniq, counts), c in zip(parts, combo):
            for j, i in enumerate(idx):
                key[i] = int(uniq[c, j])
            count *= int(counts[c])
        out.append((tuple(key), count))
    return out


@dataclass
class _Draws:
    """One class of runs and its draws so far: ``runs`` of them, their busiest unit's MACs ``dense_max`` and
    valid points ``points``; the stream's ``state``; the busiest unit's kept slots' sum and sum of squares
    over ``samples`` draws."""
    key: tuple
    runs: int
    dense_max: int
    points: int
    state: np.uint64
    s1: float = 0.0
    s2: float = 0.0
    samples: int = 0
    seen: int = 0           # draws over every stage (restart keeps it)

    def draw(self, arrays: tuple, n: int, slot_of: np.ndarray) -> None:
        """``n`` more draws on the class's ``arrays`` (:func:`_arrays`)."""
        starts, codes, drawn = arrays
        s1, s2, state = _sample(starts, codes[IFMAP], codes[WEIGHT], *drawn[IFMAP], *drawn[WEIGHT], slot_of, n,
                                self.state)
        self.state = np.uint64(state)
        self.s1, self.s2, self.samples, self.seen = self.s1 + s1, self.s2 + s2, self.samples + n, self.seen + n

    def restart(self) -> None:
        """Drop the draws' sums (the stream goes on: later draws are fresh)."""
        self.s1, self.s2, self.samples = 0.0, 0.0, 0

    def mean(self) -> float:
        return self.s1 / self.samples

    def var(self) -> float:
        """The busiest unit's kept slots' sample variance over the draws."""
        m = self.mean()
        return max(0.0, self.s2 / self.samples - m * m) * self.samples / max(1, self.samples - 1)


@dataclass(frozen=True)
class _Layout:
    """What every class's arrays are built from: the items (conditioned coordinates, then the dims ceil
    tiling overruns: ``risky``), each conditioned role's coordinates (``coords_of``) and its elements'
    box index (``box``: the local values' mixed radix over the widths, as a per-unit and a per-point part), the
    units ``U`` and points of a run ``T``, the roles' tensor sizes and densities."""
    items: tuple
    risky: tuple
    coords_of: dict
    box: dict
    U: int
    T: int
    sizes: dict
    densities: dict


@njit(cache=True)
def _build(U, T, cut_unit, cut_inner, cut_lo, cut_hi, cut_kind, box_unit, box_inner, rank_i, rank_w):
    """A class's valid points and element codes, unit by unit: (starts, code_i, code_w). A point is valid
    when every cut of kind 2 (a dim ceil tiling overruns) holds; it reads padding in role r (code -1) when
    a cut of kind r (0 ifmap, 1 weight) fails, else its element is ``rank_r[box_unit[r, u] + box_inner[r, t]]``
    (an empty rank array: every box position real, the box index itself; a role without a condition has
    box parts 0, code 0). ``cut_*``: per cut the local value per unit and per point and its allowed range
    [lo, hi]."""
    starts = np.zeros(U + 1, dtype=np.int64)
    code_i = np.empty(U * T, dtype=np.int32)
    code_w = np.empty(U * T, dtype=np.int32)
    n = 0
    K = cut_lo.shape[0]
    for u in range(U):
        for t in range(T):
            valid = True
            pad_i = False
            pad_w = False
            for k in range(K):
                v = cut_unit[k, u] + cut_inner[k, t]
                if v < cut_lo[k] or v > cut_hi[k]:
                    if cut_kind[k] == 2:
                        valid = False
                        break
                    if cut_kind[k] == 0:
                        pad_i = True
                    else:
                        pad_w = True
            if not valid:
                continue
            if pad_i:
                code_i[n] = -1
            elif rank_i.shape[0] == 0:            # every box position real: the rank is the box index
                code_i[n] = box_unit[0, u] + box_inner[0, t]
            else:
                code_i[n] = rank_i[box_unit[0, u] + box_inner[0, t]]
            if pad_w:
                code_w[n] = -1
            elif rank_w.shape[0] == 0:
                code_w[n] = box_unit[1, u] + box_inner[1, t]
            else:
                code_w[n] = rank_w[box_unit[1, u] + box_inner[1, t]]
            n += 1
        starts[u + 1] = n
    return starts, code_i[:n].copy(), code_w[:n].copy()


def _arrays(lay: _Layout, key: tuple) -> tuple | None:
    """A class's arrays for :func:`_sample` (``key``: its items' keys): the units' valid points' ``starts``
    (points inside the problem, unit by unit), per role each valid point's element code among the real
    elements of the box (-1: padding, a zero) and (real elements m, tensor elements N, expected nonzeros
    d x N); None when no point is valid. The codes are the box index ranked among the box's real positions
    (:func:`_build`, O(points)), then among those the points read where the box holds more (review rev29:
    an FC layer's weight box 340 times its points); only the items the class cuts (padding, a ceil edge)
    are checked."""
    cuts = []                     # (item, lo, hi, kind)
    for i in lay.risky:
        it = lay.items[i]
        top = it.allowed(key[i])[1]
        if top < it.lmax:                     # else every point is inside (the interior runs)
            cuts.append((it, it.lmin, top, 2))
    ranks, reals = [], []                     # per role: rank of each box position among the real (empty: all real)
    for r, role in enumerate(ROLES):
        if role not in lay.coords_of:         # no condition on it: slot_of ignores what it reads (code 0)
            ranks.append(np.zeros(0, dtype=np.int32))
            reals.append(1)
            continue
        real = np.ones(1, dtype=bool)         # per box position (row-major over the coordinates)
        for i in lay.coords_of[role]:
            it = lay.items[i]
            lo, hi = it.allowed(key[i])
            axis = np.arange(it.lmin, it.lmax + 1)
            real = (real[:, None] & ((axis >= lo) & (axis <= hi))[None, :]).reshape(-1)
            if lo > it.lmin or hi < it.lmax:  # else no point of it reads padding
                cuts.append((it, lo, hi, r))
        ranks.append(np.zeros(0, dtype=np.int32) if real.all() else (np.cumsum(real) - 1).astype(np.int32))
        reals.append(int(real.sum()))
    zero_u, zero_t = np.zeros(lay.U, dtype=np.int64), np.zeros(lay.T, dtype=np.int64)
    starts, code_i, code_w = _build(
        lay.U, lay.T,
        np.array([c[0].unit for c in cuts], dtype=np.int64).reshape(len(cuts), lay.U),
        np.array([c[0].inner for c in cuts], dtype=np.int64).reshape(len(cuts), lay.T),
        np.array([c[1] for c in cuts], dtype=np.int64), np.array([c[2] for c in cuts], dtype=np.int64),
        np.array([c[3] for c in cuts], dtype=np.int64),
        np.stack([lay.box[role][0] if role in lay.box else zero_u for role in ROLES]),
        np.stack([lay.box[role][1] if role in lay.box else zero_t for role in ROLES]), ranks[0], ranks[1])
    if starts[-1] == 0:
        return None
    codes = {IFMAP: code_i, WEIGHT: code_w}
    for r, role in enumerate(ROLES):          # the box's real positions no point reads need no draw
        if role in lay.coords_of and reals[r] > starts[-1]:
            read = np.zeros(reals[r], dtype=bool)
            read[codes[role][codes[role] >= 0]] = True
            rank = (np.cumsum(read) - 1).astype(np.int32)
            codes[role] = np.where(codes[role] >= 0, rank[np.maximum(codes[role], 0)], -1).astype(np.int32)
            reals[r] = int(read.sum())
    drawn = {role: (reals[r], lay.sizes[role], lay.densities[role] * lay.sizes[role])
             if role in lay.coords_of else (0, 1, 1.0) for r, role in enumerate(ROLES)}
    return starts, codes, drawn


def expected_ratio(problem: Problem, flat: Flat, steps: list[tuple[tuple[str, ...], bool]],
                   densities: dict[str, float]) -> tuple[float, float] | None:
    """(the expected lockstep ratio, its standard error) of the MAC features ``steps`` ((conditions, gate) in
    the spec's order, up to the last skip) under the uniform ``densities`` (role -> d) (module docstring);
    None when a condition is not the ifmap's or the weight's, the runs fall in too many classes or a run's
    box of a tensor exceeds ``MAX_BOX`` positions."""
    if not steps or any(c not in ROLES or c not in densities for on, _ in steps for c in on):
        return None
    groups = lockstep_loops(flat)
    U = int(math.prod(lp.factor for lp in groups[1]))
    T = int(math.prod(lp.factor for lp in groups[2]))
    loc = {d: _local(groups, d) for d in problem.dim_names}
    conditioned = [r for r in ROLES if any(r in on for on, _ in steps)]
    items: list[_Item] = []
    coords_of: dict[str, list[int]] = {}
    box: dict = {}            # role -> (per unit, per point) parts of the box index (row-major, from lmin)
    for role in conditioned:
        coords_of[role] = []
        bu, bt = np.zeros(U, dtype=np.int64), np.zeros(T, dtype=np.int64)
        for c in problem.tensor(role).coords:
            coords_of[role].append(len(items))
            it = _item(dict(c.terms), c.offset, c.size, True, loc, U, T)
            items.append(it)
            bu, bt = bu * it.width + (it.unit - it.unit.min()), bt * it.width + (it.inner - it.inner.min())
        box[role] = (bu, bt)
    over = overrun_dims(problem, flat)
    risky = tuple(range(len(items), len(items) + len(over)))
    items += [_item({d: 1}, 0, problem.size(d), False, loc, U, T) for d in over]
    if any(math.prod(items[i].width for i in idx) > MAX_BOX for idx in coords_of.values()):
        return None                     # a run reads more than MAX_BOX positions of a tensor: the caller's model
    found = classes(flat, items)
    if found is None:
        return None
    lay = _Layout(tuple(items), risky, coords_of, box, U, T,
                  {r: math.prod(c.size for c in problem.tensor(r).coords) for r in conditioned}, densities)
    slot_of = slot_codes(steps)
    random = any(0.0 < densities[r] < 1.0 for r in conditioned)       # else every draw is the same
    classes_: list[_Draws] = []
    kept: dict = {}                   # a class's arrays, kept while their points stay under KEEP_POINTS
    for key, count in found:          # a pilot per class
        arrays = _arrays(lay, key)
        if arrays is None:
            continue
        points = int(arrays[0][-1])
        seed = np.uint64((0x5851F42D4C957F2D * (len(classes_) + 1)) % (1 << 64))
        cl = _Draws(key, count, int(np.diff(arrays[0]).max()), points, seed)
        cl.draw(arrays, min(PILOT, max(MIN_DRAWS, PILOT_WORK // points)) if random else 1, slot_of)
        classes_.append(cl)
        if sum(c.points for c in classes_) <= KEEP_POINTS:
            kept[key] = arrays
    if not classes_:
        return 1.0, 0.0
    dense = sum(cl.runs * cl.dense_max for cl in classes_)

    def var(cl: _Draws) -> float:
        """The class's variance as the sampling rule takes it: the draws' sample variance; where the draws
        all agree, that of a value one slot away with probability 3 / draws, over every stage's draws (the
        rule of three's bound on what the draws did not see: a rare busiest unit; review rev28, 64 draws
        all 1 where P(1) is 0.915)."""
        v = cl.var()
        return 3.0 / cl.seen if random and v == 0.0 else v

    def mean(cl: _Draws) -> float:
        return max(cl.mean(), cl.dense_max / cl.samples)

    def error() -> float:
        return math.sqrt(sum(cl.runs * cl.runs * var(cl) / cl.samples for cl in classes_))
    # each stage's draws set the next stage's (each class's share of the ratio's variance <= its share of
    # the total) and are then dropped: the estimate takes the last stage's draws alone, so when to stop
    # never depends on what it averages; a second stage only where the first missed the error sought
    for _ in range(2 if random else 0):
        total = sum(cl.runs * mean(cl) for cl in classes_)
        need = [math.ceil(cl.runs * var(cl) / (TOL * TOL * total * mean(cl))) for cl in classes_]
        for cl, n in zip(classes_, need):
            arrays = kept.get(cl.key) or _arrays(lay, cl.key)
            assert arrays is not None
            cl.restart()
            cl.draw(arrays, min(max(n, MIN_DRAWS), MAX_SAMPLES, max(MIN_DRAWS, MAX_WORK // cl.points)), slot_of)
        if error() <= 1.5 * TOL * sum(cl.runs * cl.mean() for cl in classes_):
            break
    return sum(cl.runs * cl.mean() for cl in classes_) / dense, error() / dense


__all__ = ["expected_ratio", "classes", "TOL"]
