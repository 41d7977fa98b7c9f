"""Compressed words on an actual mask: a level's format ratio rho_L measured on the mask.

The definition (one for the expected and the actual models, Sparseloop's reading: the level's tile
occupancy in the format times the algorithmic accesses): an action whose words are in the format of
level L (a storage action: its level's; a network action: the receiving level's,
``accelsim.sparse.formats.hop_format_level``) moves its dense words (``accelsim.cost.actions``) times

    rho_L = sum_S m(S) / sum_S |S|      over L's tile positions S (:func:`positions`),

each position of L's tile once (per dim a run of the tile's extent at a multiple of it, clipped to the
dim; a window axis's value set per pair of runs, clipped by padding), m(S) the tile's (payload entries,
metadata bits) in the format and |S| its in-range elements. On an actual mask
(``accelsim.sparse.density.Actual``) m is measured on the mask (:func:`mask_ratio`, one pass over L's
positions); under a uniform / N:M model it is its expectation (``accelsim.sparse.model.ratio_of``).
Every access of the level's tile thus moves its share of the tiles' compressed words: a fill of every
position once moves sum_S m(S); a read of a zero element pays the average; gated / skipped accesses
move their dense words times the same rho_L.

The measure of a tile (:func:`tile_measure`): **payload** its entries after the last rank (the nonzeros
for B / CP; every coordinate under a present fiber for U / UOP; RLE adds a zero entry per 2^w zeros
before a nonzero: on the last rank a stored zero; on an inner rank an entry whose sub-fiber is all
zeros, stored by the ranks below as any fiber, e.g. a bitmask of zeros under B, every coordinate under
U: the expected model's reading); **metadata** the format's bits on it (``accelsim.sparse.formats``
rank by rank, the tile's axes grouped into ranks from the innermost axis, ``inner`` axes innermost):
UOP ``(L + 1) * w`` per present fiber, B ``L`` per present fiber, CP ``w`` per nonempty coordinate,
RLE ``w`` per entry; ``packing`` as in the expected model. An ``adaptive`` format's choice is the
level's, made on the density before any tile is measured (``sparse.model.level_format``).

The output's mask is the final output's nonzeros (partial sums taken with the same zeros).

Invariants: an uncompressed format has rho 1 (the dense words); payload and metadata of a tile are
integers (metadata in bits), rho a ratio of sums of them; since the denominators do not depend on the
mask, the mean of rho over random masks is the expected model's rho exactly (the uniform agreement
tests, tests/test_sparse_exact.py). The ground truth (tests/test_sparse_exact.py) enumerates the tile
positions from the interpreter's points grouped by their digits above the level's cut and measures
each by a recursive fibertree walk.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from accelsim.errors import ConfigError
from accelsim.problem import Problem
from accelsim.sparse.formats import CP, RLE, UOP, B, Format, U
from accelsim.sparse.positions import axis_values, dim_runs_at


def tile_measure(fmt: Format, tiles: np.ndarray, word_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(payload entries, metadata bits) of each of ``n`` same-shaped tiles ``tiles`` (n, *extents), bool."""
    n = tiles.shape[0]
    if fmt.inner and tiles.ndim > 2:        # the axes in the order the ranks group them (``Format.on``)
        fmt.ordered(list(tiles.shape[1:]))
        tiles = tiles.transpose(0, *[1 + i for i in fmt.perm])
    ext = list(tiles.shape[1:]) or [1]
    k = len(fmt.ranks)
    if k > len(ext):
        ext = [1] * (k - len(ext)) + ext
    lens = [math.prod(ext[: len(ext) - k + 1])] + ext[len(ext) - k + 1:]
    a = tiles.reshape(n, *lens).astype(bool)
    present = np.ones((n,), dtype=bool)      # fibers entering rank i, over the prefix coordinates
    empty = np.zeros(n)                      # all-zero fibers entering rank i: under an RLE zero entry above
    meta = np.zeros(n)
    for i, rank in enumerate(fmt.ranks):
        nonempty = a.any(axis=tuple(range(i + 2, k + 1))) if i + 1 < k else a     # (n, L0..Li)
        pres = np.broadcast_to(present[..., None], nonempty.shape)
        fibers = present.reshape(n, -1).sum(axis=1) + empty
        if rank.kind == U:
            present = pres.copy()
            empty = empty * lens[i]
        elif rank.kind == UOP:
            meta += fibers * (lens[i] + 1) * rank.bits
            present = pres.copy()
            empty = empty * lens[i]
        elif rank.kind == B:
            meta += fibers * lens[i]
            present = pres & nonempty
            empty = np.zeros(n)
        elif rank.kind == CP:
            present = pres & nonempty
            meta += present.reshape(n, -1).sum(axis=1) * rank.bits
            empty = np.zeros(n)
        elif rank.kind == RLE:      # an all-zero fiber has no entries (trailing zeros need none)
            present = pres & nonempty
            empty = _rle_extras(present.reshape(n, -1, lens[i]), 2 ** rank.bits)
            meta += (present.reshape(n, -1).sum(axis=1) + empty) * rank.bits
        else:       # pragma: no cover - parse_format admits no other kind
            raise ConfigError(f"unknown rank kind {rank.kind!r}")
    payload = present.reshape(n, -1).sum(axis=1) + empty
    if fmt.packing is not None:
        per, bits = fmt.packing
        meta = np.maximum(0.0, payload * bits / per - payload * word_bits)
    return payload.astype(float), meta.astype(float)


