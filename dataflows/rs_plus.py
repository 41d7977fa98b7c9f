"""Row stationary plus (Eyeriss v2, JETCAS 2019): row stationary whose spare array rows and
columns may also take groups (G) and input channels, so depthwise layers (one channel per group)
and small filters still fill the array. Each PE runs 1-D convolutions as in RS: it keeps a sliding
ifmap window (S x channels), its filter rows and one psum per filter; Q is the innermost GLB loop.

Named mapping: R filter rows down the array rows, then groups, filters and channels on the spare
rows; output rows P across the columns, then groups, images and filters on the spare columns; the
RF split (window, channels, filters per PE) as large as the scratchpads allow.
"""

from dataflows.declaration import Dataflow
from dataflows.named import complete, fill, row_stationary_rf
from dataflows.nest_rule import NestRule


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def named(layer, arch):
    n, g, k, c, p, q, r, s = layer.dims
    rows, cols = arch.pe_array.rows, arch.pe_array.cols
    r_sp = min(r, rows)
    rows_f = {"R": r_sp, **fill(rows // r_sp, [("G", g), ("K", k), ("C", c)])}
    p_sp = min(p, cols)
    g_left = ceil_div(g, rows_f.get("G", 1))
    k_left = ceil_div(k, rows_f.get("K", 1))
    cols_f = {"P": p_sp, **fill(cols // p_sp, [("G", g_left), ("N", n), ("K", k_left)])}
    k_sp = rows_f.get("K", 1) * cols_f.get("K", 1)
    c_sp = rows_f.get("C", 1)
    s_rf, c_rf, k_rf = row_stationary_rf(arch, s, ceil_div(c, c_sp), ceil_div(k, k_sp))
    return complete(layer, arch, rows=rows_f, cols=cols_f, rf={"S": s_rf, "C": c_rf, "K": k_rf},
                    keep_rf=("ifmap", "weight", "psum"), glb_innermost=GLB_INNER, rf_order=("K", "C", "S"))


GLB_INNER = ("K", "C", "N", "P", "Q")

DATAFLOW = Dataflow(
    name="rs_plus",
    title="row stationary plus (Eyeriss v2): RS that also spreads groups and channels",
    rows=("R", "G", "K", "C", "N"),
    cols=("P", "G", "N", "K", "Q"),
    rf_keeps=("ifmap", "weight", "psum"),
    rf_loops=("S", "C", "K", "N", "Q", "R"),
    glb_innermost=GLB_INNER,
    named=named,
    rule=NestRule(x=("R", "G", "K", "C", "N"), y=("P", "G", "N", "K", "Q"), stationary=("ifmap", "weight", "psum"),
                  inner=("K", "C", "S"), outer_innermost=GLB_INNER),
)
