"""Building blocks shared by the zoo modules (no networks here, so the registry finds nothing).

The zoo lists MAC layers only (conv, depthwise, fc, gemm; CoDL's op chains in codl.py also list their
poolings) as ``Workload.layers``; networks built with ``workloads.graph.GraphBuilder`` also carry the
whole graph (pools, residual adds, concatenations) in ``Workload.graph``. :func:`pool_out` gives the
size after a pooling window; :func:`pool`, :func:`global_pool`, :func:`add` and :func:`upsample` are the
graph's non-MAC nodes.
"""

from __future__ import annotations

from workloads.layer import Layer, LayerKind, conv


def pool_out(h: int, kernel: int, stride: int, pad: int = 0, ceil_mode: bool = False) -> int:
    """Output size of a pooling window over ``h`` (floor by default, as PyTorch and Caffe floor)."""
    span = h + 2 * pad - kernel
    return (-(-span // stride) if ceil_mode else span // stride) + 1


def dw_separable(prefix: str, C: int, K: int, H: int, stride: int = 1) -> tuple[Layer, Layer]:
    """MobileNet's depthwise 3x3 (pad 1) followed by a pointwise 1x1: ``<prefix>_dw``, ``<prefix>_pw``."""
    dw = conv(f"{prefix}_dw", C=C, K=C, H=H, R=3, stride=stride, pad=1, groups=C)
    pw = conv(f"{prefix}_pw", C=C, K=K, H=dw.P, R=1)
    return dw, pw


def grouped_gemm(name: str, m: int, n: int, k: int, groups: int) -> Layer:
    """``groups`` independent products (m x k) @ (k x n), e.g. one per attention head.

    As in :func:`workloads.layer.gemm`, m is the output rows (P), k the reduction (C per group),
    n the outputs (K per group); MACs = groups * m * n * k.
    """
    return Layer(name=name, kind=LayerKind.GEMM, C=groups * k, K=groups * n, H=m, W=1, groups=groups)


def pool(name: str, C: int, H: int, R: int, stride: int, pad: int = 0) -> Layer:
    """A square pooling window (max or average: same data movement), no MACs."""
    return Layer(name=name, kind=LayerKind.POOL, C=C, K=C, H=H, W=H, R=R, S=R, stride_h=stride,
                 stride_w=stride, pad_h=pad, pad_w=pad)


def global_pool(name: str, C: int, H: int) -> Layer:
    return pool(name, C=C, H=H, R=H, stride=1)


def add(name: str, C: int, H: int, W: int | None = None) -> Layer:
    """An element-wise add of two C x H x W operands (a residual shortcut; W defaults to H)."""
    return Layer(name=name, kind=LayerKind.ELTWISE, C=C, K=C, H=H, W=H if W is None else W, operands=2)


def upsample(name: str, C: int, H: int, factor: int = 2, W: int | None = None) -> Layer:
    """Nearest-neighbour upsampling of a C x H x W map by ``factor`` in rows and columns (no MACs)."""
    return Layer(name=name, kind=LayerKind.UPSAMPLE, C=C, K=C, H=H, W=H if W is None else W,
                 stride_h=factor, stride_w=factor)
