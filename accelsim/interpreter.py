"""Brute-force ground truth: execute a mapping's loop nest on a small layer and count every access.

It walks every MAC in schedule order, keeps for every buffer (per PE for register files) the tile
it holds, and counts words moved whenever a tile is replaced, by explicit set arithmetic on the
tiles' index sets. It shares nothing with accelsim.cost but the Mapping type and the documented buffer
semantics (accelsim.mapping), so the fast model must equal it exactly. Small layers only.
"""

from __future__ import annotations

import itertools
from typing import Any

from accelsim.cost.counts import Counts
from accelsim.energy import TENSORS
from accelsim.mapping import COLS, DRAM, GLB, RELEVANT, RF, ROWS, Mapping
from workloads.layer import DIMS, Layer

MAC = 9


def _coords(layer: Layer, idx: tuple[int, ...], tensor: int) -> tuple[int, ...]:
    n, g, k, c, p, q, r, s = idx
    if tensor == 0:
        h = p * layer.stride_h + r * layer.dil_h - layer.pad_h
        w = q * layer.stride_w + s * layer.dil_w - layer.pad_w
        return (n, g, c, h, w)
    if tensor == 1:
        return (g, k, c, r, s)
    return (n, g, k, p, q)


def _limits(layer: Layer, tensor: int) -> tuple[int, ...]:
    n, g, k, c, p, q, r, s = layer.dims
    if tensor == 0:
        return (n, g, c, layer.H, layer.W)
    if tensor == 1:
        return (g, k, c, r, s)
    return (n, g, k, p, q)


def _clip_box(box, limits):
    return tuple(frozenset(v for v in axis if 0 <= v < lim) for axis, lim in zip(box, limits))


def _vol(box) -> int:
    out = 1
    for axis in box:
        out *= len(axis)
    return out


def _inter(a, b):
    return tuple(x & y for x, y in zip(a, b))


def _grow(boxes: dict, key, point) -> None:
    """A tile is the product of the index sets it touches on each axis of its tensor."""
    box = boxes.get(key)
    if box is None:
        boxes[key] = [{v} for v in point]
    else:
        for axis, v in enumerate(point):
            box[axis].add(v)


def _first_touch(box, written: set) -> int:
    """Elements of the tile already written before (a partial sum exists); records the rest."""
    again = 0
    for pt in itertools.product(*[sorted(axis) for axis in box]):
        if pt in written:
            again += 1
        else:
            written.add(pt)
    return again


