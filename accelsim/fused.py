"""Fused groups in the mapping language: consecutive layers that share their outer loops.

A :class:`FusedGroup` names consecutive operators of a workload graph (``workloads.graph``), each
reading the one before it, and the tile of the **last** layer's output that the shared outer loops
step over: ``rows`` x ``cols`` of P x Q and ``batch`` images. Loop order, outer to inner: batch
tiles, row tiles, column tiles. Each layer computes, per tile, the band of its own output that the
tile needs (``accelsim.halo.input_band`` applied from the last layer back, per dimension), with its
own inner mapping below the shared loops. Intermediate tensors live at ``level`` (a storage level of
the hierarchy, the GLB by default), never in DRAM, unless a layer outside the group also reads them.

Overlap between neighbouring tiles (the halo) is **recomputed** or **retained**, per dimension
(DeFiNES' modes, by name in :data:`MODES`): ``recompute`` (both dims recomputed), ``keep_h``
(horizontal overlap, between column tiles, retained; vertical recomputed), ``keep`` (both retained;
the vertical overlap held in a line buffer across the full width).

:class:`Geometry` is the arithmetic of one group: per layer and dimension the output band of every
tile, and what each tile computes new under the mode. It is the one place this is derived; the
analytic counts (``accelsim.cost.fused``) read it, the brute-force interpreter
(``accelsim.interp_fused``) derives the same sets element by element without it.

A band is an interval: a layer computes (and a buffer holds) the contiguous hull of the rows and
columns a tile needs, also where a stride larger than the filter skips some (a strided 1x1 conv).

Invariants (checked by :func:`check_group`, ConfigError naming the key otherwise): the layers exist,
are consecutive graph nodes, each reads the previous one (the previous layer's output, with the same
shape as this layer's input, possibly concatenated with or added to tensors from outside the group)
and no other layer of the group (a chain: a shortcut inside a group is cut),
are row-wise (conv, depthwise, pool, eltwise, activation; a group of one layer may be anything), the
tile is at least 1 and at most the last layer's output, and no layer is in two groups of a plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from accelsim.errors import ConfigError
from accelsim.halo import input_band
from workloads.layer import Layer, LayerKind

RECOMPUTE, RETAIN = "recompute", "retain"
# DeFiNES' overlap modes: name -> (rows, cols) handling of the halo between neighbouring tiles
MODES: dict[str, tuple[str, str]] = {
    "recompute": (RECOMPUTE, RECOMPUTE),     # fully recompute
    "keep_h": (RECOMPUTE, RETAIN),           # keep horizontally (column overlap), recompute vertically
    "keep": (RETAIN, RETAIN),                # fully keep (vertical overlap in a full-width line buffer)
}
ROW_WISE = (LayerKind.CONV, LayerKind.DEPTHWISE, LayerKind.POOL, LayerKind.ELTWISE, LayerKind.ACTIVATION)


@dataclass(frozen=True)
class FusedGroup:
    layers: tuple[str, ...]
    rows: int = 1                 # output rows (P) of the last layer per tile
    cols: int = 0                 # output columns (Q) per tile; 0: the whole width
    batch: int = 1                # images per tile
    mode: str = "keep"
    level: str = "glb"            # where the intermediate tensors live (a storage level; check_level)
    weights_resident: bool = True  # every layer's weights stay on chip for the whole group (read once)
    cores: int = 1                # instances of the level working side by side, each on a block of rows

    def text(self) -> str:
        tile = f"{self.rows}x{self.cols or 'Q'}" + (f"x{self.batch}n" if self.batch != 1 else "")
        on = f" x{self.cores} cores" if self.cores != 1 else ""
        return f"[{' > '.join(self.layers)}] tile {tile} {self.mode} @{self.level}{on}"


@dataclass(frozen=True)
class Band:
    """One dimension of one tensor over the tiles: ``need[t]`` the band its reader reads in tile
    ``t`` (the input band of what the reader computes in that tile; for the last layer's output,
    the tile itself), ``new[t]`` the part of it computed (fetched, for the group input) in tile
    ``t``: all of ``need`` when the dimension is recomputed, the part past the previous tiles' bands
    when it is retained."""

    need: tuple[tuple[int, int], ...]
    new: tuple[tuple[int, int], ...]
    starts: tuple[int, ...] = (0,)      # tiles that begin a block (a core's first tile: nothing kept before it)

    @property
    def computed(self) -> int:
        return sum(b - a for a, b in self.new)

    @property
    def touched(self) -> int:
        return sum(max(0, b - a) for a, b in self.need)

    @property
    def widest(self) -> int:
        return max(max(0, b - a) for a, b in self.need)

    @property
    def union(self) -> int:
        """Elements in the union of the bands (what a retained dimension computes once)."""
        return sum(b - a for a, b in _new(self.need, RETAIN))

    @property
    def overlap(self) -> int:
        """The largest overlap of consecutive bands of one block (what a core's line buffer keeps)."""
        return max((max(0, min(b0, b1) - max(a0, a1)) for t, ((a0, b0), (a1, b1))
                    in enumerate(zip(self.need, self.need[1:]), start=1) if t not in self.starts), default=0)


def _halo_spec(layer: Layer, axis: int) -> dict:
    """The row-wise operator along rows (axis 0) or columns (axis 1), as ``input_band`` takes it."""
    if axis == 0:
        return dict(R=layer.R, stride=layer.stride_h, dilation=layer.dil_h, pad=layer.pad_h, H=layer.H)
    return dict(R=layer.S, stride=layer.stride_w, dilation=layer.dil_w, pad=layer.pad_w, H=layer.W)


def _tiles(size: int, step: int) -> tuple[tuple[int, int], ...]:
    return tuple((a, min(a + step, size)) for a in range(0, size, step))


def block_starts(tiles: int, cores: int) -> tuple[int, ...]:
    """The first tile of each of ``min(cores, tiles)`` contiguous blocks, as even as possible."""
    blocks = min(cores, tiles)
    return tuple(k * tiles // blocks for k in range(blocks))


def _new(need: Sequence[tuple[int, int]], how: str, starts: tuple[int, ...] = (0,)) -> tuple[tuple[int, int], ...]:
    if how == RECOMPUTE:
        return tuple(need)
    out: list[tuple[int, int]] = []
    done = None
    for t, (a, b) in enumerate(need):
        if t in starts:
            done = None
        if b <= a:                      # an empty band computes nothing
            out.append((a, a))
            continue
        start = a if done is None else max(a, done)
        out.append((start, max(start, b)))
        done = b if done is None else max(done, b)
    return tuple(out)


@dataclass(frozen=True)
class Geometry:
    """The bands of a group's layers. ``layers`` in execution order; index ``-1`` of ``bands`` is the
    group's input (the first layer's input band per tile)."""

    layers: tuple[Layer, ...]
    group: FusedGroup

    @cached_property
    def modes(self) -> tuple[str, str]:
        return MODES[self.group.mode]

    def _chain(self, axis: int) -> tuple[Band, ...]:
        """From the last layer back to the group input: a reader computes ``new``, so it reads the
        input band of ``new`` (``accelsim.halo.input_band``), of which its producer computes what
        earlier tiles have not (retained) or all of it (recomputed)."""
        last = self.layers[-1]
        size = last.P if axis == 0 else last.Q
        step = self.group.rows if axis == 0 else (self.group.cols or last.Q)
        how = self.modes[axis]
        tiles = _tiles(size, step)
        starts = block_starts(len(tiles), self.group.cores) if axis == 0 else (0,)
        out = [Band(tiles, tiles, starts)]          # the last layer's output: the tiles themselves
        for layer in reversed(self.layers):
            spec = _halo_spec(layer, axis)
            need = tuple(input_band(a, b, **spec) for a, b in out[0].new)
            out.insert(0, Band(need, _new(need, how, starts), starts))
        return tuple(out)

    @cached_property
    def _bands(self) -> tuple[tuple[Band, ...], tuple[Band, ...]]:
        return self._chain(0), self._chain(1)

    def rows(self, i: int) -> Band:
        """Row bands of layer ``i``'s output (``i = -1``: the group's input)."""
        return self._bands[0][i + 1]

    def cols(self, i: int) -> Band:
        return self._bands[1][i + 1]

    @property
    def tiles(self) -> int:
        n = self.layers[-1].N
        return -(-n // self.group.batch) * len(self.rows(len(self.layers) - 1).need) * \
            len(self.cols(len(self.layers) - 1).need)


def channels_out(layer: Layer) -> int:
    return layer.K if layer.kind.has_macs else layer.C


def check_group(group: FusedGroup, graph, where: str = "fuse") -> tuple[Layer, ...]:
    """The group's layers, after checking every invariant of the module docstring against ``graph``."""
    if group.mode not in MODES:
        raise ConfigError(f"{where}.mode: unknown overlap mode {group.mode!r}; allowed: {', '.join(MODES)}")
    if isinstance(group.cores, bool) or not isinstance(group.cores, int) or group.cores < 1:
        raise ConfigError(f"{where}.cores: must be an integer >= 1, got {group.cores!r}")
    if not group.layers:
        raise ConfigError(f"{where}.layers: a group needs at least one layer")
    if graph is None:
        raise ConfigError(f"{where}: the workload carries no graph (no edges); fusion needs one "
                          f"(zoo networks with graphs, YAML with inputs:, ONNX)")
    for name in group.layers:
        if name not in graph:
            raise ConfigError(f"{where}.layers: {name!r} is not a layer of the workload")
    layers = tuple(graph.node(n) for n in group.layers)
    for prev, layer in zip(layers, layers[1:]):
        if graph.position(layer.name) != graph.position(prev.name) + 1:
            raise ConfigError(f"{where}.layers: {prev.name!r} and {layer.name!r} are not consecutive in the "
                              f"graph; a group is a run of consecutive layers")
        if prev.name not in graph.producers(layer.name):
            raise ConfigError(f"{where}.layers: {layer.name!r} does not read {prev.name!r} (its inputs: "
                              f"{', '.join(graph.producers(layer.name)) or 'the network input'}); the layers of "
                              f"a group are connected")
        inside = [p for p in graph.producers(layer.name) if p in group.layers and p != prev.name]
        if inside:
            raise ConfigError(f"{where}.layers: {layer.name!r} reads {inside[0]!r}, an earlier layer of the group other "
                              f"than {prev.name!r}; a group is a chain (cut it before {layer.name!r})")
        if (prev.P, prev.Q, prev.N) != (layer.H, layer.W, layer.N):
            raise ConfigError(f"{where}.layers: {prev.name!r} outputs {prev.P}x{prev.Q} but {layer.name!r} reads "
                              f"{layer.H}x{layer.W}; fused layers must agree row for row")
    if len(layers) > 1:
        for layer in layers:
            if layer.kind not in ROW_WISE:
                raise ConfigError(f"{where}.layers: {layer.name!r} is a {layer.kind.value}; a fused group of "
                                  f"several layers holds row-wise operators only "
                                  f"({', '.join(k.value for k in ROW_WISE)})")
    last = layers[-1]
    for key, value, top in (("rows", group.rows, last.P), ("cols", group.cols or last.Q, last.Q),
                            ("batch", group.batch, last.N)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise ConfigError(f"{where}.{key}: tile {key} must be an integer in 1..{top} (the last layer "
                              f"{last.name!r}), got {value!r}")
    return layers


def check_plan(groups: Sequence[FusedGroup], graph, where: str = "fuse") -> None:
    """Each group valid and no layer in two groups."""
    owner: dict[str, int] = {}
    for gi, g in enumerate(groups):
        check_group(g, graph, f"{where}.groups[{gi}]")
        for name in g.layers:
            if name in owner:
                raise ConfigError(f"{where}.groups[{gi}].layers: {name!r} is already in groups[{owner[name]}]; "
                                  f"a layer belongs to one group")
            owner[name] = gi


def group_from_dict(data, source: str, key: str) -> FusedGroup:
    """``{layers: [...], rows, cols, batch, mode, level, weights_resident, cores}`` (YAML form; the level
    is checked against the hierarchy by :func:`check_level`)."""
    from accelsim.fields import Fields

    f = Fields(data, source, key)
    layers = f.list("layers", min_len=1)
    if not all(isinstance(x, str) for x in layers):
        raise f.error("layers", f"expected a list of layer names, got {layers!r}")
    g = FusedGroup(tuple(layers), rows=f.int("rows", 1, minimum=1), cols=f.int("cols", 0, minimum=0),
                   batch=f.int("batch", 1, minimum=1), mode=f.str("mode", "keep", choices=list(MODES)),
                   level=f.str("level", "glb"), weights_resident=f.bool("weights_resident", True),
                   cores=f.int("cores", 1, minimum=1))
    f.done()
    return g


# ---- the level the intermediates live at (a storage level of a hierarchy) ---------------------------

def fusable_levels(hierarchy) -> tuple[str, ...]:
    """Buffers (below the backing store, not a last register level) that keep ifmap, weight and psum:
    an intermediate is one layer's psum and the next one's ifmap, and the layers' inner mappings read
    their weights there."""
    from accelsim.names import ROLES

    return tuple(hierarchy.levels[i].name for i in hierarchy.buffers
                 if all(hierarchy.levels[i].keeps_role(r) for r in ROLES))


def level_words(hierarchy, level: str) -> float:
    """Words one instance of ``level`` holds (all its capacity groups pooled; inf when unbounded)."""
    groups = hierarchy.level(level).capacity
    return float(sum(w for _, w in groups)) if groups else float("inf")


def level_instances(hierarchy, level: str) -> int:
    """Instances of ``level``: the product of the fanouts above it (cores, clusters)."""
    out = 1
    for i, f in hierarchy.fanouts:
        if i < hierarchy.index(level):
            out *= f.size
    return out


def check_level(group: FusedGroup, hierarchy, peak: int, where: str = "fuse") -> None:
    """The group's level exists below the backing store, keeps ifmap, weight and psum, has at least
    ``group.cores`` instances, and one instance holds the group's peak."""
    from accelsim.names import ROLES

    names = hierarchy.level_names
    allowed = ", ".join(fusable_levels(hierarchy)) or "none (no buffer keeps ifmap, weight and psum)"
    if group.level not in names[1:] or hierarchy.index(group.level) not in hierarchy.buffers:
        raise ConfigError(f"{where}.level: {group.level!r} is not a buffer of {hierarchy.name!r} (below the "
                          f"backing store, not a register level); allowed: {allowed}")
    lv = hierarchy.level(group.level)
    missing = [r for r in ROLES if not lv.keeps_role(r)]
    if missing:
        raise ConfigError(f"{where}.level: {group.level!r} does not keep {', '.join(missing)}; a group's level holds its "
                          f"intermediates (psum of one layer, ifmap of the next) and its weights; allowed: {allowed}")
    n = level_instances(hierarchy, group.level)
    if group.cores > n:
        raise ConfigError(f"{where}.cores: {group.cores} cores but {hierarchy.name!r} has {n} instance(s) of "
                          f"{group.level!r}")
    words = level_words(hierarchy, group.level)
    if peak > words:
        raise ConfigError(f"{where}: the tile does not fit: {group.text()} needs {peak} words live at its peak, "
                          f"{group.level!r} holds {int(words)}")
