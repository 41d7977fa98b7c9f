"""The numba kernels of the uniform expectation of an access serving a box of blocks (``sparse.model.box_dead``:
a reduced output update's MACs, a storage access's served blocks): the box's elements per point
(:func:`box_ids`; a box is per dim a set of served indices, a run or a lattice; its blocks are the
elements of the box of block indices) and the (|S|, u) table of its two varying conditions
(:func:`pair_table`). Imported only when a box is evaluated (numba's import is not paid by runs that
never need one). Invariants: pure functions of their int arrays; the table's entries are exact counts
while below 2^53 (float64), summed in a fixed order (deterministic)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def box_ids(pts, lens, axes):
    """Per point of the box (per dim d the served indices ``pts[d, :lens[d]]``, ascending; the points
    their product, C order), the rank of its element (the tuple of its axes' coordinate values, offsets
    left out: the box's interior) among the box's, and their count."""
    D, A = lens.shape[0], axes.shape[0]
    radix = np.empty(A, dtype=np.int64)
    for i in range(A):
        radix[i] = axes[i, 1] * pts[axes[i, 0], lens[axes[i, 0]] - 1] + 1
        if axes[i, 2] >= 0:
            radix[i] += axes[i, 3] * pts[axes[i, 2], lens[axes[i, 2]] - 1]
    n = 1
    for d in range(D):
        n *= lens[d]
    flat = np.zeros(n, dtype=np.int64)
    digit = np.zeros(D, dtype=np.int64)
    for p in range(n):
        v = 0
        for i in range(A):
            c = axes[i, 1] * pts[axes[i, 0], digit[axes[i, 0]]]
            if axes[i, 2] >= 0:
                c += axes[i, 3] * pts[axes[i, 2], digit[axes[i, 2]]]
            v = v * radix[i] + c
        flat[p] = v
        _next(digit, lens)
    return dense_ids(flat)


@njit(cache=True)
def clipped_ids(pts, lens, axes):
    """Per point of a clipped box (per dim d its served indices ``pts[d, :lens[d]]``, ascending; the points
    their product, C order), the rank of the tensor's element there among the box's, -1 where a coordinate
    is outside [0, size) (padding: no element), and their count. ``axes``: per axis (dim, coefficient,
    second dim or -1, its coefficient, size, offset). The ranks order the elements as their axes'
    coordinates do, first axis first (``sparse.model._clipped_dead``'s ids)."""
    D, A = lens.shape[0], axes.shape[0]
    n = 1
    for d in range(D):
        n *= lens[d]
    code = np.empty(n, dtype=np.int64)
    ok = np.empty(n, dtype=np.bool_)
    digit = np.zeros(D, dtype=np.int64)
    m = 0
    for p in range(n):
        v = 0
        good = True
        for i in range(A):
            c = axes[i, 5] + axes[i, 1] * pts[axes[i, 0], digit[axes[i, 0]]]
            if axes[i, 2] >= 0:
                c += axes[i, 3] * pts[axes[i, 2], digit[axes[i, 2]]]
            if c < 0 or c >= axes[i, 4]:
                good = False
                c = 0
            v = v * axes[i, 4] + c
        code[p] = v
        ok[p] = good
        m += good
        _next(digit, lens)
    ids = np.full(n, -1, dtype=np.int64)
    at = np.empty(m, dtype=np.int64)
    j = 0
    for p in range(n):
        if ok[p]:
            at[j] = p
            j += 1
    order = np.argsort(code[at], kind="mergesort")
    rank = -1
    last = -1
    for j in range(m):
        p = at[order[j]]
        if rank < 0 or code[p] != last:
            rank += 1
            last = code[p]
        ids[p] = rank
    return ids, rank + 1


@njit(cache=True, inline="always")
def _next(digit, lens):
    """The next digit tuple in C order (the last dim fastest)."""
    d = lens.shape[0] - 1
    while d >= 0:
        digit[d] += 1
        if digit[d] < lens[d]:
            break
        digit[d] = 0
        d -= 1


@njit(cache=True, inline="always")
def dense_ids(flat):
    """(per entry the rank of its value among the distinct values, how many there are)."""
    seen = np.full(flat.max() + 1, -1, dtype=np.int64)
    for v in np.sort(flat):
        if seen[v] < 0:
            seen[v] = 0
    n = 0
    for v in range(seen.shape[0]):
        if seen[v] == 0:
            seen[v] = n
            n += 1
    out = np.empty(flat.shape[0], dtype=np.int64)
    for i in range(flat.shape[0]):
        out[i] = seen[flat[i]]
    return out, n


@njit(cache=True, inline="always")
def _popcount(v):
    v = v - ((v >> np.uint64(1)) & np.uint64(0x5555555555555555))
    v = (v & np.uint64(0x3333333333333333)) + ((v >> np.uint64(2)) & np.uint64(0x3333333333333333))
    v = (v + (v >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return int((v * np.uint64(0x0101010101010101)) >> np.uint64(56))


@njit(cache=True)
def pair_table(ea, eb, blk, nblk, x, y, max_groups):
    """[|S|, u] -> how many sets S of the box's b-elements have |S| elements and u a-neighbours (a point
    p puts b-element ``eb[p]`` and a-element ``ea[p]`` in block ``blk[p]`` of ``nblk``; a b-element's
    a-neighbours are the a-elements of every block it is in; x a- and y b-elements), by
    ``sparse.model._pair_dead``'s groups and parts; an id of -1 (``sparse.model._clipped_dead``: a coordinate
    outside the tensor, padding) puts no element there; empty when a part has more than ``max_groups`` groups
    (or its enumeration more than 2^22 coefficients)."""
    W = (x + 63) // 64
    tiles = np.zeros((nblk, W), dtype=np.uint64)      # per block its a-elements
    for p in range(ea.shape[0]):
        if ea[p] >= 0:                         # -1: the point's a-coordinate is padding (no element)
            tiles[blk[p], ea[p] >> 6] |= np.uint64(1) << np.uint64(ea[p] & 63)
    adj = np.zeros((y, W), dtype=np.uint64)
    for p in range(ea.shape[0]):
        if eb[p] >= 0:
            for w in range(W):
                adj[eb[p], w] |= tiles[blk[p], w]
    rep = np.empty(y, dtype=np.int64)          # per group: a b-element with its neighbour set
    count = np.zeros(y, dtype=np.int64)        # per group: how many b-elements share it
    ng = 0
    for bi in range(y):
        found = -1
        for g in range(ng):
            same = True
            for w in range(W):
                if adj[rep[g], w] != adj[bi, w]:
                    same = False
                    break
            if same:
                found = g
                break
        if found < 0:
            rep[ng] = bi
            found = ng
            ng += 1
        count[found] += 1
    parent = np.arange(ng)                     # parts: groups linked by a shared a-element
    owner = np.full(x, -1, dtype=np.int64)
    for g in range(ng):
        for e in range(x):
            if adj[rep[g], e >> 6] >> np.uint64(e & 63) & np.uint64(1):
                if owner[e] < 0:
                    owner[e] = g
                else:
                    r1, r2 = g, owner[e]
                    while parent[r1] != r1:
                        r1 = parent[r1]
                    while parent[r2] != r2:
                        r2 = parent[r2]
                    if r1 != r2:
                        parent[max(r1, r2)] = min(r1, r2)
    root = np.empty(ng, dtype=np.int64)
    for g in range(ng):
        r = g
        while parent[r] != r:
            r = parent[r]
        root[g] = r
    table = np.zeros((y + 1, x + 1))
    table[0, 0] = 1.0
    tj, tu = 0, 0                              # the table's extents so far
    for r in range(ng):
        members = np.flatnonzero(root == r)
        G = members.shape[0]
        if G == 0:
            continue
        if G > max_groups:
            return np.zeros((0, 0))
        mt = 0
        for g in members:
            mt += count[g]
        if (mt + 1) << G > 1 << 22:
            return np.zeros((0, 0))
        polys = np.zeros((1 << G, mt + 1))
        bits = np.zeros((1 << G, W), dtype=np.uint64)
        polys[0, 0] = 1.0
        part = np.zeros((mt + 1, x + 1))
        part[0, 0] = 1.0
        pu = 0
        for mask in range(1, 1 << G):
            low = mask & -mask
            gi = 0
            while (1 << gi) != low:
                gi += 1
            prev = mask ^ low
            g = members[gi]
            m = count[g]
            u = 0
            for w in range(W):
                bits[mask, w] = bits[prev, w] | adj[rep[g], w]
                u += _popcount(bits[mask, w])
            coef = 1.0                         # (1 + x)^m - 1 times the polynomial of prev
            for i in range(1, m + 1):
                coef = coef * (m - i + 1) / i
                for j in range(mt + 1 - i):
                    polys[mask, j + i] += coef * polys[prev, j]
            for j in range(mt + 1):
                part[j, u] += polys[mask, j]
            if u > pu:
                pu = u
        new = np.zeros((y + 1, x + 1))
        for j1 in range(mt + 1):
            for u1 in range(pu + 1):
                c = part[j1, u1]
                if c == 0.0:
                    continue
                for j0 in range(tj + 1):
                    for u0 in range(tu + 1):
                        new[j0 + j1, u0 + u1] += c * table[j0, u0]
        table = new
        tj += mt
        tu += pu
    return table


__all__ = ["box_ids", "dense_ids", "pair_table"]
