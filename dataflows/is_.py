"""Input stationary (SCALE-Sim IS): the filter window (C, then R and S) down the array rows and
output pixels across the columns; each PE holds one input value while all the filters stream past;
partial sums reduce down the columns."""

from dataflows.declaration import Dataflow
from dataflows.named import complete, fill
from dataflows.nest_rule import NestRule


def named(layer, arch):
    n, g, k, c, p, q, r, s = layer.dims
    rows, cols = arch.pe_array.rows, arch.pe_array.cols
    down = fill(rows, [("C", c), ("R", r), ("S", s)])       # the filter window down the rows
    q_sp = min(q, cols)
    p_sp = min(p, cols // q_sp)
    return complete(layer, arch, rows=down, cols={"Q": q_sp, "P": p_sp},
                    rf={"K": k}, keep_rf=("ifmap",), glb_innermost=("N",))


DATAFLOW = Dataflow(
    name="is",
    title="input stationary",
    rows=("C", "R", "S"),
    cols=("P", "Q", "N"),
    rf_keeps=("ifmap",),
    rf_loops=("K",),
    glb_innermost=("N",),
    named=named,
    rule=NestRule(x=("C", "R", "S"), y=("Q", "P", "N"), stationary=("ifmap",), inner=("K",), outer_innermost=("N",)),
)
