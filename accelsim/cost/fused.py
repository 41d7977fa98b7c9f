"""Exact counts of a fused group (``accelsim.fused``), in closed form over its band geometry.

Conventions (the brute-force interpreter ``accelsim.interp_fused`` implements them element by element
and must agree exactly; docs/fusion.md):

- Each tile, every layer computes the band of its output the tile needs; under a retained dimension
  only the part no earlier tile computed (``Band.new``). MACs and vector ops count every computed
  output (recomputation included): a conv output costs ``C/groups * R * S`` MACs, a vector op
  ``taps * ops_per_element`` operations (``workloads.layer.VECTOR_OPS``).
- DRAM reads: the group's input (the first layer's whole input band per tile; under a retained
  dimension only the part not fetched before), operands from outside the group (an add's shortcut,
  a concatenated tensor: the same rule over the band the layer reads) and the weights (once when
  ``weights_resident``, else once per tile). DRAM writes: the last layer's output once, and an
  intermediate that a layer outside the group also reads, once (the whole tensor must be computed).
- The intermediate level (``group.level``): each intermediate is written once per computed element
  and its reader reads its whole band per tile.
- Capacity (words), per tensor: a tile buffer of the widest band (``batch x channels x rows x cols``)
  plus, when rows are retained, a line buffer of the largest vertical overlap across the band's full
  width; weights: all of them when resident, none otherwise (streamed from DRAM to the array each
  tile, not held at the intermediate level). ``capacity_total`` is their
  sum (static buffers); ``peak`` is the most that is live at once when buffers are allocated per
  step: the step of layer ``j`` holds its input band(s) and its output band of the current tile, all
  line buffers and the resident weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.errors import ConfigError
from accelsim.fused import RETAIN, FusedGroup, Geometry, channels_out, check_group
from workloads.layer import Layer, LayerKind

GROUP_INPUT = "input"


@dataclass(frozen=True)
class FusedLayerCounts:
    name: str
    computed: int            # output elements computed, recomputation included
    outputs: int             # output elements of the layer (what layer-by-layer computes)
    macs: int
    vector_ops: int

    @property
    def recompute_ratio(self) -> float:
        return self.computed / self.outputs


@dataclass(frozen=True)
class GroupCounts:
    group: FusedGroup
    tiles: int
    layers: tuple[FusedLayerCounts, ...]
    dram_reads: dict          # tensor -> words ("<layer>.input", "<layer>.side", "<layer>.weight")
    dram_writes: dict         # tensor -> words ("<layer>.output")
    level_writes: dict        # intermediate ("<layer>.output") -> words written at group.level
    level_reads: dict         # intermediate -> words read at group.level by the next layer
    capacity: dict            # tensor -> words of its buffer ("weights" included)
    peak: int
    dram_by_layer: dict       # layer -> DRAM words of the tensors above charged to it (its input,
                              # outside operands and weights read, its output written)

    @property
    def macs(self) -> int:
        return sum(c.macs for c in self.layers)

    @property
    def vector_ops(self) -> int:
        return sum(c.vector_ops for c in self.layers)

    @property
    def dram_words(self) -> int:
        return sum(self.dram_reads.values()) + sum(self.dram_writes.values())

    @property
    def feature_map_words(self) -> int:
        """DRAM traffic without the weights (Alwani et al.'s measure)."""
        return self.dram_words - sum(v for k, v in self.dram_reads.items() if k.endswith(".weight"))

    @property
    def capacity_total(self) -> int:
        return sum(self.capacity.values())

    def as_dict(self) -> dict:
        return {"layers": list(self.group.layers), "tile": [self.group.rows, self.group.cols, self.group.batch],
                "mode": self.group.mode, "level": self.group.level, "tiles": self.tiles,
                "macs": self.macs, "vector_ops": self.vector_ops, "dram_words": self.dram_words,
                "dram_reads": dict(self.dram_reads), "dram_writes": dict(self.dram_writes),
                "level_writes": dict(self.level_writes), "level_reads": dict(self.level_reads),
                "capacity": dict(self.capacity), "capacity_total": self.capacity_total, "peak": self.peak,
                "dram_by_layer": dict(self.dram_by_layer),
                "per_layer": [{"name": c.name, "computed": c.computed, "outputs": c.outputs, "macs": c.macs,
                               "vector_ops": c.vector_ops} for c in self.layers]}


def input_channels(layer: Layer) -> int:
    """Channels of everything a layer reads (an add: all its operands)."""
    return layer.C * (layer.operands if layer.kind is LayerKind.ELTWISE else 1)


def side_channels(layer: Layer, prev: Layer) -> int:
    """Channels a layer in a group reads from outside it, besides the previous layer's output."""
    return input_channels(layer) - channels_out(prev)


def per_output(layer: Layer) -> tuple[int, int]:
    """(MACs, vector ops) of one output element."""
    if layer.kind.has_macs:
        return layer.Cg * layer.R * layer.S, 0
    op = layer.kind.non_mac
    taps = layer.R * layer.S if op.window else max(1, layer.operands)
    return 0, taps * op.ops_per_element


@dataclass(frozen=True)
class Volumes:
    """What an oracle measures, per image and per channel, for tensor ``i`` (``-1``: the group input,
    ``0..n-1``: the layers' outputs): points computed (fetched, for the input), points read (each
    tile's whole band), the widest band, the line buffer (0 unless rows are retained), the number of
    spatial tiles, per layer step the most words live at once over the tiles (channels applied:
    input band(s) + output band), and the points in the union of all tiles' bands."""

    computed: dict
    touched: dict
    widest: dict
    line: dict
    spatial_tiles: int
    step_peak: tuple[int, ...]
    covered: dict


def step_channels(layers: tuple[Layer, ...], j: int) -> tuple[int, int, int]:
    """(channels of the previous tensor, of the output, of outside operands) live at layer j's step."""
    ch_in = input_channels(layers[0]) if j == 0 else channels_out(layers[j - 1])
    side = side_channels(layers[j], layers[j - 1]) if j else 0
    return ch_in, channels_out(layers[j]), side


def analytic_volumes(layers: tuple[Layer, ...], group: FusedGroup) -> Volumes:
    geo = Geometry(layers, group)
    idx = range(-1, len(layers))
    retain_rows = geo.modes[0] == RETAIN
    peaks = []
    for j in range(len(layers)):
        ch_in, ch_out, side = step_channels(layers, j)
        grid = ((ch_in + side) * np.outer(_lengths(geo.rows(j - 1)), _lengths(geo.cols(j - 1)))
                + ch_out * np.outer(_lengths(geo.rows(j)), _lengths(geo.cols(j))))
        peaks.append(int(grid.max()))
    last = len(layers) - 1
    return Volumes(
        computed={i: geo.rows(i).computed * geo.cols(i).computed for i in idx},
        touched={i: geo.rows(i).touched * geo.cols(i).touched for i in idx},
        widest={i: geo.rows(i).widest * geo.cols(i).widest for i in idx},
        line={i: geo.rows(i).overlap * geo.cols(i).union if retain_rows else 0 for i in idx},
        covered={i: geo.rows(i).union * geo.cols(i).union for i in idx},
        spatial_tiles=len(geo.rows(last).need) * len(geo.cols(last).need),
        step_peak=tuple(peaks))


def count_group(group: FusedGroup, graph) -> GroupCounts:
    """The closed form: ``assemble`` over the band geometry."""
    layers = check_group(group, graph)
    return assemble(group, graph, layers, analytic_volumes(layers, group))


def assemble(group: FusedGroup, graph, layers: tuple[Layer, ...], vol: Volumes) -> GroupCounts:
    """The rules of the module docstring, once, over either oracle's volumes."""
    n = len(layers)
    n_img = layers[-1].N
    b = group.batch
    tiles = -(-n_img // b) * vol.spatial_tiles
    names = set(group.layers)
    per_layer = []
    for i, layer in enumerate(layers):
        c = n_img * channels_out(layer) * vol.computed[i]
        m, v = per_output(layer)
        per_layer.append(FusedLayerCounts(layer.name, c, layer.output_elems, c * m, c * v))
    first = f"{layers[0].name}.input"
    reads = {first: n_img * input_channels(layers[0]) * vol.computed[-1]}
    buffers = [(first, input_channels(layers[0]), -1)]
    for j in range(1, n):
        side = side_channels(layers[j], layers[j - 1])
        if side:
            reads[f"{layers[j].name}.side"] = n_img * side * vol.computed[j - 1]
            buffers.append((f"{layers[j].name}.side", side, j - 1))
    writes: dict[str, int] = {}
    level_w: dict[str, int] = {}
    level_r: dict[str, int] = {}
    for i, layer in enumerate(layers):
        key = f"{layer.name}.output"
        k = channels_out(layer)
        outside = [c for c in graph.consumers(layer.name) if c not in names]
        if i == n - 1 or outside:
            if i < n - 1 and vol.covered[i] < layer.P * layer.Q:
                raise ConfigError(f"fuse.layers: {layer.name!r} is also read by {outside[0]!r} outside the group, "
                                  f"but the group does not compute all of its output; end the group at "
                                  f"{layer.name!r}")
            writes[key] = n_img * k * layer.P * layer.Q
        if i < n - 1:
            level_w[key] = n_img * k * vol.computed[i]
            level_r[key] = n_img * k * vol.touched[i]
            buffers.append((key, k, i))
    weights = [layer.weight_elems for layer in layers]
    for layer in layers:
        if layer.weight_elems:
            reads[f"{layer.name}.weight"] = layer.weight_elems * (1 if group.weights_resident else tiles)
    cap: dict[str, int] = {}
    line_total = 0
    for key, ch, i in buffers:
        cap[key] = b * ch * (vol.widest[i] + vol.line[i])
        line_total += b * ch * vol.line[i]
    cap[f"{layers[-1].name}.output"] = b * channels_out(layers[-1]) * vol.widest[n - 1]
    w_cap = sum(weights) if group.weights_resident else 0
    cap["weights"] = w_cap
    peak = b * max(vol.step_peak) + line_total + w_cap
    by_layer = {layer.name: 0 for layer in layers}
    for layer in layers:
        for table, what in ((reads, ("input", "side", "weight")), (writes, ("output",))):
            by_layer[layer.name] += sum(table.get(f"{layer.name}.{w}", 0) for w in what)
    return GroupCounts(group, tiles, tuple(per_layer), reads, writes, level_w, level_r, cap, peak, by_layer)


def _lengths(band) -> np.ndarray:
    return np.array([hi - lo for lo, hi in band.need], dtype=np.int64)


def layer_by_layer_words(layer: Layer) -> int:
    """DRAM words of one operator run alone (inputs, weights and output once each): the baseline."""
    return layer.ifmap_elems + layer.weight_elems + layer.output_elems
