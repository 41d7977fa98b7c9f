"""The numba twin of accelsim.cost.counts.count: the same integers, under a microsecond per mapping.

``count_fast(layer, mapping) -> Counts`` equals ``counts.count`` exactly; ``count_batch`` scores a
batch of encoded mappings (accelsim.cost.encode) into a (B, K) int64 array, one row per mapping,
columns in ``COLUMNS`` order::

    COL_MACS, COL_CYCLES, COL_ACTIVE_PES
    COL_READS + NT*level + tensor     reads[level][tensor]    level: ACCESS_LEVELS (dram, glb, noc, rf)
    COL_WRITES + NT*level + tensor    writes[level][tensor]   tensor: TENSOR_NAMES (ifmap, weight, psum)
    COL_NOC + tensor                  noc_transfers[tensor]

``energy_batch`` and ``latency_bound_batch`` turn those rows into the mapper's two scores, so a
search runs on arrays only.

The kernel follows counts.py step by step (the loop nest, each hop's refill events, count_tuples,
axis_sums); what differs is how axis_sums adds its (output tile, filter tile) terms. counts.py visits
all ceil(P/Tp) x ceil(R/Tr) pairs; here, per filter tile, the output tiles that lie wholly inside the
input (no padding, no border) all give the same term, so they are counted in one multiplication and
only the few border tiles are evaluated one by one. A term is the size of the lattice
{p*stride + r*dil} (and of its overlap with the previous tile) inside an interval: an interval or a
set of equally spaced blocks in closed form, a boolean enumeration for the rare rest (stride and
dilation both > 1 and coprime after dividing out their gcd).

All arithmetic is int64; see accelsim.cost.encode for the exact range (checked, never wrapped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from accelsim.cost.counts import ACCESS_LEVELS, L_DRAM, L_GLB, L_NOC, L_RF, TENSOR_NAMES, Counts
from accelsim.cost.encode import LAYER_LEN, MappingArrays, encode, encode_layer
from accelsim.errors import ConfigError
from accelsim.mapping import COLS, DRAM, GLB, LEVELS, RELEVANT, RF, ROWS, TEMPORAL, Mapping
from workloads.layer import DIMS, Layer

# the layout's sizes from the names (numba reads these module globals as compile-time constants)
ND, NT, NLV, NORD, NACC = len(DIMS), len(TENSOR_NAMES), len(LEVELS), len(TEMPORAL), len(ACCESS_LEVELS)

COLUMNS: tuple[str, ...] = (("macs", "cycles", "active_pes")
                            + tuple(f"reads.{lv}.{t}" for lv in ACCESS_LEVELS for t in TENSOR_NAMES)
                            + tuple(f"writes.{lv}.{t}" for lv in ACCESS_LEVELS for t in TENSOR_NAMES)
                            + tuple(f"noc_transfers.{t}" for t in TENSOR_NAMES))
NCOLS = len(COLUMNS)                   # 30
COL_MACS, COL_CYCLES, COL_ACTIVE_PES = (COLUMNS.index(c) for c in ("macs", "cycles", "active_pes"))
COL_READS, COL_WRITES, COL_NOC = (COLUMNS.index(f"{k}.{TENSOR_NAMES[0]}") for k in
                                  (f"reads.{ACCESS_LEVELS[0]}", f"writes.{ACCESS_LEVELS[0]}", "noc_transfers"))

_REL = np.array([RELEVANT[t] for t in TENSOR_NAMES], dtype=np.int64)   # (NT, ND)
_NIRR = (ND - _REL.sum(axis=1)).astype(np.int64)                        # dims not indexing each tensor
_IRR = np.zeros((NT, ND), dtype=np.int64)
for _t in range(NT):
    _IRR[_t, :_NIRR[_t]] = np.flatnonzero(_REL[_t] == 0)

# kernel error codes -> message (index of the mapping, level, dim are reported with it)
_ERRORS = {
    1: "factor must be >= 1",
    2: "factor over-tiles the dimension ((factor - 1) x inner span >= dim)",
    3: "factors do not cover the dimension",
    4: "loop order is not a permutation of the 8 dims",
    5: "active PEs (product of the spatial factors) exceed 4e18",
}

# mapping levels (accelsim.mapping) and the child "level" of the MAC units; access-count levels
# (counts.py). Literals here because compiled kernels are cached against this file only: the
# assertion fails loudly if the other modules ever renumber.
_DRAM, _GLB, _ROWS, _COLS, _RF, _MAC = 0, 1, 2, 3, 4, 5
_L_DRAM, _L_GLB, _L_NOC, _L_RF = 0, 1, 2, 3
if ((DRAM, GLB, ROWS, COLS, RF) != (_DRAM, _GLB, _ROWS, _COLS, _RF)
        or (L_DRAM, L_GLB, L_NOC, L_RF) != (_L_DRAM, _L_GLB, _L_NOC, _L_RF)
        or LEVELS != ("dram", "glb", "rows", "cols", "rf") or DIMS != ("N", "G", "K", "C", "P", "Q", "R", "S")):
    raise ImportError("accelsim.cost.fast: level or dim numbering changed in mapping/counts/layer; update fast.py")


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


# ---------------------------------------------------------------------------------------------
# the loop nest: per-dimension tuple counts and the kernel
#
# counts.build_nest puts a loop for every factor > 1, level by level (DRAM in dram order, GLB in glb
# order, ROWS and COLS in dim order, RF in rf order). The kernel keeps the nest as per-(level, dim)
# arrays: factor, inner span, and the loop's rank within its level, so (level, rank) sorts loops in
# nest order and a cut of the nest is a level (loops above the GLB: DRAM; above the RF: DRAM..COLS;
# above the MACs: all). A dim's loops are then five bits, one per level (bit 0 DRAM .. bit 4 RF).
# Everything runs in one function: numba reference-counts array arguments on every call, which at
# this grain would cost more than the arithmetic; the helpers it calls take integers only.

@njit(cache=True)
def _ct_step(f, s, kept, full, budget):
    """One loop of counts.count_tuples: (tuples added, budget left)."""
    if f <= 1:                       # not in the nest
        return 0, budget
    if kept:
        if (f - 1) * s < budget:     # n = min(f, ceil(budget / s)) without dividing when it is f
            n = f
        elif s == 1:
            n = budget
        else:
            n = _cdiv(budget, s)
        return (n - 1) * full, budget - (n - 1) * s
    return 0, (s if s < budget else budget)


@njit(cache=True)
def _count_tuples(D, f0, f1, f2, f3, f4, s0, s1, s2, s3, s4, kept):
    """counts.count_tuples over one dim's loops at DRAM, GLB, ROWS, COLS, RF (outer -> inner; factor 1
    = no loop, s = inner span), bit lv of ``kept`` set when the loop at level lv is kept."""
    k0 = (kept & 1) != 0
    k1 = (kept & 2) != 0
    k2 = (kept & 4) != 0
    k3 = (kept & 8) != 0
    k4 = (kept & 16) != 0
    p3 = f4 if k4 else 1             # p_lv: product of the kept factors inside level lv
    p2 = p3 * f3 if k3 else p3
    p1 = p2 * f2 if k2 else p2
    p0 = p1 * f1 if k1 else p1
    total = 1
    budget = D
    a, budget = _ct_step(f0, s0, k0, p0, budget)
    total += a
    a, budget = _ct_step(f1, s1, k1, p1, budget)
    total += a
    a, budget = _ct_step(f2, s2, k2, p2, budget)
    total += a
    a, budget = _ct_step(f3, s3, k3, p3, budget)
    total += a
    a, budget = _ct_step(f4, s4, k4, np.int64(1), budget)
    total += a
    return total


# highest and lowest set bit of a 5-bit level mask (-1 for 0 / 5 for 0)
_HIGH = (-1, 0, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4)
_LOW = (5, 0, 1, 0, 2, 0, 1, 0, 3, 0, 1, 0, 2, 0, 1, 0, 4, 0, 1, 0, 2, 0, 1, 0, 3, 0, 1, 0, 2, 0, 1, 0)


@njit(cache=True, inline='always')
def _tuples(D, kept, present, f0, f1, f2, f3, f4, s0, s1, s2, s3, s4):
    """_count_tuples with the closed forms of the common cases (exact for mappings that pass the
    kernel's checks, checked exhaustively in the tests): no loop kept: 1; every loop kept: D; the
    kept loops all outside the dropped ones: ceil(D / span of the innermost kept); all inside: the
    span of the innermost dropped loop."""
    if kept == 0:
        return 1
    if kept == present:
        return D
    drop = present & ~kept
    hk = _HIGH[kept]
    hd = _HIGH[drop]
    if hk < _LOW[drop]:
        sk = (s0, s1, s2, s3, s4)[hk]
        return D if sk == 1 else _cdiv(D, sk)
    if _LOW[kept] > hd:
        return (s0, s1, s2, s3, s4)[hd]
    return _count_tuples(D, f0, f1, f2, f3, f4, s0, s1, s2, s3, s4, kept)


@njit(cache=True)
def _chain_at(h, glb, rf):
    """Level of position h in a tensor's buffer chain DRAM -> [GLB] -> [RF] -> MAC."""
    if h == 0:
        return _DRAM
    h -= 1
    if glb:
        if h == 0:
            return _GLB
        h -= 1
    if rf:
        if h == 0:
            return _RF
    return _MAC


@njit(cache=True)
def _count_kernel(lay, geo, ah1, aw1, rel, irr, nirr, factors, orders, glb_keep, rf_keep, reg_keep, out, memo_key,
                  memo_val):
    """Score every mapping of the batch into ``out``; returns (-1, 0) or (index, packed error
    code*100 + level*10 + dim) for the first mapping that breaks a structural rule.

    geo[axis]: the axis_sums geometry of rows (0) and columns (1), see _axis_geometry; ah1, aw1: the
    ifmap rows and columns summed over one-element tiles (_unit_axis_sums)."""
    Dp, Dq = lay[4], lay[5]
    spatial_mask = np.int64(4 | 8)   # loops at ROWS, COLS
    temporal_mask = np.int64(1 | 2 | 16)
    outputs = lay[0] * lay[1] * lay[2] * Dp * Dq
    ngc = lay[0] * lay[1] * lay[3]
    relprod = np.ones(NT, np.int64)   # product of the dims that index each tensor
    for t in range(NT):
        for d in range(ND):
            if rel[t, d] != 0:
                relprod[t] *= lay[d]
    # axis_sums depends on the layer and (tile P, tile R, slide, m, f) only: memoised, per axis,
    # direct-mapped (a collision recomputes); memo_key[ax] is -1 where empty, its length a power of 2
    memo_bits = 0
    while (1 << memo_bits) < memo_key.shape[1]:
        memo_bits += 1
    memo_shift = np.uint64(64 - memo_bits)
    fac = np.ones((NLV, ND), np.int64)
    spans = np.ones((NLV, ND), np.int64)
    rank = np.zeros((NLV, ND), np.int64)    # a loop's place within its level (nest order)
    present = np.zeros(ND, np.int64)      # per dim: bit lv set when the dim has a loop (factor > 1) at lv
    last_dim = np.zeros((NLV, NT), np.int64)  # per temporal level and tensor: its innermost loop indexing t
    # tiles[sel, d]: product of d's factors below a cut: 0 the GLB (GLB, ROWS, COLS, RF), 1 the RF with
    # the array (ROWS, COLS, RF), 2 one PE's RF (RF), 3 the array's MAC operands (ROWS, COLS), 4 one MAC (1)
    tiles = np.ones((5, ND), np.int64)
    relbits = np.zeros(ND, np.int64)      # per dim: bit t set when the dim indexes tensor t
    for t in range(NT):
        for d in range(ND):
            if rel[t, d] != 0:
                relbits[d] |= 1 << t
    for d in range(ND):                   # spatial loops sit in dim order
        rank[_ROWS, d] = d
        rank[_COLS, d] = d
    for b in range(factors.shape[0]):
        # ---- structural checks (legality.problems_of's factor and order rules), spans
        for lv in range(NLV):
            for d in range(ND):
                fac[lv, d] = factors[b, lv, d]
        fpes = 1.0
        for d in range(ND):
            D = lay[d]
            sp = 1
            pm = 0
            for lv in range(NLV - 1, -1, -1):    # RF, COLS, ROWS, GLB, DRAM: inner -> outer
                f = fac[lv, d]
                spans[lv, d] = sp
                if f < 1:
                    return b, 100 + lv * 10 + d
                if f > D or (f - 1) * sp >= D:  # (f <= D < 2**31 and sp < 2 D: no overflow)
                    return b, 200 + lv * 10 + d
                sp *= f
                pm |= np.int64(f > 1) << lv
            if sp < D:
                return b, 300 + d
            present[d] = pm
            tiles[3, d] = fac[2, d] * fac[3, d]
            tiles[2, d] = fac[4, d]
            tiles[1, d] = tiles[3, d] * fac[4, d]
            tiles[0, d] = tiles[1, d] * fac[1, d]
            fpes *= tiles[3, d]
        if fpes > 4.0e18:
            return b, 500
        pes = 1
        for d in range(ND):
            pes *= tiles[3, d]
        for o in range(NORD):
            lv = (_DRAM, _GLB, _RF)[o]
            seen = 0
            for k in range(ND):
                v = orders[b, o, k]
                if v < 0 or v >= ND:
                    return b, 400 + o * 10
                seen |= 1 << v
                rank[lv, v] = k
            if seen != (1 << ND) - 1:
                return b, 400 + o * 10
            # the innermost loop at this level indexing each tensor
            for t in range(NT):
                last_dim[lv, t] = -1
            found = 0
            for k in range(7, -1, -1):
                v = orders[b, o, k]
                if fac[lv, v] > 1:
                    new = relbits[v] & ~found
                    if new != 0:
                        for t in range(NT):
                            if (new >> t) & 1:
                                last_dim[lv, t] = v
                        found |= new
                        if found == 7:
                            break
        for c in range(out.shape[1]):
            out[b, c] = 0
        # ---- every hop of every tensor's chain
        for t in range(NT):
            gk = glb_keep[b, t] != 0
            rk = rf_keep[b, t] != 0
            nchain = 2 + (1 if gk else 0) + (1 if rk else 0)
            for h in range(nchain - 1):
                par = _chain_at(h, gk, rk)
                ch = _chain_at(h + 1, gk, rk)
                streamed = ch == _MAC and reg_keep[b, t] == 0
                buffer_child = ch == _GLB or ch == _RF
                cut = 1 if ch == _GLB else (4 if ch == _RF else 5)   # the levels above the child
                below = (1 << cut) - 1
                between = (par == _DRAM or par == _GLB) and (ch == _RF or ch == _MAC)
                # counts.roles: the sliding loop is the innermost temporal loop above the cut that
                # indexes t (none when streamed); temporal loops above the cut are kept up to it
                last_lv = -1
                last_d = 0
                if not streamed:
                    if cut == 5 and last_dim[_RF, t] >= 0:
                        last_lv = _RF
                    elif cut >= 4 and last_dim[_GLB, t] >= 0:
                        last_lv = _GLB
                    elif last_dim[_DRAM, t] >= 0:
                        last_lv = _DRAM
                    if last_lv >= 0:
                        last_d = last_dim[last_lv, t]
                last_rank = rank[last_lv, last_d] if last_lv >= 0 else -1
                outer = 0                # temporal levels wholly above the sliding loop
                if last_lv == _GLB:
                    outer = 1
                elif last_lv == _RF:
                    outer = 3
                vol_u = ovl_u = vol_p = ovl_p = 0
                for ps in range(2 if between else 1):
                    # counts.event_sums(layer, nest, t, cut, streamed, union)
                    union = between and ps == 0
                    smask = 0 if union else 12
                    mult = 1
                    for k in range(nirr[t]):     # dims that do not index t: how often its tiles recur
                        d = irr[t, k]
                        # counts.roles for d's loops: kept (PREFIX) are the spatial ones per PE, and the
                        # temporal ones above the cut (all when streamed, else those up to the sliding loop)
                        keep = smask
                        if streamed:
                            keep |= 19
                        elif last_lv >= 0:
                            keep |= outer | ((1 << last_lv) if rank[last_lv, d] <= last_rank else 0)
                        kept = present[d] & below & keep
                        if kept == present[d]:           # every loop of d kept: all D indices
                            mult *= lay[d]
                        elif kept != 0:
                            mult *= _tuples(lay[d], kept, present[d], fac[0, d], fac[1, d], fac[2, d], fac[3, d],
                                            fac[4, d], spans[0, d], spans[1, d], spans[2, d], spans[3, d],
                                            spans[4, d])
                    # tiles of the dims indexing t: the loops below the cut (+ the spatial ones for the union)
                    tsel = 0 if cut == 1 else (1 if cut == 4 else 3)
                    if not union and cut > 1:
                        tsel += 1
                    if t != 0:               # weight, psum: simple axes, disjoint tiles
                        vol = mult * relprod[t]
                        ovl = 0
                    elif streamed and not union:
                        vol = ngc * mult * ah1 * aw1
                        ovl = 0
                    else:
                        m = 1
                        f = 1
                        slide_h = 0
                        slide_w = 0
                        if last_lv >= 0:
                            slide_h = 1 if last_d == 4 else (2 if last_d == 6 else 0)
                            slide_w = 1 if last_d == 5 else (2 if last_d == 7 else 0)
                        ah = oh = aw = ow = 0
                        for ax in range(2):
                            sl = slide_h if ax == 0 else slide_w
                            if sl != 0:
                                f = fac[last_lv, last_d]
                                m = spans[last_lv, last_d] // tiles[tsel, last_d]
                            else:
                                f = 1
                                m = 1
                            tp = tiles[tsel, 4 + ax]
                            tr = tiles[tsel, 6 + ax]
                            # memo key: the five small fields packed into one int64 (else no memo)
                            if tp < 65536 and tr < 65536 and m < 16384 and f < 16384:
                                key = tp | (tr << 16) | (sl << 32) | (m << 34) | (f << 48)
                                # Fibonacci hashing: a uint64 product, wrapping on purpose (a hash, not a count)
                                e = np.int64((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> memo_shift)
                            else:
                                key = -1
                                e = 0
                            if key >= 0 and memo_key[ax, e] == key:
                                a = memo_val[ax, e, 0]
                                o = memo_val[ax, e, 1]
                            else:                # (one call site: numba/LLVM compile it once)
                                a, o = _axis_sums(geo[ax, 0], tp, geo[ax, 1], tr, geo[ax, 2], geo[ax, 3], geo[ax, 4],
                                                  geo[ax, 5], geo[ax, 6], geo[ax, 7], geo[ax, 8], sl, m, f)
                                if key >= 0:
                                    memo_key[ax, e] = key
                                    memo_val[ax, e, 0] = a
                                    memo_val[ax, e, 1] = o
                            if ax == 0:
                                ah, oh = a, o
                            else:
                                aw, ow = a, o
                        simple = ngc * mult
                        vol = simple * ah * aw
                        ovl = simple * (oh * aw + ah * ow)
                    if ps == 0:
                        vol_u, ovl_u = vol, ovl
                    vol_p, ovl_p = vol, ovl
                # ---- counts.count's bookkeeping for this hop
                pl = _L_DRAM if par == _DRAM else (_L_GLB if par == _GLB else _L_RF)
                cl = _L_GLB if ch == _GLB else _L_RF
                if t < 2:
                    out[b, COL_READS + NT * pl + t] += vol_u - ovl_u
                    if buffer_child:
                        out[b, COL_WRITES + NT * cl + t] += vol_p - ovl_p
                    if between:
                        out[b, COL_READS + NT * _L_NOC + t] += vol_p - ovl_p
                        out[b, COL_NOC + t] += vol_u - ovl_u
                elif not streamed:
                    first = outputs
                    if par == _RF:               # counts.spatial_copies: one partial sum per PE
                        first = relprod[t]
                        for d in range(ND):
                            if rel[t, d] == 0 and present[d] & spatial_mask != 0:
                                first *= _tuples(lay[d], present[d] & spatial_mask, present[d], fac[0, d],
                                                 fac[1, d], fac[2, d], fac[3, d], fac[4, d], spans[0, d],
                                                 spans[1, d], spans[2, d], spans[3, d], spans[4, d])
                    out[b, COL_WRITES + NT * pl + t] += vol_u
                    out[b, COL_READS + NT * pl + t] += vol_u - first
                    if buffer_child:
                        out[b, COL_READS + NT * cl + t] += vol_p
                        out[b, COL_WRITES + NT * cl + t] += vol_u - outputs
                    if between:
                        out[b, COL_WRITES + NT * _L_NOC + t] += vol_p
                        out[b, COL_READS + NT * _L_NOC + t] += vol_u - outputs
                        out[b, COL_NOC + t] += 2 * vol_u - outputs
                else:
                    out[b, COL_READS + NT * pl + t] += vol_u
                    out[b, COL_WRITES + NT * pl + t] += vol_u
                    if between:
                        out[b, COL_READS + NT * _L_NOC + t] += vol_u
                        out[b, COL_WRITES + NT * _L_NOC + t] += vol_p
                        out[b, COL_NOC + t] += 2 * vol_u
        # ---- counts.temporal_steps: tuples of the temporal loops
        cycles = 1
        for d in range(ND):
            kept = present[d] & temporal_mask
            if kept == present[d]:
                cycles *= lay[d]
            elif kept != 0:
                cycles *= _tuples(lay[d], kept, present[d], fac[0, d], fac[1, d], fac[2, d], fac[3, d], fac[4, d],
                                  spans[0, d], spans[1, d], spans[2, d], spans[3, d], spans[4, d])
        out[b, COL_MACS] = lay[16]
        out[b, COL_CYCLES] = cycles
        out[b, COL_ACTIVE_PES] = pes
    return -1, 0


# ---------------------------------------------------------------------------------------------
# public API

def _as_layer_vector(layer: Layer | np.ndarray) -> np.ndarray:
    if isinstance(layer, Layer):
        return encode_layer(layer)
    lay = np.ascontiguousarray(layer, dtype=np.int64)
    if lay.shape != (LAYER_LEN,):
        raise ConfigError(f"encoded layer must have shape ({LAYER_LEN},), got {lay.shape}")
    return lay


def _axis_geometry(lay: np.ndarray) -> np.ndarray:
    """Per axis (rows, cols): output dim, filter dim, stride, dilation, g = gcd(stride, dilation),
    stride / g, dilation / g, padding, input size: the arguments _axis_sums takes from the layer."""
    geo = np.zeros((2, 9), dtype=np.int64)
    for ax in range(2):
        out_dim, filt, stride, dil, pad, size = (int(v) for v in lay[[4 + ax, 6 + ax, 8 + 4 * ax, 9 + 4 * ax,
                                                                      10 + 4 * ax, 11 + 4 * ax]])
        g = math.gcd(stride, dil)
        geo[ax] = (out_dim, filt, stride, dil, g, stride // g, dil // g, pad, size)
    return geo


def _unit_axis_sums(geo: np.ndarray) -> tuple[int, int]:
    """ifmap rows and columns summed over one-element tiles with no slide (every MAC an event)."""
    one, zero = 1, 0
    rows, cols = (int(_axis_sums(int(g[0]), one, int(g[1]), one, *(int(v) for v in g[2:]), zero, one, one)[0])
                  for g in geo)
    return rows, cols


MEMO_BITS = 12                       # entries per axis of a memo from axis_memo(): 2**12


@dataclass(frozen=True, eq=False)
class AxisMemo:
    """A caller-owned cache of the kernel's per-axis tile sums for one layer, to reuse across
    count_batch calls (a search scoring many small batches of one layer). It changes no result:
    entries are a pure function of the layer and their key. Not safe to share between threads."""

    layer: np.ndarray        # the encoded layer it belongs to
    keys: np.ndarray         # (2, 2**MEMO_BITS) int64, -1 = empty
    values: np.ndarray       # (2, 2**MEMO_BITS, 2) int64


def axis_memo(layer: Layer | np.ndarray) -> AxisMemo:
    lay = _as_layer_vector(layer)
    return AxisMemo(lay.copy(), np.full((2, 1 << MEMO_BITS), -1, np.int64), np.zeros((2, 1 << MEMO_BITS, 2), np.int64))


def count_batch(layer: Layer | np.ndarray, batch: MappingArrays, memo: AxisMemo | None = None) -> np.ndarray:
    """(B, NCOLS) int64 counts of a batch (``encode_batch``), columns in ``COLUMNS`` order.

    ``layer`` is the Layer or its encoded vector; ``memo`` (from ``axis_memo(layer)``) carries the
    per-axis tile sums from call to call, else each call starts a fresh one sized to the batch.
    Raises ConfigError naming the first mapping that breaks a structural rule (factor < 1,
    over-tiling, a dim not covered, an order not a permutation).
    """
    lay = _as_layer_vector(layer)
    if memo is None:
        bits = 6                             # ~4 entries per mapping
        while bits < MEMO_BITS and (1 << bits) < 4 * len(batch.factors):
            bits += 1
        keys, values = np.full((2, 1 << bits), -1, np.int64), np.zeros((2, 1 << bits, 2), np.int64)
    elif not np.array_equal(memo.layer, lay):
        raise ConfigError("count_batch: the axis memo belongs to another layer; make one with axis_memo(layer)")
    else:
        keys, values = memo.keys, memo.values
    arrs = [np.ascontiguousarray(a, dtype=np.int64) for a in batch]
    factors, orders, gk, rk, xk = arrs
    B = factors.shape[0] if factors.ndim == 3 else -1
    if (factors.shape != (B, 5, 8) or orders.shape != (B, 3, 8)
            or any(a.shape != (B, 3) for a in (gk, rk, xk))):
        raise ConfigError("count_batch needs a batch from encode_batch: factors (B, 5, 8), orders (B, 3, 8), "
                          f"keeps (B, 3); got {[a.shape for a in arrs]}")
    out = np.empty((B, NCOLS), dtype=np.int64)
    if B == 0:
        return out
    geo = _axis_geometry(lay)
    ah1, aw1 = _unit_axis_sums(geo)
    index, err = _count_kernel(lay, geo, ah1, aw1, _REL, _IRR, _NIRR, factors, orders, gk, rk, xk, out, keys, values)
    if index >= 0:
        code, level, dim = err // 100, (err // 10) % 10, err % 10
        where = (f"order {('dram', 'glb', 'rf')[level]}" if code == 4 else "spatial factors" if code == 5 else
                 f"{DIMS[dim]}" if code == 3 else f"{LEVELS[level]} factor of {DIMS[dim]}")
        raise ConfigError(f"mapping {index} of the batch: {where}: {_ERRORS[code]}")
    return out


def counts_of_row(row: np.ndarray) -> Counts:
    """One row of ``count_batch`` as the Counts dataclass (Python ints)."""
    v = np.asarray(row, dtype=np.int64).tolist()       # Python ints
    return Counts(
        macs=v[COL_MACS], cycles=v[COL_CYCLES], active_pes=v[COL_ACTIVE_PES],
        reads=tuple(tuple(v[COL_READS + NT * lv + t] for t in range(NT)) for lv in range(NACC)),
        writes=tuple(tuple(v[COL_WRITES + NT * lv + t] for t in range(NT)) for lv in range(NACC)),
        noc_transfers=tuple(v[COL_NOC + t] for t in range(NT)),
    )


def count_fast(layer: Layer, mapping: Mapping) -> Counts:
    """Same as accelsim.cost.counts.count(layer, mapping), computed by the numba kernel."""
    lay, one = encode(layer, mapping)
    return counts_of_row(count_batch(lay, MappingArrays(*(a[None] for a in one)))[0])


@njit(cache=True)
def _energy_kernel(c, cols, w, out):
    """out[b] = sum over k, in order, of c[b, cols[k]] x w[k]."""
    for b in range(c.shape[0]):
        acc = 0.0
        for k in range(cols.shape[0]):
            acc = acc + c[b, cols[k]] * w[k]
        out[b] = acc


def energy_batch(counts: np.ndarray, arch) -> np.ndarray:
    """(B,) float64 pJ of each row on ``arch``: the rows' columns (``counts.column_keys``) priced by
    the arch's energy table (``accelsim.cost.energy.weights``) and added in the table's canonical
    order, so equal to accelsim.cost.model.fixed_energy (LayerResult.energy_pj) bit for bit (tested
    on every shipped arch)."""
    cols, w = _fixed_weights(arch)
    c = np.ascontiguousarray(counts, dtype=np.int64)
    out = np.empty(c.shape[0], dtype=np.float64)
    _energy_kernel(c, cols, w, out)
    return out


def _fixed_weights(arch) -> tuple[np.ndarray, np.ndarray]:
    from accelsim.cost.counts import column_keys
    from accelsim.cost.energy import canonical, weights
    from accelsim.energy_table import arch_table

    table = arch_table(arch)
    entries = column_keys()
    for name, (comp, role, _), merged in entries:
        prices = {table.pj(comp, role, a) for a in merged}
        if len(prices) > 1:
            raise ConfigError(f"energy table {table.name!r}: the fixed-shape column {name} merges actions "
                              f"{', '.join(merged)} of {comp}, which cost differently; price them alike")
    col_of = {key: COLUMNS.index(name) for name, key, _ in entries}
    keys = canonical(list(col_of), table)
    return np.array([col_of[k] for k in keys], dtype=np.int64), weights(keys, table)


@njit(cache=True)
def _latency_kernel(c, dram_wpc, glb_wpc, noc_ab, out):
    for b in range(c.shape[0]):
        dram_words = 0
        glb_words = 0
        for t in range(NT):
            dram_words += c[b, COL_READS + NT * _L_DRAM + t] + c[b, COL_WRITES + NT * _L_DRAM + t]
            glb_words += c[b, COL_READS + NT * _L_GLB + t] + c[b, COL_WRITES + NT * _L_GLB + t]
        v = float(c[b, COL_CYCLES])
        dram = 0.0 if math.isinf(dram_wpc) else dram_words / dram_wpc
        glb = glb_words / glb_wpc
        if dram > v:
            v = dram
        if glb > v:
            v = glb
        # NoC streams (accelsim.cost.bound.stream_words): a x delivered + b x distinct words
        psum_in = c[b, COL_READS + 8]
        for s in range(4):
            if s == 0:
                delivered, distinct = c[b, COL_READS + 6], c[b, COL_NOC]
            elif s == 1:
                delivered, distinct = c[b, COL_READS + 7], c[b, COL_NOC + 1]
            elif s == 2:
                delivered, distinct = psum_in, psum_in
            else:
                delivered, distinct = c[b, COL_WRITES + 8], c[b, COL_NOC + 2] - psum_in
            noc = noc_ab[s, 0] * delivered + noc_ab[s, 1] * distinct
            if noc > v:
                v = noc
        out[b] = v


def latency_bound_batch(counts: np.ndarray, dram_wpc: float, glb_wpc: float, noc_bound=None) -> np.ndarray:
    """(B,) float64 cycles: max(ideal cycles, DRAM words / dram_wpc, GLB words / glb_wpc, each NoC
    stream's a x delivered + b x distinct words), the bound accelsim.cost.bound.latency_bound
    computes (dram_wpc may be inf: no DRAM limit). DRAM/GLB words are the reads plus writes of all
    three tensors at that level; ``noc_bound`` is the arch's per-stream (a, b) (noc.registry.
    bandwidth_bound; None: no NoC limit)."""
    c = np.ascontiguousarray(counts, dtype=np.int64)
    ab = np.zeros((4, 2), dtype=np.float64) if noc_bound is None else np.asarray(noc_bound, dtype=np.float64)
    out = np.empty(c.shape[0], dtype=np.float64)
    _latency_kernel(c, float(dram_wpc), float(glb_wpc), ab, out)
    return out


__all__ = ["COLUMNS", "NCOLS", "AxisMemo", "axis_memo", "count_batch", "count_fast", "counts_of_row", "energy_batch",
           "latency_bound_batch"]
