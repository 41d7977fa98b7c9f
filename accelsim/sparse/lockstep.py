"""Exact lockstep cycles under actual masks: the compute units' slots walked MAC by MAC.

The compute units run in lockstep and synchronise after each *run* (docs/sparsity.md, *Load imbalance*):
the temporal loops above the innermost spatial loop name the runs, the spatial loops the units, the
temporal loops below it a unit's MACs in a run. A MAC keeps its slot unless a skip removes it: the MAC
features apply in the spec's order, each to the MACs still effective, and a MAC some condition of a
feature finds zero (padding reads zero) is gated (it keeps its slot) or skipped (it frees it). A run
lasts its busiest unit's slots. :func:`lockstep_ratio` is, over every run, the sum of the busiest unit's
kept slots over the sum of the busiest unit's MACs (a MAC outside the problem under ceil tiling is no
MAC): the sparse cycles are the dense cycles x that ratio (with one unit, exactly the fraction of MACs
not skipped, as the uniform model's one-unit case).

Only when every condition of the MAC features up to the last skip is an actual mask of the ifmap or the
weight (else None: the caller's uniform model, ``sparse.model.imbalance``). Invariant: 0 <= ratio <= 1;
the walk visits every MAC once (cost: the layer's MACs; numba).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from accelsim.loopnest import Flat, lockstep_loops
from accelsim.names import IFMAP, WEIGHT
from accelsim.problem import Problem


def odometer(loops: list, weights: list[int]) -> np.ndarray:
    """Per point of ``loops``' odometer (the first loop outermost): the sum of each loop's index x its weight
    (one point, 0, without loops)."""
    out = np.zeros(1, dtype=np.int64)
    for lp, w in zip(loops, weights):
        out = (out[:, None] + np.arange(lp.factor, dtype=np.int64)[None, :] * w).reshape(-1)
    return out


@njit(cache=True)
def _walk(r_idx, u_idx, i_idx, size, r_fi, u_fi, i_fi, r_fw, u_fw, i_fw, mask_i, mask_w, slot_of):
    """Sum over runs of the busiest unit's kept slots and of its MACs (module docstring). Per point of the
    runs' (r), units' (u) and a run's (i) loops: the index contributions of the dims ceil tiling can overrun
    (``*_idx``, one column each, checked against ``size``) and its flat index contribution in the ifmap's
    and the weight's padded masks (``*_fi``, ``*_fw``: linear, padding stored as zeros);
    ``slot_of[2 x ifmap nonzero + weight nonzero]``: whether the MAC keeps its slot."""
    R, U, T = r_fi.shape[0], u_fi.shape[0], i_fi.shape[0]
    K = size.shape[0]
    imin = np.zeros(K, dtype=np.int64)
    imax = np.zeros(K, dtype=np.int64)
    for k in range(K):
        imin[k] = i_idx[:, k].min()
        imax[k] = i_idx[:, k].max()
    kept_sum = 0
    dense_sum = 0
    for r in range(R):
        best_kept = 0
        best_dense = 0
        for u in range(U):
            kept = 0
            dense = 0
            bi = r_fi[r] + u_fi[u]
            bw = r_fw[r] + u_fw[u]
            none = False                 # a run's MACs of this unit: none in range, some, or all (the fast loop)
            check = False
            for k in range(K):
                b = r_idx[r, k] + u_idx[u, k]
                none |= b + imin[k] >= size[k]
                check |= b + imax[k] >= size[k]
            if none:
                continue
            if not check:
                for t in range(T):
                    kept += slot_of[2 * mask_i[bi + i_fi[t]] + mask_w[bw + i_fw[t]]]
                dense = T
            else:
                for t in range(T):
                    inside = True
                    for k in range(K):
                        if r_idx[r, k] + u_idx[u, k] + i_idx[t, k] >= size[k]:
                            inside = False
                            break
                    if not inside:
                        continue
                    dense += 1
                    kept += slot_of[2 * mask_i[bi + i_fi[t]] + mask_w[bw + i_fw[t]]]
            if kept > best_kept:
                best_kept = kept
            if dense > best_dense:
                best_dense = dense
        kept_sum += best_kept
        dense_sum += best_dense
    return kept_sum, dense_sum


def _padded(coords: tuple, lo: np.ndarray, hi: np.ndarray, mask) -> tuple[np.ndarray, np.ndarray]:
    """The mask (0/1, uint8) over each coordinate's reach [lo, hi] (padding: zeros) flattened, and each
    coordinate's stride in it."""
    shape = tuple(int(h - lo_ + 1) for lo_, h in zip(lo, hi))
    out = np.zeros(shape, dtype=np.uint8)
    src = (np.asarray(mask).reshape(tuple(c.size for c in coords)) != 0).astype(np.uint8)
    s = [max(0, int(x)) for x in lo]                         # the elements reached: [s, e) per coordinate
    e = [min(c.size, int(h) + 1) for c, h in zip(coords, hi)]
    if all(e_ > s_ for s_, e_ in zip(s, e)):                 # padded index = value - lo
        out[tuple(slice(s_ - int(x), e_ - int(x)) for s_, e_, x in zip(s, e, lo))] = \
            src[tuple(slice(s_, e_) for s_, e_ in zip(s, e))]
    strides = np.array([math.prod(shape[j + 1:]) for j in range(len(shape))], dtype=np.int64)
    return out.ravel(), strides


