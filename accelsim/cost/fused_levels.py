"""Exact per-level counts inside a fused group: each layer's own inner mapping on each tile.

The group (``accelsim.fused``) keeps its intermediates at a storage level ``L`` of a hierarchy
(``accelsim.hierarchy``; a fixed-shape arch through ``from_arch``: its GLB). Below ``L`` every layer
runs its own inner mapping on the part of its output each tile computes; this module counts those
accesses exactly, level by level, with the general core (``accelsim.cost.actions.count_actions``).

- **Inner hierarchy** (:func:`inner_hierarchy`): ``L`` as the backing store (it keeps every role,
  unbounded: its capacity is the group's peak, checked by ``accelsim.fused``) and every level and
  fanout below it. Its root's reads are the words a layer reads from ``L``; its root's updates the
  outputs it writes there.
- **Tile problem** (:func:`tile_problem`): in tile ``t`` a MAC layer computes the rectangle
  ``rows(i).new[r] x cols(i).new[c]`` of its output for the tile's images (``Geometry``; the halo
  under the overlap mode) and reads the hull of their taps, ``rows(i-1).need[r] x
  cols(i-1).need[c]``. The tile problem is the layer's conv (``accelsim.problem.from_layer``) with
  ``N``, ``P``, ``Q`` the rectangle's sizes and each input axis ``stride*P + dil*R + offset`` of
  the hull's size, ``offset = stride*a - pad - lo`` (``a`` the rectangle's first output row, ``lo``
  the hull's first input row): a tap outside the hull is outside the layer's input (padding,
  never moved). Edge tiles (padding on one side, a shorter last band) and the tiles that compute
  a kept halo's new part only are each their own problem.
- **Inner mapping** (``nest_for``): by default the dataflow's named mapping on the inner hierarchy
  (``dataflows.nest_rule.build``); tiles of the same problem share it and its counts (cached by
  the problem's sizes and offsets, so equal tiles are counted once and multiplied).
- **Vector ops** (pool, add, activation) run on their tile without a loop nest: they read every
  operand's band from ``L`` (``(L, ifmap, read)``: the band each tile needs, all operands), write
  what they compute (``(L, psum, update)``) and run their ops on it (``Layer.vector_op_counts_of``
  the outputs computed, recomputed halo included) on the vector unit, else the MAC array
  (``cost.actions.op_actions``, as a lone vector node). The inner hierarchy keeps the vector unit;
  one hung above ``L`` is seen per core as hung below ``L`` (each core its full lanes).

Per layer the result is the action table summed over the tiles (:func:`level_counts`; per tile
and layer the bound alone: :func:`tile_cycles`, what the tile simulation runs) and, per core (``group.cores``
blocks of rows of tiles, ``accelsim.fused``), the sum over its tiles of each tile's latency bound on
the inner hierarchy (``cost.bound.hierarchy_bound``: the layers of a group run one after another
on each tile; the cores side by side). Exact integers; the brute-force walk
``accelsim.interp_fused.brute_force_levels`` builds every tile problem from point sets and counts it
with ``accelsim.interp_general.interpret``, and must agree exactly (tests/test_fusion_levels.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from accelsim.cost.actions import Actions, count_actions, op_actions
from accelsim.cost.bound import hierarchy_bound
from accelsim.cost.fused import input_channels
from accelsim.errors import ConfigError
from accelsim.fused import FusedGroup, Geometry, channels_out, check_group
from accelsim.hierarchy import Hierarchy
from accelsim.loopnest import LoopNest
from accelsim.names import IFMAP, PSUM, READ, ROLES, UPDATE
from accelsim.problem import Coord, Problem, Tensor, from_layer
from workloads.layer import Layer

NestFor = Callable[[Problem, Hierarchy], LoopNest]


@dataclass(frozen=True)
class LayerLevels:
    name: str
    actions: Actions          # summed over the tiles (MACs: recomputation included)
    cycles_by_core: tuple[float, ...]   # per core (block of rows): its tiles' bounds on the inner hierarchy, summed
    tiles: int                # tiles in which the layer computes something
    problems: int             # distinct tile problems

    @property
    def cycles(self) -> float:
        """Every tile's bound on the inner hierarchy, summed over the tiles of all cores."""
        return sum(self.cycles_by_core)


