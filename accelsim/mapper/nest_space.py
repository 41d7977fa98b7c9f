"""The proposal space of the mapper over any hierarchy, as arrays (``cost.nest_arrays.NestArrays``):
random legal nests and local moves around given ones, thousands per numba call.

A dim's factors live in *slots*, outermost first: per level its temporal loop, then (if it has a
fanout) the fanout's x and y axes (``loopnest.flatten``'s order). A proposal draws each dim's
factors inner slot first, each at most what the dim has left (so nothing over-tiles) and, for a
fanout axis, at most the room the other dims left on it; the outermost slot (the backing store's
temporal loop) takes the rest. Loop orders are random permutations; every level below the backing
store keeps each role it may keep with probability 3/4 (the others bypass it).

Legality (``loopnest.problems_of``) is enforced here, not hoped for: slots a level's ``unsplit`` or
a fanout's ``unsplit_x`` / ``unsplit_y`` bans stay 1; a nest whose tiles overflow a capacity group is
repaired by halving a factor inside the overflowing tile (innermost levels first; the backing store
absorbs the rest) and dropped if that does not make it fit. Every nest :class:`NestSpace` returns
passes ``problems_of`` (tests/test_nest_search.py), except that with ``cap_scale`` (a sparse
search) a kept tile counts its dense words x its (level, role) scale, a lower bound of its
compressed words per dense word (``mapper.sparse_batch.NestSparseBatch.cap_scale``): nests that fit
only compressed are proposed, and the caller keeps those whose exact compressed tiles fit.
Randomness comes in as arrays of uniforms from the caller's ``numpy.random.Generator``: same seed,
same nests.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from accelsim.cost.nest_arrays import C_D1, C_D2, C_K1, C_K2, C_ROLE, C_SIZE, NestArrays, NestLayout
from accelsim.mapper.batch import _touched
from accelsim.names import AXES, ROLES

U_PER_NEST = 256          # uniforms per nest a numba call may draw (cycled if it needs more)
REPAIRS = 48              # halvings tried per nest before it is dropped
NR = len(ROLES)           # roles (tensors); numba reads it as a constant


@njit(cache=True, inline="always")
def _cdiv(a, b):
    return -((-a) // b)


@njit(cache=True, inline="always")
def _pick(hi, u):
    """A factor in [1, hi], biased to the ends (nothing, or all the dim has left)."""
    if hi <= 1:
        return 1
    if u < 0.4:
        return 1
    if u < 0.6:
        return hi
    return 1 + int((u - 0.6) / 0.4 * hi) % hi


@njit(cache=True)
def _get(factors, spatial, b, lev, kind, d):
    if kind == 0:
        return factors[b, lev, d]
    return spatial[b, lev, kind - 1, d]


@njit(cache=True)
def _set(factors, spatial, b, lev, kind, d, f):
    if kind == 0:
        factors[b, lev, d] = f
    else:
        spatial[b, lev, kind - 1, d] = f


@njit(cache=True)
def _close(sizes, slot_lev, slot_kind, rest, factors, spatial, b, d):
    """Re-clip dim d's slots outward (no over-tiling) and give the rest to its rest slot (the
    outermost slot no constraint bans; the ones outside it stay 1)."""
    S = slot_lev.shape[0]
    span = 1
    for s in range(S - 1, rest[d], -1):
        f = _get(factors, spatial, b, slot_lev[s], slot_kind[s], d)
        hi = _cdiv(sizes[d], span)
        if f > hi:
            f = hi
            _set(factors, spatial, b, slot_lev[s], slot_kind[s], d, f)
        span *= f
    _set(factors, spatial, b, slot_lev[rest[d]], slot_kind[rest[d]], d, _cdiv(sizes[d], span))


@njit(cache=True, inline="always")
def _shrinkable(over, rel, rest, first, factors, spatial, b, lev, kind, s, d):
    """Slot ``s`` of dim ``d`` is inside the tile, its factor > 1, and ``d`` indexes an overflowing role."""
    hit = False
    for t in range(NR):
        if (over >> t) & 1 and rel[t, d] != 0:
            hit = True
    return hit and s > rest[d] and rest[d] < first and _get(factors, spatial, b, lev, kind, d) > 1


@njit(cache=True, inline="always")
def tile_words(ext, rel, coupled, words):
    """Into ``words`` (one per role): the words of each role's tile at the clipped per-dim extents
    ``ext`` (``sparse.model.role_extents``' product: plain axes their dims' extents, a coupled axis its
    touched rows clipped to its size)."""
    D = ext.shape[0]
    for t in range(NR):
        w = 1
        for d in range(D):
            if rel[t, d] != 0:
                w *= ext[d]
        words[t] = w
    for c in range(coupled.shape[0]):
        t = coupled[c, C_ROLE]
        d1 = coupled[c, C_D1]
        d2 = coupled[c, C_D2]
        a = ext[d1]
        bb = ext[d2] if d2 >= 0 else 1
        n = _touched(a, bb, coupled[c, C_K1], coupled[c, C_K2])
        if n > coupled[c, C_SIZE]:
            n = coupled[c, C_SIZE]
        # the plain product above counted a * bb for this axis; replace it by the touched rows
        words[t] = words[t] // (a * bb) * n


@njit(cache=True)
def tile_words_batch(ext, rel, coupled):
    """(B, roles) :func:`tile_words` of each row of ``ext`` (B, D)."""
    out = np.empty((ext.shape[0], NR), np.int64)
    words = np.zeros(NR, np.int64)
    for b in range(ext.shape[0]):
        tile_words(ext[b], rel, coupled, words)
        for t in range(NR):
            out[b, t] = words[t]
    return out


@njit(cache=True)
def _legalize(sizes, rel, coupled, slot_lev, slot_kind, slot_room, ban, rest, cap_roles, cap_words, cap_scale,
              factors, spatial, keeps, b, u, ui):
    """Repair nest b's capacity overflows; True when it is legal. ``ui``: next uniform index."""
    L = factors.shape[1]
    D = factors.shape[2]
    S = slot_lev.shape[0]
    NU = u.shape[1]
    ext = np.ones(D, np.int64)
    words = np.zeros(NR, np.int64)
    for lev in range(L - 1, 0, -1):
        if cap_words[lev, 0] <= 0:
            continue
        first = 0                       # first slot of this level: its temporal loop
        while slot_lev[first] != lev:
            first += 1
        for _rep in range(REPAIRS):
            for d in range(D):
                e = 1
                for s in range(first, S):
                    e *= _get(factors, spatial, b, slot_lev[s], slot_kind[s], d)
                ext[d] = e if e < sizes[d] else sizes[d]
            tile_words(ext, rel, coupled, words)
            over = 0                    # roles of the overflowing groups
            for g in range(cap_words.shape[1]):
                if cap_words[lev, g] <= 0:
                    continue
                need = 0.0
                for t in range(NR):
                    if cap_roles[lev, g, t] != 0 and keeps[b, lev, t] != 0:
                        need += words[t] * cap_scale[lev, t]
                if need > cap_words[lev, g]:
                    for t in range(NR):
                        if cap_roles[lev, g, t] != 0 and keeps[b, lev, t] != 0:
                            over |= 1 << t
            if over == 0:
                break
            # halve a random factor > 1 inside the tile, of a dim indexing an overflowing role
            n_c = 0
            for s in range(first, S):
                for d in range(D):
                    if _shrinkable(over, rel, rest, first, factors, spatial, b, slot_lev[s], slot_kind[s], s, d):
                        n_c += 1
            if n_c == 0:
                return False
            k = int(u[b, ui % NU] * n_c) % n_c
            ui += 1
            for s in range(first, S):
                for d in range(D):
                    if _shrinkable(over, rel, rest, first, factors, spatial, b, slot_lev[s], slot_kind[s], s, d):
                        if k == 0:
                            f = _get(factors, spatial, b, slot_lev[s], slot_kind[s], d)
                            _set(factors, spatial, b, slot_lev[s], slot_kind[s], d, _cdiv(f, 2))
                            _close(sizes, slot_lev, slot_kind, rest, factors, spatial, b, d)
                        k -= 1
        else:
            return False
    # spatial room and bans (moves and repairs, which give a dim's rest to its rest slot, may break them)
    for s in range(S):
        if slot_kind[s] != 0:
            used = 1
            for d in range(D):
                used *= spatial[b, slot_lev[s], slot_kind[s] - 1, d]
            if used > slot_room[s]:
                return False
        for d in range(D):
            if ban[s, d] and _get(factors, spatial, b, slot_lev[s], slot_kind[s], d) > 1:
                return False
    return True


