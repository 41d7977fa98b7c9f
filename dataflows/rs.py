"""Row stationary (Eyeriss, ISCA'16): each PE runs a 1-D convolution of one filter row over one
ifmap row. Logical PE sets of R filter rows (array rows) x P output rows (array columns) are folded
onto the physical array; spare rows take more filters, spare columns more images or filters. Each
PE keeps a sliding ifmap window (S x channels), its filter rows (filters x channels x S) and one
partial sum per filter; Q is the innermost GLB loop so the window slides along the ifmap row.
"""

from dataflows.declaration import Dataflow
from dataflows.named import complete, row_stationary_rf
from dataflows.nest_rule import NestRule
from dataflows.rs_params import choose, describe


def named(layer, arch):
    """Eyeriss's RS mapping rule (dataflows.rs_params) where the arch has per-tensor scratchpads
    and the rule fits; otherwise R x P sets folded onto the array, the RF filled by
    row_stationary_rf."""
    chosen = choose(layer, arch)
    if chosen is not None:
        return chosen[1]
    n, g, k, c, p, q, r, s = layer.dims
    rows, cols = arch.pe_array.rows, arch.pe_array.cols
    r_sp = min(r, rows)
    k_rows = min(k, rows // r_sp)
    p_sp = min(p, cols)
    spare = cols // p_sp
    n_cols = min(n, spare)
    k_cols = min(-(-k // k_rows), spare // n_cols)
    s_rf, c_rf, k_rf = row_stationary_rf(arch, s, c, -(-k // (k_rows * k_cols)))
    return complete(layer, arch, rows={"R": r_sp, "K": k_rows}, cols={"P": p_sp, "N": n_cols, "K": k_cols},
                    rf={"S": s_rf, "C": c_rf, "K": k_rf}, keep_rf=("ifmap", "weight", "psum"),
                    glb_innermost=DATAFLOW_GLB_INNER, rf_order=("K", "C", "S"))


DATAFLOW_GLB_INNER = ("K", "C", "N", "P", "Q")

DATAFLOW = Dataflow(
    name="rs",
    title="row stationary (Eyeriss)",
    rows=("R", "K", "C", "N"),
    cols=("P", "N", "K", "Q"),
    rf_keeps=("ifmap", "weight", "psum"),
    rf_loops=("S", "C", "K", "N", "Q", "R"),
    glb_innermost=DATAFLOW_GLB_INNER,
    named=named,
    describe_mapping=describe,
    rule=NestRule(x=("R", "K"), y=("P", "N", "K"), stationary=("ifmap", "weight", "psum"), inner=("K", "C", "S"),
                  outer_innermost=DATAFLOW_GLB_INNER),
)
