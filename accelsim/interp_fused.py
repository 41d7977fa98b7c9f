"""Brute-force oracle for fused groups: walk the tiles and count element by element.

Independent of ``accelsim.fused.Geometry`` and ``accelsim.halo``: per tile, the elements each layer
must produce are found by enumerating every needed output and its filter taps (stride, padding,
dilation), as sets of (row, col) points; what a tile computes is what it needs minus what the
overlap mode lets it reuse (``keep``: anything computed before; ``keep_h``: anything computed
earlier in the same row of tiles; ``recompute``: nothing), and it reads the hull of the taps of what
it computes. Buffers are measured from the same sets.
Below the group's level (:func:`brute_force_levels`), every tile's problem is built from those point
sets and walked by the general core's brute force (``accelsim.interp_general.interpret``).
Must equal ``accelsim.cost.fused.count_group`` exactly (tests/test_fusion.py); small layers only.
"""

from __future__ import annotations

from accelsim.cost.actions import Actions
from accelsim.cost.fused import GroupCounts, Volumes, assemble, input_channels, step_channels
from accelsim.fused import MODES, RETAIN, FusedGroup, channels_out, check_group
from accelsim.interp_general import interpret
from accelsim.names import IFMAP, PSUM, READ, UPDATE, WEIGHT
from accelsim.problem import Coord, Problem, Tensor
from accelsim.vector_ops import unit_of

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


