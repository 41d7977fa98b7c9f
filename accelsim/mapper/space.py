"""Proposals: random legal mappings within a dataflow's constraints, and local moves around one.

Factors are drawn inner level first (RF, then array columns, rows, GLB), each clipped to what the
dimension has left, so every proposal covers the layer; the rest goes to DRAM. Proposals whose
tiles overflow a buffer are repaired by moving GLB factors out to DRAM, or dropped.
"""

from __future__ import annotations

import random

from accelsim.constraints import pin, whole_at
from accelsim.energy import TENSORS
from accelsim.legality import problems_of
from accelsim.mapping import COLS, DRAM, GLB, LEVELS, RF, ROWS, TEMPORAL, Mapping
from workloads.layer import DIMS, Layer


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


def _assemble(dims, f_rf, f_cols, f_rows, f_glb, orders, keep, arch) -> Mapping:
    f_dram = [ceil_div(D, f_rf[d] * f_cols[d] * f_rows[d] * f_glb[d]) for d, D in enumerate(dims)]
    levels: list[list[int]] = [[]] * len(LEVELS)
    levels[DRAM], levels[GLB], levels[ROWS], levels[COLS], levels[RF] = f_dram, f_glb, f_rows, f_cols, f_rf
    if arch.constraints:
        pin(dims, levels, arch)
    return Mapping(tuple(tuple(x) for x in levels), orders, *keep)


def _candidates(D: int) -> list[int]:
    """Factors worth trying for a dimension of size D: small ones, divisors, and even splits."""
    out = {1, D}
    for f in (2, 3, 4, 5, 6, 7, 8, 12, 14, 16, 24, 32, 48, 64):
        if f < D:
            out.add(f)
    for k in range(1, 9):
        out.add(ceil_div(D, k))
    for f in range(1, min(D, 64) + 1):
        if D % f == 0:
            out.add(f)
    return sorted(out)


def rf_options(layer: Layer, arch, dataflow, limit: int = 4000) -> list[tuple[int, ...]]:
    """Per-PE factor vectors (over all dims) whose RF tiles fit the arch's register files."""
    from accelsim.tiles import tile_extents

    dims = layer.dims
    glb_keep, rf_keep, reg_keep = keeps(arch, dataflow)
    pinned = arch.constraints.pinned(RF)
    whole = whole_at(arch, RF)
    looping = [d for d in dataflow.dim_ids("rf_loops") if dims[d] > 1 and d not in pinned]
    ones = tuple([1] * len(DIMS))
    if not any(rf_keep):
        # nothing kept per PE: per-PE loops are plain time steps, capacity is no limit
        return [ones]
    shared = arch.rf.shared
    found: list[tuple[int, ...]] = []

    def fits(f: list[int]) -> bool:
        m = Mapping((ones, ones, ones, ones, tuple(f)), (tuple(range(len(DIMS))),) * len(TEMPORAL), glb_keep, rf_keep, reg_keep)
        need = tile_extents(layer, m, (RF,))
        kept = [need[t] for t, k in zip(TENSORS, rf_keep) if k]
        if shared is not None:
            return sum(kept) <= shared
        return all(need[t] <= (arch.rf.capacity(t) or 0) for t, k in zip(TENSORS, rf_keep) if k)

    def walk(i: int, f: list[int]) -> None:
        if len(found) >= limit:
            return
        if i == len(looping):
            found.append(tuple(f))
            return
        d = looping[i]
        for c in ([dims[d]] if d in whole else _candidates(dims[d])):
            f[d] = c
            if not fits(f):
                break                    # tiles only grow with the factor
            walk(i + 1, f)
        f[d] = 1

    walk(0, [1] * len(DIMS))
    return found or [ones]


def allowed_dims(arch, dataflow, level: int) -> tuple[int, ...]:
    """The dims a dataflow lets ``level`` (rows, cols or rf) split, minus those the arch forbids."""
    name = {ROWS: "rows", COLS: "cols", RF: "rf_loops"}[level]
    pinned = arch.constraints.pinned(level)
    return tuple(d for d in dataflow.dim_ids(name) if d not in pinned)


