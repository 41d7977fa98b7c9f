"""Output stationary, single output channel, multiple output pixels (ShiDianNao-like; ISCA'16
OS SOC-MOP): a P x Q block of output pixels spread over the array, each PE accumulating its
partial sums locally over C, R and S; weights broadcast to every PE, ifmaps read per PE."""

from dataflows.declaration import Dataflow
from dataflows.named import complete, rf_budget


def named(layer, arch):
    n, g, k, c, p, q, r, s = layer.dims
    rows, cols = arch.pe_array.rows, arch.pe_array.cols
    k_rf = max(1, min(k, rf_budget(arch, "psum")))
    return complete(layer, arch, rows={"P": min(p, rows)}, cols={"Q": min(q, cols)},
                    rf={"C": c, "R": r, "S": s, "K": k_rf}, keep_rf=("psum",), glb_innermost=("N",))


DATAFLOW = Dataflow(
    name="os",
    title="output stationary, one channel, many pixels (ShiDianNao-like, SOC-MOP)",
    rows=("P",),
    cols=("Q",),
    rf_keeps=("psum",),
    rf_loops=("C", "R", "S", "K"),
    glb_innermost=("N",),
    named=named,
)