def interpret(layer: Layer, m: Mapping) -> Counts:
    dims = layer.dims
    # loops in schedule order: (dim, factor, level); spans per (dim, level)
    span = m.spans()
    temporal = []
    for level, order in ((DRAM, m.orders[0]), (GLB, m.orders[1])):
        temporal += [(d, m.factors[level][d], level) for d in order if m.factors[level][d] > 1]
    n_above_spatial = len(temporal)
    temporal += [(d, m.factors[RF][d], RF) for d in m.orders[2] if m.factors[RF][d] > 1]
    spatial = [(d, m.factors[level][d], level) for level in (ROWS, COLS) for d in range(len(DIMS)) if m.factors[level][d] > 1]
    n_dram = sum(1 for lp in temporal if lp[2] == DRAM)

    def indices(tdig, sdig):
        idx = [0] * len(DIMS)
        for (d, _f, level), v in zip(temporal, tdig):
            idx[d] += v * span[(d, level)]
        for (d, _f, level), v in zip(spatial, sdig):
            idx[d] += v * span[(d, level)]
        return tuple(idx)

    # hops per tensor and their static refill keys (temporal positions)
    hops = []
    for t in range(len(TENSORS)):
        chain = [DRAM] + ([GLB] if m.glb_keep[t] else []) + ([RF] if m.rf_keep[t] else []) + [MAC]
        for par, ch in zip(chain, chain[1:]):
            above = {GLB: n_dram, RF: n_above_spatial, MAC: len(temporal)}[ch]
            if ch == GLB and m.glb_pass[t]:    # one pass's tile: the GLB loops down to the last indexing it
                for i in range(n_dram, n_above_spatial):
                    if RELEVANT[TENSORS[t]][temporal[i][0]]:
                        above = i + 1
            if ch == MAC and not m.reg_keep[t]:       # no operand register: every MAC reads
                key_pos = list(range(len(temporal)))
            else:
                rel_pos = [i for i in range(above) if RELEVANT[TENSORS[t]][temporal[i][0]]]
                key_pos = list(range(rel_pos[-1] + 1)) if rel_pos else []
            per_pe = ch in (RF, MAC)           # the child is replicated per PE
            between = par in (DRAM, GLB) and ch in (RF, MAC)
            hops.append((t, par, ch, key_pos, per_pe, between, ch == MAC and not m.reg_keep[t]))

    steps = list(itertools.product(*[range(f) for _d, f, _l in temporal]))
    pes = list(itertools.product(*[range(f) for _d, f, _l in spatial]))

    # pass 1: boxes of every (hop, key[, pe]) tile, unclipped, and the active (step, pe) pairs
    child_boxes: list[dict] = [{} for _ in hops]
    union_boxes: list[dict] = [{} for _ in hops]
    active = []
    macs = 0
    for tdig in steps:
        act = []
        for sdig in pes:
            idx = indices(tdig, sdig)
            if all(i < D for i, D in zip(idx, dims)):
                act.append((sdig, idx))
        active.append(act)
        macs += len(act)
        for h, (t, _par, _ch, key_pos, per_pe, _b, _s) in enumerate(hops):
            ukey = tuple(tdig[i] for i in key_pos)
            for sdig, idx in act:
                pt = _coords(layer, idx, t)
                _grow(union_boxes[h], ukey, pt)
                if per_pe:
                    _grow(child_boxes[h], (ukey, sdig), pt)
    for h in range(len(hops)):
        t = hops[h][0]
        lim = _limits(layer, t)
        union_boxes[h] = {k: _clip_box(v, lim) for k, v in union_boxes[h].items()}
        child_boxes[h] = {k: _clip_box(v, lim) for k, v in child_boxes[h].items()}

    reads = [[0, 0, 0] for _ in range(4)]
    writes = [[0, 0, 0] for _ in range(4)]
    transfers = [0, 0, 0]
    lvl = {DRAM: 0, GLB: 1, RF: 3}

    def slid(old, new) -> bool:
        return (old is not None and len(old) == len(new) and len(new) > 0 and old[:-1] == new[:-1]
                and new[-1] == old[-1] + 1)

    # pass 2: walk the schedule, replace tiles, count
    for h, (t, par, ch, key_pos, per_pe, between, mac_child) in enumerate(hops):
        buffer_child = ch != MAC
        shared_parent = between or not per_pe     # the parent is one buffer, not each PE's own RF
        last_union = None
        last_child: dict = {}
        written: Any = set() if (between or not per_pe) else {}   # one set, or a set per PE
        vol_u_total = vol_p_total = fetched_u = fetched_p = nonfirst = 0
        for tdig, act in zip(steps, active):
            if not act:
                continue
            ukey = tuple(tdig[i] for i in key_pos)
            if mac_child or ukey != last_union:
                box = union_boxes[h][ukey]
                v = _vol(box)
                vol_u_total += v
                if not mac_child and slid(last_union, ukey):
                    v -= _vol(_inter(box, union_boxes[h][last_union]))
                fetched_u += v
                if t == 2 and not mac_child and shared_parent:
                    nonfirst += _first_touch(box, written)
                last_union = ukey
            if per_pe:
                for sdig, _idx in act:
                    prev = last_child.get(sdig)
                    if mac_child or prev != ukey:
                        box = child_boxes[h][(ukey, sdig)]
                        v = _vol(box)
                        vol_p_total += v
                        if not mac_child and slid(prev, ukey):
                            v -= _vol(_inter(box, child_boxes[h][(prev, sdig)]))
                        fetched_p += v
                        if t == 2 and not mac_child and not shared_parent:
                            nonfirst += _first_touch(box, written.setdefault(sdig, set()))
                        last_child[sdig] = ukey
        if not per_pe:
            vol_p_total, fetched_p = vol_u_total, fetched_u
        elif not between:              # parent is the PE's own RF: no sharing across PEs
            vol_u_total, fetched_u = vol_p_total, fetched_p
        pl = lvl[par]
        if t < 2:
            reads[pl][t] += fetched_u
            if buffer_child:
                writes[lvl[ch]][t] += fetched_p
            if between:
                reads[2][t] += fetched_p
                transfers[t] += fetched_u
        elif not mac_child:
            writes[pl][t] += vol_u_total
            reads[pl][t] += nonfirst
            if buffer_child:
                reads[lvl[ch]][t] += vol_p_total
                writes[lvl[ch]][t] += nonfirst
            if between:
                writes[2][t] += vol_p_total
                reads[2][t] += nonfirst
                transfers[t] += vol_u_total + nonfirst
        else:
            reads[pl][t] += vol_u_total
            writes[pl][t] += vol_u_total
            if between:
                reads[2][t] += vol_u_total
                writes[2][t] += vol_p_total
                transfers[t] += 2 * vol_u_total
    cycles = sum(1 for act in active if act)
    return Counts(macs, cycles, m.active_pes, tuple(tuple(r) for r in reads), tuple(tuple(w) for w in writes),
                  tuple(transfers))
