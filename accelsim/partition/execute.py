"""Run the parts of a split operator (or of an H chain) on NumPy arrays.

This is the functional side of :mod:`accelsim.partition.split`: each part reads only the input
channels and rows its :class:`~accelsim.partition.split.Part` names (the halo included), generates its
padding rows itself, and computes its output channels and rows. Joining the parts must give the whole
operator's output exactly; the tests check that against an independent convolution.

Supported kinds: convolution (groups, stride, dilation, padding), depthwise, max pooling, and
single-input elementwise/activation (ReLU).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from accelsim.errors import ConfigError
from accelsim.partition.split import Part, band
from workloads.layer import Layer, LayerKind


def _windows(xp: np.ndarray, layer: Layer, rows: int, cols: int):
    """Yield (r, s, view) with view[..., i, j] = xp[..., i*stride + r*dil, j*stride + s*dil]."""
    for r in range(layer.R):
        for s in range(layer.S):
            h0, w0 = r * layer.dil_h, s * layer.dil_w
            yield r, s, xp[:, :, h0:h0 + layer.stride_h * (rows - 1) + 1:layer.stride_h,
                           w0:w0 + layer.stride_w * (cols - 1) + 1:layer.stride_w]


def _conv(layer: Layer, part: Part, xp: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
    if weight is None:
        raise ConfigError(f"layer {layer.name!r}: a convolution part needs the layer's weights")
    kg, cg = layer.Kg, layer.Cg
    groups = (part.k1 - part.k0) // kg if layer.groups > 1 else 1
    w = weight[part.k0:part.k1]
    out = np.zeros((xp.shape[0], part.k1 - part.k0, part.rows, layer.Q), dtype=np.result_type(xp, w))
    for r, s, view in _windows(xp, layer, part.rows, layer.Q):
        if layer.groups == 1:
            out += np.einsum("ncpq,kc->nkpq", view, w[:, :, r, s])
            continue
        for g in range(groups):
            out[:, g * kg:(g + 1) * kg] += np.einsum("ncpq,kc->nkpq", view[:, g * cg:(g + 1) * cg],
                                                      w[g * kg:(g + 1) * kg, :, r, s])
    return out


def _maxpool(layer: Layer, part: Part, xp: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
    out: np.ndarray | None = None
    for _, _, view in _windows(xp, layer, part.rows, layer.Q):
        out = view.copy() if out is None else np.maximum(out, view)
    assert out is not None, "a pooling window has at least one tap"
    return out


def _relu(layer: Layer, part: Part, xp: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
    return np.maximum(xp, 0)


_KERNELS = {
    LayerKind.CONV: _conv,
    LayerKind.DEPTHWISE: _conv,
    LayerKind.POOL: _maxpool,
    LayerKind.ACTIVATION: _relu,
    LayerKind.ELTWISE: _relu,
}


def run_part(layer: Layer, part: Part, x: np.ndarray, weight: np.ndarray | None = None,
             row_offset: int = 0) -> np.ndarray:
    """Compute ``part`` of ``layer``. ``x`` holds input rows ``[row_offset, row_offset + x.shape[2])``
    (all channels, all columns) and must contain the part's input band."""
    kernel = _KERNELS.get(layer.kind)
    if kernel is None or (layer.kind is LayerKind.ELTWISE and layer.operands != 1):
        raise ConfigError(f"layer {layer.name!r}: cannot execute kind {layer.kind.value!r}; "
                          f"supported: conv, depthwise, pool (max), single-input eltwise/activation")
    n = x.shape[0]
    if part.empty:
        return np.zeros((n, max(0, part.k1 - part.k0), part.rows, layer.Q), dtype=x.dtype)
    lo, hi = part.h0 - row_offset, part.h1 - row_offset
    if lo < 0 or hi > x.shape[2]:
        raise ConfigError(f"layer {layer.name!r}: part needs input rows [{part.h0}, {part.h1}) but the "
                          f"array holds [{row_offset}, {row_offset + x.shape[2]})")
    xs = x[:, part.c0:part.c1, lo:hi, :]
    fill = -np.inf if layer.kind is LayerKind.POOL else 0
    if layer.kind is LayerKind.POOL and not np.issubdtype(xs.dtype, np.floating):
        fill = np.iinfo(xs.dtype).min
    xp = np.pad(xs, ((0, 0), (0, 0), (part.pad_top, part.pad_bottom), (layer.pad_w, layer.pad_w)),
                constant_values=fill)
    return kernel(layer, part, xp, weight)


def run_layer(layer: Layer, x: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """The whole operator as a single part."""
    return run_part(layer, band(layer, 0, layer.P), x, weight)


def join(dim: str, outputs: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenate the parts' outputs: OC along channels, H along rows."""
    return np.concatenate(list(outputs), axis={"OC": 1, "H": 2}[dim])


def run_chain(layers: Sequence[Layer], parts: Sequence[Part], x: np.ndarray,
              weights: Sequence[np.ndarray | None]) -> np.ndarray:
    """One processor's side of an H chain: each operator computes its band from the previous band
    (nothing is exchanged inside the chain); returns the tail's band."""
    cur, offset = x, 0
    for layer, part, w in zip(layers, parts, weights, strict=True):
        cur = run_part(layer, part, cur, w, offset)
        offset = part.p0
    return cur
