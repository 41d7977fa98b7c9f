"""The geometry of one operator (or one part of a split operator) as the latency predictor sees it.

A :class:`workloads.layer.Layer` has symmetric padding and derives its output size; a part of a split
layer has its own input band, channel range and output rows, so the predictor reads this smaller,
explicit record instead. ``H``/``W`` are the input rows/columns the part reads, ``P``/``Q`` the output
rows/columns it writes, ``C`` the input channels it reads and ``K`` the output channels it writes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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


#: kinds whose reduction runs over the input channels (``C / groups`` of them per output)
_CHANNEL_REDUCTION = (LayerKind.CONV, LayerKind.FC, LayerKind.GEMM)


def channels_in_blocks(s: OpShape, block: int) -> OpShape:
    """Part ``s`` as a kernel that reads input channels in blocks of ``block`` computes it: each group's
    input channels rounded up to a multiple of ``block`` (zero-filled), which lengthens the reduction
    ``red`` of a convolution, fully connected layer or GEMM (a GPU texel holds 4 channels: a 3-channel
    input costs what a 4-channel one does). Other kinds, and ``block`` 1, are unchanged."""
    if block <= 1 or s.kind not in _CHANNEL_REDUCTION:
        return s
    groups = max(1, s.groups)
    per_group = -(-(s.C // groups) // block) * block
    return s if per_group * groups == s.C else replace(s, C=per_group * groups)


def out_channels(layer: Layer) -> int:
    """Channels of the layer's output tensor (K for MAC layers, C for the bandwidth-only kinds)."""
    return layer.K if layer.kind.has_macs else layer.C


def shape_of(layer: Layer) -> OpShape:
    """The whole layer as one part."""
    return OpShape(kind=layer.kind, N=layer.N, C=layer.C, K=out_channels(layer), H=layer.H, W=layer.W,
                   P=layer.P, Q=layer.Q, R=layer.R, S=layer.S, stride_h=layer.stride_h,
                   stride_w=layer.stride_w, groups=layer.groups, operands=layer.operands)
