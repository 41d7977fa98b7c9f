"""Hypothesis strategies shared by the property tests: small layers and legal mappings."""

from __future__ import annotations

from hypothesis import assume
from hypothesis import strategies as st

from accelsim.errors import ConfigError
from accelsim.legality import problems_of
from accelsim.mapping import Mapping
from workloads.layer import Layer, LayerKind


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@st.composite
def small_layers(draw, max_hw: int = 7) -> Layer:
    g = draw(st.sampled_from([1, 1, 2]))
    kind = draw(st.sampled_from([LayerKind.CONV, LayerKind.CONV, LayerKind.DEPTHWISE]))
    c = g * draw(st.integers(1, 3))
    k = g * draw(st.integers(1, 3))
    if kind is LayerKind.DEPTHWISE:
        c = k = g = draw(st.integers(1, 3))
    try:
        return Layer(name="x", kind=kind, N=draw(st.integers(1, 2)), C=c, K=k, H=draw(st.integers(1, max_hw)),
                     W=draw(st.integers(1, max_hw - 1)), R=draw(st.integers(1, 3)), S=draw(st.integers(1, 3)),
                     stride_h=draw(st.integers(1, 3)), stride_w=draw(st.integers(1, 2)),
                     pad_h=draw(st.integers(0, 1)), pad_w=draw(st.integers(0, 2)),
                     dil_h=draw(st.integers(1, 2)), dil_w=draw(st.integers(1, 2)), groups=g)
    except ConfigError:
        assume(False)


@st.composite
def mappings(draw, layer: Layer) -> Mapping:
    fac = [[1] * 8 for _ in range(5)]
    for d, D in enumerate(layer.dims):
        span = 1
        for level in (4, 3, 2, 1):
            f = draw(st.integers(1, ceil_div(D, span)))
            fac[level][d] = f
            span *= f
        fac[0][d] = ceil_div(D, span)
    orders = tuple(tuple(draw(st.permutations(range(8)))) for _ in range(3))
    keep = [tuple(draw(st.booleans()) for _ in range(3)) for _ in range(3)]
    m = Mapping(tuple(tuple(f) for f in fac), orders, *keep)
    assume(not problems_of(layer, m))
    return m
