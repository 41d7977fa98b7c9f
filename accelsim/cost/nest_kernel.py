"""The general scorer's kernel, generated for each structure: Python source written from a
(problem, hierarchy)'s static shape, compiled by numba once per shape and machine.

:func:`shape_of` is the key: the number of levels and which of them have a fanout, the number of
dims, which dims index each role, each coupled axis' role and its one or two dims, and the count
columns' positions (``NestLayout.kernel_layout``). Everything else (dim sizes, coefficients,
offsets, the keeps, factors and orders of each nest) stays data, so every conv layer on one
hierarchy shares one kernel. :func:`kernel_source` writes the kernel of a shape: the algorithm of
``accelsim.cost.fast_nest`` (its module docstring) with literal slots, level masks and column
offsets, one block per role with its dims and coupled axes unrolled, and per-dim scalars instead
of per-nest scratch arrays (the generic form kept ~30 arrays live: register spills, stride
reloads). A count of a dim's kept loops that interleave with dropped ones (no closed form) is
walked (``_walk``) where a volume reads it, not for every mask of the form it could be asked up
front as the generic kernel's ``gtab`` is (on the clustered Eyeriss v2, benchmarks/bench_sparse.py's
nests: 15 mask checks per dim with a spatial loop, about a sixth of the kernel's time, saved). The
set-up reads each dim's factors slot by slot (inner -> outer) with the range and
over-tiling rules as one unsigned compare and a product, and the input lines of the nest
``PREFETCH`` ahead are prefetched (``fast_nest._prefetch``: a batch of 10,000 nests is 11 MB of
int64, more than the caches; without it each nest's first reads waited on memory). A ceiling
division of the closed forms and the coupled axes' quotient divide unsigned (``_ceil``: every operand
is at least 1; numba's signed floor division adds a sign fix-up: 0.73 -> 0.71 us per nest on the
clustered Eyeriss v2 benchmark). This kernel and ``mapper.score_kernel``'s index their arrays
unsigned (:func:`unsigned_subscripts`, applied by :func:`load_generated`: numba's negative-index wrap
dropped; ``mapper.memo_kernel``'s pass not: 0.10 -> 0.12 us per nest with it), and ``_walk`` borrows its arrays
(``_nrt=False``: no reference-count atomics per call). Rows equal ``count_actions`` exactly
(tests/test_fast_nest.py).

Cache: numba's ``cache=True`` needs a function defined in a file, so the source is written to
``$ACCELSIM_KERNEL_CACHE`` (default ``~/.cache/accelsim/kernels``) as
``accelsim_nest_<version>_<shape>.py``: the version hashes the source of this module and of the
helpers the kernel calls, the shape hash covers the shape too (a change to either makes a new file:
no stale machine code); the file is written atomically (concurrent workers write identical text).
Bounded: the first load in a process deletes other versions' files unused for ``PRUNE_AGE`` (a
day) with their ``__pycache__`` entries (:func:`prune_cache`). If the directory cannot be written,
the kernel is compiled in memory (no cache: every process compiles it again) with a
``KernelCacheWarning`` naming the directory, once per process. Same shape, same source text, same
rows: deterministic.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
import tempfile
import time
import warnings
import weakref
from pathlib import Path
from typing import Any

from accelsim.cost.nest_arrays import C_D1, C_D2, C_ROLE, NestLayout
from accelsim.names import AXES

CACHE_ENV = "ACCELSIM_KERNEL_CACHE"
PREFETCH = 2        # nests ahead whose input lines the kernel prefetches (1-4 measured alike)
PRUNE_AGE = 86400.0  # seconds unused after which another version's generated kernel is deleted
_LOADED: dict[tuple[int, ...], Any] = {}
_WARNED: set[str] = set()
_PRUNED: set[str] = set()
_BY_LAYOUT: weakref.WeakKeyDictionary[NestLayout, Any] = weakref.WeakKeyDictionary()


class KernelCacheWarning(UserWarning):
    """The kernel cache directory is not writable: generated kernels compile in memory, uncached."""


def shape_of(layout: NestLayout) -> tuple[int, ...]:
    """The static structure the generated kernel is specialised on (a flat tuple of ints)."""
    pa = layout.problem_arrays
    L, D = len(layout.levels), len(layout.dims)
    fans = tuple(int(x >= 0) for x in layout.fanout_index)
    rel = tuple(int(x) for x in pa.rel.reshape(-1))
    cpl = tuple(int(x) for row in pa.coupled for x in (row[C_ROLE], row[C_D1], row[C_D2]))
    kl = tuple(int(x) for x in layout.kernel_layout)
    return (L, D, pa.rel.shape[0], len(kl), len(cpl) // 3, *fans, *rel, *cpl, *kl)


def _unpack(shape: tuple[int, ...]):
    L, D, NR, NKL, NC = shape[:5]
    p = 5
    fans = shape[p:p + L]
    p += L
    rel = [shape[p + t * D:p + (t + 1) * D] for t in range(NR)]
    p += NR * D
    cpl = [shape[p + 3 * c:p + 3 * c + 3] for c in range(NC)]
    p += 3 * NC
    kl = shape[p:p + NKL]
    return L, D, NR, fans, rel, cpl, kl


class _Src:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.ind = 0

    def __call__(self, line: str) -> None:
        self.lines.append("    " * self.ind + line)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def kernel_source(shape: tuple[int, ...], cache: bool = True) -> str:
    """The Python source of the kernel of ``shape`` (a module defining ``kernel``)."""
    L, D, NR, fans, rel, cpl, kl = _unpack(shape)
    NA = len(AXES)                            # spatial axes: x, y (slots ts + 1 + a)
    sb, nb, nsa, nna, out_role = kl[0], kl[1], kl[2], kl[3], kl[4]
    a_read, a_fill, a_update, a_drain = kl[5], kl[6], kl[7], kl[8]
    a_down, a_dest, a_up, a_src = kl[9], kl[10], kl[11], kl[12]
    c_macs, c_cyc, c_act = kl[13], kl[14], kl[15]
    # slots: per level its temporal loop, then (with a fanout) its x and y loops, outer -> inner
    tslot: list[int] = []
    slot_level: list[int] = []
    for i in range(L):
        tslot.append(len(slot_level))
        slot_level.append(i)
        if fans[i]:
            slot_level += [i] * NA
    S = len(slot_level)
    tbits, sbits = [0], [0]
    for i in range(L):
        tbits.append(tbits[-1] | (1 << tslot[i]))
        sbits.append(sbits[-1] | ((((1 << NA) - 1) << (tslot[i] + 1)) if fans[i] else 0))
    fan_levels = [i for i in range(L) if fans[i]]
    fan_of = [fan_levels.index(i) if fans[i] else -1 for i in range(L)]
    spat_all, tall = sbits[L], tbits[L]
    irr = [[d for d in range(D) if not rel[t][d]] for t in range(NR)]
    cpl_of = [[c for c in range(len(cpl)) if cpl[c][0] == t] for t in range(NR)]

    s = _Src()

    def tuples(target: str, d: int, kept: str) -> None:
        """``target *= lattice.count_tuples`` of dim d's loops kept by the slot mask ``kept``, written
        inline (fast_nest's ``_tuples``: its closed forms; else, kept and dropped loops interleaved,
        ``_walk`` of this mask where it is read: the generic kernel's ``gtab`` entry, walked eagerly
        there for every mask of the form it can be asked, here only for the masks asked)."""
        for line in (f"mk = pres{d} & ({kept})",
                     "if mk != 0:",
                     f"    if mk == pres{d}:",
                     f"        {target} *= sz{d}",
                     "    else:",
                     f"        dr = pres{d} & ~mk",
                     "        if mk < (dr & -dr):",
                     f"            {target} *= _ceil(sz{d}, span[{d * S} + _hib(mk)])",
                     "        elif dr < (mk & -mk):",
                     f"            {target} *= span[{d * S} + _hib(dr)]",
                     "        else:",
                     f"            {target} *= _walk(sz{d}, pres{d}, mk, fac, span, {d * S})"):
            s(line)
    s(f'"""Generated by accelsim.cost.nest_kernel for shape {shape!r}: do not edit."""')
    s("import numpy as np")
    s("from numba import njit")
    s("from accelsim.cost.fast_nest import _axis_sums, _prefetch")
    s("from numba.cpython.unsafe.numbers import leading_zeros")
    s("")
    s(f"TBITS = np.array({tbits}, dtype=np.int64)")
    s(f"SBITS = np.array({sbits}, dtype=np.int64)")
    s(f"TSLOT = np.array({tslot}, dtype=np.int64)")
    s("")
    s("")
    s(f"@njit(cache={cache}, inline='always')")
    s("def _hib(m):")
    s("    return 63 - leading_zeros(np.int64(m))     # the highest set bit (-1 for 0): the slot of a mask's innermost loop")
    s("")
    s("")
    s(f"@njit(cache={cache}, inline='always')")
    s("def _ceil(a, b):")
    s("    return np.int64((np.uint64(a) + np.uint64(b - 1)) // np.uint64(b))   # a, b >= 1: one unsigned divide")
    s("")
    s("")
    s(f"@njit(cache={cache}, _nrt=False)")    # no reference counts: fac and span are borrowed (no atomics per call)
    s("def _walk(D, pres, mask, fac, span, o):")
    s("    total = 0")
    s("    budget = D")
    s(f"    for s in range({S}):")
    s("        if (pres >> s) & 1 == 0:")
    s("            continue")
    s("        f = fac[o + s]")
    s("        sp = span[o + s]")
    s("        if (mask >> s) & 1:")
    s("            if (f - 1) * sp < budget:")
    s("                nn = f")
    s("            else:")
    s("                nn = _ceil(budget, sp)")     # (budget >= 1 throughout)
    s("            total = total * f + (nn - 1)")
    s("            budget -= (nn - 1) * sp")
    s("        elif sp < budget:")
    s("            budget = sp")
    s("    return total + 1")
    s("")
    s("")
    s(f"@njit(cache={cache}, nogil=True)")
    # (hib: the generic kernel's table of highest set bits, taken for the same signature; unused here: _hib)
    s("def kernel(sizes, plain, coupled, factors, orders, spatial, keeps, out, status, memo_key, memo_val, hib):")
    s.ind = 1
    s("B = factors.shape[0]")
    for d in range(D):
        s(f"sz{d} = sizes[{d}]")
    for t in range(NR):
        s(f"plain{t} = plain[{t}]")
        rs = " * ".join([f"sz{d}" for d in range(D) if rel[t][d]] or ["1"])
        s(f"relsize{t} = {rs}")
    for c in range(len(cpl)):
        s(f"k1_{c}, k2_{c}, g_{c}, s_{c}, dl_{c} = coupled[{c}, 2], coupled[{c}, 4], coupled[{c}, 7], "
          f"coupled[{c}, 8], coupled[{c}, 9]")
        s(f"noff_{c}, csz_{c} = -coupled[{c}, 5], coupled[{c}, 6]")
    s("macs = " + " * ".join(f"sz{d}" for d in range(D)))
    s(f"fac = np.ones({D * S}, np.int64)")
    s(f"span = np.ones({D * S}, np.int64)")
    s(f"rank = np.zeros({L * D}, np.int64)")
    s(f"relpos = np.zeros({L * NR}, np.int64)")
    s(f"spnz = np.zeros({L}, np.int64)")
    s(f"pres = np.zeros({D}, np.int64)")
    s(f"inner = np.zeros({D}, np.int64)")
    s(f"vV = np.zeros({L + 1}, np.int64)")
    s(f"vO = np.zeros({L + 1}, np.int64)")
    s("memo_bits = 0")
    s("while (1 << memo_bits) < memo_key.shape[1]:")
    s("    memo_bits += 1")
    s("memo_shift = np.uint64(64 - memo_bits)")
    # the streamed volume per role (every loop kept: one-element tiles)
    for t in range(NR):
        v = " * ".join([f"plain{t}"] + [f"sz{d}" for d in irr[t]])
        s(f"strm{t} = {v}")
        for c in cpl_of[t]:
            _, d1, d2 = cpl[c]
            n2 = f"sz{d2}" if d2 >= 0 else "1"
            s(f"s_ax, o_ax = _axis_sums(sz{d1}, 1, {n2}, 1, k1_{c}, k2_{c}, g_{c}, s_{c}, dl_{c}, noff_{c}, csz_{c}, "
              "0, 1, 1)")
            s(f"strm{t} *= s_ax")
    s("for b in range(B):")
    s.ind = 2
    s("status[b] = 0")
    # the input lines of the nest PREFETCH ahead, fetched while this one is scored (every line of its
    # block of each array holds one of the offsets 0, 8, 16, ..., last)
    s(f"bp = b + {PREFETCH} if b + {PREFETCH} < B else b")
    for arr, per in (("factors", L * D), ("orders", L * D), ("spatial", L * NA * D), ("keeps", L * NR)):
        for off in sorted({*range(0, per, 8), per - 1}):
            s(f"_prefetch({arr}, bp * {per} + {off})")
    s("active = 1")
    for t in range(NR):
        s(f"lvm{t} = 0")
    for i in range(L):
        s(f"lvd{i} = 0")
        if fans[i]:
            s(f"nz{i} = 0")
    # ---- spatial factors at the levels without a fanout must all be 1
    nofan = [i for i in range(L) if not fans[i]]
    if nofan:
        s("acc = 0")
        s(f"for d in range({D}):")
        s("    acc |= " + " | ".join(f"(spatial[b, {i}, {a}, d] ^ 1)" for i in nofan for a in range(NA)))
        s("if acc != 0:")
        for i in nofan:
            s(f"    for a in range({NA}):")
            s(f"        for d in range({D}):")
            s(f"            if spatial[b, {i}, a, d] != 1:")
            s(f"                return b, 5, {i}, a, d")
    # ---- per dim, slots inner -> outer: factors, the range and over-tiling rules, spans, the slots
    # with a loop, per level the dims with a temporal loop
    s(f"for d in range({D}):")
    s.ind = 3
    s("sz = sizes[d]")
    s(f"o = d * {S}")
    s("sp = 1")
    s("pm = 0")
    for sl in range(S - 1, -1, -1):
        i = slot_level[sl]
        a = sl - tslot[i] - 1
        s(f"f = factors[b, {i}, d]" if a < 0 else f"f = spatial[b, {i}, {a}, d]")
        s(f"fac[o + {sl}] = f")
        s(f"span[o + {sl}] = sp")
        s("if np.uint64(f - 1) >= np.uint64(sz) or (f - 1) * sp >= sz:")
        s(f"    return b, 1 + np.int64(f >= 1), {i}, {a}, d")
        s("g = np.int64(f > 1)")
        s(f"pm |= g << {sl}")
        if a < 0:
            s(f"lvd{i} |= g << d")
        else:
            s(f"nz{i} |= g")
            s("active *= f")
        s("sp *= f")
    s("if sp < sz:")
    s("    return b, 3, 0, -1, d")
    s("pres[d] = pm")
    s("inner[d] = sp")
    s.ind = 2
    for i in fan_levels:
        s(f"spnz[{i}] = nz{i}")
    # ---- loop orders: a permutation per level; per level and role the positions of the loops indexing it
    for i in range(L):
        for t in range(NR):
            s(f"lvt{t} = lvd{i} & {sum(1 << d for d in range(D) if rel[t][d])}")
        s("seen = 0")
        for t in range(NR):
            s(f"pos{t} = 0")
        s(f"for k in range({D}):")
        s(f"    d = orders[b, {i}, k]")
        s(f"    if np.uint64(d) >= {D}:")
        s(f"        return b, 4, {i}, -1, 0")
        s("    seen |= np.int64(1) << d")
        s(f"    rank[{i * D} + d] = k")
        for t in range(NR):
            s(f"    pos{t} |= ((lvt{t} >> d) & 1) << k")
        s(f"if seen != {(1 << D) - 1}:")
        s(f"    return b, 4, {i}, -1, 0")
        for t in range(NR):
            s(f"relpos[{i * NR + t}] = pos{t}")
            s(f"lvm{t} |= {1 << i} * (pos{t} != 0)")
    for d in range(D):
        s(f"pres{d} = pres[{d}]")
        s(f"inner{d} = inner[{d}]")
    s("for c in range(out.shape[1]):")
    s("    out[b, c] = 0")
    s("bad = False")
    # ---- every hop of every role's chain (cost.actions.assemble), one block per role
    for t in range(NR):
        s("if not bad:")
        s.ind += 1
        s("par = 0")
        s(f"for ch in range(1, {L + 1}):")
        s.ind += 1
        s(f"if ch < {L} and keeps[b, ch, {t}] == 0:")
        s("    continue")
        s(f"streamed = ch == {L}")
        s("lr = -1")
        s("ld = -1")
        s("kk = 0")
        s("if not streamed:")
        s(f"    lm = lvm{t} & ((np.int64(1) << ch) - 1)")
        s("    if lm != 0:")
        s("        lr = _hib(lm)")
        s(f"        kk = _hib(relpos[lr * {NR} + {t}])")
        s("        ld = orders[b, lr, kk]")
        for head, value in (("if streamed:", f"{L}"), ("elif lr < 0:", "0"),
                            ("else:", f"lr + np.int64(rank[lr * {D} + {{d}}] < kk)")):
            s(head)
            for d in irr[t]:
                s(f"    tp{d} = " + value.format(d=d))
            if not irr[t]:
                s("    pass")
        s("cutbits = TBITS[ch]")
        s("for X in range(par, ch + 1):")
        s.ind += 1
        s("if X > par and spnz[X - 1] == 0:")
        s("    vV[X] = vV[X - 1]")
        s("    vO[X] = vO[X - 1]")
        s("    continue")
        s("sx = SBITS[X]")
        s(f"if streamed and sx == {spat_all}:")
        s(f"    vV[X] = strm{t}")
        s("    vO[X] = 0")
        s("    continue")
        s(f"vol = plain{t}")
        for d in irr[t]:
            tuples("vol", d, f"sx | TBITS[tp{d}]")
        s("ovl = 0")
        for c in cpl_of[t]:
            _, d1, d2 = cpl[c]
            s(f"pre = pres{d1} & (sx | cutbits)")
            s(f"low = pres{d1} & ~pre")
            s("if low != 0 and pre >= (low & -low):")
            s("    bad = True")
            s("    break")
            s(f"runs0 = inner{d1} if pre == 0 else span[{d1 * S} + _hib(pre)]")
            if d2 >= 0:
                s(f"pre = pres{d2} & (sx | cutbits)")
                s(f"low = pres{d2} & ~pre")
                s("if low != 0 and pre >= (low & -low):")
                s("    bad = True")
                s("    break")
                s(f"runs1 = inner{d2} if pre == 0 else span[{d2 * S} + _hib(pre)]")
            else:
                s("runs1 = 1")
            s("sl = 0")
            s("m = 1")
            s("f = 1")
            s(f"if ld == {d1}:")
            s("    sl = 1")
            s(f"    m = np.int64(np.uint64(span[{d1 * S} + TSLOT[lr]]) // np.uint64(runs0))")
            s(f"    f = fac[{d1 * S} + TSLOT[lr]]")
            if d2 >= 0:
                s(f"elif ld == {d2}:")
                s("    sl = 2")
                s(f"    m = np.int64(np.uint64(span[{d2 * S} + TSLOT[lr]]) // np.uint64(runs1))")
                s(f"    f = fac[{d2 * S} + TSLOT[lr]]")
            s("if runs0 < 65536 and runs1 < 65536 and m < 16384 and f < 16384:")
            s("    key = runs0 | (runs1 << 16) | (sl << 32) | (m << 34) | (f << 48)")
            s("    e = np.int64((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> memo_shift)")
            s("else:")
            s("    key = -1")
            s("    e = 0")
            s(f"if key >= 0 and memo_key[{c}, e] == key:")
            s(f"    s_ax = memo_val[{c}, e, 0]")
            s(f"    o_ax = memo_val[{c}, e, 1]")
            s("else:")
            n2 = f"sz{d2}" if d2 >= 0 else "1"
            s(f"    s_ax, o_ax = _axis_sums(sz{d1}, runs0, {n2}, runs1, k1_{c}, k2_{c}, g_{c}, s_{c}, dl_{c}, "
              f"noff_{c}, csz_{c}, sl, m, f)")
            s("    if key >= 0:")
            s(f"        memo_key[{c}, e] = key")
            s(f"        memo_val[{c}, e, 0] = s_ax")
            s(f"        memo_val[{c}, e, 1] = o_ax")
            s("ovl = ovl * s_ax + vol * o_ax")
            s("vol = vol * s_ax")
        s("vV[X] = vol")
        s("vO[X] = ovl")
        s.ind -= 1
        s("if bad:")
        s("    break")
        # ---- the rules
        def col(level: str, action: int, t: int = t) -> str:
            """The storage column of role t and ``action`` at the level held in variable ``level``."""
            return f"{sb + t * nsa + action} + {level} * {NR * nsa}"

        def net(j: int, action: int, t: int = t) -> int:
            """The network column of role t and ``action`` at the fanout below level j."""
            return nb + (fan_of[j] * NR + t) * nna + action

        if t != out_role:
            s(f"out[b, {col('par', a_read)}] += vV[par] - vO[par]")
            s("if not streamed:")
            s(f"    out[b, {col('ch', a_fill)}] += vV[ch] - vO[ch]")
            for j in fan_levels:
                s(f"if par <= {j} < ch:")
                s(f"    out[b, {net(j, a_down)}] += vV[{j}] - vO[{j}]")
                s(f"    out[b, {net(j, a_dest)}] += vV[{j + 1}] - vO[{j + 1}]")
        else:
            s("if streamed:")
            s("    u = vV[par]")
            s(f"    out[b, {col('par', a_read)}] += u")
            s(f"    out[b, {col('par', a_update)}] += u")
            for j in fan_levels:
                s(f"    if par <= {j}:")
                s(f"        out[b, {net(j, a_down)}] += vV[{j}]")
                s(f"        out[b, {net(j, a_dest)}] += vV[{j}]")
                s(f"        out[b, {net(j, a_up)}] += vV[{j}]")
                s(f"        out[b, {net(j, a_src)}] += vV[{j + 1}]")
            s("else:")
            s(f"    first = relsize{t}")
            s("    sx = SBITS[par]")
            s.ind += 1
            for d in irr[t]:
                tuples("first", d, "sx")
            s.ind -= 1
            s("    u = vV[par]")
            s("    fills = u - first")
            s(f"    out[b, {col('par', a_update)}] += u")
            s(f"    out[b, {col('par', a_read)}] += fills")
            s(f"    out[b, {col('ch', a_fill)}] += fills")
            s(f"    out[b, {col('ch', a_drain)}] += vV[ch]")
            for j in fan_levels:
                s(f"    if par <= {j} < ch:")
                s(f"        out[b, {net(j, a_up)}] += vV[{j}]")
                s(f"        out[b, {net(j, a_down)}] += fills")
                s(f"        out[b, {net(j, a_dest)}] += fills")
                s(f"        out[b, {net(j, a_src)}] += vV[{j + 1}]")
        s("par = ch")
        s.ind -= 2
    s("if bad:")
    s("    status[b] = 1")
    s("    for c in range(out.shape[1]):")
    s("        out[b, c] = 0")
    s("    continue")
    s("cycles = 1")
    for d in range(D):
        tuples("cycles", d, f"{tall}")
    s(f"out[b, {c_macs}] = macs")
    s(f"out[b, {c_cyc}] = cycles")
    s(f"out[b, {c_act}] = active")
    s.ind = 1
    s("return -1, 0, 0, -1, 0")
    return s.text()


def _fingerprint() -> str:
    """Hash of the generator and the compiled helpers the generated source calls."""
    fast_nest = sys.modules["accelsim.cost.fast_nest"]    # the caller (imported, not imported here: no cycle)
    h = hashlib.sha256()
    helpers = inspect.getmodule(fast_nest._axis_sums.py_func)
    for mod in (sys.modules[__name__], fast_nest, helpers):
        assert mod is not None
        h.update(inspect.getsource(mod).encode())
    return h.hexdigest()


def cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "accelsim" / "kernels"


def _from_file(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod             # numba's cache rebuilds a kernel's environment by module name
    spec.loader.exec_module(mod)
    return mod


def prune_cache(folder: Path, version: str, max_age: float = PRUNE_AGE, now: float | None = None) -> list[str]:
    """Delete from ``folder`` the generated kernels of versions other than ``version`` (their files
    ``accelsim_nest_<version>_<shape>.py``, and the earlier ``accelsim_nest_<key>.py``) not written or
    loaded for ``max_age`` seconds, with their entries in ``__pycache__`` (numba's index and machine
    code, Python's bytecode), plus entries there whose module file is gone and unfinished ``.tmp``
    files, both as old. Returns the module names removed (sorted). The current version's files are
    never removed; another version's survive while some process uses them (``kernel_for`` touches a
    file on every load), so two checkouts sharing a cache only recompile after a day apart. A file
    another process removes first, or one this user may not remove, is skipped."""
    now = time.time() if now is None else now

    def stale(p: Path) -> bool:
        try:
            return now - p.stat().st_mtime >= max_age
        except OSError:
            return False

    def remove(p: Path) -> bool:
        try:
            p.unlink()
            return True
        except OSError:
            return False

    removed = [p.stem for p in folder.glob("accelsim_nest_*.py")
               if p.stem.split("_")[2:3] != [version] and stale(p) and remove(p)]
    pyc = folder / "__pycache__"
    for p in pyc.glob("accelsim_nest_*"):
        module = p.name.split(".")[0]
        if module in removed or (not (folder / f"{module}.py").exists() and stale(p)):
            remove(p)
    for p in folder.glob("*.tmp"):
        if stale(p):
            remove(p)
    return sorted(removed)


def kernel_for(layout: NestLayout):
    """The compiled kernel of ``layout``'s shape (generated, cached on disk, loaded once per process;
    remembered per layout object too: ``shape_of`` alone costs ~15 us, a tenth of a 512-nest batch).
    The first load of a process prunes the cache directory (:func:`prune_cache`)."""
    fn = _BY_LAYOUT.get(layout)
    if fn is not None:
        return fn
    fn = _by_shape(layout)
    _BY_LAYOUT[layout] = fn
    return fn


def loaded_kernel(layout: NestLayout):
    """The generated kernel of ``layout`` if :func:`kernel_for` has loaded it for this layout object in
    this process, else None (a dict look-up: nothing is generated, compiled or read from disk)."""
    return _BY_LAYOUT.get(layout)


def _by_shape(layout: NestLayout):
    shape = shape_of(layout)
    if shape in _LOADED:
        return _LOADED[shape]
    fingerprint = _fingerprint()
    key = hashlib.sha256((repr(shape) + fingerprint).encode()).hexdigest()[:12]
    fn = _LOADED[shape] = load_generated(key, lambda cache: kernel_source(shape, cache), "kernel")
    return fn


def unsigned_subscripts(source: str) -> str:
    """``source`` with every subscript of a named array indexed by unsigned integers: each index that is
    not an integer literal (nor a slice) becomes ``np.uint64(index)``. Numba wraps a signed index
    (``i < 0`` -> ``i + len``: a sign test and an add or select on every access, most of which LLVM
    cannot drop); an unsigned one it takes as is. The generated kernels never index from the end, so
    the values, and the rows, are the same (tests: the generated kernels against the generic ones and
    the slow path); the clustered Eyeriss v2 benchmark's dense rows ~3% faster. The text is
    re-printed by ``ast.unparse`` (comments dropped)."""
    import ast

    def idx(e: ast.expr) -> ast.expr:
        lit = e.operand if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub) else e
        if isinstance(e, ast.Slice) or (isinstance(lit, ast.Constant) and isinstance(lit.value, int)):
            return e                # a slice or a literal (a negative one still counts from the end)
        return ast.Call(ast.Attribute(ast.Name("np", ast.Load()), "uint64", ast.Load()), [e], [])

    class _Unsigned(ast.NodeTransformer):
        def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
            self.generic_visit(node)
            if isinstance(node.value, ast.Name):
                sl = node.slice
                node.slice = ast.Tuple([idx(e) for e in sl.elts], ast.Load()) if isinstance(sl, ast.Tuple) else idx(sl)
            return node

    tree = ast.fix_missing_locations(_Unsigned().visit(ast.parse(source)))
    return ast.unparse(tree) + "\n"


def load_generated(key: str, source, attr: str, extra: str = "", unsigned: bool = True):
    """The function ``attr`` of the generated module ``source(cache)`` (its Python text; ``cache``:
    whether numba may cache it on disk; with ``unsigned``, as :func:`unsigned_subscripts` rewrites
    it), written once to :func:`cache_dir` as
    ``accelsim_nest_<version>_<extra><key>.py`` (``key`` must hash the source's inputs and the
    generator; the version, this module's :func:`_fingerprint`, names what :func:`prune_cache`
    keeps) and loaded; compiled in memory with a ``KernelCacheWarning`` when the directory cannot
    be written."""
    version = _fingerprint()[:12]
    name = f"accelsim_nest_{version}_{extra}{key}"
    text = (lambda cache: unsigned_subscripts(source(cache))) if unsigned else source
    folder = cache_dir()
    path = folder / f"{name}.py"
    try:
        for attempt in range(2):
            if not path.exists():
                folder.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
                with os.fdopen(fd, "w") as fh:
                    fh.write(text(True))
                os.replace(tmp, path)
            try:
                os.utime(path)              # in use: prune_cache keeps it
                fn = getattr(_from_file(path, name), attr)
                break
            except FileNotFoundError:       # pruned by another process between the two lines: write it again
                if attempt:
                    raise
        if str(folder) not in _PRUNED:
            _PRUNED.add(str(folder))
            prune_cache(folder, version)
    except OSError as e:
        if str(folder) not in _WARNED:
            _WARNED.add(str(folder))
            warnings.warn(f"accelsim: kernel cache {folder} is not writable ({e.strerror}); compiling generated "
                          f"kernels in memory, uncached (set {CACHE_ENV} to a writable directory)",
                          KernelCacheWarning, stacklevel=4)
        ns: dict[str, Any] = {}
        exec(compile(text(False), f"<accelsim generated {key}>", "exec"), ns)
        fn = ns[attr]
    return fn


__all__ = ["CACHE_ENV", "KernelCacheWarning", "cache_dir", "kernel_for", "kernel_source", "load_generated", "loaded_kernel",
           "prune_cache", "shape_of"]