def spatial_options(layer: Layer, allowed: tuple[int, ...], size: int, limit: int = 2000,
                    whole: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    """Factor vectors over the allowed dims using at most ``size`` PEs, maximal ones first; dims in
    ``whole`` only at their full size (the arch lets no other level split them)."""
    dims = layer.dims
    looping = [d for d in allowed if dims[d] > 1]
    found: list[tuple[int, ...]] = []

    def walk(i: int, f: list[int], left: int) -> None:
        if len(found) >= limit:
            return
        if i == len(looping):
            found.append(tuple(f))
            return
        d = looping[i]
        for c in ([dims[d]] if d in whole else reversed(_candidates(dims[d]))):
            if c <= left:
                f[d] = c
                walk(i + 1, f, left // c)
        f[d] = 1

    walk(0, [1] * len(DIMS), size)
    return found or [tuple([1] * len(DIMS))]


class Space:
    """The proposal space of one (layer, arch, dataflow): precomputed per-PE and spatial options."""

    def __init__(self, layer: Layer, arch, dataflow):
        self.layer, self.arch, self.dataflow = layer, arch, dataflow
        self.rf = rf_options(layer, arch, dataflow)
        self.rows = spatial_options(layer, allowed_dims(arch, dataflow, ROWS), arch.pe_array.rows,
                                    whole=whole_at(arch, ROWS))
        self.cols = spatial_options(layer, allowed_dims(arch, dataflow, COLS), arch.pe_array.cols,
                                    whole=whole_at(arch, COLS))
        self.keep = keeps(arch, dataflow)

    def propose(self, rng: random.Random) -> Mapping:
        dims = self.layer.dims
        f_rf = list(rng.choice(self.rf))
        f_rows = list(rng.choice(self.rows))
        f_cols = list(rng.choice(self.cols))
        for d, D in enumerate(dims):          # clip outward so no loop over-tiles its dim
            f_cols[d] = min(f_cols[d], ceil_div(D, f_rf[d]))
            f_rows[d] = min(f_rows[d], ceil_div(D, f_rf[d] * f_cols[d]))
        f_glb = [_pick(rng, ceil_div(D, f_rf[d] * f_cols[d] * f_rows[d])) for d, D in enumerate(dims)]
        orders = tuple(tuple(rng.sample(range(len(DIMS)), len(DIMS))) for _ in TEMPORAL)
        m = _assemble(dims, f_rf, f_cols, f_rows, f_glb, orders, self.keep, self.arch)
        return repair(self.layer, self.arch, m, rng)


def propose(layer: Layer, arch, dataflow, rng: random.Random) -> Mapping:
    """One random proposal (builds the space each call; searches keep a :class:`Space`)."""
    return Space(layer, arch, dataflow).propose(rng)


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
        kinds = {p.kind for p in problems}
        if not kinds & {"rf_capacity", "rf_bypass", "glb_capacity"}:
            return m                     # nothing shrinking a factor can fix
        level = RF if kinds & {"rf_capacity", "rf_bypass"} else GLB
        fixed = arch.constraints.pinned(DRAM) if level == GLB else whole_at(arch, RF)
        shrinkable = [d for d in range(len(DIMS)) if f[level][d] > 1 and d not in fixed]
        if not shrinkable:
            return m
        d = rng.choice(shrinkable)
        f[level][d] = ceil_div(f[level][d], 2)
        inner = f[RF][d] * f[COLS][d] * f[ROWS][d] * f[GLB][d]
        f[DRAM][d] = ceil_div(dims[d], inner)
        if arch.constraints:
            pin(dims, f, arch)
    return m


def mutate(layer: Layer, arch, dataflow, m: Mapping, rng: random.Random) -> Mapping:
    """One local move: reorder two loops, or trade a factor between GLB and DRAM or GLB and a spatial/RF level."""
    dims = layer.dims
    f = [list(x) for x in m.factors]
    orders = [list(o) for o in m.orders]
    move = rng.randrange(5)
    if move == 0:                                   # swap two loops at DRAM, GLB or RF
        o = orders[rng.randrange(len(orders))]
        i, j = rng.sample(range(len(DIMS)), 2)
        o[i], o[j] = o[j], o[i]
    elif move == 4:                                 # make a looping dim innermost at one level
        li = rng.randrange(len(TEMPORAL))
        level = (DRAM, GLB, RF)[li]
        looping = [d for d in range(len(DIMS)) if f[level][d] > 1]
        if not looping:
            return m
        d = rng.choice(looping)
        orders[li] = [e for e in orders[li] if e != d] + [d]
    elif move == 1:                                 # move part of a dim between GLB and DRAM
        d = rng.randrange(len(DIMS))
        inner = f[RF][d] * f[COLS][d] * f[ROWS][d]
        rem = ceil_div(dims[d], inner)
        f[GLB][d] = max(1, min(rem, f[GLB][d] * 2 if rng.random() < 0.5 else ceil_div(f[GLB][d], 2)))
        f[DRAM][d] = ceil_div(rem, f[GLB][d])
    else:                                           # resize a spatial or RF factor of an allowed dim
        level = ROWS if move == 2 and rng.random() < 0.5 else COLS if move == 2 else RF
        allowed = [d for d in allowed_dims(arch, dataflow, level) if d not in whole_at(arch, level)]
        if not allowed:
            return m
        d = rng.choice(allowed)
        cap = {ROWS: arch.pe_array.rows, COLS: arch.pe_array.cols, RF: dims[d]}[level]
        others = 1
        if level in (ROWS, COLS):
            for e in range(len(DIMS)):
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
    if arch.constraints:
        pin(dims, f, arch)
    out = Mapping(tuple(tuple(x) for x in f), tuple(tuple(o) for o in orders), m.glb_keep, m.rf_keep, m.reg_keep)
    return repair(layer, arch, out, rng)
