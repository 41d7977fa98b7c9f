"""Kernel classes: the groups of operator time a calibration fits one efficiency for.

A class is read off an operator (part)'s shape, the same way on both processors, so a calibrated
profile can say "on this CPU, 3x3 stride-1 convolutions reach 0.4 of the prior's compute roofline and
the DRAM traffic 0.3 of the spec bandwidth". The compute classes follow the kernels MACE (CoDL's engine)
dispatches to; ``mem`` is the memory roofline:

- ``k3s1``: 3x3 (or smaller non-1x1) stride-1 convolution with at least 8 input and output channels
  per group (Winograd on the CPU, :mod:`accelsim.partition.impl`);
- ``k1``: 1x1 stride-1 convolution (GEMM on the CPU), and GEMM;
- ``strided``: any convolution with a stride above 1;
- ``large``: stride-1 convolution with a 5x5 or larger filter (7x7, 9x9);
- ``thin``: a convolution with fewer than 8 input or output channels per group (first layers, 3-channel
  outputs: no channel blocking, no Winograd), whatever its filter or stride;
- ``mem``: the memory-bound kinds (pooling, elementwise, activation, softmax, layernorm, fully connected
  at batch 1), whose prior is their DRAM traffic at the spec bandwidth; and the DRAM-traffic term every
  compute operator adds to its compute time (:mod:`accelsim.partition.predictor`). One efficiency for
  all of a processor's DRAM traffic: every model informs it, not only the one with FC layers.

First match wins, in the order ``mem`` by kind, then ``thin``, ``strided``, ``large``, ``k1``,
``k3s1``. A depthwise convolution is classed by its filter and stride (never ``thin``).
"""

from __future__ import annotations

from accelsim.partition.shape import OpShape
from workloads.layer import LayerKind

CLASSES: tuple[str, ...] = ("k3s1", "k1", "strided", "large", "thin", "mem")

#: the class of every operator's DRAM traffic (and of the memory-bound operators' whole time)
MEMORY = "mem"

#: fewer channels per group than this leave the CPU's channel blocks (and Winograd) unused
THIN_CHANNELS = 8

_MEMORY_BOUND = (LayerKind.POOL, LayerKind.ELTWISE, LayerKind.ACTIVATION, LayerKind.SOFTMAX, LayerKind.LAYERNORM,
                 LayerKind.FC)


def kernel_class(s: OpShape) -> str:
    if s.kind in _MEMORY_BOUND:
        return MEMORY
    if s.kind is LayerKind.GEMM:
        return "k1"
    groups = max(1, s.groups)
    if s.kind is LayerKind.CONV and (s.C // groups < THIN_CHANNELS or s.K // groups < THIN_CHANNELS):
        return "thin"
    if s.stride_h > 1 or s.stride_w > 1:
        return "strided"
    if max(s.R, s.S) >= 5:
        return "large"
    if s.R == s.S == 1:
        return "k1"
    return "k3s1"