def _rle_extras(rows: np.ndarray, run: int) -> np.ndarray:
    """Per tile, the zero entries a run field of ``run`` values needs: floor(gap / run) per gap of
    zeros before a nonzero (trailing zeros end with the fiber and need none)."""
    n, m, L = rows.shape
    pos = np.arange(L)
    last = np.where(rows, pos, -1)
    prev = np.maximum.accumulate(np.concatenate([np.full((n, m, 1), -1), last[..., :-1]], axis=2), axis=2)
    gaps = np.where(rows, pos - prev - 1, 0)
    return (gaps // run).reshape(n, -1).sum(axis=1).astype(float)


def positions(problem: Problem, ext: dict[str, int], role: str) -> list[list[np.ndarray]]:
    """The tile positions of ``role`` at per-dim extents ``ext`` (a level's tile at its cut,
    ``sparse.positions``: per dim the runs of the tile's extent, per axis the in-range coordinates of
    each combination of its dims' runs, C order over the dims; a window axis one set per (P run, R run)
    pair), as arrays. A position is the product of one combination per axis."""
    return [[np.array(axis_values(c, combo), dtype=np.int64)
             for combo in itertools.product(*[dim_runs_at(problem.size(d), ext[d]) for d, _ in c.terms])]
            for c in problem.tensor(role).coords]


def mask_ratio(fmt: Format, problem: Problem, ext: dict[str, int], role: str, mask: np.ndarray,
               word_bits: int) -> tuple[float, float]:
    """rho on an actual mask: (data words, metadata words) per dense word of ``role`` in ``fmt`` (resolved
    for the tensor, ``Format.on``) at the level whose tile has per-dim extents ``ext``: the sum over the
    level's tile positions S (:func:`positions`) of m(S) (:func:`tile_measure` on the mask), over the sum
    of their in-range elements |S|."""
    axes = positions(problem, ext, role)
    total = np.zeros(2)
    for _, pm in _picks(mask, fmt, word_bits, axes):
        total += pm.reshape(-1, 2).sum(axis=0)
    size = math.prod(sum(len(v) for v in vals) for vals in axes)     # positions are a product over the axes
    if not size:
        return 1.0, 0.0
    return float(total[0] / size), float(total[1] / size / word_bits)


def _picks(mask: np.ndarray, fmt: Format, word_bits: int, axes: list[list[np.ndarray]]):
    """(per axis the indices into its value sets, their boxes' [payload, metadata bits] (counts..., 2) on
    ``mask`` in ``fmt``) over the product of the axes' value sets, grouped by equal lengths, in chunks of
    bounded memory; boxes with an empty axis are left out (they measure 0)."""
    groups = []
    for vals in axes:
        by: dict[int, list[int]] = {}
        for j, v in enumerate(vals):
            by.setdefault(len(v), []).append(j)
        groups.append([(np.array(js), np.stack([vals[j] for j in js])) for js in by.values()])
    k = len(axes)
    todo = [list(pick) for pick in itertools.product(*groups)]
    while todo:
        pick = todo.pop()
        counts = [g.shape[0] for _, g in pick]
        lens = [g.shape[1] for _, g in pick]
        if 0 in lens:
            continue
        if math.prod(counts) * math.prod(lens) > _CHUNK and max(counts) > 1:   # bound the gather's memory
            a = counts.index(max(counts))
            half = counts[a] // 2
            js, g = pick[a]
            todo += [pick[:a] + [(js[:half], g[:half])] + pick[a + 1:],
                     pick[:a] + [(js[half:], g[half:])] + pick[a + 1:]]
            continue
        idx = []
        for a, (_, g) in enumerate(pick):
            shape = [1] * (2 * k)
            shape[a], shape[k + a] = g.shape
            idx.append(g.reshape(shape))
        sub = mask[tuple(idx)] != 0                       # (n_0..n_k-1, len_0..len_k-1)
        p, m = tile_measure(fmt, sub.reshape(math.prod(counts), *lens), word_bits)
        yield [js for js, _ in pick], np.stack([p, m], axis=-1).reshape(*counts, 2)


_CHUNK = 1 << 22        # elements gathered at once (boxes x box size)


__all__ = ["mask_ratio", "positions", "tile_measure"]
