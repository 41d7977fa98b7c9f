"""Output stationary, single output channel, multiple output pixels (ShiDianNao-like; ISCA'16
OS SOC-MOP): a P x Q block of output pixels of one output channel spread over the array, each PE
accumulating one output locally over C, R and S (no output channels interleaved inside a PE: that
would make it a multiple-output-channel dataflow); weights broadcast to every PE, ifmaps per PE."""

from dataflows.declaration import Dataflow
from dataflows.named import complete
from dataflows.nest_rule import NestRule


def named(layer, arch):
    n, g, k, c, p, q, r, s = layer.dims
    rows, cols = arch.pe_array.rows, arch.pe_array.cols
    return complete(layer, arch, rows={"P": min(p, rows)}, cols={"Q": min(q, cols)},
                    rf={"C": c, "R": r, "S": s}, keep_rf=("psum",), glb_innermost=("N",))


DATAFLOW = Dataflow(
    name="os",
    title="output stationary, one channel, many pixels (ShiDianNao-like, SOC-MOP)",
    rows=("P",),
    cols=("Q",),
    rf_keeps=("psum",),
    rf_loops=("C", "R", "S"),
    glb_innermost=("N",),
    named=named,
    rule=NestRule(x=("P",), y=("Q",), stationary=("psum",), inner=("C", "R", "S"), outer_innermost=("N",)),
)