@njit(cache=True)
def _propose(sizes, rel, coupled, slot_lev, slot_kind, slot_room, ban, rest, keepable, cap_roles, cap_words,
             cap_scale, u, factors, orders, spatial, keeps, ok):
    B = factors.shape[0]
    L = factors.shape[1]
    D = factors.shape[2]
    S = slot_lev.shape[0]
    NU = u.shape[1]
    room = np.zeros(S, np.int64)
    perm = np.zeros(D, np.int64)
    for b in range(B):
        ui = 0
        for lev in range(L):
            for d in range(D):
                factors[b, lev, d] = 1
                spatial[b, lev, 0, d] = 1
                spatial[b, lev, 1, d] = 1
        for s in range(S):
            room[s] = slot_room[s]
        for d in range(D):               # dims in random order share the fanouts' room
            perm[d] = d
        for i in range(D - 1, 0, -1):
            j = int(u[b, ui % NU] * (i + 1)) % (i + 1)
            ui += 1
            x = perm[i]
            perm[i] = perm[j]
            perm[j] = x
        fits = True
        for k in range(2 * D):           # dims with an inner rest slot (constrained) first
            d = perm[k % D]
            if (k < D) == (rest[d] == 0):
                continue
            span = 1
            for s in range(S - 1, rest[d], -1):
                if ban[s, d]:
                    continue
                hi = _cdiv(sizes[d], span)
                if slot_kind[s] != 0 and room[s] < hi:
                    hi = room[s]
                f = _pick(hi, u[b, ui % NU])
                ui += 1
                _set(factors, spatial, b, slot_lev[s], slot_kind[s], d, f)
                if slot_kind[s] != 0:
                    room[s] //= f
                span *= f
            f = _cdiv(sizes[d], span)
            s = rest[d]
            if slot_kind[s] != 0:
                if f > room[s]:
                    fits = False
                    f = 1
                else:
                    room[s] //= f
            _set(factors, spatial, b, slot_lev[s], slot_kind[s], d, f)
        for lev in range(L):
            for d in range(D):
                perm[d] = d
            for i in range(D - 1, 0, -1):
                j = int(u[b, ui % NU] * (i + 1)) % (i + 1)
                ui += 1
                x = perm[i]
                perm[i] = perm[j]
                perm[j] = x
            for d in range(D):
                orders[b, lev, d] = perm[d]
            for t in range(NR):
                if lev == 0:
                    keeps[b, lev, t] = 1
                else:
                    keeps[b, lev, t] = 1 if keepable[lev, t] != 0 and u[b, ui % NU] < 0.75 else 0
                    ui += 1
        ok[b] = fits and _legalize(sizes, rel, coupled, slot_lev, slot_kind, slot_room, ban, rest, cap_roles,
                                   cap_words, cap_scale, factors, spatial, keeps, b, u, ui)


