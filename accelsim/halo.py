"""Halo arithmetic: which input rows an output band needs. One function, two users
(CoDL's H-partitioning in accelsim.partition and tiled-conv fusion in accelsim.roofline).
"""

from __future__ import annotations

from collections.abc import Sequence


def input_band(out_start: int, out_stop: int, *, R: int, stride: int = 1, dilation: int = 1,
               pad: int = 0, H: int | None = None) -> tuple[int, int]:
    """Input rows ``[start, stop)`` needed to compute output rows ``[out_start, out_stop)``.

    Coordinates are in the unpadded input; with ``H`` given the band is clipped to ``[0, H)``
    (rows in the padding are generated as zeros, not read).
    """
    if out_stop <= out_start:
        return (0, 0)
    start = out_start * stride - pad
    stop = (out_stop - 1) * stride - pad + dilation * (R - 1) + 1
    if H is not None:
        start, stop = max(0, start), min(H, stop)
    return (start, max(start, stop))


def chain_bands(out_start: int, out_stop: int, layers: Sequence[dict]) -> list[tuple[int, int]]:
    """Bands through a chain of row-wise operators, last operator first.

    ``layers`` are dicts with keys R, stride, dilation, pad, H (the operator's input height), in
    execution order. Returns the output band of each operator, in execution order: the band each
    operator must compute so that the last produces ``[out_start, out_stop)``. Halo growth along the
    chain is the extra rows of the earlier bands beyond their share.
    """
    bands: list[tuple[int, int]] = [(out_start, out_stop)]
    for spec in reversed(list(layers)[1:]):
        lo, hi = bands[0]
        bands.insert(0, input_band(lo, hi, R=spec["R"], stride=spec.get("stride", 1),
                                   dilation=spec.get("dilation", 1), pad=spec.get("pad", 0), H=spec.get("H")))
    return bands
