"""The numba batch scorer over any hierarchy: ``cost.actions.count_actions`` for a batch of loop
nests, one int64 row per nest (columns: ``NestLayout.columns``), plus energy (a dot product with a
weight vector over the same columns) and the latency bound (the numba twin of
``accelsim.cost.bound``'s bound over a hierarchy).

``count_nests(layout, arrays)`` equals ``layout.row_of(count_actions(problem, hierarchy, nest))``
for every nest (tests/test_fast_nest.py, hypothesis over random problems x hierarchies x nests).
The kernel follows ``cost.actions`` step by step: it flattens each nest (factor-1 loops omitted,
spans from the inside out), applies the counting rules of :func:`cost.actions.assemble` hop by hop,
and answers the oracle's two questions in closed form: a volume is, for each dim not indexing the
tensor, the distinct digit tuples of its kept loops (``lattice.count_tuples``), times the plain
axes' sizes, times each coupled axis' sum over its tiles (``cost.axis_sums._axis_sums``, once
the fixed-shape kernel's tile sum, whose arguments here come from the coupled axis' two terms). A coupled axis
whose tiles are not contiguous (a fanout splitting a dim whose inner loop sits at a level the tensor
bypasses: ``Analytic``'s explicit-set path) is not computed by the kernel: the row is flagged and
:func:`count_nests` fills it from ``count_actions`` (exact, slower); ``fallback`` counts them.

Two compiled forms of this algorithm, equal row for row (tests/test_fast_nest.py): ``_kernel``
below, generic (the hierarchy's shape read from arrays at run time: compiled once for every shape),
and the kernel generated for each (problem, hierarchy) shape by ``accelsim.cost.nest_kernel``
(literal slots, masks and columns, unrolled roles, input prefetched: about 1.5x faster, but ~10 s of numba
compile per shape, once per machine). :func:`kernel_rows` sends batches of ``GENERATED_MIN`` nests
or more (the mapper's) to the generated one, and then every batch of that layout, whatever its size
(the legality filter leaves a search's batches of 64 a few nests short); the generic one stays for
the layouts that never reached a big batch: the many shapes seen once (tests, single nests), where a
compile per shape would cost more than it saves.

Invariants: all positions come from ``NestLayout`` (``accelsim.names`` orders); every count is an
exact int64 within ``nest_arrays``' range; a nest that breaks a structural rule (factor < 1,
over-tiling, a dim not covered, an order that is not a permutation, spatial factors at a level
without a fanout) is refused with its index, never scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from accelsim.cost.actions import count_actions
from accelsim.cost.axis_sums import _axis_sums
from accelsim.cost.nest_arrays import (
    C_D1,
    C_D2,
    C_DL,
    C_G,
    C_K1,
    C_K2,
    C_OFF,
    C_ROLE,
    C_S,
    C_SIZE,
    NestArrays,
    NestLayout,
    decode_nest,
)
from accelsim.errors import ConfigError
from accelsim.hierarchy import Hierarchy
from accelsim.names import AXES, IFMAP, PSUM, ROLES, WEIGHT

_ERRORS = {
    1: "factor must be >= 1",
    2: "factor over-tiles the dimension ((factor - 1) x inner span >= dim)",
    3: "factors do not cover the dimension",
    4: "loop order is not a permutation of the dims",
    5: "spatial factors at a level without a fanout",
}
NEEDS_PYTHON = 1          # status of a row the kernel left to count_actions


@njit(cache=True, inline="always")
def _cdiv(a, b):
    return -((-a) // b)


@intrinsic
def _prefetch(typingctx, arr, index):
    """``_prefetch(arr, i)``: a cache-line prefetch hint (LLVM ``llvm.prefetch``, read, keep in all
    levels: x86 ``prefetcht0``) for the flat element ``i`` of the C-contiguous ``arr``. Changes no
    value and never faults (an index past the end hints at nothing useful, harmlessly). The generated
    kernels (``cost.nest_kernel``) fetch the next nests' input lines with it while scoring one."""
    if not isinstance(arr, types.Array) or not isinstance(index, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), ir.IntType(8).as_pointer())   # one declaration
        i32 = ir.IntType(32)                                                                  # for every dtype
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(arr, index), codegen