@njit(cache=True)
def _mutate(sizes, rel, coupled, slot_lev, slot_kind, slot_room, ban, rest, keepable, cap_roles, cap_words, cap_scale,
            u, pick, p_factors, p_orders, p_spatial, p_keeps, factors, orders, spatial, keeps, ok):
    """Children of the parents ``pick[b]``: one local move each, a second one sometimes."""
    B = factors.shape[0]
    L = factors.shape[1]
    D = factors.shape[2]
    S = slot_lev.shape[0]
    NU = u.shape[1]
    for b in range(B):
        ui = 0
        q = pick[b]
        factors[b] = p_factors[q]
        orders[b] = p_orders[q]
        spatial[b] = p_spatial[q]
        keeps[b] = p_keeps[q]
        moves = 1 if u[b, ui % NU] < 0.65 else 2
        ui += 1
        for _m in range(moves):
            mv = int(u[b, ui % NU] * 5) % 5
            ui += 1
            lev = int(u[b, ui % NU] * L) % L
            ui += 1
            d = int(u[b, ui % NU] * D) % D
            ui += 1
            if mv == 0:                  # swap two loops of one level's order
                j = int(u[b, ui % NU] * D) % D
                ui += 1
                x = orders[b, lev, d]
                orders[b, lev, d] = orders[b, lev, j]
                orders[b, lev, j] = x
            elif mv == 1:                # move a position to the innermost place
                x = orders[b, lev, d]
                for k in range(d, D - 1):
                    orders[b, lev, k] = orders[b, lev, k + 1]
                orders[b, lev, D - 1] = x
            elif mv == 2 or mv == 3:     # re-draw one slot's factor of dim d (move 3: halve or double it)
                s = 1 + int(u[b, ui % NU] * (S - 1)) % (S - 1) if S > 1 else 0
                ui += 1
                if s <= rest[d] or ban[s, d]:
                    continue
                span = 1
                for s2 in range(s + 1, S):
                    span *= _get(factors, spatial, b, slot_lev[s2], slot_kind[s2], d)
                hi = _cdiv(sizes[d], span)
                if slot_kind[s] != 0:
                    other = 1
                    for e in range(D):
                        if e != d:
                            other *= spatial[b, slot_lev[s], slot_kind[s] - 1, e]
                    r = slot_room[s] // other
                    if r < hi:
                        hi = r
                if hi < 1:
                    hi = 1
                old = _get(factors, spatial, b, slot_lev[s], slot_kind[s], d)
                if mv == 2:
                    f = _pick(hi, u[b, ui % NU])
                else:
                    f = old * 2 if u[b, ui % NU] < 0.5 else _cdiv(old, 2)
                    if f > hi:
                        f = hi
                ui += 1
                _set(factors, spatial, b, slot_lev[s], slot_kind[s], d, f)
                _close(sizes, slot_lev, slot_kind, rest, factors, spatial, b, d)
            else:                        # flip one keep choice
                t = int(u[b, ui % NU] * 3) % 3
                ui += 1
                if lev > 0 and keepable[lev, t] != 0:
                    keeps[b, lev, t] = 1 - keeps[b, lev, t]
        ok[b] = _legalize(sizes, rel, coupled, slot_lev, slot_kind, slot_room, ban, rest, cap_roles, cap_words,
                          cap_scale, factors, spatial, keeps, b, u, ui)


