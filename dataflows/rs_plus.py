"""Row stationary plus (Eyeriss v2, JETCAS 2019): row stationary whose spare array rows and
columns may also take groups (G) and input channels, so depthwise layers (one channel per group)
and small filters still fill the array. Each PE runs 1-D convolutions as in RS: it keeps a sliding
ifmap window (S x channels), its filter rows and one psum per filter; Q is the innermost GLB loop.

Named mapping: R filter rows down the array rows, then groups, filters and channels on the spare
rows; output rows P across the columns, then groups, images and filters on the spare columns; the
RF split (window, channels, filters per PE) as large as the scratchpads allow.
"""

from dataflows.declaration import Dataflow
from dataflows.named import complete, rf_budget


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def rf_split(arch, S: int, C: int, K: int) -> tuple[int, int, int]:
    """(s_rf, c_rf, k_rf): the per-PE ifmap window, channels and filters, most MACs per window."""
    shared = arch.rf.shared
    cap_i = shared if shared is not None else rf_budget(arch, "ifmap")
    s_rf = max(1, min(S, cap_i))
    best = (0, 0, 1, 1)
    for c_rf in range(1, min(C, 64) + 1):
        win = c_rf * s_rf
        if shared is not None:
            k_rf = (shared - win) // (win + 1)
        else:
            if win > cap_i:
                break
            k_rf = min(rf_budget(arch, "weight") // win, rf_budget(arch, "psum"))
        k_rf = min(k_rf, K, 64)
        if k_rf < 1:
            break
        score = (k_rf * c_rf, k_rf, c_rf)
        if score > best[:3]:
            best = (k_rf * c_rf, k_rf, c_rf, s_rf)
    _, k_rf, c_rf, s_rf = best
    return s_rf, max(1, c_rf), max(1, k_rf)


def _fill(space: int, order: list[tuple[str, int]]) -> dict[str, int]:
    """Spread dims over ``space`` PEs in order, each taking what it can use of what is left."""
    out: dict[str, int] = {}
    for name, size in order:
        f = min(size, space)
        if f > 1:
            out[name] = out.get(name, 1) * f
            space //= f
    return out


def named(layer, arch):
    n, g, k, c, p, q, r, s = layer.dims
    rows, cols = arch.pe_array.rows, arch.pe_array.cols
    r_sp = min(r, rows)
    rows_f = {"R": r_sp, **_fill(rows // r_sp, [("G", g), ("K", k), ("C", c)])}
    p_sp = min(p, cols)
    g_left = ceil_div(g, rows_f.get("G", 1))
    k_left = ceil_div(k, rows_f.get("K", 1))
    cols_f = {"P": p_sp, **_fill(cols // p_sp, [("G", g_left), ("N", n), ("K", k_left)])}
    k_sp = rows_f.get("K", 1) * cols_f.get("K", 1)
    c_sp = rows_f.get("C", 1)
    s_rf, c_rf, k_rf = rf_split(arch, s, ceil_div(c, c_sp), ceil_div(k, k_sp))
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
)
