"""Kernel classes as factors: what a calibration fits one efficiency for.

An operator (part) is read, the same way on both processors, as a **base** and the **modifiers** its
shape has; its compute term's efficiency (the share of the prior's speed it reaches) is the product of
its factors' efficiencies. So "on this GPU, convolutions reach 0.28 of the prior's compute roofline, a
large filter 0.55 of that, a thin layer 0.6 of that" prices a 9x9 layer on 3 channels (thin and large)
from what 7x7 layers and thin 3x3 first layers show, instead of giving every combination its own
efficiency that only one model informs. The factors follow the kernels MACE (CoDL's engine) dispatches
to:

- ``conv``: the base of every compute-bound operator (convolution, depthwise, GEMM); alone, a 3x3 (or
  smaller non-1x1) stride-1 convolution with at least 8 input and output channels per group (Winograd on
  the CPU, :mod:`accelsim.partition.impl`);
- ``k1``: a 1x1 stride-1 convolution (GEMM on the CPU), and GEMM;
- ``strided``: a stride above 1;
- ``large``: a 5x5 or larger filter (PoseNet's 7x7, FST's 9x9, a 7x7 stem);
- ``thin``: a convolution with fewer than 8 input or output channels per group (first layers, 3-channel
  outputs: no channel blocking, no Winograd); never a depthwise one;
- ``thin_large``: the interaction of ``thin`` and ``large`` (both present): how far such a layer departs
  from the product of the two (the calibration holds it near 1 unless the data say otherwise);
- ``mem``: the base of the memory-bound kinds (pooling, elementwise, activation, softmax, layernorm,
  fully connected at batch 1), whose prior is their DRAM traffic at the spec bandwidth, and of the
  DRAM-traffic term every compute operator adds to its compute time (:mod:`accelsim.partition.predictor`).
  One efficiency for all of a processor's DRAM traffic: every model informs it, not only the one with
  fully connected layers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from accelsim.partition.shape import OpShape
from workloads.layer import LayerKind

#: the factors a processor's ``efficiency`` lists, in this order
FACTORS: tuple[str, ...] = ("conv", "k1", "strided", "large", "thin", "thin_large", "mem")

#: the base of every compute-bound operator
COMPUTE = "conv"
#: the base (and only factor) of every operator's DRAM traffic and of the memory-bound operators
MEMORY = "mem"
#: factors that modify a compute base (a calibration holds them near 1 unless the data say otherwise)
MODIFIERS: tuple[str, ...] = tuple(f for f in FACTORS if f not in (COMPUTE, MEMORY))

#: fewer channels per group than this leave the CPU's channel blocks (and Winograd) unused
THIN_CHANNELS = 8

_MEMORY_BOUND = (LayerKind.POOL, LayerKind.ELTWISE, LayerKind.ACTIVATION, LayerKind.SOFTMAX, LayerKind.LAYERNORM,
                 LayerKind.FC)


def factors(s: OpShape) -> tuple[str, ...]:
    """The factors of part ``s``'s compute term, in ``FACTORS`` order (``("mem",)`` for memory-bound kinds)."""
    if s.kind in _MEMORY_BOUND:
        return (MEMORY,)
    if s.kind is LayerKind.GEMM:
        return (COMPUTE, "k1")
    groups = max(1, s.groups)
    strided = s.stride_h > 1 or s.stride_w > 1
    large = max(s.R, s.S) >= 5
    thin = s.kind is LayerKind.CONV and (s.C // groups < THIN_CHANNELS or s.K // groups < THIN_CHANNELS)
    present = {COMPUTE, "k1"} if (s.R == s.S == 1 and not strided) else {COMPUTE}
    present |= {name for name, on in (("strided", strided), ("large", large), ("thin", thin),
                                      ("thin_large", thin and large)) if on}
    return tuple(f for f in FACTORS if f in present)


def label(combo: Sequence[str]) -> str:
    """A factor combination's name in tables: its modifiers joined by ``+``; ``k3s1`` for the bare base
    (a 3x3 stride-1 convolution), ``mem`` for memory."""
    mods = [f for f in combo if f in MODIFIERS and f != "thin_large"]
    if tuple(combo) == (MEMORY,):
        return MEMORY
    return "+".join(mods) or "k3s1"


def combined(efficiency: Sequence[float], combo: Sequence[str]) -> float:
    """The efficiency of a factor combination: the product of its factors' (``efficiency`` in ``FACTORS`` order)."""
    return math.prod(efficiency[FACTORS.index(f)] for f in combo)