def _walk(group: FusedGroup, layers):
    """Per tile in order (rows of tiles, then columns; ``group.cores`` contiguous blocks of rows of
    tiles, each a core's, keep nothing from another block): (row-of-tiles index, need, new) with, per
    tensor i (-1 the group input, 0..n-1 the layers' outputs), the points its reader needs (the hull
    of the taps of what the reader computes) and the points computed (fetched) new this tile."""
    rows_mode, cols_mode = MODES[group.mode]
    last = layers[-1]
    n = len(layers)
    cols_step = group.cols or last.Q
    row_tiles = [(a, min(a + group.rows, last.P)) for a in range(0, last.P, group.rows)]
    col_tiles = [(a, min(a + cols_step, last.Q)) for a in range(0, last.Q, cols_step)]
    blocks = min(group.cores, len(row_tiles))                         # a core's rows of tiles: contiguous
    firsts = {k * len(row_tiles) // blocks for k in range(blocks)}
    ever: dict[int, set] = {}
    for ri, (r0, r1) in enumerate(row_tiles):
        if ri in firsts:                                              # a core starts: nothing kept yet
            ever = {i: set() for i in range(-1, n)}
        row_band: dict[int, set] = {i: set() for i in range(-1, n)}  # produced in this row of tiles
        for c0, c1 in col_tiles:
            need: dict[int, Points] = {n - 1: frozenset((y, x) for y in range(r0, r1) for x in range(c0, c1))}
            new_of: dict[int, Points] = {}
            for i in range(n - 1, -2, -1):
                if i < n - 1:
                    need[i] = _needed_inputs(layers[i + 1], new_of[i + 1])
                if rows_mode == RETAIN and cols_mode == RETAIN:
                    have: set = ever[i]
                elif cols_mode == RETAIN:
                    have = row_band[i]
                else:
                    have = set()
                new_of[i] = frozenset(need[i] - have)
                ever[i] |= new_of[i]
                row_band[i] |= new_of[i]
            yield ri, need, new_of


def brute_force_group(group: FusedGroup, graph) -> GroupCounts:
    layers = check_group(group, graph)
    rows_mode, _ = MODES[group.mode]
    n = len(layers)
    computed = {i: 0 for i in range(-1, n)}          # elements (points x 1 channel) produced / fetched
    touched = {i: 0 for i in range(-1, n)}
    widest = {i: 0 for i in range(-1, n)}
    band_union: dict[int, dict[int, set]] = {}       # per row of tiles: points needed
    step_live: list[list[tuple[int, int]]] = []      # per tile: per step (in pts, out pts)
    tiles = 0
    for ri, need, new_of in _walk(group, layers):
        tiles += 1
        union = band_union.setdefault(ri, {i: set() for i in range(-1, n)})
        for i in range(-1, n):
            computed[i] += len(new_of[i])
            touched[i] += len(need[i])
            widest[i] = max(widest[i], len(need[i]))
            union[i] |= need[i]
        step_live.append([(len(need[j - 1]), len(need[j])) for j in range(n)])
    rows = [band_union[k] for k in sorted(band_union)]
    blocks = min(group.cores, len(rows))
    firsts = {k * len(rows) // blocks for k in range(blocks)}
    pairs = [(a, b) for k, (a, b) in enumerate(zip(rows, rows[1:]), start=1) if k not in firsts]
    # line buffer: what consecutive rows of tiles of one core share, over the whole width
    line = {i: max((len(a[i] & b[i]) for a, b in pairs), default=0) for i in range(-1, n)}
    if rows_mode != RETAIN:
        line = {i: 0 for i in line}
    peaks = []
    for j in range(n):
        ch_in, ch_out, side = step_channels(layers, j)
        peaks.append(max((ch_in + side) * live[j][0] + ch_out * live[j][1] for live in step_live))
    covered = {i: len(set().union(*(u[i] for u in rows))) for i in range(-1, n)}
    volumes = Volumes(computed, touched, widest, line, tiles, tuple(peaks), covered)
    return assemble(group, graph, layers, volumes)


def _span(pts, axis: int) -> tuple[int, int]:
    vals = [p[axis] for p in pts]
    return min(vals), max(vals) + 1


def _tile_problem(layer, images: int, out_pts: Points, in_pts: Points) -> Problem:
    """The layer's conv on the points computed, reading the hull ``in_pts``, built from the points:
    an input axis is ``stride*P + dil*R + offset`` with the offset putting the first computed
    output's first tap (``stride*y0 - pad``) at its place in the hull."""
    (y0, y1), (x0, x1) = _span(out_pts, 0), _span(out_pts, 1)
    (iy0, iy1), (ix0, ix1) = _span(in_pts, 0), _span(in_pts, 1)
    K, C = layer.Kg, layer.Cg
    dims = (("N", images), ("G", layer.groups), ("K", K), ("C", C), ("P", y1 - y0), ("Q", x1 - x0),
            ("R", layer.R), ("S", layer.S))

    def plain(d: str, size: int) -> Coord:
        return Coord(((d, 1),), 0, size)

    ifmap = Tensor(IFMAP, IFMAP, (plain("N", images), plain("G", layer.groups), plain("C", C),
                                  Coord((("P", layer.stride_h), ("R", layer.dil_h)),
                                        y0 * layer.stride_h - layer.pad_h - iy0, iy1 - iy0),
                                  Coord((("Q", layer.stride_w), ("S", layer.dil_w)),
                                        x0 * layer.stride_w - layer.pad_w - ix0, ix1 - ix0)))
    weight = Tensor(WEIGHT, WEIGHT, tuple(plain(d, dict(dims)[d]) for d in ("G", "K", "C", "R", "S")))
    psum = Tensor(PSUM, PSUM, tuple(plain(d, dict(dims)[d]) for d in ("N", "G", "K", "P", "Q")))
    return Problem(layer.name, dims, (ifmap, weight, psum))


def brute_force_levels(group: FusedGroup, graph, hierarchy, nest_for) -> dict[str, Actions]:
    """Per layer, its accesses below the group's level summed over every tile, each tile's problem
    built from the walk's point sets and counted by ``accelsim.interp_general.interpret`` (vector
    ops: the points of every operand band read at the level, the points computed written there and
    their ops, ``Layer.vector_op_counts_of`` the points computed, on ``vector_ops.unit_of``'s unit).
    Must equal ``accelsim.cost.fused_levels.level_counts`` exactly (tiny layers only)."""
    from accelsim.cost.fused_levels import inner_hierarchy

    layers = check_group(group, graph)
    inner = inner_hierarchy(hierarchy, group.level)
    root = inner.levels[0].name
    n_img = layers[-1].N
    out: dict[str, dict] = {layer.name: {"macs": 0, "storage": {}, "network": {}, "ops": {}} for layer in layers}

    def add(table: dict, key, v: int) -> None:
        table[key] = table.get(key, 0) + v

    for b0 in range(0, n_img, group.batch):
        nb = min(group.batch, n_img - b0)
        for _, need, new_of in _walk(group, layers):
            for i, layer in enumerate(layers):
                if not new_of[i]:
                    continue
                acc = out[layer.name]
                if layer.kind.has_macs:
                    problem = _tile_problem(layer, nb, new_of[i], need[i - 1])
                    got = interpret(problem, inner, nest_for(problem, inner))
                    acc["macs"] += got.macs
                    for k, v in got.storage.items():
                        add(acc["storage"], k, v)
                    for k, v in got.network.items():
                        add(acc["network"], k, v)
                else:
                    ch_in = input_channels(layer)
                    add(acc["storage"], (root, IFMAP, READ), nb * ch_in * len(need[i - 1]))
                    add(acc["storage"], (root, PSUM, UPDATE), nb * channels_out(layer) * len(new_of[i]))
                    for k, n in layer.vector_op_counts_of(nb * channels_out(layer) * len(new_of[i])).items():
                        add(acc["ops"], (unit_of(inner)[0], k), n)
    return {name: Actions(v["macs"], 0, 0, v["storage"], v["network"], v["ops"]) for name, v in out.items()}
