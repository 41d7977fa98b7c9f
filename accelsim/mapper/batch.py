"""Proposals and local moves as arrays: thousands of candidate mappings per NumPy call, scored by
the general numba kernel over the arch's level list (accelsim.cost.fast). The array twin of
space.py; every mapping it emits satisfies accelsim.legality.problems_of (tested).

Shapes: factors (B, 5, 8) over LEVELS x DIMS, orders (B, 3, 8), keep flags (B, 3).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from accelsim.constraints import movable, pin_arrays, violates, whole_at
from accelsim.cost.encode import MappingArrays
from accelsim.mapper.space import allowed_dims, keeps, rf_options, spatial_options
from accelsim.mapping import COLS, DRAM, GLB, RELEVANT, RF, ROWS
from accelsim.names import ROLES
from workloads.layer import DIMS, Layer

ND, NT = len(DIMS), len(ROLES)       # dims, tensors (numba reads these globals as constants)

_REL = np.array([RELEVANT[t] for t in ("ifmap", "weight", "psum")], dtype=bool)   # (3, 8)


def _cdiv(a, b):
    return -(-a // b)


@njit(cache=True)
def _dense(a, b, stride, dil):
    """{p*stride + r*dil} is an unbroken range (accelsim.tiles.dense)."""
    if a == 1:
        return dil == 1 or b == 1
    if b == 1:
        return stride == 1
    if dil == 1:
        return b >= stride
    if stride == 1:
        return a >= dil
    return False


@njit(cache=True)
def _touched(a, b, stride, dil):
    """Distinct {p*stride + r*dil : p < a, r < b} (as accelsim.tiles.touched)."""
    span = (a - 1) * stride + (b - 1) * dil + 1
    if _dense(a, b, stride, dil):
        return span
    seen = np.zeros(span, dtype=np.bool_)
    n = 0
    for p in range(a):
        for r in range(b):
            v = p * stride + r * dil
            if not seen[v]:
                seen[v] = True
                n += 1
    return n


@njit(cache=True)
def _tile_need(lay, f, first_level):
    """Words of each tensor's tile spanning the levels first_level..RF of factors f (5, 8)
    (accelsim.tiles.tile_extents)."""
    t = np.empty(ND, dtype=np.int64)
    for d in range(ND):
        v = 1
        for level in range(first_level, 5):
            v *= f[level, d]
        t[d] = v if v < lay[d] else lay[d]
    h = min(_touched(t[4], t[6], lay[8], lay[9]), lay[11])
    w = min(_touched(t[5], t[7], lay[12], lay[13]), lay[15])
    return t[0] * t[1] * t[3] * h * w, t[1] * t[2] * t[3] * t[6] * t[7], t[0] * t[1] * t[2] * t[4] * t[5]


@njit(cache=True)
def _glb_need(lay, factors, glb_keep):
    """(B, 3) words each GLB-kept tensor's tile needs (tile spans GLB, rows, cols and RF loops)."""
    out = np.zeros((factors.shape[0], 3), dtype=np.int64)
    for i in range(factors.shape[0]):
        need = _tile_need(lay, factors[i], 1)
        for k in range(NT):
            if glb_keep[i, k]:
                out[i, k] = need[k]
    return out


