"""SCALE-Sim 3.0's fixed mappings: how its systolic array folds a layer (shared by scalesim_os/ws/is).

SCALE-Sim computes a convolution as its im2col GEMM: an ifmap matrix of (output pixels) x (filter
window R*S*C) times a filter matrix of (window) x (filters). :func:`im2col` is that view as an
accelsim layer: a GEMM whose output rows P are the layer's N*P*Q output pixels, whose reduction C
is the window Cg*R*S and whose outputs K are the filters (per group; groups stay independent).

Of the GEMM's three dims, SCALE-Sim puts two on the array and streams the third (T):

| dataflow | array rows | array columns | streamed (T) | stationary in a PE |
|---|---|---|---|---|
| OS | output pixels (P) | filters (K) | window (C) | the output (psum) |
| WS | window (C) | filters (K) | output pixels (P) | one weight |
| IS | window (C) | output pixels (P) | filters (K) | one input |

Folds: ceil(rows dim / array rows) x ceil(cols dim / array cols), the last of each partial, run
one after another; the column fold is the outer loop, the row fold the inner one (SCALE-Sim's
``for fc: for fr:``), T innermost. :func:`fold_mapping` builds that loop nest, so the cost model's
GLB (SRAM) counts and the systolic timing (``noc: {type: systolic, timing: scalesim}``) give
SCALE-Sim's cycles, SRAM reads and mapping efficiency. Invariant (tested): with the whole array
as a fold, ideal cycles = folds x T and the active PEs of a fold are min(dim, array) per side.
"""

from __future__ import annotations

from dataflows.named import complete
from workloads.layer import Layer, LayerKind


def im2col(layer: Layer) -> Layer:
    """The GEMM SCALE-Sim's array computes for ``layer`` (bandwidth-only layers as they are)."""
    if not layer.kind.has_macs:
        return layer
    n, g, k, c, p, q, r, s = layer.dims
    if layer.kind is LayerKind.GEMM and q == r == s == 1 and n == 1:
        return layer
    return Layer(name=layer.name, kind=LayerKind.GEMM, N=1, C=g * c * r * s, K=g * k, H=n * p * q, W=1,
                 groups=g)


# dataflow -> (GEMM dim on the rows, on the columns, streamed); GEMM dims: P pixels, C window, K filters
FOLDS: dict[str, tuple[str, str, str]] = {"os": ("P", "K", "C"), "ws": ("C", "K", "P"), "is": ("C", "P", "K")}
STATIONARY = {"os": "psum", "ws": "weight", "is": "ifmap"}
DATAFLOWS = {f"scalesim_{flow}": flow for flow in FOLDS}     # accelsim dataflow name -> SCALE-Sim's


def fold_mapping(flow: str, layer: Layer, arch):
    """SCALE-Sim's mapping of ``layer`` (already its im2col view) for dataflow os / ws / is."""
    on_rows, on_cols, streamed = FOLDS[flow]
    gemm = im2col(layer)
    size = dict(zip(("K", "C", "P"), gemm.dims[2:5]))
    rows = {on_rows: min(size[on_rows], arch.pe_array.rows)}
    cols = {on_cols: min(size[on_cols], arch.pe_array.cols)}
    # OS and IS stream T inside the PE (the RF keeps the stationary word); WS streams the output
    # pixels past the stationary weight from the GLB. Either way T is the innermost loop.
    rf = {streamed: size[streamed]} if flow != "ws" else {}
    return complete(gemm, arch, rows=rows, cols=cols, rf=rf, keep_rf=(STATIONARY[flow],),
                    glb_innermost=_glb_innermost(flow))


TITLES = {"os": "output stationary", "ws": "weight stationary", "is": "input stationary"}


def declaration(flow: str):
    """The Dataflow ``scalesim_<flow>``: SCALE-Sim's fixed folds as the named mapping; a search
    (``--search``) explores tilings of the same im2col GEMM with the same dims on rows and columns."""
    from dataflows.declaration import Dataflow

    on_rows, on_cols, streamed = FOLDS[flow]
    return Dataflow(
        name=f"scalesim_{flow}",
        title=f"SCALE-Sim 3.0 {TITLES[flow]} (im2col GEMM; rows <- {on_rows}, cols <- {on_cols}, streamed {streamed})",
        rows=(on_rows,),
        cols=(on_cols,),
        rf_keeps=(STATIONARY[flow],),
        rf_loops=(streamed,) if flow != "ws" else (),
        glb_innermost=_glb_innermost(flow),
        named=lambda layer, arch: fold_mapping(flow, layer, arch),
        view=im2col,
    )


def _glb_innermost(flow: str) -> tuple[str, ...]:
    on_rows, on_cols, streamed = FOLDS[flow]
    return (on_cols, on_rows, streamed) if flow == "ws" else (on_cols, on_rows)
