"""Partitioning one operator between two processors, along OC or H, and chains of H partitions.

A ratio is given in tenths (``0..10``: CoDL's steps of 0.1) and is the CPU's share; the CPU takes the
first channels / top rows, the GPU the rest. Counts round half up (``(n * tenths + 5) // 10``), exact
in integers.

- OC: the CPU computes output channels ``[0, k)``; both parts read the whole input (a grouped
  convolution is split at a group boundary, and each part reads only its groups' channels).
- H: the CPU computes output rows ``[0, p)``; each part reads its input band *with its halo*, from
  :func:`accelsim.halo.input_band` (the same function the fused-tile analysis uses). Rows outside the
  input are the zero padding and are generated, not read (``pad_top`` / ``pad_bottom``).
- Chains: consecutive H-partitioned operators keep their bands on each processor; the tail's split
  fixes every earlier band through :func:`accelsim.halo.chain_bands`, so the halo grows towards the
  head and the overlapping rows are computed on both processors (the chain's redundant work).
  A MAC layer whose *pre-padded* input is the previous output with a zero border of ``b`` rows and
  columns (CoDL's VALID convolutions, workloads/zoo/codl.py) chains too: in the chain it is read as the
  same layer with ``b`` more padding on the unpadded output (:func:`chain_view`; same output, same MACs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from accelsim.errors import ConfigError
from accelsim.halo import chain_bands, input_band
from accelsim.partition.shape import OpShape, out_channels
from workloads.layer import Layer, LayerKind

TENTHS = range(11)
DIMS = ("OC", "H")


def ratio_count(total: int, tenths: int) -> int:
    """How many of ``total`` rows/channels a ``tenths/10`` share gets (round half up)."""
    if not 0 <= tenths <= 10:
        raise ConfigError(f"ratio must be 0..10 tenths, got {tenths}")
    return (total * tenths + 5) // 10


@dataclass(frozen=True)
class Part:
    """What one processor computes of one operator.

    Output channels ``[k0, k1)`` and rows ``[p0, p1)`` (all columns); input channels ``[c0, c1)`` and
    rows ``[h0, h1)`` (clipped to the input); ``pad_top`` / ``pad_bottom`` zero rows above/below.
    """

    k0: int
    k1: int
    c0: int
    c1: int
    p0: int
    p1: int
    h0: int
    h1: int
    pad_top: int
    pad_bottom: int

    @property
    def empty(self) -> bool:
        return self.k1 <= self.k0 or self.p1 <= self.p0

    @property
    def rows(self) -> int:
        return max(0, self.p1 - self.p0)

    def shape(self, layer: Layer) -> OpShape:
        if self.empty:
            return OpShape(layer.kind, layer.N, 0, 0, 0, layer.W, 0, layer.Q, layer.R, layer.S,
                           layer.stride_h, layer.stride_w, 1, layer.operands)
        groups = 1
        if layer.kind.has_macs and layer.groups > 1:
            groups = (self.k1 - self.k0) // layer.Kg
        return OpShape(layer.kind, layer.N, self.c1 - self.c0, self.k1 - self.k0, self.h1 - self.h0,
                       layer.W, self.p1 - self.p0, layer.Q, layer.R, layer.S, layer.stride_h,
                       layer.stride_w, groups, layer.operands)


def band(layer: Layer, p0: int, p1: int, k0: int = 0, k1: int | None = None,
         c0: int = 0, c1: int | None = None) -> Part:
    """The part computing output rows ``[p0, p1)`` (channels ``[k0, k1)``) with its halo."""
    k1 = out_channels(layer) if k1 is None else k1
    c1 = layer.C if c1 is None else c1
    if p1 <= p0 or k1 <= k0:  # nothing to compute: keep the ranges (for joins), read nothing
        return Part(k0, max(k0, k1), c0, c0, p0, max(p0, p1), 0, 0, 0, 0)
    kw = dict(R=layer.R, stride=layer.stride_h, dilation=layer.dil_h, pad=layer.pad_h)
    lo, hi = input_band(p0, p1, **kw)
    h0, h1 = input_band(p0, p1, H=layer.H, **kw)
    return Part(k0, k1, c0, c1, p0, p1, h0, h1, max(0, h0 - lo), max(0, hi - h1))


def allowed_dims(layer: Layer) -> tuple[str, ...]:
    """OC for any layer with more than one output channel; H for any layer with more than one output
    row whose rows are independent (everything but fully connected)."""
    dims = []
    if out_channels(layer) > 1:
        dims.append("OC")
    if layer.P > 1 and layer.kind is not LayerKind.FC:
        dims.append("H")
    return tuple(dims)


def split_oc(layer: Layer, tenths: int) -> tuple[Part, Part]:
    """(CPU part, GPU part) of an output-channel split."""
    if layer.kind.has_macs and layer.groups > 1:
        g = ratio_count(layer.groups, tenths)
        k, c = g * layer.Kg, g * layer.Cg
        return (band(layer, 0, layer.P, 0, k, 0, c),
                band(layer, 0, layer.P, k, layer.K, c, layer.C))
    if layer.kind.has_macs:
        k = ratio_count(layer.K, tenths)
        return band(layer, 0, layer.P, 0, k), band(layer, 0, layer.P, k, layer.K)
    k = ratio_count(layer.C, tenths)  # channel-wise kinds: output channel i reads input channel i
    return band(layer, 0, layer.P, 0, k, 0, k), band(layer, 0, layer.P, k, layer.C, k, layer.C)


def split_h(layer: Layer, tenths: int) -> tuple[Part, Part]:
    """(CPU part, GPU part) of an output-row split, each with its input halo."""
    p = ratio_count(layer.P, tenths)
    return band(layer, 0, p), band(layer, p, layer.P)


SPLITS = {"OC": split_oc, "H": split_h}


def split(layer: Layer, dim: str, tenths: int) -> tuple[Part, Part]:
    if dim not in SPLITS:
        raise ConfigError(f"unknown partition dimension {dim!r}; allowed: {', '.join(SPLITS)}")
    return SPLITS[dim](layer, tenths)


def border(prev: Layer, nxt: Layer) -> int | None:
    """The zero border ``b`` by which ``nxt``'s input is ``prev``'s output padded on every side
    (``nxt.H == prev.P + 2b`` and ``nxt.W == prev.Q + 2b``; 0 when it reads the output as it is), or
    None if ``nxt``'s input is not such a padding of ``prev``'s output. Only a MAC layer may read a
    pre-padded border (zeros; a max pool's padding is not zero), and only one its filter still covers."""
    dh, dw = nxt.H - prev.P, nxt.W - prev.Q
    if dh != dw or dh < 0 or dh % 2:
        return None
    b = dh // 2
    if b and not (nxt.kind.has_macs and nxt.pad_h + b < nxt.dil_h * (nxt.R - 1) + 1
                  and nxt.pad_w + b < nxt.dil_w * (nxt.S - 1) + 1):
        return None
    return b


def chainable(prev: Layer, nxt: Layer) -> bool:
    """Can ``nxt`` continue an H chain after ``prev``: it reads exactly ``prev``'s output (same
    batch and channels; the same rows and columns, or them with a zero border, see :func:`border`), has
    one input tensor, and both allow H partitioning."""
    return ("H" in allowed_dims(prev) and "H" in allowed_dims(nxt) and nxt.operands == 1
            and nxt.N == prev.N and border(prev, nxt) is not None and nxt.C == out_channels(prev))


def chain_view(layers: Sequence[Layer]) -> list[Layer]:
    """The chain's layers as each reads its predecessor's output directly: a pre-padded input's border
    becomes the layer's padding (same output rows, columns and MACs; the border rows are generated,
    not read). Layers that read the output as it is are unchanged."""
    out = [layers[0]]
    for prev, nxt in zip(layers, layers[1:]):
        b = border(prev, nxt)
        if b is None:
            raise ConfigError(f"layers {prev.name!r} -> {nxt.name!r} cannot be chained along H")
        out.append(replace(nxt, H=prev.P, W=prev.Q, pad_h=nxt.pad_h + b, pad_w=nxt.pad_w + b) if b else nxt)
    return out


def chain_specs(layers: Sequence[Layer]) -> list[dict]:
    return [dict(R=l.R, stride=l.stride_h, dilation=l.dil_h, pad=l.pad_h, H=l.H) for l in layers]


def chain_parts(layers: Sequence[Layer], tenths: int) -> list[tuple[Part, Part]]:
    """(CPU part, GPU part) of every operator of an H chain whose tail is split ``tenths/10``; the parts
    are of :func:`chain_view` ``(layers)`` (the layers themselves unless an input is pre-padded)."""
    layers = list(layers)
    for a, b in zip(layers, layers[1:]):
        if not chainable(a, b):
            raise ConfigError(f"layers {a.name!r} -> {b.name!r} cannot be chained along H")
    layers = chain_view(layers)
    tail = layers[-1]
    p = ratio_count(tail.P, tenths)
    specs = chain_specs(layers)
    sides = []
    for lo, hi in ((0, p), (p, tail.P)):
        if hi <= lo:
            sides.append([band(layer, layer.P, layer.P) if lo > 0 else band(layer, 0, 0) for layer in layers])
        else:
            sides.append([band(layer, b0, b1) for layer, (b0, b1) in zip(layers, chain_bands(lo, hi, specs))])
    return list(zip(sides[0], sides[1]))


def overlap_rows(a: Part, b: Part) -> int:
    """Output rows both parts compute for the same channels (0 for an OC split)."""
    if a.empty or b.empty or min(a.k1, b.k1) <= max(a.k0, b.k0):
        return 0
    return max(0, min(a.p1, b.p1) - max(a.p0, b.p0))


def redundant_rows(layers: Sequence[Layer], parts: Sequence[tuple[Part, Part]]) -> int:
    """Output rows computed on both processors (the halo overlap a chain adds), summed over operators."""
    return sum(overlap_rows(a, b) for a, b in parts)
