"""Brute-force oracle for fused groups: walk the tiles and count element by element.

Independent of ``accelsim.fused.Geometry`` and ``accelsim.halo``: per tile, the elements each layer
must produce are found by enumerating every needed output and its filter taps (stride, padding,
dilation), as sets of (row, col) points; what a tile computes is what it needs minus what the
overlap mode lets it reuse (``keep``: anything computed before; ``keep_h``: anything computed
earlier in the same row of tiles; ``recompute``: nothing), and it reads the hull of the taps of what
it computes. Buffers are measured from the same sets.
Must equal ``accelsim.cost.fused.count_group`` exactly (tests/test_fusion.py); small layers only.
"""

from __future__ import annotations

from accelsim.cost.fused import GroupCounts, Volumes, assemble, step_channels
from accelsim.fused import MODES, RETAIN, FusedGroup, check_group

Points = frozenset[tuple[int, int]]


def _needed_inputs(layer, out: Points) -> Points:
    pts = set()
    for y, x in out:
        for ky in range(layer.R):
            iy = y * layer.stride_h - layer.pad_h + ky * layer.dil_h
            if not 0 <= iy < layer.H:
                continue
            for kx in range(layer.S):
                ix = x * layer.stride_w - layer.pad_w + kx * layer.dil_w
                if 0 <= ix < layer.W:
                    pts.add((iy, ix))
    return _hull(pts)


def _hull(pts) -> Points:
    """The rectangle spanned by the points (a band is an interval per dimension)."""
    if not pts:
        return frozenset()
    ys = [y for y, _ in pts]
    xs = [x for _, x in pts]
    return frozenset((y, x) for y in range(min(ys), max(ys) + 1) for x in range(min(xs), max(xs) + 1))


def brute_force_group(group: FusedGroup, graph) -> GroupCounts:
    layers = check_group(group, graph)
    rows_mode, cols_mode = MODES[group.mode]
    last = layers[-1]
    n = len(layers)
    cols_step = group.cols or last.Q
    row_tiles = [(a, min(a + group.rows, last.P)) for a in range(0, last.P, group.rows)]
    col_tiles = [(a, min(a + cols_step, last.Q)) for a in range(0, last.Q, cols_step)]
    # tensors: -1 the group input, 0..n-1 the layers' outputs
    computed = {i: 0 for i in range(-1, n)}          # elements (points x 1 channel) produced / fetched
    touched = {i: 0 for i in range(-1, n)}
    widest = {i: 0 for i in range(-1, n)}
    ever: dict[int, set] = {i: set() for i in range(-1, n)}          # everything produced so far
    row_band: dict[int, set] = {i: set() for i in range(-1, n)}      # produced in the current row of tiles
    band_union: list[dict[int, set]] = []                            # per row of tiles: points needed
    step_live: list[list[tuple[int, int]]] = []                       # per tile: per step (in pts, out pts)
    for r0, r1 in row_tiles:
        for i in row_band:
            row_band[i] = set()
        union: dict[int, set] = {i: set() for i in range(-1, n)}
        for c0, c1 in col_tiles:
            # the reader of tensor i computes new[i + 1]; it reads the hull of those points' taps
            need: dict[int, Points] = {n - 1: frozenset((y, x) for y in range(r0, r1) for x in range(c0, c1))}
            new_of: dict[int, Points] = {}
            for i in range(n - 1, -2, -1):
                if i < n - 1:
                    need[i] = _needed_inputs(layers[i + 1], new_of[i + 1])
                if rows_mode == RETAIN and cols_mode == RETAIN:
                    have = ever[i]
                elif cols_mode == RETAIN:
                    have = row_band[i]
                else:
                    have = set()
                new_of[i] = frozenset(need[i] - have)
                computed[i] += len(new_of[i])
                touched[i] += len(need[i])
                widest[i] = max(widest[i], len(need[i]))
                ever[i] |= new_of[i]
                row_band[i] |= new_of[i]
                union[i] |= need[i]
            live = []
            for j in range(n):
                live.append((len(need[j - 1]), len(need[j])))
            step_live.append(live)
        band_union.append(union)
    # line buffer: what consecutive rows of tiles share, over the whole width
    line = {i: max((len(a[i] & b[i]) for a, b in zip(band_union, band_union[1:])), default=0)
            for i in range(-1, n)}
    if rows_mode != RETAIN:
        line = {i: 0 for i in line}
    peaks = []
    for j in range(n):
        ch_in, ch_out, side = step_channels(layers, j)
        peaks.append(max((ch_in + side) * live[j][0] + ch_out * live[j][1] for live in step_live))
    covered = {i: len(set().union(*(u[i] for u in band_union))) for i in range(-1, n)}
    volumes = Volumes(computed, touched, widest, line, len(row_tiles) * len(col_tiles), tuple(peaks), covered)
    return assemble(group, graph, layers, volumes)