class NestSpace:
    """The search space of one (problem, hierarchy): slots, bans, capacities, keep choices."""

    def __init__(self, layout: NestLayout, cap_scale: np.ndarray | None = None):
        self.layout = layout
        h, dims = layout.hierarchy, layout.dims
        pa = layout.problem_arrays
        self.sizes, self.rel, self.coupled = pa.sizes, pa.rel, pa.coupled
        lev, kind, room, bans = [], [], [], []
        for i, lv in enumerate(h.levels):
            lev.append(i)
            kind.append(0)
            room.append(0)
            bans.append([d in lv.unsplit for d in dims])
            if lv.fanout is not None:
                for a, axis in enumerate(AXES):
                    lev.append(i)
                    kind.append(1 + a)
                    room.append(getattr(lv.fanout, axis))
                    banned = lv.fanout.unsplit_x if a == 0 else lv.fanout.unsplit_y
                    bans.append([d in banned for d in dims])
        self.slot_lev = np.array(lev, np.int64)
        self.slot_kind = np.array(kind, np.int64)
        self.slot_room = np.array(room, np.int64)
        self.ban = np.array(bans, np.bool_).reshape(len(lev), len(dims))
        # per dim its rest slot: the outermost slot no constraint bans (takes what the inner ones leave)
        self.rest = np.array([min([s for s in range(len(lev)) if not self.ban[s, d]] or [0])
                              for d in range(len(dims))], np.int64)
        L = len(h.levels)
        self.keepable = np.array([[int(lv.keeps_role(r)) for r in ROLES] for lv in h.levels], np.int64)
        G = max([1] + [len(lv.capacity) for lv in h.levels])
        self.cap_roles = np.zeros((L, G, 3), np.int64)
        self.cap_words = np.zeros((L, G), np.int64)
        for i, lv in enumerate(h.levels):
            for g, (roles, words) in enumerate(lv.capacity):
                self.cap_words[i, g] = words
                for r in roles:
                    self.cap_roles[i, g, ROLES.index(r)] = 1
        # per (level, role) words a tile occupies per dense word in the capacity check: 1 (dense), or a
        # lower bound of its compressed size (``mapper.sparse_batch.NestSparseBatch.cap_scale``; the
        # sparse search checks the exact compressed size after)
        self.cap_scale = (np.ones((L, NR), np.float64) if cap_scale is None
                          else np.ascontiguousarray(cap_scale, dtype=np.float64))

    def _empty(self, n: int) -> NestArrays:
        L, D = len(self.layout.levels), len(self.layout.dims)
        return NestArrays(np.ones((n, L, D), np.int64), np.zeros((n, L, D), np.int64),
                          np.ones((n, L, 2, D), np.int64), np.zeros((n, L, 3), np.int64))

    def _statics(self) -> tuple:
        return (self.sizes, self.rel, self.coupled, self.slot_lev, self.slot_kind, self.slot_room, self.ban,
                self.rest, self.keepable, self.cap_roles, self.cap_words, self.cap_scale)

    def propose(self, rng: np.random.Generator, n: int) -> NestArrays:
        """Up to n random legal nests (the illegal ones dropped)."""
        out = self._empty(n)
        ok = np.zeros(n, np.bool_)
        _propose(*self._statics(), rng.random((n, U_PER_NEST)), *out, ok)
        return out.take(np.flatnonzero(ok))

    def mutate(self, rng: np.random.Generator, parents: NestArrays, n: int) -> NestArrays:
        """Up to n legal children, each one or two local moves from a random parent."""
        out = self._empty(n)
        ok = np.zeros(n, np.bool_)
        pick = rng.integers(0, parents.n_nests, n)
        _mutate(*self._statics(), rng.random((n, U_PER_NEST)), pick, *parents, *out, ok)
        return out.take(np.flatnonzero(ok))


__all__ = ["NestSpace", "tile_words", "tile_words_batch"]
