"""Which kernel implementation a processor runs for an operator (part).

The rules follow the CoDL artifact (MACE-based; ``codl-eval-tools/.../conv2d_common_calc.py``): on
the CPU a 1x1 stride-1 convolution runs as GEMM, a 3x3 stride-1 convolution with at least 8 input
and 8 output channels runs as Winograd (output tile 6 when the input is larger than 16x16, else 2),
anything else as a direct convolution; the GPU runs every convolution directly. Rules are chosen per
part, so a thin H band of a Winograd layer may fall back to the small tile, as it would on the device.
"""

from __future__ import annotations

from collections.abc import Callable

from accelsim.partition.shape import OpShape
from workloads.layer import LayerKind


def _cpu_conv(s: OpShape) -> str:
    if s.groups == 1 and s.R == s.S == 1 and s.stride_h == s.stride_w == 1:
        return "gemm"
    if (s.groups == 1 and s.R == s.S == 3 and s.stride_h == s.stride_w == 1 and s.C >= 8 and s.K >= 8):
        return "winograd_f6" if s.H > 16 and s.W > 16 else "winograd_f2"
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
