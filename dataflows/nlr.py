"""No local reuse (DianNao-like, ISCA'16 NLR): no register files; input channels down the rows,
output channels across the columns; every operand comes from the global buffer, ifmaps multicast
across columns and partial sums reduced down rows (an adder tree)."""

from dataflows.declaration import Dataflow
from dataflows.named import complete
from dataflows.nest_rule import NestRule


def named(layer, arch):
    n, g, k, c, p, q, r, s = layer.dims
    rows, cols = arch.pe_array.rows, arch.pe_array.cols
    return complete(layer, arch, rows={"C": min(c, rows)}, cols={"K": min(k, cols)}, rf={},
                    keep_rf=(), glb_innermost=("N", "P", "Q"))


DATAFLOW = Dataflow(
    name="nlr",
    title="no local reuse (DianNao-like)",
    rows=("C",),
    cols=("K",),
    rf_keeps=(),
    rf_loops=(),
    glb_innermost=("N", "P", "Q"),
    named=named,
    rule=NestRule(x=("C",), y=("K",), stationary=(), inner=(), outer_innermost=("N", "P", "Q")),
)
