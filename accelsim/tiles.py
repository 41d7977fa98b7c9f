"""Tile sizes (words) each buffer must hold under a mapping: the capacity side of the buffer
semantics written down in accelsim.mapping (a buffer's tile is the set of tensor elements the loops
below it touch, clipped to the tensor).

Spec layer: imports only the mapping and layer specs, so legality checks (accelsim.legality),
named mappings (dataflows) and the cost model all share this one definition. Invariants: every
size is an exact int >= 1 for a legal mapping; a tile spanning more levels is never smaller.
The numba twin the batch mapper uses is accelsim.mapper.batch._tile_need (tested equal).
"""

from __future__ import annotations

from functools import lru_cache

from accelsim.energy import TENSORS
from accelsim.mapping import COLS, GLB, RF, ROWS, Mapping
from workloads.layer import DIMS, C, G, K, Layer, N, P, Q, R, S


def dense(a: int, b: int, stride: int, dil: int) -> bool:
    """True when {p*stride + r*dil : p < a, r < b} is a whole interval (checked cheaply)."""
    if a == 1:
        return dil == 1 or b == 1
    if b == 1:
        return stride == 1
    if dil == 1:
        return b >= stride
    if stride == 1:
        return a >= dil
    return False


@lru_cache(maxsize=4096)
def lattice(a: int, b: int, stride: int, dil: int) -> frozenset[int]:
    """Rows (or columns) an (a output rows) x (b filter rows) tile touches, relative to its first:
    {p * stride + r * dil}. Not an interval when stride > b * dil or dil > a * stride."""
    if dense(a, b, stride, dil):
        return frozenset(range((a - 1) * stride + (b - 1) * dil + 1))
    return frozenset(p * stride + r * dil for p in range(a) for r in range(b))


def touched(a: int, b: int, stride: int, dil: int) -> int:
    """How many distinct rows an a x b (output x filter) tile touches, unclipped."""
    if dense(a, b, stride, dil):
        return (a - 1) * stride + (b - 1) * dil + 1
    return len(lattice(a, b, stride, dil))


def _span(m: Mapping, d: int, levels: tuple[int, ...], D: int) -> int:
    out = 1
    for level in levels:
        out *= m.factors[level][d]
    return min(out, D)


def tile_extents(layer: Layer, m: Mapping, levels: tuple[int, ...],
                 glb_dims: frozenset[int] | None = None) -> dict[str, int]:
    """Words of each tensor's tile spanning the loops at ``levels`` (of the GLB's loops, only those
    of ``glb_dims`` when given: a per-pass tile, ``Mapping.glb_tile_dims``)."""
    dims = layer.dims
    t = [_span(m, d, levels if glb_dims is None or d in glb_dims else tuple(lv for lv in levels if lv != GLB),
               dims[d]) for d in range(len(DIMS))]
    h = min(layer.H, touched(t[P], t[R], layer.stride_h, layer.dil_h))
    w = min(layer.W, touched(t[Q], t[S], layer.stride_w, layer.dil_w))
    return {
        "ifmap": t[N] * t[G] * t[C] * h * w,
        "weight": t[G] * t[K] * t[C] * t[R] * t[S],
        "psum": t[N] * t[G] * t[K] * t[P] * t[Q],
    }


def tile_words(layer: Layer, m: Mapping) -> dict[str, tuple[int, ...]]:
    """Per buffer (``rf``: one PE's tile; ``glb``: the tile spanning GLB, array and RF loops, or
    one pass's, :func:`glb_tile`), the words of each tensor (TENSORS order)."""
    rf = tile_extents(layer, m, (RF,))
    return {"rf": tuple(rf[t] for t in TENSORS), "glb": tuple(glb_tile(layer, m, t) for t in TENSORS)}


def glb_tile(layer: Layer, m: Mapping, tensor: str) -> int:
    """Words of ``tensor``'s GLB tile: the GLB, array and RF loops (a per-pass tile: the GLB loops
    inside the innermost one indexing the tensor, accelsim.mapping)."""
    dims = m.glb_tile_dims(TENSORS.index(tensor)) if m.glb_pass[TENSORS.index(tensor)] else None
    return tile_extents(layer, m, (GLB, ROWS, COLS, RF), dims)[tensor]


__all__ = ["dense", "glb_tile", "lattice", "tile_extents", "tile_words", "touched"]
