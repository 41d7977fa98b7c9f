"""Output stationary, multiple output channels, multiple output pixels (ISCA'16 OS MOC-MOP):
output pixels down the array rows, output channels across the columns; partial sums stay in PEs."""

from dataflows.declaration import Dataflow
from dataflows.named import complete


def named(layer, arch):
    n, g, k, c, p, q, r, s = layer.dims
    rows, cols = arch.pe_array.rows, arch.pe_array.cols
    q_sp = min(q, rows)
    p_sp = min(p, rows // q_sp)
    k_sp = min(k, cols)
    return complete(layer, arch, rows={"Q": q_sp, "P": p_sp}, cols={"K": k_sp},
                    rf={"C": c, "R": r, "S": s}, keep_rf=("psum",), glb_innermost=("N",))


DATAFLOW = Dataflow(
    name="os_moc_mop",
    title="output stationary, many channels, many pixels (MOC-MOP)",
    rows=("P", "Q"),
    cols=("K",),
    rf_keeps=("psum",),
    rf_loops=("C", "R", "S"),
    glb_innermost=("N",),
    named=named,
)