def glb_over(need: np.ndarray, groups: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """(B, G) which part of the GLB overflows: need (B, 3), groups (G, 3) masks, caps (G,)."""
    return need @ groups.T > caps


@njit(cache=True)
def _rf_ok(lay, factors, rf_keep, per_tensor_cap, shared_cap):
    """(B,) whether the per-PE tiles of the RF-kept tensors fit (shared_cap < 0: per-tensor RFs)."""
    out = np.ones(factors.shape[0], dtype=np.bool_)
    for i in range(factors.shape[0]):
        need = _tile_need(lay, factors[i], 4)
        total = 0
        for k in range(NT):
            if rf_keep[i, k]:
                total += need[k]
                if shared_cap < 0 and need[k] > per_tensor_cap[k]:
                    out[i] = False
        if shared_cap >= 0 and total > shared_cap:
            out[i] = False
    return out


class BatchSpace:
    """The proposal space of one (layer, arch, dataflow) as option arrays."""

    def __init__(self, layer: Layer, arch, dataflow, lay: np.ndarray, capacity=None):
        self.layer, self.arch, self.dataflow, self.lay = layer, arch, dataflow, lay
        # capacity by compressed size (accelsim.mapper.sparse_batch.SparseBatch: glb_over, rf_fits), or
        # None: by the dense tiles
        self.capacity = capacity
        self.dims = np.array(layer.dims, dtype=np.int64)
        self.rf = np.array(rf_options(layer, arch, dataflow), dtype=np.int64)
        self.rows = np.array(spatial_options(layer, allowed_dims(arch, dataflow, ROWS), arch.pe_array.rows,
                                             whole=whole_at(arch, ROWS)), dtype=np.int64)
        self.cols = np.array(spatial_options(layer, allowed_dims(arch, dataflow, COLS), arch.pe_array.cols,
                                             whole=whole_at(arch, COLS)), dtype=np.int64)
        g, r, x = keeps(arch, dataflow)
        self.keep = tuple(np.array(k, dtype=np.int64) for k in (g, r, x))
        # tensors bypassing the RF may not have a dim both spatial and an RF loop
        self.bypass_rel = _REL[[not k for k in r]]                   # (n_bypass, 8)
        groups = arch.glb.capacity_groups(arch.word_bits)
        self.glb_groups = np.array([g for g, _ in groups], dtype=np.int64).reshape(-1, 3)
        self.glb_caps = np.array([c for _, c in groups], dtype=np.int64)
        self.glb_movable = movable(arch)           # dims whose GLB factor may move out to DRAM
        self.rf_cap = np.array([arch.rf.capacity(t) or 0 for t in ("ifmap", "weight", "psum")], dtype=np.int64)
        self.rf_shared = -1 if arch.rf.shared is None else int(arch.rf.shared)
        # per dim, the factor candidates a local move may set (padded with 1s)
        from accelsim.mapper.space import _candidates

        cands = [_candidates(int(D)) for D in self.dims]
        self.cand = np.ones((ND, max(len(c) for c in cands)), dtype=np.int64)
        self.ncand = np.array([len(c) for c in cands], dtype=np.int64)
        for d, c in enumerate(cands):
            self.cand[d, :len(c)] = c
        # dims a local move may resize: not those the arch wants whole at that level
        self.allowed = {level: np.array([d for d in allowed_dims(arch, dataflow, level)
                                         if d not in whole_at(arch, level)] or (-1,), dtype=np.int64)
                        for level in (RF, ROWS, COLS)}

    # ---- building blocks ---------------------------------------------------------------
    def _glb_pick(self, rng, rem: np.ndarray) -> np.ndarray:
        u = rng.random(rem.shape)
        v = np.floor(rng.random(rem.shape) * rem).astype(np.int64) + 1
        return np.where(u < 0.35, rem, np.where(u < 0.5, 1, v))

    def assemble(self, f_rf, f_cols, f_rows, f_glb, orders) -> MappingArrays:
        D = self.dims
        f_cols = np.minimum(f_cols, _cdiv(D, f_rf))
        f_rows = np.minimum(f_rows, _cdiv(D, f_rf * f_cols))
        inner = f_rf * f_cols * f_rows
        rem = _cdiv(D, inner)
        f_glb = np.clip(f_glb, 1, rem)
        f_dram = _cdiv(rem, f_glb)
        B = f_rf.shape[0]
        factors = np.empty((B, 5, 8), dtype=np.int64)
        factors[:, DRAM], factors[:, GLB], factors[:, ROWS], factors[:, COLS], factors[:, RF] = \
            f_dram, f_glb, f_rows, f_cols, f_rf
        if self.arch.constraints:
            pin_arrays(D, factors, self.arch)
        keep = [np.broadcast_to(k, (B, 3)).copy() for k in self.keep]
        return MappingArrays(factors, orders.astype(np.int64), *keep)

    def propose(self, rng, n: int) -> MappingArrays:
        f_rf = self.rf[rng.integers(0, len(self.rf), n)]
        f_rows = self.rows[rng.integers(0, len(self.rows), n)]
        f_cols = self.cols[rng.integers(0, len(self.cols), n)]
        rem = _cdiv(self.dims, f_rf * np.minimum(f_cols, _cdiv(self.dims, f_rf)))
        f_glb = self._glb_pick(rng, np.maximum(rem, 1))
        orders = np.argsort(rng.random((n, 3, 8)), axis=2, kind="stable")
        return self.assemble(f_rf, f_cols, f_rows, f_glb, orders)

    def mutate(self, rng, parents: MappingArrays, n: int) -> MappingArrays:
        """n children, each one or two local moves away from a random parent."""
        pick = rng.integers(0, len(parents), n)
        f = parents.factors[pick].copy()
        orders = parents.orders[pick].copy()
        for _round in range(2):
            move = rng.integers(0, 10, n)
            if _round == 1:
                move = np.where(rng.random(n) < 0.35, move, -1)        # a second move, sometimes
            rows_i = np.arange(n)
            lvl = rng.integers(0, 3, n)
            # 0: swap two loops in one order
            i, j = rng.integers(0, 8, n), rng.integers(0, 8, n)
            sel = move == 0
            a, b = orders[rows_i, lvl, i].copy(), orders[rows_i, lvl, j].copy()
            orders[rows_i[sel], lvl[sel], i[sel]] = b[sel]
            orders[rows_i[sel], lvl[sel], j[sel]] = a[sel]
            # 1: move a dim to the innermost position of one order
            sel = np.flatnonzero(move == 1)
            d = rng.integers(0, 8, n)
            for k in sel:
                o = orders[k, lvl[k]]
                orders[k, lvl[k]] = np.concatenate([o[o != d[k]], [d[k]]])
            # 2, 3: double or halve a GLB factor (DRAM follows in assemble)
            dim = rng.integers(0, 8, n)
            sel = move == 2
            f[rows_i[sel], GLB, dim[sel]] *= 2
            sel = move == 3
            f[rows_i[sel], GLB, dim[sel]] = _cdiv(f[rows_i[sel], GLB, dim[sel]], 2)
            # 4, 5, 6: a new per-PE, row or column choice
            sel = move == 4
            f[sel, RF] = self.rf[rng.integers(0, len(self.rf), int(sel.sum()))]
            sel = move == 5
            f[sel, ROWS] = self.rows[rng.integers(0, len(self.rows), int(sel.sum()))]
            sel = move == 6
            f[sel, COLS] = self.cols[rng.integers(0, len(self.cols), int(sel.sum()))]
            # 7, 8, 9: set one allowed per-PE / row / column factor to another candidate value
            for mv, level in ((7, RF), (8, ROWS), (9, COLS)):
                sel = np.flatnonzero(move == mv)
                allowed = self.allowed[level]
                if len(sel) == 0 or allowed[0] < 0:
                    continue
                dd = allowed[rng.integers(0, len(allowed), len(sel))]
                f[sel, level, dd] = self.cand[dd, np.floor(rng.random(len(sel)) * self.ncand[dd]).astype(np.int64)]
        return self.assemble(f[:, RF], f[:, COLS], f[:, ROWS], f[:, GLB], orders)

    # ---- legality ------------------------------------------------------------------------
    def _glb_over(self, f: np.ndarray, glb_keep: np.ndarray) -> np.ndarray:
        """(B, G) which GLB capacity group overflows (columns as ``glb_groups``)."""
        if self.capacity is not None:
            return self.capacity.glb_over(f, self.lay)
        return glb_over(_glb_need(self.lay, f, glb_keep), self.glb_groups, self.glb_caps)

    def legal(self, rng, batch: MappingArrays) -> tuple[MappingArrays, np.ndarray]:
        """(the legal mappings, their indices in ``batch``): :meth:`legal_index`, kept as arrays."""
        keep = self.legal_index(rng, batch)
        return MappingArrays(*(a[keep] for a in batch)), keep

    def legal_index(self, rng, batch: MappingArrays) -> np.ndarray:
        """Repair GLB overflows in place (halve GLB factors into DRAM), then the indices of the legal
        mappings (the search writes those straight into nest arrays: ``cost.fast.nests_of``)."""
        f = batch.factors
        spatial = (f[:, ROWS] > 1) | (f[:, COLS] > 1)
        ok = np.ones(len(f), dtype=bool)
        for rel in self.bypass_rel:
            ok &= ~np.any(rel & spatial & (f[:, RF] > 1), axis=1)
        if self.capacity is not None:
            ok &= self.capacity.rf_fits(f, self.lay)
        elif np.any(batch.rf_keep):
            ok &= _rf_ok(self.lay, f, batch.rf_keep, self.rf_cap, self.rf_shared)
        ok &= ~violates(f, self.arch)          # a pinned dim the other levels cannot hold whole
        ok &= np.prod(f[:, ROWS], axis=1) <= self.arch.pe_array.rows
        ok &= np.prod(f[:, COLS], axis=1) <= self.arch.pe_array.cols
        for _ in range(24):
            over_parts = self._glb_over(f, batch.glb_keep)
            over = over_parts.any(axis=1) & ok             # rejected ones are not repaired further
            if not over.any():
                break
            idx = np.flatnonzero(over)
            g = f[idx, GLB]
            # halve only dims that index a tensor of an overflowing part (others cannot help)
            helps = (over_parts[idx] @ self.glb_groups > 0) @ _REL > 0      # (n, 8)
            weights = np.where((g > 1) & self.glb_movable & helps, rng.random(g.shape), -1.0)
            d = np.argmax(weights, axis=1)
            shrinkable = weights[np.arange(len(idx)), d] >= 0
            ok[idx[~shrinkable]] = False
            idx, d = idx[shrinkable], d[shrinkable]
            f[idx, GLB, d] = _cdiv(f[idx, GLB, d], 2)
            inner = f[idx, RF, d] * f[idx, COLS, d] * f[idx, ROWS, d] * f[idx, GLB, d]
            f[idx, DRAM, d] = _cdiv(self.dims[d], inner)
        ok &= ~self._glb_over(f, batch.glb_keep).any(axis=1)
        return np.flatnonzero(ok)