def overrun_dims(problem: Problem, flat: Flat) -> list[str]:
    """The dims whose loops reach past the dim's size (a ceil tile: its points past the size are no MACs)."""
    return [d for d in problem.dim_names
            if 1 + sum((lp.factor - 1) * lp.span for lp in flat.loops if lp.dim == d) > problem.size(d)]


def slot_codes(steps: list[tuple[tuple[str, ...], bool]]) -> np.ndarray:
    """Per code 2 x ifmap nonzero + weight nonzero: whether the MAC keeps its slot (1) under the MAC
    features ``steps`` applied in order to the MACs still effective (a gated MAC keeps it, a skipped one
    frees it)."""
    slot_of = np.ones(4, dtype=np.int64)
    for code in range(4):
        nz = {IFMAP: bool(code >> 1), WEIGHT: bool(code & 1)}
        for on, gate in steps:
            if not all(nz[c] for c in on):
                slot_of[code] = int(gate)
                break
    return slot_of


def lockstep_ratio(problem: Problem, flat: Flat, steps: list[tuple[tuple[str, ...], bool]], masks: dict) -> float | None:
    """The exact lockstep ratio (module docstring) of the MAC features ``steps`` ((conditions, gate) in the
    spec's order, up to the last skip) over the actual ``masks`` (role -> array in the problem's layout);
    None when a condition is not an ifmap or weight mask."""
    roles = (IFMAP, WEIGHT)
    if not steps or any(c not in roles or c not in masks for on, _ in steps for c in on):
        return None
    groups = lockstep_loops(flat)
    flats = []
    for role in roles:
        if not any(role in on for on, _ in steps):       # no condition on it: one nonzero element, index 0
            flats.append((np.ones(1, dtype=np.uint8), [odometer(g, [0] * len(g)) for g in groups]))
            continue
        coords = problem.tensor(role).coords
        coef = [dict(c.terms) for c in coords]
        # each coordinate's reach over every loop: [lo, hi] (padding, ceil overruns included)
        lo = np.array([c.offset + sum(min(0, (lp.factor - 1) * lp.span * k.get(lp.dim, 0)) for lp in flat.loops)
                       for c, k in zip(coords, coef)], dtype=np.int64)
        hi = np.array([c.offset + sum(max(0, (lp.factor - 1) * lp.span * k.get(lp.dim, 0)) for lp in flat.loops)
                       for c, k in zip(coords, coef)], dtype=np.int64)
        mask, strides = _padded(coords, lo, hi, masks[role])
        per_dim = {d: sum(int(s) * k.get(d, 0) for s, k in zip(strides, coef)) for d in problem.dim_names}
        base = int(sum((c.offset - int(x)) * int(s) for c, x, s in zip(coords, lo, strides)))
        offs = [odometer(g, [lp.span * per_dim[lp.dim] for lp in g]) for g in groups]
        offs[0] = offs[0] + base
        flats.append((mask, offs))
    risky = overrun_dims(problem, flat)
    idxs = [np.stack([odometer(g, [lp.span if lp.dim == d else 0 for lp in g]) for d in risky], axis=1)
            if risky else np.zeros((int(math.prod(lp.factor for lp in g)), 0), dtype=np.int64) for g in groups]
    size = np.array([problem.size(d) for d in risky], dtype=np.int64)
    slot_of = slot_codes(steps)
    (mask_i, (r_fi, u_fi, i_fi)), (mask_w, (r_fw, u_fw, i_fw)) = flats
    kept, dense = _walk(*idxs, size, r_fi, u_fi, i_fi, r_fw, u_fw, i_fw, mask_i, mask_w, slot_of)
    return kept / dense if dense else 1.0


__all__ = ["lockstep_ratio", "odometer", "overrun_dims", "slot_codes"]
