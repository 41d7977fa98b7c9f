"""Exact action counts of one layer under one mapping (plain Python; the reference path).

See accelsim.mapping for the buffer semantics. For each tensor and each parent -> child hop of its
buffer chain (DRAM -> [GLB] -> [RF] -> MAC) the number of words moved is a sum over refill events
of tile volumes, minus the overlap kept when a refill slides a window. Both sums factor into one
term per tensor axis, because ceil tiling makes the valid loop indices a product over dimensions:
simple axes (N, G, K, C, and P, Q for outputs) sum to the dimension itself; the ifmap's coupled
axes (P with R -> rows, Q with S -> cols) are summed over their tiles; dimensions that do not index
the tensor contribute how many times the schedule revisits the tile.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.cost.lattice import _count_in, _overlap_in, ceil_div, count_tuples
from accelsim.cost.nest import MAC_CUT, Nest, build_nest
from accelsim.mapping import DRAM, GLB, RELEVANT, RF, Mapping
from workloads.layer import C, G, N, P, Q, R, S, Layer

# access-count levels
L_DRAM, L_GLB, L_NOC, L_RF = range(4)
ACCESS_LEVELS = ("dram", "glb", "noc", "rf")
TENSOR_NAMES = ("ifmap", "weight", "psum")

PREFIX, TILE, DROPPED = 0, 1, 2


@dataclass(frozen=True)
class Counts:
    macs: int
    cycles: int                                   # ideal: temporal steps, one MAC per active PE per step
    active_pes: int
    reads: tuple[tuple[int, int, int], ...]       # [level][tensor], ACCESS_LEVELS x TENSOR_NAMES
    writes: tuple[tuple[int, int, int], ...]
    noc_transfers: tuple[int, int, int]           # words crossing the buffer/array boundary, multicast once

    def as_dict(self) -> dict:
        return {lv: {t: {"reads": self.reads[li][ti], "writes": self.writes[li][ti]}
                     for ti, t in enumerate(TENSOR_NAMES)} for li, lv in enumerate(ACCESS_LEVELS)}


def axis_sums(Dp: int, Tp: int, Dr: int, Tr: int, stride: int, dil: int, pad: int, size: int,
              slide: int, m: int, f: int) -> tuple[int, int]:
    """Sum over (output tile, filter tile) pairs of the input rows each touches (clipped to the
    tensor), and of the rows kept by slides. ``slide`` 1: the sliding loop moves the output dim,
    2: the filter dim, 0: none; it moves ``m`` tiles per step and has ``f`` iterations."""
    nP, nR = ceil_div(Dp, Tp), ceil_div(Dr, Tr)
    total = 0
    overlap = 0
    for i in range(nP):
        pb = i * Tp
        pe = min(Tp, Dp - pb)
        slide_p = slide == 1 and (i // m) % f >= 1
        for j in range(nR):
            rb = j * Tr
            re = min(Tr, Dr - rb)
            off = pb * stride + rb * dil - pad
            lo, hi = -off, size - off
            total += _count_in(pe, re, stride, dil, lo, hi)
            if slide_p:
                overlap += _overlap_in(pe, re, Tp, re, m * Tp * stride, stride, dil, lo, hi)
            elif slide == 2 and (j // m) % f >= 1:
                overlap += _overlap_in(pe, re, pe, Tr, m * Tr * dil, stride, dil, lo, hi)
    return total, overlap


def roles(nest: Nest, rel: tuple[bool, ...], cut: int, streamed: bool, union: bool) -> tuple[list[int], int]:
    """Role of every loop for one (tensor, child) hop, and the index of the sliding loop (-1: none)."""
    loops = nest.loops
    last_rel = -1
    if not streamed:
        for i in range(cut):
            if not loops[i].spatial and rel[loops[i].dim]:
                last_rel = i
    out = []
    for i, lp in enumerate(loops):
        r = rel[lp.dim]
        if i >= cut:
            out.append(TILE if r else DROPPED)
        elif lp.spatial:
            out.append((TILE if r else DROPPED) if union else PREFIX)
        else:
            out.append(PREFIX if (streamed or i <= last_rel) else DROPPED)
    return out, (last_rel if not streamed else -1)


def event_sums(layer: Layer, nest: Nest, tensor: int, cut: int, streamed: bool, union: bool) -> tuple[int, int]:
    """(sum of tile volumes over refill events, sum of overlaps kept by slides).

    ``streamed``: the child is a MAC without an operand register, so every MAC is an event."""
    rel = RELEVANT[TENSOR_NAMES[tensor]]
    role, slide_i = roles(nest, rel, cut, streamed, union)
    dims = layer.dims
    tile = [1] * 8
    per_dim: list[list[tuple[int, int, bool]]] = [[] for _ in range(8)]
    for lp, ro in zip(nest.loops, role):
        if rel[lp.dim]:
            if ro == TILE:
                tile[lp.dim] *= lp.factor
        else:
            per_dim[lp.dim].append((lp.factor, lp.span, ro == PREFIX))
    mult = 1
    for d in range(8):
        if not rel[d]:
            mult *= count_tuples(dims[d], per_dim[d])
    if tensor != 0:  # weight, psum: simple axes, disjoint tiles
        vol = mult
        for d in range(8):
            if rel[d]:
                vol *= dims[d]
        return vol, 0
    slide_dim, m, f = -1, 1, 1
    if slide_i >= 0:
        lp = nest.loops[slide_i]
        slide_dim, f = lp.dim, lp.factor
        m = lp.span // tile[lp.dim]
    simple = dims[N] * dims[G] * dims[C] * mult
    ah, oh = axis_sums(dims[P], tile[P], dims[R], tile[R], layer.stride_h, layer.dil_h, layer.pad_h, layer.H,
                       1 if slide_dim == P else 2 if slide_dim == R else 0, m, f)
    aw, ow = axis_sums(dims[Q], tile[Q], dims[S], tile[S], layer.stride_w, layer.dil_w, layer.pad_w, layer.W,
                       1 if slide_dim == Q else 2 if slide_dim == S else 0, m, f)
    return simple * ah * aw, simple * (oh * aw + ah * ow)


def spatial_copies(layer: Layer, nest: Nest, tensor: int) -> int:
    """Elements of ``tensor`` summed over PEs: each PE's own slice, PEs that differ only in dims
    that do not index the tensor holding copies (for psums: their own partial sums)."""
    rel = RELEVANT[TENSOR_NAMES[tensor]]
    per_dim: list[list[tuple[int, int, bool]]] = [[] for _ in range(8)]
    for lp in nest.loops:
        per_dim[lp.dim].append((lp.factor, lp.span, lp.spatial))
    out = 1
    for d, D in enumerate(layer.dims):
        out *= D if rel[d] else count_tuples(D, per_dim[d])
    return out


def temporal_steps(layer: Layer, nest: Nest) -> int:
    per_dim: list[list[tuple[int, int, bool]]] = [[] for _ in range(8)]
    for lp in nest.loops:
        per_dim[lp.dim].append((lp.factor, lp.span, not lp.spatial))
    out = 1
    for d, D in enumerate(layer.dims):
        out *= count_tuples(D, per_dim[d])
    return out


def count(layer: Layer, m: Mapping) -> Counts:
    """Exact reads/writes per level and tensor, MACs and ideal cycles. Pure."""
    nest = build_nest(m)
    reads = [[0, 0, 0] for _ in range(4)]
    writes = [[0, 0, 0] for _ in range(4)]
    transfers = [0, 0, 0]
    outputs = layer.N * layer.groups * layer.Kg * layer.P * layer.Q
    level_of = {DRAM: L_DRAM, GLB: L_GLB, RF: L_RF}
    for t in range(3):
        chain = [DRAM] + ([GLB] if m.glb_keep[t] else []) + ([RF] if m.rf_keep[t] else []) + [MAC_CUT]
        for par, ch in zip(chain, chain[1:]):
            # the MAC's operand register (psum: its accumulator) is a one-word buffer when present
            streamed = ch == MAC_CUT and not m.reg_keep[t]
            buffer_child = ch in (GLB, RF)
            cut = nest.cut(ch)
            between = par in (DRAM, GLB) and ch in (RF, MAC_CUT)
            vol_u, ovl_u = event_sums(layer, nest, t, cut, streamed, between)
            vol_p, ovl_p = event_sums(layer, nest, t, cut, streamed, False) if between else (vol_u, ovl_u)
            pl = level_of[par]
            if t < 2:
                reads[pl][t] += vol_u - ovl_u
                if buffer_child:
                    writes[level_of[ch]][t] += vol_p - ovl_p
                if between:
                    reads[L_NOC][t] += vol_p - ovl_p
                    transfers[t] += vol_u - ovl_u
            elif not streamed:
                first = outputs if par != RF else spatial_copies(layer, nest, t)   # RF: one per PE
                writes[pl][t] += vol_u
                reads[pl][t] += vol_u - first
                if buffer_child:
                    reads[level_of[ch]][t] += vol_p
                    writes[level_of[ch]][t] += vol_u - outputs
                if between:
                    writes[L_NOC][t] += vol_p
                    reads[L_NOC][t] += vol_u - outputs
                    transfers[t] += 2 * vol_u - outputs
            else:
                reads[pl][t] += vol_u
                writes[pl][t] += vol_u
                if between:
                    reads[L_NOC][t] += vol_u
                    writes[L_NOC][t] += vol_p
                    transfers[t] += 2 * vol_u
    return Counts(
        macs=layer.macs,
        cycles=temporal_steps(layer, nest),
        active_pes=m.active_pes,
        reads=tuple(tuple(r) for r in reads),
        writes=tuple(tuple(w) for w in writes),
        noc_transfers=tuple(transfers),
    )
