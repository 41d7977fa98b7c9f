"""The fixed shape's batch scorer on the general numba kernel: mappings DRAM -> GLB -> rows x cols ->
RF -> operand registers (``accelsim.cost.encode.MappingArrays``) counted by ``accelsim.cost.fast_nest``
as loop nests over ``hierarchy.from_arch(arch)`` (the arrays of ``loopnest.from_fixed``), and read back
as the fixed shape's count rows. One counting kernel serves every hierarchy; this module is the fixed
shape's view of it.

``FixedBatch(layer, arch)`` (one per searched layer; it holds the layout, the kernel's memo and the
arch's prices and bandwidths):

- ``nests(batch, take)``: mappings ``take`` of the batch as ``NestArrays`` (levels dram, glb with the
  rows x cols fanout, rf, reg), one numba pass (:func:`nests_of`); the mapper's legality filter
  writes its survivors this way instead of copying them as ``MappingArrays``, so scoring a batch
  costs the general kernel and nothing else;
- ``rows(nests)``: the general kernel's action rows (``fast_nest.count_nests``: equal to
  ``count_actions``, exact int64; the memo is kept across batches);
- ``counts(rows)``: (B, NCOLS) int64 in ``COLUMNS`` order, the ``counts.to_counts`` view of each row
  (a level's reads = read + drain, writes = fill + update; the NoC's reads = down_dest, writes =
  up_src, transfers = down + up: ``counts.column_keys``), equal to ``counts.count``;
- ``energy(rows)``: (B,) pJ straight from the rows, bit for bit ``cost.model.fixed_energy`` (each
  priced count column is the sum of the actions it merges, priced by the arch's energy table and
  added in its canonical order);
- ``cycles(rows)``: (B,) the latency bound, ``fast_nest.bound_nests`` (bit for bit
  ``cost.bound.latency_bound``).

``count_batch(layer, batch)`` / ``count_fast(layer, mapping)``: the count rows / ``Counts`` without an
arch (counts do not depend on capacities or bandwidths). All integers exact within
``accelsim.cost.encode``'s range; a mapping that breaks a structural rule is refused by index.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
from numba import njit

from accelsim.cost.counts import ACCESS_LEVELS, NET_SUFFIX, TENSOR_NAMES, Counts, column_keys
from accelsim.cost.encode import MappingArrays, encode
from accelsim.cost.fast_nest import (
    BoundParams,
    NestMemo,
    bound_nests,
    bound_params,
    count_nests,
    nest_memo,
)
from accelsim.cost.nest_arrays import ACTIVE, CYCLES, HEAD, MACS, NestArrays, NestLayout
from accelsim.errors import ConfigError
from accelsim.hierarchy import Hierarchy, fixed_shape, from_arch
from accelsim.mapping import COLS, LEVELS, ROWS, TEMPORAL, Mapping
from accelsim.mapping import DRAM as M_DRAM
from accelsim.mapping import GLB as M_GLB
from accelsim.mapping import RF as M_RF
from accelsim.names import AXES, DRAM, GLB, REG, RF, X, Y
from accelsim.problem import from_layer
from workloads.layer import DIMS, Layer

NT, NACC = len(TENSOR_NAMES), len(ACCESS_LEVELS)
COLUMNS: tuple[str, ...] = (("macs", "cycles", "active_pes")
                            + tuple(f"reads.{lv}.{t}" for lv in ACCESS_LEVELS for t in TENSOR_NAMES)
                            + tuple(f"writes.{lv}.{t}" for lv in ACCESS_LEVELS for t in TENSOR_NAMES)
                            + tuple(f"noc_transfers.{t}" for t in TENSOR_NAMES))
NCOLS = len(COLUMNS)                   # 30
COL_MACS, COL_CYCLES, COL_ACTIVE_PES = (COLUMNS.index(c) for c in ("macs", "cycles", "active_pes"))
COL_READS, COL_WRITES, COL_NOC = (COLUMNS.index(f"{k}.{TENSOR_NAMES[0]}") for k in
                                  (f"reads.{ACCESS_LEVELS[0]}", f"writes.{ACCESS_LEVELS[0]}", "noc_transfers"))
# the nest levels of a fixed-shape mapping (from_arch / fixed_shape): the mapping's temporal levels
# (accelsim.mapping.TEMPORAL, named as the hierarchy names them) and the operand registers
_NEST_LEVELS = (DRAM, GLB, RF, REG)
if TEMPORAL != _NEST_LEVELS[:3]:
    raise ImportError("accelsim.cost.fast: the mapping's temporal levels must be named as the hierarchy's")


def _view(layout: NestLayout) -> tuple[np.ndarray, np.ndarray]:
    """The counts.to_counts merge, per ``COLUMNS`` entry: (its first general column, the general
    column it adds, or -1)."""
    first = np.full(NCOLS, -1, np.int64)
    second = np.full(NCOLS, -1, np.int64)
    for k, name in enumerate((MACS, CYCLES, ACTIVE)):
        first[k] = HEAD.index(name)
    for name, (comp, role, _), merged in column_keys():
        if name == "macs":
            continue
        cols = [layout.network_column(GLB, role, a) if comp == GLB + NET_SUFFIX
                else layout.storage_column(comp, role, a) for a in merged]
        first[COLUMNS.index(name)] = cols[0]
        if len(cols) > 1:
            second[COLUMNS.index(name)] = cols[1]
    return first, second


@njit(cache=True)
def _merge(rows, first, second, out):
    """out[b, k] = rows[b, first[k]] (+ rows[b, second[k]] where second[k] >= 0)."""
    for b in range(rows.shape[0]):
        for k in range(first.shape[0]):
            v = rows[b, first[k]]
            if second[k] >= 0:
                v += rows[b, second[k]]
            out[b, k] = v


@njit(cache=True)
def _merged_energy(rows, first, second, w, out):
    """out[b] = sum over k, in order, of (rows[b, first[k]] (+ rows[b, second[k]])) x w[k]: a priced
    count column is the sum of the actions it merges, as ``cost.model.fixed_energy`` prices it."""
    for b in range(rows.shape[0]):
        acc = 0.0
        for k in range(first.shape[0]):
            v = rows[b, first[k]]
            if second[k] >= 0:
                v += rows[b, second[k]]
            acc = acc + v * w[k]
        out[b] = acc


@njit(cache=True)
def _fill(factors, orders, gk, rk, xk, take, at, fac_out, ord_out, sp_out, keep_out):
    """Mapping ``take[j]`` of a fixed-shape batch as nest j (``loopnest.from_fixed``): ``at`` holds the
    positions (nest levels dram, glb, rf, reg; mapping levels dram, glb, rows, cols, rf; order rows
    dram, glb, rf; axes x, y), resolved from names by :func:`nests_of`."""
    n_lv = fac_out.shape[1]
    D = fac_out.shape[2]
    n_roles = keep_out.shape[2]
    i_dram, i_glb, i_rf, i_reg = at[0], at[1], at[2], at[3]
    m_dram, m_glb, m_rows, m_cols, m_rf = at[4], at[5], at[6], at[7], at[8]
    o_dram, o_glb, o_rf, ax_x, ax_y = at[9], at[10], at[11], at[12], at[13]
    for j in range(take.shape[0]):
        b = take[j]
        for i in range(n_lv):
            for d in range(D):
                fac_out[j, i, d] = 1
                sp_out[j, i, 0, d] = 1
                sp_out[j, i, 1, d] = 1
                ord_out[j, i, d] = d
            for t in range(n_roles):
                keep_out[j, i, t] = 1
        for d in range(D):
            fac_out[j, i_dram, d] = factors[b, m_dram, d]
            fac_out[j, i_glb, d] = factors[b, m_glb, d]
            fac_out[j, i_rf, d] = factors[b, m_rf, d]
            sp_out[j, i_glb, ax_x, d] = factors[b, m_rows, d]
            sp_out[j, i_glb, ax_y, d] = factors[b, m_cols, d]
            ord_out[j, i_dram, d] = orders[b, o_dram, d]
            ord_out[j, i_glb, d] = orders[b, o_glb, d]
            ord_out[j, i_rf, d] = orders[b, o_rf, d]
        for t in range(n_roles):
            keep_out[j, i_glb, t] = gk[b, t]
            keep_out[j, i_rf, t] = rk[b, t]
            keep_out[j, i_reg, t] = xk[b, t]


def nests_of(layout: NestLayout, batch: MappingArrays, take: np.ndarray | None = None) -> NestArrays:
    """``loopnest.from_fixed`` of the batch's mappings ``take`` (default: all, in order), as arrays over
    ``layout`` (levels dram, glb (rows on x, cols on y), rf, reg; the registers loop nothing, in problem
    order; DRAM keeps every tensor): one numba pass that reads each mapping once, so the mapper's
    legality filter writes its survivors in the general layout directly (``BatchSpace.legal_index``)."""
    f = batch.factors
    if not (isinstance(f, np.ndarray) and f.ndim == 3 and f.shape[1:] == (len(LEVELS), len(DIMS))):
        raise ConfigError(f"a fixed-shape batch needs factors (B, {len(LEVELS)}, {len(DIMS)}) from encode_batch, "
                          f"got {np.shape(f)}")
    arrs = [np.ascontiguousarray(a, dtype=np.int64) for a in batch]
    idx = np.arange(len(f), dtype=np.int64) if take is None else np.ascontiguousarray(take, dtype=np.int64)
    B, L, D = len(idx), len(layout.levels), len(layout.dims)
    out = NestArrays(np.empty((B, L, D), np.int64), np.empty((B, L, D), np.int64),
                     np.empty((B, L, len(AXES), D), np.int64), np.empty((B, L, NT), np.int64))
    _fill(*arrs, idx, _positions(layout), *out)
    return out


@lru_cache(maxsize=8)
def _positions_of(levels: tuple[str, ...]) -> np.ndarray:
    """``_fill``'s positions: nest levels dram, glb, rf, reg (by name); the mapping's factor rows dram,
    glb, rows, cols, rf and order rows dram, glb, rf (``accelsim.mapping``); axes x, y."""
    return np.array([*(levels.index(n) for n in _NEST_LEVELS), M_DRAM, M_GLB, ROWS, COLS, M_RF,
                     *(TEMPORAL.index(n) for n in _NEST_LEVELS[:3]), AXES.index(X), AXES.index(Y)], dtype=np.int64)


def _positions(layout: NestLayout) -> np.ndarray:
    return _positions_of(layout.levels)


@dataclass(frozen=True, eq=False)
class FixedBatch:
    """The scorer of one layer's fixed-shape mappings on one arch (module docstring). Holds the
    general kernel's memo: not thread-safe."""

    layer: Layer
    arch: object

    @cached_property
    def hierarchy(self) -> Hierarchy:
        return from_arch(self.arch)

    @cached_property
    def layout(self) -> NestLayout:
        return NestLayout(from_layer(self.layer), self.hierarchy)

    @cached_property
    def memo(self) -> NestMemo:
        return nest_memo(self.layout)

    @cached_property
    def bound(self) -> BoundParams:
        return bound_params(self.layout)

    @cached_property
    def view(self) -> tuple[np.ndarray, np.ndarray]:
        return _view(self.layout)

    @cached_property
    def prices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(first general column, second or -1, pJ per word) of each priced count column, in the
        energy table's canonical order."""
        cols, w = _fixed_weights(self.arch)
        first, second = self.view
        return first[cols], second[cols], w

    def nests(self, batch: MappingArrays, take: np.ndarray | None = None) -> NestArrays:
        return nests_of(self.layout, batch, take)

    def rows(self, nests: NestArrays) -> np.ndarray:
        return count_nests(self.layout, nests, self.memo)

    def counts(self, rows: np.ndarray) -> np.ndarray:
        first, second = self.view
        out = np.empty((rows.shape[0], NCOLS), np.int64)
        _merge(np.ascontiguousarray(rows, dtype=np.int64), first, second, out)
        return out

    def energy(self, rows: np.ndarray) -> np.ndarray:
        first, second, w = self.prices
        out = np.empty(rows.shape[0], np.float64)
        _merged_energy(np.ascontiguousarray(rows, dtype=np.int64), first, second, w, out)
        return out

    def cycles(self, rows: np.ndarray) -> np.ndarray:
        return bound_nests(self.layout, rows, self.bound)