@njit(cache=True)
def _tuples_walk(D, pres, mask, fac, span, d, S):
    """lattice.count_tuples loop by loop (the case without a closed form): Horner's rule over the
    kept loops, outer -> inner, no division but the clipped digit count."""
    total = 0
    budget = D
    for s in range(S):
        if (pres >> s) & 1 == 0:
            continue
        f = fac[d, s]
        sp = span[d, s]
        if (mask >> s) & 1:
            if (f - 1) * sp < budget:
                nn = f
            else:
                nn = _cdiv(budget, sp)
            total = total * f + (nn - 1)
            budget -= (nn - 1) * sp
        elif sp < budget:
            budget = sp
    return total + 1


@njit(cache=True, inline="always")
def _tuples(D, pres, mask, span, d, hib, gtab, xf, c):
    """lattice.count_tuples over dim d's loops: its slots (bit s of ``pres`` set where d has a loop
    in slot s; slots run outer -> inner), bit s of ``mask`` = that loop kept. Closed forms: none
    kept: 1; all: D; the kept loops all outside the dropped ones: ceil(D / span of the innermost
    kept); all inside: the span of the innermost dropped loop. Otherwise (kept and dropped loops
    interleave: a fanout's loop between temporal ones) ``gtab[d, xf, c]``, walked once per nest for
    the mask ``pres & (spatial slots of the first xf fanouts | temporal slots of the levels < c)``:
    every mask the kernel asks is of that form, and only a dim with a spatial loop can interleave.
    (Kept inline and loop-free: a loop or a call here made the whole kernel about 1.6x slower.)"""
    if mask == 0:
        return 1
    if mask == pres:
        return D
    drop = pres & ~mask
    if mask < (drop & -drop):
        return _cdiv(D, span[d, hib[mask]])
    if drop < (mask & -mask):
        return span[d, hib[drop]]
    return gtab[d, xf, c]


