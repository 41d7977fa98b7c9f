"""Operator fusion under the reference's memory model (every operator reads and writes main memory).

Two kinds (reference/roofline.md, "Fusion and tiling"):

* Epilogue fusion: a bias-add, BN or activation that follows a conv/GEMM reads the whole output tensor
  and writes it back. Fused into its producer it costs nothing in memory; each fused operator removes
  one full write and one full read of the output tensor (its small parameter vector is still read).
* Tiled fusion of a chain of convolutions: the last layer's output is cut into tiles; each tile is
  computed through the whole chain with the intermediate tiles on chip, so intermediates never reach
  DRAM. Each earlier layer must compute a band larger than its share (the halo:
  :func:`accelsim.halo.chain_bands`, the same function CoDL's H-partitioning uses), so neighbouring
  tiles recompute the overlap; the first layer's input halo is read again per tile. DRAM bytes saved
  versus MACs recomputed is the trade-off; the on-chip bytes a tile needs bound the tile size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from accelsim.errors import ConfigError
from accelsim.halo import chain_bands, input_band
from accelsim.roofline.hardware import Hardware
from accelsim.roofline.model import OpCost, RooflinePoint, operator_cost, place
from workloads.layer import Layer, Workload

# ---------------------------------------------------------------------------------------------
# epilogue fusion


@dataclass(frozen=True)
class EpilogueOp:
    """An elementwise operator applied to a MAC layer's output."""

    name: str
    params_per_channel: int   # parameter vector read per output channel (bias: 1, BN scale+shift: 2)
    flops_per_element: int


EPILOGUE_OPS: dict[str, EpilogueOp] = {
    "bias": EpilogueOp("bias", 1, 1),
    "bn": EpilogueOp("bn", 2, 2),
    "relu": EpilogueOp("relu", 0, 1),
}


def epilogue_ops(names: Sequence[str]) -> tuple[EpilogueOp, ...]:
    unknown = [n for n in names if n not in EPILOGUE_OPS]
    if unknown:
        raise ConfigError(f"unknown epilogue operator(s) {unknown}; allowed: {', '.join(EPILOGUE_OPS)}")
    return tuple(EPILOGUE_OPS[n] for n in names)


@dataclass(frozen=True)
class EpilogueFusion:
    layer: str
    ops: tuple[str, ...]
    separate: OpCost   # the MAC layer, then each epilogue op as its own operator
    fused: OpCost      # one operator: the epilogue runs on the output while it is still on chip

    @property
    def saved_bytes(self) -> float:
        return self.separate.bytes - self.fused.bytes


def epilogue_fusion(layer: Layer, ops: Sequence[str] = ("bias", "relu"),
                    element_bytes: float = 4.0) -> EpilogueFusion:
    """Costs of ``layer`` followed by ``ops``, as separate operators and fused into the layer."""
    base = operator_cost(layer, element_bytes)
    out = layer.output_elems
    channels = layer.K
    separate, fused = base, base
    for op in epilogue_ops(ops):
        params = op.params_per_channel * channels * element_bytes
        flops = op.flops_per_element * out
        separate = separate + OpCost(flops, 2 * out * element_bytes + params)  # read + write the tensor
        fused = fused + OpCost(flops, params)
    return EpilogueFusion(layer.name, tuple(ops), separate, fused)


@dataclass(frozen=True)
class ModelFusion:
    """A whole workload with every MAC layer followed by the same epilogue, separate and fused."""

    ops: tuple[str, ...]
    separate: tuple[RooflinePoint, ...]   # one point per MAC layer + its separate epilogue operators
    fused: tuple[RooflinePoint, ...]      # one point per fused MAC layer

    @staticmethod
    def _total(points) -> OpCost:
        return OpCost(sum(p.flops for p in points), sum(p.bytes for p in points))

    @property
    def separate_cost(self) -> OpCost:
        return self._total(self.separate)

    @property
    def fused_cost(self) -> OpCost:
        return self._total(self.fused)

    @property
    def separate_time_s(self) -> float:
        return sum(p.time_s for p in self.separate)

    @property
    def fused_time_s(self) -> float:
        return sum(p.time_s for p in self.fused)


def model_epilogue_fusion(workload: Workload, hw: Hardware,
                          ops: Sequence[str] = ("bias", "relu")) -> ModelFusion:
    """Every MAC layer followed by ``ops``: each epilogue as its own operator versus fused."""
    eb = hw.element_bytes
    separate: list[RooflinePoint] = []
    fused: list[RooflinePoint] = []
    for layer in workload.layers:
        if not layer.kind.has_macs:
            point = place(layer.name, layer.kind.value, operator_cost(layer, eb), hw)
            separate.append(point)
            fused.append(point)
            continue
        fusion = epilogue_fusion(layer, ops, eb)
        separate.append(place(layer.name, layer.kind.value, operator_cost(layer, eb), hw))
        out = layer.output_elems
        for op in epilogue_ops(ops):
            cost = OpCost(op.flops_per_element * out, 2 * out * eb + op.params_per_channel * layer.K * eb)
            separate.append(place(f"{layer.name}.{op.name}", "eltwise", cost, hw))
        fused.append(place(layer.name, layer.kind.value, fusion.fused, hw))
    return ModelFusion(tuple(ops), tuple(separate), tuple(fused))