def _fixed_weights(arch) -> tuple[np.ndarray, np.ndarray]:
    """(COLUMNS indices, pJ per word) of the priced count columns in the energy table's canonical
    order (``cost.energy.canonical``), the order ``cost.model.fixed_energy`` adds them in."""
    from accelsim.cost.energy import canonical, weights
    from accelsim.energy_table import arch_table

    table = arch_table(arch)
    entries = column_keys()
    for name, (comp, role, _), merged in entries:
        prices = {table.pj(comp, role, a) for a in merged}
        if len(prices) > 1:
            raise ConfigError(f"energy table {table.name!r}: the fixed-shape column {name} merges actions "
                              f"{', '.join(merged)} of {comp}, which cost differently; price them alike")
    col_of = {key: COLUMNS.index(name) for name, key, _ in entries}
    keys = canonical(list(col_of), table)
    return np.array([col_of[k] for k in keys], dtype=np.int64), weights(keys, table)


@lru_cache(maxsize=64)
def _count_layout(layer: Layer) -> NestLayout:
    """Counts need only the level list (dram, glb with a fanout, rf, reg), not an arch's capacities."""
    return NestLayout(from_layer(layer), fixed_shape(1, 1))


def count_batch(layer: Layer, batch: MappingArrays) -> np.ndarray:
    """(B, NCOLS) int64 count rows of a batch (``encode_batch``), columns in ``COLUMNS`` order, equal
    to ``counts.count`` per mapping. Raises ConfigError naming the first structurally broken one."""
    layout = _count_layout(layer)
    rows = count_nests(layout, nests_of(layout, batch))
    first, second = _view(layout)
    out = np.empty((rows.shape[0], NCOLS), np.int64)
    _merge(rows, first, second, out)
    return out


def counts_of_row(row: np.ndarray) -> Counts:
    """One count row as the Counts dataclass (Python ints)."""
    v = np.asarray(row, dtype=np.int64).tolist()       # Python ints
    return Counts(
        macs=v[COL_MACS], cycles=v[COL_CYCLES], active_pes=v[COL_ACTIVE_PES],
        reads=tuple(tuple(v[COL_READS + NT * lv + t] for t in range(NT)) for lv in range(NACC)),
        writes=tuple(tuple(v[COL_WRITES + NT * lv + t] for t in range(NT)) for lv in range(NACC)),
        noc_transfers=tuple(v[COL_NOC + t] for t in range(NT)),
    )


def count_fast(layer: Layer, mapping: Mapping) -> Counts:
    """Same as accelsim.cost.counts.count(layer, mapping), counted by the numba kernel."""
    _, one = encode(layer, mapping)
    return counts_of_row(count_batch(layer, MappingArrays(*(a[None] for a in one)))[0])


__all__ = ["COLUMNS", "NCOLS", "FixedBatch", "count_batch", "count_fast", "counts_of_row", "nests_of"]