def inner_hierarchy(hierarchy: Hierarchy, level: str) -> Hierarchy:
    """``level`` as the backing store (every role, unbounded) and everything below it."""
    if level not in hierarchy.level_names:
        raise ConfigError(f"fuse.level: {level!r} is not a level of {hierarchy.name!r}; levels: "
                          f"{', '.join(hierarchy.level_names[1:])}", source=hierarchy.source)
    i = hierarchy.index(level)
    root = replace(hierarchy.levels[i], keeps=ROLES, capacity=(), unsplit=())
    vec = hierarchy.vector
    if vec is not None and hierarchy.index(vec.below) < i:     # hangs above the level: one core's view of it
        vec = replace(vec, below=level)
    return replace(hierarchy, name=f"{hierarchy.name}@{level}", levels=(root,) + hierarchy.levels[i + 1:],
                   vector=vec)


def tile_problem(layer: Layer, images: int, rows: tuple[int, int], cols: tuple[int, int],
                 in_rows: tuple[int, int], in_cols: tuple[int, int]) -> Problem:
    """The layer's conv on output ``rows x cols`` of ``images`` images reading input ``in_rows x
    in_cols`` (module docstring)."""
    base = from_layer(layer)
    sizes = dict(base.dims)
    sizes.update(N=images, P=rows[1] - rows[0], Q=cols[1] - cols[0])
    off_r = layer.stride_h * rows[0] - layer.pad_h - in_rows[0]
    off_c = layer.stride_w * cols[0] - layer.pad_w - in_cols[0]
    tensors = []
    for t in base.tensors:
        coords = []
        for c in t.coords:
            dims = [d for d, _ in c.terms]
            if "P" in dims and len(dims) == 2:
                c = Coord(c.terms, off_r, in_rows[1] - in_rows[0])
            elif "Q" in dims and len(dims) == 2:
                c = Coord(c.terms, off_c, in_cols[1] - in_cols[0])
            elif len(dims) == 1 and dims[0] in ("N", "P", "Q"):
                c = Coord(c.terms, 0, sizes[dims[0]])
            coords.append(c)
        tensors.append(Tensor(t.name, t.role, tuple(coords)))
    return Problem(layer.name, tuple(sizes.items()), tuple(tensors), base.source)


def add_actions(a: Actions, b: Actions, times: int = 1) -> Actions:
    """``a + times * b`` entry by entry (MACs, cycles and words; ``active`` the larger)."""
    def merge(x: dict, y: dict) -> dict:
        out = dict(x)
        for k, v in y.items():
            out[k] = out.get(k, 0) + times * v
        return out

    return Actions(a.macs + times * b.macs, a.cycles + times * b.cycles, max(a.active, b.active),
                   merge(a.storage, b.storage), merge(a.network, b.network), merge(a.ops, b.ops))


EMPTY = Actions(0, 0, 0, {}, {})
Counted = tuple[Actions, float]


def count_tile(problem: Problem, inner: Hierarchy, nest_for: NestFor, cache: dict | None = None) -> Counted:
    """(action table, bound cycles) of one tile problem, cached by its sizes and offsets."""
    key = (problem.name, problem.dims, tuple(c for t in problem.tensors for c in t.coords), inner.name)
    if cache is not None and key in cache:
        return cache[key]
    nest = nest_for(problem, inner)
    actions = count_actions(problem, inner, nest)
    out = (actions, hierarchy_bound(actions, inner))
    if cache is not None:
        cache[key] = out
    return out


def _tile_steps(layer: Layer, i: int, geo: Geometry, chunks: list[int], block: list[int]):
    """Per tile in loop order (batch chunk, row, column) where layer ``i`` computes something:
    (tile index, its problem's signature and core, (images, rows, cols, input rows, input cols))."""
    rows_new, cols_new = geo.rows(i).new, geo.cols(i).new
    rows_in, cols_in = geo.rows(i - 1).need, geo.cols(i - 1).need
    per_chunk = len(rows_new) * len(cols_new)
    for k, nb in enumerate(chunks):
        for r, (a, b) in enumerate(rows_new):
            for c, (x, y) in enumerate(cols_new):
                if b <= a or y <= x:
                    continue
                ir, ic = rows_in[r], cols_in[c]
                key = (nb, b - a, y - x, ir[1] - ir[0], ic[1] - ic[0],     # sizes and offsets
                       layer.stride_h * a - ir[0], layer.stride_w * x - ic[0], block[r])
                yield k * per_chunk + r * len(cols_new) + c, key, (nb, (a, b), (x, y), ir, ic)


def _setup(group: FusedGroup, graph, hierarchy: Hierarchy):
    layers = check_group(group, graph)
    geo = Geometry(layers, group)
    n_img = layers[-1].N
    chunks = [min(group.batch, n_img - b0) for b0 in range(0, n_img, group.batch)]
    starts = geo.rows(len(layers) - 1).starts
    block = [sum(1 for k in starts if k <= r) - 1 for r in range(len(geo.rows(len(layers) - 1).need))]
    return layers, geo, inner_hierarchy(hierarchy, group.level), chunks, starts, block