# ---------------------------------------------------------------------------------------------
# tiled fusion of a conv chain


def check_chain(layers: Sequence[Layer]) -> None:
    """A chain: MAC layers, each consuming the previous one's whole output. Raises ConfigError."""
    if not layers:
        raise ConfigError("a fused chain needs at least one layer")
    for layer in layers:
        if not layer.kind.has_macs:
            raise ConfigError(f"layer {layer.name!r} ({layer.kind.value}) cannot be in a fused conv chain: "
                              "only conv, depthwise, fc and gemm layers")
    for a, b in zip(layers, layers[1:]):
        if (b.N, b.C, b.H, b.W) != (a.N, a.K, a.P, a.Q):
            raise ConfigError(f"layers {a.name!r} -> {b.name!r} do not form a chain: {a.name!r} outputs "
                              f"N={a.N} K={a.K} {a.P}x{a.Q}, {b.name!r} reads N={b.N} C={b.C} {b.H}x{b.W}")


def _row_specs(layers: Sequence[Layer]) -> list[dict]:
    return [{"R": l.R, "stride": l.stride_h, "dilation": l.dil_h, "pad": l.pad_h, "H": l.H} for l in layers]


def _col_specs(layers: Sequence[Layer]) -> list[dict]:
    return [{"R": l.S, "stride": l.stride_w, "dilation": l.dil_w, "pad": l.pad_w, "H": l.W} for l in layers]


def _spans(total: int, tile: int) -> list[tuple[int, int]]:
    return [(lo, min(total, lo + tile)) for lo in range(0, total, tile)]


@dataclass(frozen=True)
class ChainTiling:
    """One tile size for a fused chain, with its costs (all byte counts at ``element_bytes``)."""

    layers: tuple[str, ...]
    tile_h: int
    tile_w: int
    tiles: int
    computed_outputs: tuple[int, ...]    # output elements each layer computes, over all tiles
    recomputed_outputs: tuple[int, ...]  # ... beyond its own output tensor (the halo)
    macs: tuple[int, ...]                # MACs each layer performs, over all tiles
    recomputed_macs: int
    input_reads: int                     # input elements of the first layer read from DRAM, all tiles
    unfused_bytes: float                 # sum over the layers of input + weights + output
    fused_bytes: float                   # tiled input reads + weights (once, or per tile) + last output
    onchip_bytes: float                  # peak on-chip footprint of one tile (max over tiles)
    flops: int                           # 2 x MACs without recomputation
    element_bytes: float
    weights: str = "resident"            # "resident" (read once, kept on chip) or "streamed" (per tile)

    @property
    def saved_bytes(self) -> float:
        return self.unfused_bytes - self.fused_bytes

    @property
    def fused_flops(self) -> int:
        return 2 * sum(self.macs)

    def as_dict(self) -> dict:
        return {"layers": list(self.layers), "tile": [self.tile_h, self.tile_w], "tiles": self.tiles,
                "weights": self.weights,
                "recomputed_outputs": list(self.recomputed_outputs), "recomputed_macs": self.recomputed_macs,
                "unfused_bytes": self.unfused_bytes, "fused_bytes": self.fused_bytes,
                "saved_bytes": self.saved_bytes, "onchip_bytes": self.onchip_bytes,
                "flops": self.flops, "fused_flops": self.fused_flops}


WEIGHT_MODES = ("resident", "streamed")


