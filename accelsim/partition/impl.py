"""Which kernel implementation a processor runs for an operator (part).

The rules follow the CoDL artifact (MACE-based; ``codl-eval-tools/.../conv2d_common_calc.py``): on
the CPU a 1x1 stride-1 or stride-2 convolution runs as GEMM (CoDL's ``ops/conv_2d.cc``: ``Conv2dK1x1`` and
``Conv2dK1x1S2``), a 3x3 stride-1 convolution with at least 8 input
and 8 output channels runs as Winograd (output tile 6 when the input is larger than 16x16, else 2), a
convolution MACE has a NEON kernel for (``NEON_DIRECT``: 3x3 stride 1 or 2, 5x5 stride 1, 7x7 stride
1-3, 1x7, 7x1, 1x15, 15x1; MACE ``ops/conv_2d.cc``, the CPU delegator choice) as a direct convolution,
and any other (FST's 9x9) as MACE's ``Conv2dGeneral``, whose multiply-adds are scalar
(``ops/arm/base/conv_2d_general.cc``: lane by lane into 4-wide accumulators): kernel ``general``, whose
prior runs at one lane per FMA pipe. The GPU runs every convolution directly. Rules are chosen per
part, so a thin H band of a Winograd layer may fall back to the small tile, as it would on the device.

Not CoDL's dispatch in one case: CoDL's fork of MACE adds a NEON kernel for 9x9 stride 1
(``ops/arm/fp32/conv_2d_9x9.cc``). FST's 9x9 layers (the only ones) are priced as ``general`` because that
predicts CoDL's measured CPU times, while the NEON reading, with that kernel's threading over blocks of 4
output channels, puts FST's held-out CPU latency 23-25% too fast (docs/partition.md, "The CPU's 9x9 kernel").
"""

from __future__ import annotations

from collections.abc import Callable

from accelsim.partition.shape import OpShape
from workloads.layer import LayerKind

#: (R, S, stride) of the convolutions priced as a NEON direct kernel (besides 1x1 / Winograd): upstream MACE's
#: NEON kernels (CoDL's fork adds 9x9 stride 1, priced as ``general``: module docstring)
NEON_DIRECT: frozenset[tuple[int, int, int]] = frozenset({
    (3, 3, 1), (3, 3, 2), (5, 5, 1), (7, 7, 1), (7, 7, 2), (7, 7, 3), (1, 7, 1), (7, 1, 1), (1, 15, 1), (15, 1, 1)})


def _cpu_conv(s: OpShape) -> str:
    if s.groups == 1 and s.R == s.S == 1 and s.stride_h == s.stride_w in (1, 2):
        return "gemm"
    if (s.groups == 1 and s.R == s.S == 3 and s.stride_h == s.stride_w == 1 and s.C >= 8 and s.K >= 8):
        return "winograd_f6" if s.H > 16 and s.W > 16 else "winograd_f2"
    if s.groups == 1 and (s.stride_h != s.stride_w or (s.R, s.S, s.stride_h) not in NEON_DIRECT):
        return "general"
    return "direct"


_CPU: dict[LayerKind, Callable[[OpShape], str]] = {
    LayerKind.CONV: _cpu_conv,
    LayerKind.DEPTHWISE: lambda s: "depthwise",
    LayerKind.FC: lambda s: "gemv",
    LayerKind.GEMM: lambda s: "gemm",
    LayerKind.POOL: lambda s: "pool",
    LayerKind.ELTWISE: lambda s: "eltwise",
    LayerKind.ACTIVATION: lambda s: "eltwise",
    LayerKind.SOFTMAX: lambda s: "eltwise",
    LayerKind.LAYERNORM: lambda s: "eltwise",
}

_GPU: dict[LayerKind, Callable[[OpShape], str]] = {
    LayerKind.CONV: lambda s: "direct",
    LayerKind.DEPTHWISE: lambda s: "depthwise",
    LayerKind.FC: lambda s: "gemv",
    LayerKind.GEMM: lambda s: "direct",
    LayerKind.POOL: lambda s: "pool",
    LayerKind.ELTWISE: lambda s: "eltwise",
    LayerKind.ACTIVATION: lambda s: "eltwise",
    LayerKind.SOFTMAX: lambda s: "eltwise",
    LayerKind.LAYERNORM: lambda s: "eltwise",
}


def _single(name: str) -> dict[LayerKind, Callable[[OpShape], str]]:
    def label(_shape: OpShape) -> str:
        return name

    return dict.fromkeys(LayerKind, label)


#: selector name -> (operator kind -> kernel name)
SELECTORS: dict[str, dict[LayerKind, Callable[[OpShape], str]]] = {
    "cpu": _CPU,
    "gpu": _GPU,
    # the local calibration kernels (accelsim.partition.local_kernels): one rule per implementation
    "direct": _single("direct"),
    "gemm": _single("gemm"),
}


def select(selector: str, shape: OpShape) -> str:
    return SELECTORS[selector][shape.kind](shape)
