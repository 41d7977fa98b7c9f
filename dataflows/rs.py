"""Row stationary (Eyeriss, ISCA'16): each PE runs a 1-D convolution of one filter row over one
ifmap row. Logical PE sets of R filter rows (array rows) x P output rows (array columns) are folded
onto the physical array; spare rows take more filters, spare columns more images or filters. Each
PE keeps a sliding ifmap window (S x channels), its filter rows (filters x channels x S) and one
partial sum per filter; Q is the innermost GLB loop so the window slides along the ifmap row.
"""

from dataflows.declaration import Dataflow
from dataflows.named import complete, rf_budget


def _rf_split(arch, S: int, C: int, K: int) -> tuple[int, int, int]:
    """(s_rf, c_rf, k_rf): the RF's ifmap window, channels and filters interleaved per PE."""
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


def named(layer, arch):
    n, g, k, c, p, q, r, s = layer.dims
    rows, cols = arch.pe_array.rows, arch.pe_array.cols
    r_sp = min(r, rows)
    k_rows = min(k, rows // r_sp)
    p_sp = min(p, cols)
    spare = cols // p_sp
    n_cols = min(n, spare)
    k_cols = min(-(-k // k_rows), spare // n_cols)
    s_rf, c_rf, k_rf = _rf_split(arch, s, c, -(-k // (k_rows * k_cols)))
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
)