def tile_chain(layers: Sequence[Layer], tile_h: int, tile_w: int | None = None, *,
               element_bytes: float = 4.0, weights: str = "resident") -> ChainTiling:
    """Costs of computing ``layers`` (a chain) tile by tile, ``tile_h x tile_w`` outputs of the last.

    Per tile, each layer computes the band :func:`chain_bands` gives (rows and columns separately);
    the first layer reads its input band (:func:`input_band`, clipped to the map: padding is not
    read). The on-chip footprint of a tile is, for the layer whose input and output tiles are largest
    together, both, plus the weights: ``weights="resident"`` reads every weight once and keeps the whole
    chain's weights on chip; ``"streamed"`` keeps none on chip (they stream through) and reads all of
    them again for every tile.
    """
    weights_mode = weights
    if weights_mode not in WEIGHT_MODES:
        raise ConfigError(f"unknown weight placement {weights_mode!r}; allowed: {', '.join(WEIGHT_MODES)}")
    layers = tuple(layers)
    check_chain(layers)
    last = layers[-1]
    tile_w = tile_h if tile_w is None else tile_w
    for name, value, limit in (("tile height", tile_h, last.P), ("tile width", tile_w, last.Q)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
            raise ConfigError(f"{name} must be an integer in 1..{limit} (the last layer's output), got {value!r}")
    rows, cols = _row_specs(layers), _col_specs(layers)
    first = layers[0]
    computed = [0] * len(layers)
    input_reads = 0
    peak = 0
    tiles = 0
    for r0, r1 in _spans(last.P, tile_h):
        rbands = chain_bands(r0, r1, rows)
        in_r = input_band(*rbands[0], R=first.R, stride=first.stride_h, dilation=first.dil_h,
                          pad=first.pad_h, H=first.H)
        for c0, c1 in _spans(last.Q, tile_w):
            cbands = chain_bands(c0, c1, cols)
            in_c = input_band(*cbands[0], R=first.S, stride=first.stride_w, dilation=first.dil_w,
                              pad=first.pad_w, H=first.W)
            tiles += 1
            in_elems = first.N * first.C * (in_r[1] - in_r[0]) * (in_c[1] - in_c[0])
            input_reads += in_elems
            live = 0
            for i, layer in enumerate(layers):
                out_elems = layer.N * layer.K * (rbands[i][1] - rbands[i][0]) * (cbands[i][1] - cbands[i][0])
                computed[i] += out_elems
                live = max(live, in_elems + out_elems)
                in_elems = out_elems
            peak = max(peak, live)
    weight_elems = sum(l.weight_elems for l in layers)
    macs_per_output = [l.Cg * l.R * l.S for l in layers]
    macs = tuple(c * k for c, k in zip(computed, macs_per_output))
    recomputed = tuple(c - l.output_elems for c, l in zip(computed, layers))
    unfused = sum(l.ifmap_elems + l.weight_elems + l.output_elems for l in layers)
    resident = weights_mode == "resident"
    fused = input_reads + weight_elems * (1 if resident else tiles) + last.output_elems
    return ChainTiling(
        layers=tuple(l.name for l in layers), tile_h=tile_h, tile_w=tile_w, tiles=tiles,
        computed_outputs=tuple(computed), recomputed_outputs=recomputed, macs=macs,
        recomputed_macs=sum(macs) - sum(l.macs for l in layers), input_reads=input_reads,
        unfused_bytes=unfused * element_bytes, fused_bytes=fused * element_bytes,
        onchip_bytes=(peak + (weight_elems if resident else 0)) * element_bytes,
        flops=2 * sum(l.macs for l in layers), element_bytes=element_bytes, weights=weights_mode)


def choose_tile(layers: Sequence[Layer], buffer_bytes: float, *, element_bytes: float = 4.0,
                weights: str = "resident") -> ChainTiling:
    """Among the square tiles whose on-chip footprint fits ``buffer_bytes``, the one that recomputes the
    fewest MACs, then moves the fewest DRAM bytes, then is largest. Raises ConfigError when not even a
    1x1 tile fits."""
    layers = tuple(layers)
    check_chain(layers)
    last = layers[-1]
    best = None
    for tile in range(1, max(last.P, last.Q) + 1):
        t = tile_chain(layers, min(tile, last.P), min(tile, last.Q), element_bytes=element_bytes, weights=weights)
        if t.onchip_bytes <= buffer_bytes and (
                best is None or (t.recomputed_macs, t.fused_bytes) <= (best.recomputed_macs, best.fused_bytes)):
            best = t
    if best is None:
        smallest = tile_chain(layers, 1, 1, element_bytes=element_bytes, weights=weights)
        hint = "; stream the weights instead (--stream-weights)" if weights == "resident" else ""
        raise ConfigError(f"no tile of chain {' -> '.join(l.name for l in layers)} fits a "
                          f"{buffer_bytes / 1024:g} kB buffer: a 1x1 tile needs "
                          f"{smallest.onchip_bytes / 1024:,.1f} kB with weights {weights}{hint}")
    return best


def chain_points(tiling: ChainTiling, layers: Sequence[Layer], hw: Hardware) -> tuple[RooflinePoint, RooflinePoint]:
    """The chain as one point before fusion (its layers as separate operators) and after."""
    before_cost = OpCost(tiling.flops, tiling.unfused_bytes)
    before = place("+".join(tiling.layers), "chain", before_cost, hw)
    before = RooflinePoint(before.name, "chain", before.flops, before.bytes, before.intensity,
                           before.attainable_flops, before.bound,
                           sum(hw.time(l.flops, operator_cost(l, hw.element_bytes).bytes) for l in layers))
    after = place("+".join(tiling.layers) + " (fused)", "chain", OpCost(tiling.fused_flops, tiling.fused_bytes), hw)
    return before, after
