"""Output stationary, multiple output channels, single output pixel (ISCA'16 OS MOC-SOP):
every PE works on a different output channel of the same pixel; partial sums stay in PEs."""

from dataflows.declaration import Dataflow
from dataflows.named import complete


def named(layer, arch):
    n, g, k, c, p, q, r, s = layer.dims
    rows, cols = arch.pe_array.rows, arch.pe_array.cols
    k_cols = min(k, cols)
    k_rows = min(-(-k // k_cols), rows)
    return complete(layer, arch, rows={"K": k_rows}, cols={"K": k_cols},
                    rf={"C": c, "R": r, "S": s}, keep_rf=("psum",), glb_innermost=("N",))


DATAFLOW = Dataflow(
    name="os_moc_sop",
    title="output stationary, many channels, one pixel (MOC-SOP)",
    rows=("K", "N"),
    cols=("K",),
    rf_keeps=("psum",),
    rf_loops=("C", "R", "S"),
    glb_innermost=("N",),
    named=named,
)
