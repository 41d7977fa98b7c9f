"""What a NoC model is asked about: one pass's delivery pattern for one data stream.

A *pass* is one iteration of the temporal loops above the PE register files: the array receives
new RF tiles, computes, and sends partial sums out. For each stream (ifmap, weight, psum in, psum
out) a :class:`Flow` says how many distinct words cross the buffer/array boundary (``unique``), how
many words the PEs receive or send in total (``delivered``: a multicast word counts once per
destination), and the spatial layout: which PE needs which data group. Counts come from the exact
cost model (accelsim.cost.counts), spread over the passes; the layout from the mapping's spatial
factors.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

from accelsim.mapping import COLS, RELEVANT, RF, ROWS, Mapping
from workloads.layer import DIMS, Layer, P, Q, R, S

STREAMS: tuple[str, ...] = ("ifmap", "weight", "psum_in", "psum_out")
TENSOR_OF_STREAM = {"ifmap": "ifmap", "weight": "weight", "psum_in": "psum", "psum_out": "psum"}


@dataclass(frozen=True)
class Layout:
    """Which data group each active PE works on, for one tensor.

    ``groups[i]`` is the group id of the PE at ``(pe_rows[i], pe_cols[i])``; PEs with the same id
    need the same words (ifmap rows shared along RS diagonals included). Physical placement: the
    mapping's row digits in DIMS order (outermost first) give the PE row, column digits the column.
    """

    array_rows: int
    array_cols: int
    rows_used: int
    cols_used: int
    pe_rows: tuple[int, ...]
    pe_cols: tuple[int, ...]
    groups: tuple[int, ...]

    @property
    def pes(self) -> int:
        return len(self.groups)

    @cached_property
    def distinct(self) -> int:
        return len(set(self.groups))

    def _varies(self, within: tuple[int, ...]) -> bool:
        """Do PEs that share a coordinate in ``within`` (a row or a column) need different groups?"""
        import numpy as np

        if not self.groups:
            return False
        key = np.asarray(within, dtype=np.int64)
        grp = np.asarray(self.groups, dtype=np.int64)
        order = np.lexsort((grp, key))
        k, g = key[order], grp[order]
        same_line = k[1:] == k[:-1]
        return bool(np.any(same_line & (g[1:] != g[:-1])))

    @cached_property
    def varies_along_rows(self) -> bool:
        """True when PEs in one column need different data (the tensor changes from row to row)."""
        return self._varies(self.pe_cols)

    @cached_property
    def varies_along_cols(self) -> bool:
        return self._varies(self.pe_rows)


@dataclass(frozen=True)
class Flow:
    """One pass's traffic of one stream (words may be fractional: layer totals spread over passes)."""

    stream: str                 # one of STREAMS
    unique: float               # distinct words crossing the buffer/array boundary
    delivered: float            # words received (or sent) by PEs, summed over PEs
    layout: Layout

    @property
    def tensor(self) -> str:
        return TENSOR_OF_STREAM[self.stream]

    @property
    def per_pe(self) -> float:
        return self.delivered / self.layout.pes if self.layout.pes else 0.0

    @property
    def reduced(self) -> float:
        """psum_out: words added into a neighbour PE's psum on the way out (spatial reduction)."""
        return max(0.0, self.delivered - self.unique) if self.stream == "psum_out" else 0.0


def _offsets(factors: tuple[int, ...], inner: tuple[int, ...]):
    """Per physical index along one array side, each dim's offset (in its own units) inside the
    GLB tile: the side's digits in DIMS order (outermost first) times the span below them."""
    import numpy as np

    n = 1
    for f in factors:
        n *= f
    idx = np.arange(n, dtype=np.int64)
    out = np.zeros((len(DIMS), n), dtype=np.int64)
    stride = n
    for d, f in enumerate(factors):
        stride //= f
        out[d] = (idx // stride) % f * inner[d]
    return out


@lru_cache(maxsize=512)
def layout(layer: Layer, m: Mapping, tensor: str, array_rows: int, array_cols: int) -> Layout:
    """The spatial layout of ``tensor`` under mapping ``m`` (cached: mappings and layers are frozen)."""
    import numpy as np

    rel = RELEVANT[tensor]
    f_rows, f_cols, f_rf = m.factors[ROWS], m.factors[COLS], m.factors[RF]
    rows_used, cols_used = m.spatial(ROWS), m.spatial(COLS)
    # rows loops sit outside the column loops: a row digit spans the columns' and the RF's extent
    r_off = _offsets(f_rows, tuple(f_cols[d] * f_rf[d] for d in range(len(DIMS))))
    c_off = _offsets(f_cols, f_rf)
    off = r_off[:, :, None] + c_off[:, None, :]                # [dim, row, col]
    keys = [off[d] for d in range(len(DIMS)) if rel[d] and d not in (P, Q, R, S)]
    if tensor == "ifmap":      # coupled axes: input row = p * stride + r * dilation
        keys += [off[P] * layer.stride_h + off[R] * layer.dil_h, off[Q] * layer.stride_w + off[S] * layer.dil_w]
    elif tensor == "weight":
        keys += [off[R], off[S]]
    else:
        keys += [off[P], off[Q]]
    flat = np.stack([k.reshape(-1) for k in keys], axis=1)
    _, first, inverse = np.unique(flat, axis=0, return_index=True, return_inverse=True)
    # number groups in order of first appearance (row-major), so ids do not depend on numpy's sort
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    groups = rank[inverse.reshape(-1)]
    pe_r = np.repeat(np.arange(rows_used), cols_used)
    pe_c = np.tile(np.arange(cols_used), rows_used)
    return Layout(array_rows, array_cols, rows_used, cols_used, tuple(pe_r.tolist()), tuple(pe_c.tolist()),
                  tuple(groups.tolist()))
