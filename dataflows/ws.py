"""Weight stationary (TPU-like systolic array, ISCA'16 WS): input channels (then filter rows and
columns) spread down the array rows, output channels across the columns; each PE holds one weight
while every output pixel streams past; partial sums reduce down the columns, ifmaps multicast
across them."""

from dataflows.declaration import Dataflow
from dataflows.named import complete, fill
from dataflows.nest_rule import NestRule


def named(layer, arch):
    n, g, k, c, p, q, r, s = layer.dims
    rows, cols = arch.pe_array.rows, arch.pe_array.cols
    down = fill(rows, [("C", c), ("R", r), ("S", s)])       # the filter window down the rows
    k_sp = min(k, cols)
    return complete(layer, arch, rows=down, cols={"K": k_sp}, rf={},
                    keep_rf=("weight",), glb_innermost=GLB_INNER)


GLB_INNER = ("N", "P", "Q")

DATAFLOW = Dataflow(
    name="ws",
    title="weight stationary (TPU-like)",
    rows=("C", "R", "S"),
    cols=("K",),
    rf_keeps=("weight",),
    rf_loops=("N", "P", "Q"),
    glb_innermost=GLB_INNER,
    named=named,
    rule=NestRule(x=("C", "R", "S"), y=("K",), stationary=("weight",), inner=("N", "P", "Q"), outer_innermost=GLB_INNER),
)
