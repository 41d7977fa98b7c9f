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
from functools import lru_cache

from accelsim.mapping import COLS, RELEVANT, RF, ROWS, Mapping
from workloads.layer import P, Q, R, S, Layer

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

    @property
    def distinct(self) -> int:
        return len(set(self.groups))

    @property
    def varies_along_rows(self) -> bool:
        """True when PEs in one column need different data (the tensor changes from row to row)."""
        by_col: dict[int, set[int]] = {}
        for c, g in zip(self.pe_cols, self.groups):
            by_col.setdefault(c, set()).add(g)
        return any(len(s) > 1 for s in by_col.values())

    @property
    def varies_along_cols(self) -> bool:
        by_row: dict[int, set[int]] = {}
        for r, g in zip(self.pe_rows, self.groups):
            by_row.setdefault(r, set()).add(g)
        return any(len(s) > 1 for s in by_row.values())


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


def _digits(factors: tuple[int, ...]) -> list[tuple[int, ...]]:
    """All digit vectors of a spatial level, in physical order (DIMS order, outermost first)."""
    out: list[tuple[int, ...]] = [()]
    for f in factors:
        out = [prev + (i,) for prev in out for i in range(f)]
    return out


@lru_cache(maxsize=512)
def layout(layer: Layer, m: Mapping, tensor: str, array_rows: int, array_cols: int) -> Layout:
    """The spatial layout of ``tensor`` under mapping ``m`` (cached: mappings and layers are frozen)."""
    rel = RELEVANT[tensor]
    f_rows, f_cols, f_rf = m.factors[ROWS], m.factors[COLS], m.factors[RF]
    rows_used, cols_used = m.spatial(ROWS), m.spatial(COLS)
    row_digits = _digits(f_rows)
    col_digits = _digits(f_cols)
    ids: dict[tuple, int] = {}
    pe_r, pe_c, grp = [], [], []
    for ri, rd in enumerate(row_digits):
        for ci, cd in enumerate(col_digits):
            # offset of each dim inside the GLB tile: rows loops sit outside the column loops
            off = [rd[d] * f_cols[d] * f_rf[d] + cd[d] * f_rf[d] for d in range(8)]
            key: list[int] = []
            for d in range(8):
                if not rel[d] or d in (P, Q, R, S):
                    continue
                key.append(off[d])
            if tensor == "ifmap":      # coupled axes: input row = p * stride + r * dilation
                key.append(off[P] * layer.stride_h + off[R] * layer.dil_h)
                key.append(off[Q] * layer.stride_w + off[S] * layer.dil_w)
            elif tensor == "weight":
                key += [off[R], off[S]]
            else:
                key += [off[P], off[Q]]
            gid = ids.setdefault(tuple(key), len(ids))
            pe_r.append(ri)
            pe_c.append(ci)
            grp.append(gid)
    return Layout(array_rows, array_cols, rows_used, cols_used, tuple(pe_r), tuple(pe_c), tuple(grp))