@njit(cache=True, nogil=True)
def _kernel(sizes, rel, plain, coupled, fan_of, kl, factors, orders, spatial, keeps, out, status, memo_key,
            memo_val, hib):
    """Score the batch into ``out``; ``status[b]`` = 1 where count_actions must fill the row.
    Returns (-1, 0, 0, -1, 0) or (index, error code, level, axis, dim) of the first structurally broken
    nest (axis: -1 for the level's temporal loop, else the index in ``names.AXES`` of its fanout's).

    A nest is held as per-(dim, slot) factors and inner spans. Slots are the places a loop can sit,
    outer -> inner: per level its temporal loop, then (with a fanout) its x and y loops, which is
    the order ``loopnest.flatten`` gives a dim's loops; so a dim's loops are the set bits of one
    mask, and every "which loops are kept" question of ``cost.actions`` is a mask: the loops above a
    cut (levels < c), the spatial ones above a level, and the temporal ones at or above the sliding
    loop (the only place the order within a level matters: its rank). The checks and the per-role
    position masks are branch-free where the branch would depend on the nest's factors."""
    B = factors.shape[0]
    L = factors.shape[1]
    D = factors.shape[2]
    NC = coupled.shape[0]
    sb, nb, nsa, nna, out_role = kl[0], kl[1], kl[2], kl[3], kl[4]
    a_read, a_fill, a_update, a_drain = kl[5], kl[6], kl[7], kl[8]
    a_down, a_dest, a_up, a_src = kl[9], kl[10], kl[11], kl[12]
    c_macs, c_cyc, c_act, nr = kl[13], kl[14], kl[15], kl[16]
    W = out.shape[1]
    # ---- the slots of the hierarchy and the masks of its cuts
    tslot = np.zeros(L, np.int64)
    slot_level = np.zeros(3 * L, np.int64)
    S = 0
    for i in range(L):
        tslot[i] = S
        slot_level[S] = i
        S += 1
        if fan_of[i] >= 0:
            slot_level[S] = i
            slot_level[S + 1] = i
            S += 2
    tbits = np.zeros(L + 1, np.int64)     # temporal slots of the levels < c
    sbits = np.zeros(L + 1, np.int64)     # spatial slots of the levels < c
    for c in range(1, L + 1):
        i = c - 1
        tbits[c] = tbits[c - 1] | (np.int64(1) << tslot[i])
        sbits[c] = sbits[c - 1]
        if fan_of[i] >= 0:
            sbits[c] |= np.int64(3) << (tslot[i] + 1)
    tall = tbits[L]
    F = 0
    for i in range(L):
        if fan_of[i] >= 0:
            F += 1
    nfan = np.zeros(L + 1, np.int64)      # fanouts above level X
    sfan = np.zeros(F + 1, np.int64)      # spatial slots of the first k fanouts
    for c in range(1, L + 1):
        nfan[c] = nfan[c - 1] + (1 if fan_of[c - 1] >= 0 else 0)
        sfan[nfan[c]] = sbits[c]
    spat_all = sbits[L]
    gtab = np.zeros((D, F + 1, L + 1), np.int64)
    fac = np.ones((D, S), np.int64)
    span = np.ones((D, S), np.int64)
    pres = np.zeros(D, np.int64)          # per dim: bit s set where it has a loop (factor > 1)
    inner = np.ones(D, np.int64)          # per dim: product of its factors
    rank = np.zeros((L, D), np.int64)     # per level: a dim's place in its loop order
    relpos = np.zeros((L, nr), np.int64)   # per level and role: bit k set when the k-th dim of the
                                          # level's order loops there (factor > 1) and indexes the role
                                          # (three roles, accelsim.names.ROLES: written out below)
    spnz = np.zeros(L, np.int64)          # per level: 1 when its fanout has a loop
    tpm = np.zeros(D, np.int64)           # per dim: the temporal slots kept in the hop at hand
    vV = np.zeros(L + 1, np.int64)
    vO = np.zeros(L + 1, np.int64)
    relbits = np.zeros(D, np.int64)
    lvmask = np.zeros(nr, np.int64)       # per role: bit i set when level i has a loop indexing it
    irr = np.zeros((nr, D), np.int64)     # per role the dims that do not index it
    nirr = np.zeros(nr, np.int64)
    cpl = np.zeros((nr, max(NC, 1)), np.int64)  # per role its coupled axes
    ncpl = np.zeros(nr, np.int64)
    relsize = np.ones(nr, np.int64)      # per role the product of the sizes of the dims indexing it
    for t in range(nr):
        for d in range(D):
            if rel[t, d] != 0:
                relbits[d] |= 1 << t
                relsize[t] *= sizes[d]
            else:
                irr[t, nirr[t]] = d
                nirr[t] += 1
    for c in range(NC):
        t = coupled[c, C_ROLE]
        cpl[t, ncpl[t]] = c
        ncpl[t] += 1
    all_dims = (np.int64(1) << D) - 1
    memo_bits = 0
    while (1 << memo_bits) < memo_key.shape[1]:
        memo_bits += 1
    memo_shift = np.uint64(64 - memo_bits)
    macs = 1
    for d in range(D):
        macs *= sizes[d]
    # per role: the streamed volume below every fanout (every loop kept: one-element tiles)
    strm = np.zeros(nr, np.int64)
    for t in range(nr):
        v = plain[t]
        for j in range(nirr[t]):
            v *= sizes[irr[t, j]]
        for jc in range(ncpl[t]):
            c = cpl[t, jc]
            d2 = coupled[c, C_D2]
            n2 = sizes[d2] if d2 >= 0 else 1
            s_ax, o_ax = _axis_sums(sizes[coupled[c, C_D1]], 1, n2, 1, coupled[c, C_K1], coupled[c, C_K2],
                                    coupled[c, C_G], coupled[c, C_S], coupled[c, C_DL],
                                    -coupled[c, C_OFF], coupled[c, C_SIZE], 0, 1, 1)
            v *= s_ax
        strm[t] = v
    for b in range(B):
        status[b] = 0
        # ---- factors, orders and the structural rules
        active = 1
        lvm0 = 0
        lvm1 = 0
        lvm2 = 0
        for i in range(L):
            ts = tslot[i]
            seen = 0
            pos0 = 0
            pos1 = 0
            pos2 = 0
            for k in range(D):
                d = orders[b, i, k]
                if d < 0 or d >= D:
                    return b, 4, i, -1, 0
                seen |= np.int64(1) << d
                rank[i, d] = k
                f = factors[b, i, d]
                if f < 1:
                    return b, 1, i, -1, d
                if f > sizes[d]:
                    return b, 2, i, -1, d
                fac[d, ts] = f
                lp = np.int64(f > 1) << k
                rb = relbits[d]
                pos0 |= lp * (rb & 1)
                pos1 |= lp * ((rb >> 1) & 1)
                pos2 |= lp * ((rb >> 2) & 1)
            if seen != all_dims:
                return b, 4, i, -1, 0
            relpos[i, 0] = pos0
            relpos[i, 1] = pos1
            relpos[i, 2] = pos2
            lv = np.int64(1) << i
            lvm0 |= lv * (pos0 != 0)
            lvm1 |= lv * (pos1 != 0)
            lvm2 |= lv * (pos2 != 0)
            if fan_of[i] < 0:
                acc = 0
                for a in range(2):
                    for d in range(D):
                        acc |= spatial[b, i, a, d] ^ 1
                if acc != 0:
                    for a in range(2):
                        for d in range(D):
                            if spatial[b, i, a, d] != 1:
                                return b, 5, i, a, d
                continue
            nz = 0
            for a in range(2):
                s = ts + 1 + a
                for d in range(D):
                    f = spatial[b, i, a, d]
                    if f < 1:
                        return b, 1, i, a, d
                    if f > sizes[d]:
                        return b, 2, i, a, d
                    fac[d, s] = f
                    active *= f
                    nz |= f > 1
            spnz[i] = nz
        for d in range(D):
            sp = 1
            pm = 0
            for s in range(S - 1, -1, -1):
                f = fac[d, s]
                span[d, s] = sp
                if f > 1:
                    if (f - 1) * sp >= sizes[d]:
                        return b, 2, slot_level[s], s - tslot[slot_level[s]] - 1, d
                    pm |= np.int64(1) << s
                    sp *= f
            if sp < sizes[d]:
                return b, 3, 0, -1, d
            pres[d] = pm
            inner[d] = sp
            if pm & spat_all != 0:
                # the masks without a closed form (spatial loops between temporal ones): walked here,
                # once per nest, so the hops only look them up
                for xf in range(F + 1):
                    for c in range(L + 1):
                        mask = pm & (sfan[xf] | tbits[c])
                        drop = pm & ~mask
                        if mask != 0 and drop != 0 and mask >= (drop & -drop) and drop >= (mask & -mask):
                            gtab[d, xf, c] = _tuples_walk(sizes[d], pm, mask, fac, span, d, S)
        lvmask[0] = lvm0
        lvmask[1] = lvm1
        lvmask[2] = lvm2
        for c in range(W):
            out[b, c] = 0
        # ---- every hop of every role's chain (cost.actions.assemble)
        bad = False
        for t in range(nr):
            par = 0
            for ch in range(1, L + 1):
                if ch < L and keeps[b, ch, t] == 0:
                    continue
                streamed = ch == L
                # the sliding loop: the innermost temporal loop above the cut indexing the role
                lr = -1
                ld = -1
                kk = 0
                if not streamed:
                    lm = lvmask[t] & ((np.int64(1) << ch) - 1)
                    if lm != 0:
                        lr = hib[lm]
                        kk = hib[relpos[lr, t]]
                        ld = orders[b, lr, kk]
                # per dim not indexing the role, its temporal loops above the cut that are kept:
                # all when streamed, else those at or above the sliding loop
                if streamed:
                    for j in range(nirr[t]):
                        tpm[irr[t, j]] = L
                elif lr < 0:
                    for j in range(nirr[t]):
                        tpm[irr[t, j]] = 0
                else:
                    for j in range(nirr[t]):
                        d = irr[t, j]
                        tpm[d] = lr + np.int64(rank[lr, d] < kk)
                cutbits = tbits[ch]
                # volumes with the spatial loops at levels < X as instances, X = par .. ch
                for X in range(par, ch + 1):
                    if X > par and spnz[X - 1] == 0:
                        vV[X] = vV[X - 1]
                        vO[X] = vO[X - 1]
                        continue
                    sx = sbits[X]
                    if streamed and sx == spat_all:
                        vV[X] = strm[t]
                        vO[X] = 0
                        continue
                    mult = plain[t]
                    for j in range(nirr[t]):
                        d = irr[t, j]
                        pm = pres[d]
                        if pm != 0:
                            c = tpm[d]
                            mult *= _tuples(sizes[d], pm, pm & (sx | tbits[c]), span, d, hib, gtab, nfan[X], c)
                    vol = mult
                    ovl = 0
                    for jc in range(ncpl[t]):
                        c = cpl[t, jc]
                        d1 = coupled[c, C_D1]
                        d2 = coupled[c, C_D2]
                        # the tile loops of d1 (d2): those below the prefix (spatial at levels < X,
                        # temporal above the cut); tiles contiguous when the prefix loops are the
                        # outermost ones
                        pm = pres[d1]
                        pre = pm & (sx | cutbits)
                        low = pm & ~pre
                        if low != 0 and pre >= (low & -low):
                            bad = True
                            break
                        runs0 = inner[d1] if pre == 0 else span[d1, hib[pre]]
                        runs1 = 1
                        if d2 >= 0:
                            pm = pres[d2]
                            pre = pm & (sx | cutbits)
                            low = pm & ~pre
                            if low != 0 and pre >= (low & -low):
                                bad = True
                                break
                            runs1 = inner[d2] if pre == 0 else span[d2, hib[pre]]
                        sl = 0
                        m = 1
                        f = 1
                        if ld >= 0:
                            if ld == d1:
                                sl = 1
                                m = span[d1, tslot[lr]] // runs0
                                f = fac[d1, tslot[lr]]
                            elif ld == d2:
                                sl = 2
                                m = span[d2, tslot[lr]] // runs1
                                f = fac[d2, tslot[lr]]
                        if runs0 < 65536 and runs1 < 65536 and m < 16384 and f < 16384:
                            key = runs0 | (runs1 << 16) | (sl << 32) | (m << 34) | (f << 48)
                            e = np.int64((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> memo_shift)
                        else:
                            key = -1
                            e = 0
                        if key >= 0 and memo_key[c, e] == key:
                            s_ax = memo_val[c, e, 0]
                            o_ax = memo_val[c, e, 1]
                        else:
                            n2 = sizes[d2] if d2 >= 0 else 1
                            s_ax, o_ax = _axis_sums(sizes[d1], runs0, n2, runs1, coupled[c, C_K1], coupled[c, C_K2],
                                                    coupled[c, C_G], coupled[c, C_S], coupled[c, C_DL],
                                                    -coupled[c, C_OFF], coupled[c, C_SIZE], sl, m, f)
                            if key >= 0:
                                memo_key[c, e] = key
                                memo_val[c, e, 0] = s_ax
                                memo_val[c, e, 1] = o_ax
                        ovl = ovl * s_ax + vol * o_ax
                        vol = vol * s_ax
                    if bad:
                        break
                    vV[X] = vol
                    vO[X] = ovl
                if bad:
                    break
                # ---- the rules
                if t != out_role:
                    out[b, sb + (par * nr + t) * nsa + a_read] += vV[par] - vO[par]
                    if not streamed:
                        out[b, sb + (ch * nr + t) * nsa + a_fill] += vV[ch] - vO[ch]
                    for j in range(par, ch):
                        fi = fan_of[j]
                        if fi >= 0:
                            out[b, nb + (fi * nr + t) * nna + a_down] += vV[j] - vO[j]
                            out[b, nb + (fi * nr + t) * nna + a_dest] += vV[j + 1] - vO[j + 1]
                elif streamed:
                    u = vV[par]
                    out[b, sb + (par * nr + t) * nsa + a_read] += u
                    out[b, sb + (par * nr + t) * nsa + a_update] += u
                    for j in range(par, ch):
                        fi = fan_of[j]
                        if fi >= 0:
                            base = nb + (fi * nr + t) * nna
                            out[b, base + a_down] += vV[j]
                            out[b, base + a_dest] += vV[j]
                            out[b, base + a_up] += vV[j]
                            out[b, base + a_src] += vV[j + 1]
                else:
                    first = relsize[t]
                    sx = sbits[par]
                    for j in range(nirr[t]):
                        d = irr[t, j]
                        pm = pres[d]
                        if pm != 0:
                            first *= _tuples(sizes[d], pm, pm & sx, span, d, hib, gtab, nfan[par], 0)
                    u = vV[par]
                    fills = u - first
                    out[b, sb + (par * nr + t) * nsa + a_update] += u
                    out[b, sb + (par * nr + t) * nsa + a_read] += fills
                    out[b, sb + (ch * nr + t) * nsa + a_fill] += fills
                    out[b, sb + (ch * nr + t) * nsa + a_drain] += vV[ch]
                    for j in range(par, ch):
                        fi = fan_of[j]
                        if fi >= 0:
                            base = nb + (fi * nr + t) * nna
                            out[b, base + a_up] += vV[j]
                            out[b, base + a_down] += fills
                            out[b, base + a_dest] += fills
                            out[b, base + a_src] += vV[j + 1]
                par = ch
            if bad:
                break
        if bad:
            status[b] = 1
            for c in range(W):
                out[b, c] = 0
            continue
        cycles = 1
        for d in range(D):
            pm = pres[d]
            if pm != 0:
                cycles *= _tuples(sizes[d], pm, pm & tall, span, d, hib, gtab, 0, L)
        out[b, c_macs] = macs
        out[b, c_cyc] = cycles
        out[b, c_act] = active
    return -1, 0, 0, -1, 0


# ---------------------------------------------------------------------------------------------
# public API

_HIB: dict[int, np.ndarray] = {}
MAX_SLOTS = 20       # loop slots (levels + 2 per fanout) the kernel's per-dim masks can hold


def _high_bits(bits: int) -> np.ndarray:
    """Index of the highest set bit of every mask below 2**bits (-1 for 0): the kernel's slot masks."""
    if bits not in _HIB:
        _HIB[bits] = np.array([m.bit_length() - 1 for m in range(1 << bits)], dtype=np.int64)
    return _HIB[bits]

MEMO_BITS = 13      # 2**13 direct-mapped slots per coupled axis: the clustered Eyeriss v2 benchmark's ~950 distinct
                    # keys per axis kept 869 resident at 12 bits, 926 at 13 (rows 0.73 -> 0.71-0.72 us per nest)


@dataclass(frozen=True, eq=False)
class NestMemo:
    """A caller-owned cache of the coupled axes' tile sums of one (problem, hierarchy) layout, to
    reuse across :func:`count_nests` calls. Changes no result (entries are pure functions of the
    problem and their key). Not thread-safe."""

    layout: NestLayout
    keys: np.ndarray         # (C, 2**MEMO_BITS) int64, -1 = empty
    values: np.ndarray       # (C, 2**MEMO_BITS, 2)


def nest_memo(layout: NestLayout, bits: int = MEMO_BITS) -> NestMemo:
    nc = max(1, layout.problem_arrays.coupled.shape[0])
    return NestMemo(layout, np.full((nc, 1 << bits), -1, np.int64), np.zeros((nc, 1 << bits, 2), np.int64))


@dataclass
class Fallback:
    """How many rows :func:`count_nests` filled from count_actions (non-contiguous coupled tiles)."""

    rows: int = 0


def _slot(level: str, axis: int) -> str:
    """A loop slot as a user reads it: the temporal loop of a level or an axis of the fanout below it."""
    return f"temporal factor at level {level}" if axis < 0 else f"spatial {AXES[axis]} factor of the fanout below {level}"


GENERATED_MIN = 64   # batches of at least this many nests go to the generated kernel (the mapper's)


def kernel_rows(layout: NestLayout, arrays: NestArrays, memo: NestMemo | None = None,
                generated: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, left): the kernel's rows and a (B,) bool mask of the nests it left to count_actions
    (their rows are 0 here). Raises ConfigError naming the first structurally broken nest.

    ``generated``: score with the kernel generated for the layout's shape (``cost.nest_kernel``:
    about 1.5x faster, compiled once per shape and machine) or with the one generic kernel (compiled
    once for all shapes); None (default): generated for batches of ``GENERATED_MIN`` nests or more, and
    for any batch of a layout whose generated kernel is already loaded (``nest_kernel.loaded_kernel``:
    a search's batches that the legality filter left below ``GENERATED_MIN``).
    Both give the same rows (tested)."""
    pa = layout.problem_arrays
    if memo is None:
        bits = 6                             # ~4 entries per nest
        while bits < MEMO_BITS and (1 << bits) < 4 * arrays.factors.shape[0]:
            bits += 1
        memo = nest_memo(layout, bits)
    elif memo.layout is not layout:
        raise ConfigError("count_nests: the memo belongs to another layout; make one with nest_memo(layout)")
    arrs = [np.ascontiguousarray(a, dtype=np.int64) for a in arrays]
    factors, orders, spatial, keeps = arrs
    L, D = len(layout.levels), len(layout.dims)
    B = factors.shape[0]
    if (factors.shape != (B, L, D) or orders.shape != (B, L, D) or spatial.shape != (B, L, 2, D)
            or keeps.shape != (B, L, 3)):
        raise ConfigError(f"count_nests needs arrays from encode_nests: factors/orders (B, {L}, {D}), spatial "
                          f"(B, {L}, 2, {D}), keeps (B, {L}, 3); got {[a.shape for a in arrs]}")
    out = np.empty((B, layout.width), dtype=np.int64)
    status = np.zeros(B, dtype=np.int64)
    if B == 0:
        return out, status == NEEDS_PYTHON
    slots = L + 2 * len(layout.fanout_levels)
    if max(slots, D) > MAX_SLOTS:
        raise ConfigError(f"count_nests: {slots} loop slots (levels + 2 per fanout) and {D} dims: the kernel's bit "
                          f"masks hold {MAX_SLOTS}; use accelsim.cost.actions.count_actions")
    coupled = pa.coupled if pa.coupled.shape[0] else np.zeros((0, 10), np.int64)
    hib = _high_bits(max(slots, D))
    from accelsim.cost.nest_kernel import kernel_for, loaded_kernel

    fn = loaded_kernel(layout) if generated is None else None
    if fn is None and (generated if generated is not None else B >= GENERATED_MIN):
        fn = kernel_for(layout)
    if fn is not None:
        index, code, level, axis, dim = fn(pa.sizes, pa.plain, coupled, factors, orders, spatial, keeps, out, status,
                                           memo.keys, memo.values, hib)
    else:
        index, code, level, axis, dim = _kernel(pa.sizes, pa.rel, pa.plain, coupled, layout.fanout_index,
                                                layout.kernel_layout, factors, orders, spatial, keeps, out, status,
                                                memo.keys, memo.values, hib)
    if index >= 0:
        name = layout.levels[level]
        where = (f"level {name}" if code == 4 else f"dim {layout.dims[dim]}" if code == 3 else
                 f"level {name}, dim {layout.dims[dim]}" if code == 5 else
                 f"{_slot(name, axis)}, dim {layout.dims[dim]}")
        raise ConfigError(f"nest {index} of the batch: {where}: {_ERRORS[code]}")
    return out, status == NEEDS_PYTHON


def count_nests(layout: NestLayout, arrays: NestArrays, memo: NestMemo | None = None,
                fallback: Fallback | None = None, generated: bool | None = None) -> np.ndarray:
    """(B, layout.width) int64 rows, equal to ``layout.row_of(count_actions(...))`` per nest (the
    kernel's rows; count_actions for the nests it leaves). Raises ConfigError naming the first nest
    that breaks a structural rule."""
    out, left = kernel_rows(layout, arrays, memo, generated)
    slow = np.flatnonzero(left)
    for b in slow:
        nest = decode_nest(layout, arrays, int(b))
        out[b] = layout.row_of(count_actions(layout.problem, layout.hierarchy, nest))
    if fallback is not None:
        fallback.rows += len(slow)
    return out


@njit(cache=True)
def _energy_kernel(rows, w, out):
    for b in range(rows.shape[0]):
        e = 0.0
        for c in range(rows.shape[1]):
            if w[c] != 0.0:
                e += rows[b, c] * w[c]
        out[b] = e


def energy_nests(rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(B,) energy: each row's counts . ``weights`` (one weight per column of the layout, e.g. pJ per
    action word, the MAC energy on ``macs``, 0 on cycles/active), summed column by column."""
    w = np.ascontiguousarray(weights, dtype=np.float64)
    if w.shape != (rows.shape[1],):
        raise ConfigError(f"energy weights need one entry per count column ({rows.shape[1]}), got shape {w.shape}")
    out = np.empty(rows.shape[0], dtype=np.float64)
    _energy_kernel(np.ascontiguousarray(rows, dtype=np.int64), w, out)
    return out


# ---- the latency bound over a hierarchy -----------------------------------------------------

@dataclass(frozen=True)
class BoundParams:
    """Per level (L): instances (product of the fanouts above it) and the read, write and shared
    (one-port) bandwidths, 0 where the level has none; per fanout: the NoC model's per-stream
    (a, b) (ifmap, weight, psum in, psum out)."""

    copies: np.ndarray       # (L,) float64
    bw: np.ndarray           # (L, 3) float64: read, write, shared words per cycle; 0 = no limit
    noc_ab: np.ndarray       # (F, 4, 2) float64
    stream_roles: np.ndarray  # (3,) role index of the ifmap, weight and psum streams


def bound_params(layout: NestLayout) -> BoundParams:
    """The bound's parameters of ``layout.hierarchy`` (those ``accelsim.cost.bound.bound_parts`` reads)."""
    from noc.registry import network_bound

    h: Hierarchy = layout.hierarchy
    L = len(h.levels)
    copies = np.ones(L, np.float64)
    bws = np.zeros((L, 3), np.float64)
    ab = np.zeros((max(1, len(layout.fanout_levels)), 4, 2), np.float64)
    n = 1
    for i, lv in enumerate(h.levels):
        copies[i] = n
        for k, bw in enumerate((lv.read_bandwidth, lv.write_bandwidth, lv.bandwidth)):
            if bw is not None:
                bws[i, k] = bw
        if lv.fanout is not None:
            pairs = network_bound(lv.fanout.network, lv.fanout.params)
            ab[layout.fanout_levels.index(i)] = np.array(pairs, dtype=np.float64).reshape(4, 2)
            n *= lv.fanout.size
    streams = np.array([ROLES.index(IFMAP), ROLES.index(WEIGHT), ROLES.index(PSUM)], np.int64)
    return BoundParams(copies, bws, ab, streams)


@njit(cache=True)
def _bound_kernel(c, kl, fan_of, copies, bw, ab, streams, out):
    sb, nb, nsa, nna = kl[0], kl[1], kl[2], kl[3]
    a_read, a_fill, a_update, a_drain = kl[5], kl[6], kl[7], kl[8]
    a_down, a_dest, a_up, a_src = kl[9], kl[10], kl[11], kl[12]
    c_cyc, nr = kl[14], kl[16]
    L = copies.shape[0]
    for b in range(c.shape[0]):
        v = float(c[b, c_cyc])
        for i in range(L):
            if bw[i, 0] == 0.0 and bw[i, 1] == 0.0 and bw[i, 2] == 0.0 and fan_of[i] < 0:
                continue             # no limit at this level (an RF, registers): its words bound nothing
            ow = 0
            iw = 0
            for t in range(nr):
                base = sb + (i * nr + t) * nsa
                ow += c[b, base + a_read] + c[b, base + a_drain]
                iw += c[b, base + a_fill] + c[b, base + a_update]
            n = copies[i]
            if bw[i, 0] != 0.0:
                x = ow / (n * bw[i, 0])
                if x > v:
                    v = x
            if bw[i, 1] != 0.0:
                x = iw / (n * bw[i, 1])
                if x > v:
                    v = x
            if bw[i, 2] != 0.0:
                x = (ow + iw) / (n * bw[i, 2])
                if x > v:
                    v = x
            fi = fan_of[i]
            if fi >= 0:
                best = 0.0
                for s in range(4):
                    # streams: ifmap, weight (down), psum in (down), psum out (up)
                    if s < 3:
                        t = streams[s]
                        base = nb + (fi * nr + t) * nna
                        delivered = c[b, base + a_dest]
                        distinct = c[b, base + a_down]
                    else:
                        base = nb + (fi * nr + streams[2]) * nna
                        delivered = c[b, base + a_src]
                        distinct = c[b, base + a_up]
                    x = ab[fi, s, 0] * delivered + ab[fi, s, 1] * distinct
                    if x > best:
                        best = x
                x = best / n
                if x > v:
                    v = x
        out[b] = v


def bound_nests(layout: NestLayout, rows: np.ndarray, params: BoundParams | None = None) -> np.ndarray:
    """(B,) float64 cycles: the latency bound of each row, the numba twin of
    ``accelsim.cost.bound.hierarchy_bound`` (max of compute cycles, each level's words / (instances x
    bandwidth) and each network's busiest stream / instances), equal bit for bit (tested)."""
    p = params if params is not None else bound_params(layout)
    c = np.ascontiguousarray(rows, dtype=np.int64)
    out = np.empty(c.shape[0], dtype=np.float64)
    _bound_kernel(c, layout.kernel_layout, layout.fanout_index, p.copies, p.bw, p.noc_ab, p.stream_roles, out)
    return out


__all__ = ["BoundParams", "Fallback", "NestMemo", "bound_nests", "bound_params", "count_nests", "energy_nests",
           "kernel_rows", "nest_memo"]
