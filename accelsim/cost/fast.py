"""The fixed shape's batch scorer on the general numba kernel: mappings DRAM -> GLB -> rows x cols ->
RF -> operand registers (``accelsim.cost.encode.MappingArrays``) counted by ``accelsim.cost.fast_nest``
as loop nests over ``hierarchy.from_arch(arch)`` (the arrays of ``loopnest.from_fixed``), and read back
as the fixed shape's count rows. One counting kernel serves every hierarchy; this module is the fixed
shape's view of it.

``FixedBatch(layer, arch)`` (one per searched layer; it holds the layout, the kernel's memo and the
arch's prices and bandwidths):

- ``nests(batch)``: the batch as ``NestArrays`` (levels dram, glb with the rows x cols fanout, rf, reg);
- ``rows(batch)``: the general kernel's action rows (``fast_nest.count_nests``: equal to
  ``count_actions``, exact int64);
- ``counts(rows)``: (B, NCOLS) int64 in ``COLUMNS`` order, the ``counts.to_counts`` view of each row
  (a level's reads = read + drain, writes = fill + update; the NoC's reads = down_dest, writes =
  up_src, transfers = down + up: ``counts.column_keys``), equal to ``counts.count``;
- ``energy(rows)``: (B,) pJ, bit for bit ``cost.model.fixed_energy`` (the count columns priced by the
  arch's energy table in its canonical order, summed in that order);
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

from accelsim.cost.counts import ACCESS_LEVELS, NET_SUFFIX, TENSOR_NAMES, Counts, column_keys
from accelsim.cost.encode import MappingArrays, encode
from accelsim.cost.fast_nest import (
    BoundParams,
    NestMemo,
    bound_nests,
    bound_params,
    count_nests,
    energy_nests,
    nest_memo,
)
from accelsim.cost.nest_arrays import ACTIVE, CYCLES, HEAD, MACS, NestArrays, NestLayout
from accelsim.errors import ConfigError
from accelsim.hierarchy import Hierarchy, fixed_shape, from_arch
from accelsim.mapping import COLS, LEVELS, ROWS, TEMPORAL, Mapping
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


def _view(layout: NestLayout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The counts.to_counts merge as column gathers: (first general column per COLUMNS entry, the
    entries that add a second, that second column)."""
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
    two = np.flatnonzero(second >= 0)
    return first, two, second[two]


def _subview(view: tuple[np.ndarray, np.ndarray, np.ndarray], take: np.ndarray):
    """The view of the COLUMNS entries ``take`` only, in that order."""
    first, two, second = view
    sel = np.flatnonzero(np.isin(take, two))
    return first[take], sel, second[np.searchsorted(two, take[sel])]


def _gather(rows: np.ndarray, view: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Rows of general columns -> the view's columns (a gather, plus a second gather added where two
    actions merge)."""
    first, two, second = view
    out = rows[:, first]
    out[:, two] += rows[:, second]
    return out


def nests_of(layout: NestLayout, batch: MappingArrays) -> NestArrays:
    """``loopnest.from_fixed`` of every mapping of the batch, as arrays over ``layout`` (levels dram,
    glb (rows on x, cols on y), rf, reg; the registers loop nothing, in problem order)."""
    f = np.asarray(batch.factors, dtype=np.int64)
    if f.ndim != 3 or f.shape[1:] != (len(LEVELS), len(DIMS)):
        raise ConfigError(f"a fixed-shape batch needs factors (B, {len(LEVELS)}, {len(DIMS)}) from encode_batch, "
                          f"got {f.shape}")
    B, D, L = f.shape[0], f.shape[2], len(layout.levels)
    i_dram, i_glb, i_rf, i_reg = (layout.levels.index(n) for n in _NEST_LEVELS)
    factors = np.ones((B, L, D), np.int64)
    orders = np.empty((B, L, D), np.int64)
    for k, name in enumerate(TEMPORAL):          # dram, glb, rf: their loops and orders
        i = layout.levels.index(name)
        factors[:, i] = f[:, LEVELS.index(name)]
        orders[:, i] = batch.orders[:, k]
    orders[:, i_reg] = np.arange(D)
    spatial = np.ones((B, L, len(AXES), D), np.int64)
    spatial[:, i_glb, AXES.index(X)] = f[:, ROWS]
    spatial[:, i_glb, AXES.index(Y)] = f[:, COLS]
    keeps = np.empty((B, L, NT), np.int64)
    keeps[:, i_dram] = 1
    keeps[:, i_glb], keeps[:, i_rf], keeps[:, i_reg] = batch.glb_keep, batch.rf_keep, batch.reg_keep
    return NestArrays(factors, orders, spatial, keeps)


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
    def view(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _view(self.layout)

    @cached_property
    def prices(self) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
        """(the view of the priced columns in the table's canonical order, pJ per word of each)."""
        cols, w = _fixed_weights(self.arch)
        return _subview(self.view, cols), w

    def nests(self, batch: MappingArrays) -> NestArrays:
        return nests_of(self.layout, batch)

    def rows(self, batch: MappingArrays) -> np.ndarray:
        return count_nests(self.layout, self.nests(batch), self.memo)

    def counts(self, rows: np.ndarray) -> np.ndarray:
        return _gather(rows, self.view)

    def energy(self, rows: np.ndarray) -> np.ndarray:
        priced, w = self.prices
        return energy_nests(_gather(rows, priced), w)

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
def _count_layout(layer: Layer) -> tuple[NestLayout, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Counts need only the level list (dram, glb with a fanout, rf, reg), not an arch's capacities."""
    layout = NestLayout(from_layer(layer), fixed_shape(1, 1))
    return layout, _view(layout)


def count_batch(layer: Layer, batch: MappingArrays) -> np.ndarray:
    """(B, NCOLS) int64 count rows of a batch (``encode_batch``), columns in ``COLUMNS`` order, equal
    to ``counts.count`` per mapping. Raises ConfigError naming the first structurally broken one."""
    layout, view = _count_layout(layer)
    return _gather(count_nests(layout, nests_of(layout, batch)), view)


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
