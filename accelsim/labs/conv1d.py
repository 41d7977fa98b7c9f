"""The 1-D convolution of reference/dataflow_1d.md on one PE, as general-model mappings.

``O[e] += I[e+r] * W[r]``, E outputs, R taps, H = E + R - 1 inputs: a layer with one channel, one row,
Q = E and S = R. The PE is a 1 x 1 array whose RF keeps only the stationary tensor, with no operand
registers; the GLB is the buffer outside the PE. OS is ``for e: for r`` (the RF keeps the psum), WS
``for r: for e`` (the weight), IS keeps the whole input row in the RF with every loop inside the PE
(see notebook 01 for why a one-word input register is not a rectangular loop nest).
:func:`outside_buffer` counts the accesses to the outside buffer that the PE makes (fills from DRAM
and the drain of finished outputs to DRAM are not the PE's), with the general cost model.
"""

from __future__ import annotations

from accelsim.cost.counts import L_DRAM, L_GLB, count
from accelsim.energy import TENSORS
from accelsim.mapping import Mapping
from workloads.layer import DIMS, Layer

FLOWS = ("OS", "WS", "IS")
ONES = (1,) * len(DIMS)
NOTHING = (False, False, False)
EVERYTHING = (True, True, True)
RF_KEEPS = {"OS": "psum", "WS": "weight", "IS": "ifmap"}


def _order(*inner: str) -> tuple[int, ...]:
    """A loop order (outer -> inner) ending with ``inner``."""
    rest = [d for d in DIMS if d not in inner]
    return tuple(DIMS.index(d) for d in rest + list(inner))


def layer(E: int, R: int) -> Layer:
    return Layer("conv1d", C=1, K=1, H=1, W=E + R - 1, R=1, S=R)


def mapping(flow: str, E: int, R: int) -> Mapping:
    """The dataflow's loop nest over the 1-D convolution (``flow``: OS, WS or IS)."""
    loops = tuple(E if d == "Q" else R if d == "S" else 1 for d in DIMS)
    keep = tuple(t == RF_KEEPS[flow] for t in TENSORS)
    if flow == "IS":
        return Mapping((ONES, ONES, ONES, ONES, loops), (_order(), _order(), _order("Q", "S")), EVERYTHING, keep,
                       NOTHING)
    glb_order = _order("Q", "S") if flow == "OS" else _order("S", "Q")
    return Mapping((ONES, loops, ONES, ONES, ONES), (_order(), glb_order, _order()), EVERYTHING, keep, NOTHING)


def outside_buffer(flow: str, E: int, R: int) -> dict[str, int]:
    """MACs and the PE's reads and writes of the buffer outside it, per the table's rows."""
    c = count(layer(E, R), mapping(flow, E, R))
    reads, writes = c.reads[L_GLB], c.writes[L_GLB]
    ifmap, weight, psum = (TENSORS.index(t) for t in ("ifmap", "weight", "psum"))
    drained = c.writes[L_DRAM][psum]                  # finished outputs sent on to DRAM: not PE traffic
    return {"macs": c.macs, "weight_reads": reads[weight], "input_reads": reads[ifmap],
            "psum_reads": reads[psum] - drained, "output_writes": writes[psum]}