def _count(layer: Layer, args: tuple, inner: Hierarchy, nest_for: NestFor, cache: dict | None) -> Counted:
    nb, rr, cc, ir, ic = args
    if layer.kind.has_macs:
        return count_tile(tile_problem(layer, nb, rr, cc, ir, ic), inner, nest_for, cache)
    return vector_tile(layer, nb, rr, cc, ir, ic, inner)


def level_counts(group: FusedGroup, graph, hierarchy: Hierarchy, nest_for: NestFor,
                 cache: dict | None = None) -> tuple[LayerLevels, ...]:
    """Every layer's exact inner counts over the group's tiles (module docstring)."""
    layers, geo, inner, chunks, starts, block = _setup(group, graph, hierarchy)
    out = []
    for i, layer in enumerate(layers):
        total, tiles = EMPTY, 0
        by_core = [0.0] * len(starts)
        seen: dict[tuple, tuple] = {}      # (tile problem signature, core) -> (a representative, tiles)
        for _, key, args in _tile_steps(layer, i, geo, chunks, block):
            if key in seen:
                seen[key] = (seen[key][0], seen[key][1] + 1)
            else:
                seen[key] = (args, 1)
        for key, (args, times) in seen.items():
            tiles += times
            act, cyc = _count(layer, args, inner, nest_for, cache)
            total = add_actions(total, act, times)
            by_core[key[-1]] += times * cyc
        out.append(LayerLevels(layer.name, total, tuple(by_core), tiles, len({k[:-1] for k in seen})))
    return tuple(out)


def tile_cycles(group: FusedGroup, graph, hierarchy: Hierarchy, nest_for: NestFor,
                cache: dict | None = None) -> tuple[tuple[int, tuple[float, ...]], ...]:
    """Per tile in loop order: (its core, per layer the tile's bound on the inner hierarchy; 0 where
    the layer computes nothing in it). Summed per core and layer: ``LayerLevels.cycles_by_core``."""
    layers, geo, inner, chunks, _, block = _setup(group, graph, hierarchy)
    per_chunk = len(geo.rows(len(layers) - 1).need) * len(geo.cols(len(layers) - 1).need)
    n_cols = len(geo.cols(len(layers) - 1).need)
    table = [[0.0] * len(layers) for _ in range(per_chunk * len(chunks))]
    for i, layer in enumerate(layers):
        for t, _, args in _tile_steps(layer, i, geo, chunks, block):
            table[t][i] = _count(layer, args, inner, nest_for, cache)[1]
    return tuple((block[(t % per_chunk) // n_cols], tuple(row)) for t, row in enumerate(table))


def vector_tile(layer: Layer, images: int, rows: tuple[int, int], cols: tuple[int, int],
                in_rows: tuple[int, int], in_cols: tuple[int, int], inner: Hierarchy) -> Counted:
    """A vector op on one tile: every operand's band read from the root, its outputs written there,
    its ops for the outputs it computes (``Layer.vector_op_counts_of``; recomputed halo included)
    on the vector unit, else the MAC array (``cost.actions.op_actions``, as a lone vector node);
    cycles: that table's bound on the inner hierarchy (the root's port or the unit's ops)."""
    root = inner.levels[0].name
    read = images * input_channels(layer) * (in_rows[1] - in_rows[0]) * (in_cols[1] - in_cols[0])
    wrote = images * channels_out(layer) * (rows[1] - rows[0]) * (cols[1] - cols[0])
    ops = op_actions(inner, layer.vector_op_counts_of(wrote))
    actions = Actions(0, ops.cycles, 0, {(root, IFMAP, READ): read, (root, PSUM, UPDATE): wrote}, {}, ops.ops)
    return actions, hierarchy_bound(actions, inner)


def rule_nest(flow) -> NestFor:
    """The dataflow's named mapping on the inner hierarchy (``dataflows.nest_rule.build``)."""
    from dataflows.nest_rule import build

    if flow.rule is None:
        raise ConfigError(f"fuse: dataflow {flow.name!r} has no rule for level-list hierarchies; a fused group's "
                          f"inner mappings need one (rs, os, ws, is, nlr, rs_plus)")

    def nest_for(problem: Problem, inner: Hierarchy) -> LoopNest:
        return build(flow.rule, problem, inner, flow.name)

    return nest_for
