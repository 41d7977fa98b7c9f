"""Tile sizes (words) each buffer must hold under a mapping: the capacity side of the model."""

from __future__ import annotations

from accelsim.cost.counts import touched
from accelsim.energy import TENSORS
from accelsim.mapping import COLS, DRAM, GLB, RELEVANT, RF, ROWS, Mapping
from workloads.layer import C, G, K, N, P, Q, R, S, Layer


def _span(m: Mapping, d: int, levels: tuple[int, ...], D: int) -> int:
    out = 1
    for level in levels:
        out *= m.factors[level][d]
    return min(out, D)


def tile_extents(layer: Layer, m: Mapping, levels: tuple[int, ...]) -> dict[str, int]:
    """Words of each tensor's tile spanning the loops at ``levels``."""
    dims = layer.dims
    t = [_span(m, d, levels, dims[d]) for d in range(8)]
    h = min(layer.H, touched(t[P], t[R], layer.stride_h, layer.dil_h))
    w = min(layer.W, touched(t[Q], t[S], layer.stride_w, layer.dil_w))
    return {
        "ifmap": t[N] * t[G] * t[C] * h * w,
        "weight": t[G] * t[K] * t[C] * t[R] * t[S],
        "psum": t[N] * t[G] * t[K] * t[P] * t[Q],
    }


def tile_words(layer: Layer, m: Mapping) -> dict[str, tuple[int, int, int]]:
    rf = tile_extents(layer, m, (RF,))
    glb = tile_extents(layer, m, (GLB, ROWS, COLS, RF))
    return {"rf": tuple(rf[t] for t in TENSORS), "glb": tuple(glb[t] for t in TENSORS)}


__all__ = ["tile_extents", "tile_words", "RELEVANT", "DRAM"]
