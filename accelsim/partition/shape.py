"""The geometry of one operator (or one part of a split operator) as the latency predictor sees it.

A :class:`workloads.layer.Layer` has symmetric padding and derives its output size; a part of a split
layer has its own input band, channel range and output rows, so the predictor reads this smaller,
explicit record instead. ``H``/``W`` are the input rows/columns the part reads, ``P``/``Q`` the output
rows/columns it writes, ``C`` the input channels it reads and ``K`` the output channels it writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from workloads.layer import Layer, LayerKind

BYTES_PER_ELEMENT = 4  # fp32, as CoDL runs its models


@dataclass(frozen=True)
class OpShape:
    kind: LayerKind
    N: int
    C: int
    K: int
    H: int
    W: int
    P: int
    Q: int
    R: int = 1
    S: int = 1
    stride_h: int = 1
    stride_w: int = 1
    groups: int = 1
    operands: int = 1

    @property
    def empty(self) -> bool:
        return min(self.N, self.K, self.P, self.Q) <= 0

    @property
    def red(self) -> int:
        """Reduction length per output element: the work one output costs, in MACs or reads.

        Convolution ``C/G*R*S``; depthwise and pooling ``R*S``; fully connected ``C*R*S`` (its filter
        covers the whole input map); GEMM ``C``; elementwise ``operands``; activation/softmax 1.
        """
        return _RED[self.kind](self)

    @property
    def out_elems(self) -> int:
        return 0 if self.empty else self.N * self.K * self.P * self.Q

    @property
    def macs(self) -> int:
        return self.out_elems * self.red if self.kind.has_macs else 0

    @property
    def flops(self) -> int:
        """2 per MAC; a bandwidth-only operator counts one op per element read (as Layer.flops)."""
        return 2 * self.macs if self.kind.has_macs else self.out_elems * self.red

    @property
    def in_bytes(self) -> int:
        if self.empty:
            return 0
        return self.N * self.C * self.H * self.W * self.operands * BYTES_PER_ELEMENT

    @property
    def out_bytes(self) -> int:
        return self.out_elems * BYTES_PER_ELEMENT


_RED = {
    LayerKind.CONV: lambda s: (s.C // s.groups) * s.R * s.S,
    LayerKind.DEPTHWISE: lambda s: s.R * s.S,
    LayerKind.FC: lambda s: s.C * s.R * s.S,
    LayerKind.GEMM: lambda s: s.C,
    LayerKind.POOL: lambda s: s.R * s.S,
    LayerKind.ELTWISE: lambda s: max(1, s.operands),
    LayerKind.ACTIVATION: lambda s: 1,
    LayerKind.SOFTMAX: lambda s: 1,
    LayerKind.LAYERNORM: lambda s: 1,
}


def out_channels(layer: Layer) -> int:
    """Channels of the layer's output tensor (K for MAC layers, C for the bandwidth-only kinds)."""
    return layer.K if layer.kind.has_macs else layer.C


def shape_of(layer: Layer) -> OpShape:
    """The whole layer as one part."""
    return OpShape(kind=layer.kind, N=layer.N, C=layer.C, K=out_channels(layer), H=layer.H, W=layer.W,
                   P=layer.P, Q=layer.Q, R=layer.R, S=layer.S, stride_h=layer.stride_h,
                   stride_w=layer.stride_w, groups=layer.groups, operands=layer.operands)
