"""The tile sums of a coupled axis (an input coordinate ``p*stride + r*dil - pad`` inside ``[0, size)``):
``_axis_sums`` adds, over every (output tile, filter tile) pair of one axis, the input rows each
touches and the rows it shares with the previous tile of a sliding loop. The general numba scorer
(``accelsim.cost.fast_nest`` and its generated kernels) calls it for every coupled axis.

``counts.axis_sums`` visits all ceil(P/Tp) x ceil(R/Tr) pairs; here, per filter tile, the output tiles
that lie wholly inside the input (no padding, no border) all give the same term, so they are counted
in one multiplication and only the few border tiles are evaluated one by one. A term is the size of
the lattice {p*stride + r*dil} (and of its overlap with the previous tile) inside an interval: an
interval or a set of equally spaced blocks in closed form, a boolean enumeration for the rare rest
(stride and dilation both > 1 and coprime after dividing out their gcd). Integers only (int64; the
callers check the exact range: ``accelsim.cost.nest_arrays``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# ---------------------------------------------------------------------------------------------
# integer helpers

@njit(cache=True)
def _cdiv(a, b):
    """ceil(a / b) for b > 0, any sign of a (Python semantics)."""
    return -((-a) // b)


# ---------------------------------------------------------------------------------------------
# the lattice {p*s + r*d : p < a, r < b} in units of g = gcd(stride, dil): s, d coprime below

@njit(cache=True)
def _rep(a, b, s, d):
    """(kind, T, nb, w): kind 0 = nb blocks of w consecutive values every T (an interval when
    nb == 1 or w >= T); kind 1 = none of these (s, d > 1 coprime, a, b > 1)."""
    if d == 1:
        return 0, s, a, b
    if s == 1:
        return 0, d, b, a
    if a == 1:
        return 0, d, b, 1
    if b == 1:
        return 0, s, a, 1
    return 1, 0, 0, 0


@njit(cache=True)
def _blk_below(T, nb, w, x):
    """|{v in blocks: v < x}|."""
    if x <= 0:
        return 0
    end = (nb - 1) * T + w
    if nb == 1 or w >= T:
        return x if x < end else end
    if x >= end:
        return nb * w
    q = x // T
    r = x - q * T
    return q * w + (r if r < w else w)


@njit(cache=True)
def _mark(a, b, s, d):
    out = np.zeros((a - 1) * s + (b - 1) * d + 1, np.bool_)
    for p in range(a):
        for r in range(b):
            out[p * s + r * d] = True
    return out


@njit(cache=True)
def _count_scaled(a, b, s, d, lo, hi):
    """|lattice(a, b) in [lo, hi)|, lattice and bounds in units of g."""
    if hi <= lo:
        return 0
    kind, T, nb, w = _rep(a, b, s, d)
    if kind == 0:
        return _blk_below(T, nb, w, hi) - _blk_below(T, nb, w, lo)
    mk = _mark(a, b, s, d)
    n = 0
    for v in range(max(lo, 0), min(hi, mk.shape[0])):
        if mk[v]:
            n += 1
    return n


@njit(cache=True)
def _lat_count(a, b, g, s, d, lo, hi):
    """counts._count_in: |{p*stride + r*dil in [lo, hi)}| with stride = g*s, dil = g*d."""
    if hi <= lo:
        return 0
    return _count_scaled(a, b, s, d, _cdiv(lo, g), _cdiv(hi, g))


@njit(cache=True)
def _lat_overlap(a, b, a2, b2, delta, g, s, d, lo, hi):
    """counts._overlap_in: |{v in lattice(a, b) in [lo, hi): v + delta in lattice(a2, b2)}|."""
    if hi <= lo:
        return 0
    lo = _cdiv(lo, g)
    hi = _cdiv(hi, g)
    dl = delta // g                      # delta is a multiple of stride or of dil, so of g
    k1, T1, nb1, w1 = _rep(a, b, s, d)
    k2, T2, nb2, w2 = _rep(a2, b2, s, d)
    if k2 == 0 and (nb2 == 1 or w2 >= T2):          # the old tile is an interval
        end2 = (nb2 - 1) * T2 + w2
        return _count_scaled(a, b, s, d, max(lo, -dl), min(hi, end2 - dl))
    if k1 == 0 and (nb1 == 1 or w1 >= T1):          # the new tile is an interval
        end1 = (nb1 - 1) * T1 + w1
        return _count_scaled(a2, b2, s, d, max(lo, 0) + dl, min(hi, end1) + dl)
    if k1 == 0 and k2 == 0 and T1 == T2:            # both sparse blocks of one period
        T = T1
        qd = dl // T
        rd = dl - qd * T
        n = 0
        for u in range(w1):
            u2 = u + rd
            c = 0
            if u2 >= T:
                u2 -= T
                c = 1
            if u2 >= w2:
                continue
            # v = k*T + u (k < nb1) and v + dl = (k + qd + c)*T + u2 must be in block k + qd + c < nb2
            klo = max(max(0, -(qd + c)), _cdiv(lo - u, T))
            khi = min(min(nb1, nb2 - qd - c), _cdiv(hi - u, T))
            if khi > klo:
                n += khi - klo
        return n
    m1 = _mark(a, b, s, d)
    m2 = _mark(a2, b2, s, d)
    n = 0
    for v in range(max(max(lo, 0), -dl), min(min(hi, m1.shape[0]), m2.shape[0] - dl)):
        if m1[v] and m2[v + dl]:
            n += 1
    return n


@njit(cache=True)
def _not_first(lo_i, hi_i, m, f):
    """How many i in [lo_i, hi_i) have (i // m) % f >= 1 (a step of the sliding loop)."""
    if hi_i <= lo_i:
        return 0
    per = m * f
    q_hi = hi_i // per
    q_lo = lo_i // per
    z_hi = q_hi * m + min(hi_i - q_hi * per, m)      # restarts below hi_i
    z_lo = q_lo * m + min(lo_i - q_lo * per, m)
    return (hi_i - lo_i) - (z_hi - z_lo)


@njit(cache=True)
def _dense(a, b, s, d):
    """The lattice (units of g) is an interval."""
    kind, T, nb, w = _rep(a, b, s, d)
    return kind == 0 and (nb == 1 or w >= T)


@njit(cache=True)
def _term(a, b, a2, b2, delta, ovl, fast, span, span2, g, s, d, lo, hi):
    """One (output tile, filter tile) term of counts.axis_sums: (rows touched in [lo, hi), rows also in
    the previous tile (when ``ovl``)). ``fast``: g == 1 and both lattices are intervals."""
    if fast:
        t = min(hi, span) - max(lo, 0)
        if t <= 0:
            return 0, 0
        if not ovl:
            return t, 0
        o = min(min(hi, span), span2 - delta) - max(max(lo, 0), -delta)
        return t, (o if o > 0 else 0)
    t = _lat_count(a, b, g, s, d, lo, hi)
    if not ovl:
        return t, 0
    return t, _lat_overlap(a, b, a2, b2, delta, g, s, d, lo, hi)


@njit(cache=True)
def _axis_sums(Dp, Tp, Dr, Tr, s0, d0, g, s, d, pad, size, slide, m, f):
    """counts.axis_sums, with the interior output tiles of each filter tile added in one product.

    (Dp, Tp): output dim and tile, (Dr, Tr): filter dim and tile, stride s0 = g*s, dilation d0 = g*d;
    slide 1: the sliding loop moves P-tiles, 2: R-tiles, 0: none; it moves m tiles a step, f steps:
    tile i (or j) is a step, not a restart, when (i // m) % f >= 1."""
    nP = _cdiv(Dp, Tp)
    nR = _cdiv(Dr, Tr)
    lastP = Dp - (nP - 1) * Tp
    lastR = Dr - (nR - 1) * Tr
    A = Tp * s0
    nfull = nP - 1                       # output tiles of full size Tp; tile nP - 1 has lastP
    zero = np.int64(0)
    # which (output tile, filter tile) lattices are intervals (closed forms apply)
    d_tt = g == 1 and _dense(Tp, Tr, s, d)
    d_tl = g == 1 and _dense(Tp, lastR, s, d)
    d_lt = g == 1 and _dense(lastP, Tr, s, d)
    d_ll = g == 1 and _dense(lastP, lastR, s, d)
    delta = m * Tr * d0 if slide == 2 else m * Tp * s0
    last_steps = slide == 1 and (nfull // m) % f >= 1      # the last output tile is a P-step
    total = 0
    overlap = 0
    jr = 0                               # j % m and (j // m) % f, kept incrementally
    jd = 0
    for j in range(nR):
        last_r = j == nR - 1
        re = lastR if last_r else Tr
        base = j * Tr * d0 - pad          # offset of output tile 0 with filter tile j
        slide_j = slide == 2 and jd >= 1
        span_f = (Tp - 1) * s0 + (re - 1) * d0 + 1
        span_l = (lastP - 1) * s0 + (re - 1) * d0 + 1
        dense_f = d_tl if last_r else d_tt
        dense_l = d_ll if last_r else d_lt
        # the previous tile (when this one is a step): P-steps: the full (Tp, re) tile m*Tp rows back;
        # R-steps: the same output tile with a full filter tile (., Tr), m*Tr filter rows back
        if slide == 2:
            a2l, b2 = lastP, Tr
            span2f = (Tp - 1) * s0 + (Tr - 1) * d0 + 1
            span2l = (lastP - 1) * s0 + (Tr - 1) * d0 + 1
            fast_f = dense_f and d_tt
            fast_l = dense_l and d_lt
        else:
            a2l, b2 = Tp, re
            span2f = span_f
            span2l = span_f
            fast_f = dense_f
            fast_l = dense_l and dense_f
        if nfull > 0:
            # full tiles [i0, i1] lie wholly inside [0, size): off >= 0 and off + span <= size
            i0 = 0
            while i0 < nfull and base + i0 * A < 0:
                i0 += 1
            i1 = nfull - 1
            while i1 >= i0 and base + i1 * A + span_f > size:
                i1 -= 1
            ni = i1 - i0 + 1
            if ni > 0:
                if slide == 1:
                    ns = _not_first(i0, i1 + 1, m, f)
                    t, o = _term(Tp, re, Tp, b2, delta, ns > 0, fast_f, span_f, span2f, g, s, d, zero, span_f)
                    total += ni * t
                    overlap += ns * o
                else:
                    t, o = _term(Tp, re, Tp, b2, delta, slide_j, fast_f, span_f, span2f, g, s, d, zero, span_f)
                    total += ni * t
                    overlap += ni * o
            # the border tiles [0, i0) and (i1, nfull); the sliding digit of i kept incrementally
            for part in range(2):
                if part == 0:
                    i, i_end = 0, i0
                else:
                    i, i_end = i1 + 1, nfull
                ir = 0
                idg = 0
                if slide == 1 and i > 0:
                    q = i // m
                    ir = i - q * m
                    idg = q % f
                while i < i_end:
                    off = base + i * A
                    ovl = slide_j or (slide == 1 and idg >= 1)
                    t, o = _term(Tp, re, Tp, b2, delta, ovl, fast_f, span_f, span2f, g, s, d, -off, size - off)
                    total += t
                    overlap += o
                    i += 1
                    ir += 1
                    if ir == m:
                        ir = 0
                        idg += 1
                        if idg == f:
                            idg = 0
        off = base + nfull * A
        ovl = slide_j or last_steps
        t, o = _term(lastP, re, a2l, b2, delta, ovl, fast_l, span_l, span2l, g, s, d, -off, size - off)
        total += t
        overlap += o
        jr += 1
        if jr == m:
            jr = 0
            jd += 1
            if jd == f:
                jd = 0
    return total, overlap



__all__ = ["_axis_sums"]
