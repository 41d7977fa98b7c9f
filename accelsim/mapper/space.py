"""Proposals: random legal mappings within a dataflow's constraints, and local moves around one.

Factors are drawn inner level first (RF, then array columns, rows, GLB), each clipped to what the
dimension has left, so every proposal covers the layer; the rest goes to DRAM. Proposals whose
tiles overflow a buffer are repaired by moving GLB factors out to DRAM, or dropped.
"""

from __future__ import annotations

import random

from accelsim.energy import TENSORS
from accelsim.mapping import COLS, DRAM, GLB, RF, ROWS, Mapping, problems_of
from workloads.layer import Layer


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _pick(rng: random.Random, hi: int) -> int:
    """A factor in [1, hi], biased toward the ends (whole dimension, or nothing)."""
    if hi <= 1:
        return 1
    u = rng.random()
    if u < 0.35:
        return hi
    if u < 0.5:
        return 1
    return rng.randint(1, hi)


def keeps(arch, dataflow) -> tuple[tuple[bool, ...], tuple[bool, ...], tuple[bool, ...]]:
    glb = tuple(t in arch.glb.holds for t in TENSORS)
    rf = tuple(t in dataflow.rf_keeps and arch.rf.holds(t) for t in TENSORS)
    reg = tuple(t in arch.pe_array.operand_registers for t in TENSORS)
    return glb, rf, reg


def _assemble(dims, f_rf, f_cols, f_rows, f_glb, orders, keep) -> Mapping:
    f_dram = [ceil_div(D, f_rf[d] * f_cols[d] * f_rows[d] * f_glb[d]) for d, D in enumerate(dims)]
    levels = [None] * 5
    levels[DRAM], levels[GLB], levels[ROWS], levels[COLS], levels[RF] = f_dram, f_glb, f_rows, f_cols, f_rf
    return Mapping(tuple(tuple(x) for x in levels), orders, *keep)


def propose(layer: Layer, arch, dataflow, rng: random.Random) -> Mapping:
    dims = layer.dims
    span = [1] * 8
    f_rf = [1] * 8
    for d in rng.sample(dataflow.dim_ids("rf_loops"), len(dataflow.rf_loops)) if arch.rf.total_words or not dataflow.rf_keeps else []:
        f_rf[d] = _pick(rng, dims[d])
        span[d] *= f_rf[d]

    def spatial(allowed: tuple[int, ...], size: int) -> list[int]:
        out = [1] * 8
        left = size
        for d in rng.sample(allowed, len(allowed)):
            hi = min(left, ceil_div(dims[d], span[d]))
            f = _pick(rng, hi)
            out[d] = f
            span[d] *= f
            left //= f
        return out

    f_cols = spatial(dataflow.dim_ids("cols"), arch.pe_array.cols)
    f_rows = spatial(dataflow.dim_ids("rows"), arch.pe_array.rows)
    f_glb = [_pick(rng, ceil_div(D, span[d])) for d, D in enumerate(dims)]
    orders = tuple(tuple(rng.sample(range(8), 8)) for _ in range(3))
    return repair(layer, arch, _assemble(dims, f_rf, f_cols, f_rows, f_glb, orders, keeps(arch, dataflow)), rng)


def repair(layer: Layer, arch, m: Mapping, rng: random.Random) -> Mapping:
    """Shrink RF loops until the RF tiles fit, then GLB factors until the GLB tiles fit.
    Returns the mapping (possibly still illegal for other reasons: the caller checks)."""
    dims = layer.dims
    f = [list(x) for x in m.factors]
    for _ in range(64):
        m = Mapping(tuple(tuple(x) for x in f), m.orders, m.glb_keep, m.rf_keep, m.reg_keep)
        problems = problems_of(layer, m, arch)
        if not problems:
            return m
        level = RF if any(p.startswith("RF") or "bypasses the RF" in p for p in problems) else GLB
        if not any(p.startswith(("RF", "GLB")) or "bypasses the RF" in p for p in problems):
            return m
        shrinkable = [d for d in range(8) if f[level][d] > 1]
        if not shrinkable:
            return m
        d = rng.choice(shrinkable)
        f[level][d] = ceil_div(f[level][d], 2)
        inner = f[RF][d] * f[COLS][d] * f[ROWS][d] * f[GLB][d]
        f[DRAM][d] = ceil_div(dims[d], inner)
    return m


def mutate(layer: Layer, arch, dataflow, m: Mapping, rng: random.Random) -> Mapping:
    """One local move: reorder two loops, or trade a factor between GLB and DRAM or GLB and a spatial/RF level."""
    dims = layer.dims
    f = [list(x) for x in m.factors]
    orders = [list(o) for o in m.orders]
    move = rng.randrange(4)
    if move == 0:                                   # swap two loops at DRAM, GLB or RF
        o = orders[rng.randrange(3)]
        i, j = rng.sample(range(8), 2)
        o[i], o[j] = o[j], o[i]
    elif move == 1:                                 # move part of a dim between GLB and DRAM
        d = rng.randrange(8)
        inner = f[RF][d] * f[COLS][d] * f[ROWS][d]
        rem = ceil_div(dims[d], inner)
        f[GLB][d] = max(1, min(rem, f[GLB][d] * 2 if rng.random() < 0.5 else ceil_div(f[GLB][d], 2)))
        f[DRAM][d] = ceil_div(rem, f[GLB][d])
    else:                                           # resize a spatial or RF factor of an allowed dim
        level = {2: rng.choice((ROWS, COLS)), 3: RF}[move]
        allowed = {ROWS: dataflow.dim_ids("rows"), COLS: dataflow.dim_ids("cols"), RF: dataflow.dim_ids("rf_loops")}[level]
        if not allowed:
            return m
        d = rng.choice(allowed)
        cap = {ROWS: arch.pe_array.rows, COLS: arch.pe_array.cols, RF: dims[d]}[level]
        others = 1
        if level in (ROWS, COLS):
            for e in range(8):
                if e != d:
                    others *= f[level][e]
        hi = max(1, min(cap // others, dims[d]))
        f[level][d] = rng.randint(1, hi)
        # re-derive the levels outside it so the dim stays covered without over-tiling
        span = 1
        for lv in (RF, COLS, ROWS):
            f[lv][d] = min(f[lv][d], ceil_div(dims[d], span))
            span *= f[lv][d]
        f[GLB][d] = min(f[GLB][d], ceil_div(dims[d], span))
        f[DRAM][d] = ceil_div(dims[d], span * f[GLB][d])
    out = Mapping(tuple(tuple(x) for x in f), tuple(tuple(o) for o in orders), m.glb_keep, m.rf_keep, m.reg_keep)
    return repair(layer, arch, out, rng)
