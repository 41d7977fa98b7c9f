"""Functional mode: run a mapping's loop nest on real numbers and return the convolution output.

Executing the schedule (every temporal step, every active PE) on integer tensors must give exactly
what a direct convolution gives; this proves the mapping covers every MAC once, with strides,
padding, dilation and groups. ``reference_conv`` is the NumPy oracle.
"""

from __future__ import annotations

import itertools

import numpy as np

from accelsim.mapping import COLS, DRAM, GLB, RF, ROWS, Mapping
from workloads.layer import DIMS, Layer


def reference_conv(layer: Layer, ifmap: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Direct grouped convolution. ifmap (N, C, H, W); weight (K, C/G, R, S); out (N, K, P, Q)."""
    n, g, kg, cg = layer.N, layer.groups, layer.Kg, layer.Cg
    padded = np.pad(ifmap, ((0, 0), (0, 0), (layer.pad_h, layer.pad_h), (layer.pad_w, layer.pad_w)))
    out = np.zeros((n, layer.K, layer.P, layer.Q), dtype=np.int64)
    for r in range(layer.R):
        for s in range(layer.S):
            h0, w0 = r * layer.dil_h, s * layer.dil_w
            window = padded[:, :, h0:h0 + layer.stride_h * (layer.P - 1) + 1:layer.stride_h,
                            w0:w0 + layer.stride_w * (layer.Q - 1) + 1:layer.stride_w]
            for gi in range(g):
                x = window[:, gi * cg:(gi + 1) * cg]                    # N, Cg, P, Q
                wt = weight[gi * kg:(gi + 1) * kg, :, r, s]             # Kg, Cg
                out[:, gi * kg:(gi + 1) * kg] += np.einsum("ncpq,kc->nkpq", x, wt)
    return out


def execute(layer: Layer, m: Mapping, ifmap: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Run the schedule of ``m`` MAC by MAC (small layers only)."""
    span = m.spans()
    loops = []
    for level, order in ((DRAM, m.orders[0]), (GLB, m.orders[1])):
        loops += [(d, level) for d in order if m.factors[level][d] > 1]
    loops += [(d, level) for level in (ROWS, COLS) for d in range(len(DIMS)) if m.factors[level][d] > 1]
    loops += [(d, RF) for d in m.orders[2] if m.factors[RF][d] > 1]
    dims = layer.dims
    out = np.zeros((layer.N, layer.K, layer.P, layer.Q), dtype=np.int64)
    seen = np.zeros_like(out)
    kg, cg = layer.Kg, layer.Cg
    for digits in itertools.product(*[range(m.factors[level][d]) for d, level in loops]):
        idx = [0] * len(DIMS)
        for (d, level), v in zip(loops, digits):
            idx[d] += v * span[(d, level)]
        if any(i >= D for i, D in zip(idx, dims)):
            continue
        n, g, k, c, p, q, r, s = idx
        h = p * layer.stride_h + r * layer.dil_h - layer.pad_h
        w = q * layer.stride_w + s * layer.dil_w - layer.pad_w
        if r == 0 and s == 0 and c == 0:
            seen[n, g * kg + k, p, q] += 1
        if 0 <= h < layer.H and 0 <= w < layer.W:
            out[n, g * kg + k, p, q] += ifmap[n, g * cg + c, h, w] * weight[g * kg + k, c, r, s]
    if not (seen == 1).all():
        raise AssertionError("schedule does not visit every output exactly once per reduction start")
    return out
