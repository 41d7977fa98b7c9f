"""Exact action counts of one layer under one mapping on the fixed shape (plain Python; the
reference path): today's ``Counts`` rows, read from the general core's action table.

``count(layer, m)`` turns the layer into a problem (``accelsim.problem.from_layer``) and the mapping
into a loop nest over the fixed-shape hierarchy DRAM -> GLB (rows x cols fanout) -> RF -> operand
registers -> MAC (``accelsim.loopnest.from_fixed``), counts the action table
(``accelsim.cost.actions``: one set of counting rules for any hierarchy) and reads the rows with
:func:`to_counts`: reads of a level = read + drain, writes = fill + update; the NoC row's reads are
the array network's ``down_dest``, its writes ``up_src``, its transfers ``down + up``; register
actions have no row (the fixed-shape model never counted them). The buffer semantics are those of
``accelsim.mapping`` / ``accelsim.loopnest``. tests/test_cost_exact.py holds ``count`` equal to the
fixed-shape brute-force interpreter (``accelsim.interpreter``, independent code) and
tests/test_core_exact.py the action table equal to the general one.

:func:`axis_sums` is the Python statement of one coupled-axis sum (output rows with filter rows),
kept as the unit oracle of the numba kernel's twin (tests/test_cost_fast.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from accelsim.cost.actions import Actions, count_actions
from accelsim.cost.lattice import _count_in, _overlap_in, ceil_div
from accelsim.cost.lattice import count_tuples as count_tuples  # re-exported: the simulator imports it here
from accelsim.hierarchy import Hierarchy, fixed_shape
from accelsim.loopnest import from_fixed
from accelsim.mapping import COLS, ROWS, Mapping
from accelsim.names import (
    ANY_ROLE,
    COMPUTE,
    DOWN,
    DOWN_DEST,
    DRAIN,
    DRAM,
    FILL,
    GLB,
    MAC,
    NET_SUFFIX,
    READ,
    RF,
    ROLES,
    UP,
    UP_SRC,
    UPDATE,
)
from accelsim.problem import from_layer
from workloads.layer import Layer

# access-count levels
L_DRAM, L_GLB, L_NOC, L_RF = range(4)
ACCESS_LEVELS = ("dram", "glb", "noc", "rf")
TENSOR_NAMES = ROLES


@dataclass(frozen=True)
class Counts:
    macs: int
    cycles: int                                   # ideal: temporal steps, one MAC per active PE per step
    active_pes: int
    reads: tuple[tuple[int, ...], ...]            # [level][tensor], ACCESS_LEVELS x TENSOR_NAMES
    writes: tuple[tuple[int, ...], ...]
    noc_transfers: tuple[int, ...]                # words crossing the buffer/array boundary, multicast once

    def as_dict(self) -> dict:
        return {lv: {t: {"reads": self.reads[li][ti], "writes": self.writes[li][ti]}
                     for ti, t in enumerate(TENSOR_NAMES)} for li, lv in enumerate(ACCESS_LEVELS)}


def axis_sums(Dp: int, Tp: int, Dr: int, Tr: int, stride: int, dil: int, pad: int, size: int,
              slide: int, m: int, f: int) -> tuple[int, int]:
    """Sum over (output tile, filter tile) pairs of the input rows each touches (clipped to the
    tensor), and of the rows kept by slides. ``slide`` 1: the sliding loop moves the output dim,
    2: the filter dim, 0: none; it moves ``m`` tiles per step and has ``f`` iterations."""
    nP, nR = ceil_div(Dp, Tp), ceil_div(Dr, Tr)
    total = 0
    overlap = 0
    for i in range(nP):
        pb = i * Tp
        pe = min(Tp, Dp - pb)
        slide_p = slide == 1 and (i // m) % f >= 1
        for j in range(nR):
            rb = j * Tr
            re = min(Tr, Dr - rb)
            off = pb * stride + rb * dil - pad
            lo, hi = -off, size - off
            total += _count_in(pe, re, stride, dil, lo, hi)
            if slide_p:
                overlap += _overlap_in(pe, re, Tp, re, m * Tp * stride, stride, dil, lo, hi)
            elif slide == 2 and (j // m) % f >= 1:
                overlap += _overlap_in(pe, re, pe, Tr, m * Tr * dil, stride, dil, lo, hi)
    return total, overlap


def to_counts(actions: Actions) -> Counts:
    def three(values: list[int]) -> tuple[int, int, int]:
        i, w, p = values
        return (i, w, p)

    def level(name: str, a: str, b: str) -> tuple[int, int, int]:
        return three([actions.storage.get((name, r, a), 0) + actions.storage.get((name, r, b), 0) for r in ROLES])

    def net(a: str, b: str | None = None) -> tuple[int, int, int]:
        return three([actions.network.get((GLB, r, a), 0) + (actions.network.get((GLB, r, b), 0) if b else 0)
                      for r in ROLES])

    reads = (level(DRAM, READ, DRAIN), level(GLB, READ, DRAIN), net(DOWN_DEST), level(RF, READ, DRAIN))
    writes = (level(DRAM, FILL, UPDATE), level(GLB, FILL, UPDATE), net(UP_SRC), level(RF, FILL, UPDATE))
    return Counts(actions.macs, actions.cycles, actions.active, reads, writes, net(DOWN, UP))


@lru_cache(maxsize=1)
def column_keys() -> tuple[tuple[str, tuple[str, str, str], tuple[str, ...]], ...]:
    """Each priced ``Counts`` entry (named as ``cost.fast.COLUMNS`` names it) with the action key it is
    priced as over ``hierarchy.from_arch``'s components and the actions :func:`to_counts` merged into
    it (a level's reads: read + drain; writes: fill + update; the NoC's reads: down_dest, writes:
    up_src, transfers: down + up). Merged actions must cost the same for a ``Counts`` row to be priced."""
    net = GLB + NET_SUFFIX
    out: list[tuple[str, tuple[str, str, str], tuple[str, ...]]] = [("macs", (MAC, ANY_ROLE, COMPUTE), (COMPUTE,))]
    comp = {"dram": DRAM, "glb": GLB, "noc": net, "rf": RF}
    for kind, storage, network in (("reads", (READ, DRAIN), (DOWN_DEST,)), ("writes", (FILL, UPDATE), (UP_SRC,))):
        for lv in ACCESS_LEVELS:
            acts = network if lv == "noc" else storage
            out += [(f"{kind}.{lv}.{t}", (comp[lv], t, acts[0]), acts) for t in ROLES]
    out += [(f"noc_transfers.{t}", (net, t, DOWN), (DOWN, UP)) for t in ROLES]
    return tuple(out)


def priced_actions_of_counts(counts: Counts) -> Actions:
    """A ``Counts`` row as an action table over ``from_arch``'s levels (each entry under the first of
    its merged actions, :func:`column_keys`), for pricing rows that were never an action table (the
    mapper's batch rows, bandwidth-only layers).

    Differs from ``cost.bound.traffic_actions_of_counts``: energy needs every level (RF included) but
    not which way a partial sum crosses the array network (down and up cost the same), so all psum
    transfers stay under ``down``; the bound needs the down/up split per stream and no RF."""
    value = {"macs": counts.macs}
    for kind, rows in (("reads", counts.reads), ("writes", counts.writes)):
        for li, lv in enumerate(ACCESS_LEVELS):
            for ti, t in enumerate(ROLES):
                value[f"{kind}.{lv}.{t}"] = rows[li][ti]
    for ti, t in enumerate(ROLES):
        value[f"noc_transfers.{t}"] = counts.noc_transfers[ti]
    storage = {key: value[name] for name, key in _placed()[0]}
    network = {key: value[name] for name, key in _placed()[1]}
    return Actions(counts.macs, counts.cycles, counts.active_pes, storage, network)


@lru_cache(maxsize=1)
def _placed() -> tuple[tuple[tuple[str, tuple[str, str, str]], ...], tuple[tuple[str, tuple[str, str, str]], ...]]:
    """column_keys split into (storage keys, network keys by level), compute left out."""
    storage, network = [], []
    for name, (c, r, a), _ in column_keys():
        if a == COMPUTE:
            continue
        if c.endswith(NET_SUFFIX):
            network.append((name, (c[: -len(NET_SUFFIX)], r, a)))
        else:
            storage.append((name, (c, r, a)))
    return tuple(storage), tuple(network)


@lru_cache(maxsize=256)
def _shape(rows: int, cols: int) -> Hierarchy:
    return fixed_shape(rows, cols)


def fixed_actions(layer: Layer, m: Mapping) -> Actions:
    """The general action table of a fixed-shape mapping (levels dram, glb with its array network,
    rf, reg). Pure; the table does not depend on the layer's name, so layers of one shape (and the
    report, which reads the table again) share one count."""
    key = (replace(layer, name=""), m)
    found = _FIXED_ACTIONS.get(key)
    if found is None:
        h = _shape(m.spatial(ROWS), m.spatial(COLS))
        found = count_actions(from_layer(layer), h, from_fixed(m, h))   # errors name the layer
        if len(_FIXED_ACTIONS) >= 1024:
            _FIXED_ACTIONS.clear()
        _FIXED_ACTIONS[key] = found
    return found


_FIXED_ACTIONS: dict[tuple[Layer, Mapping], Actions] = {}     # fixed_actions' memo (Actions is frozen)


def count(layer: Layer, m: Mapping) -> Counts:
    """Exact reads/writes per level and tensor, MACs and ideal cycles. Pure."""
    return to_counts(fixed_actions(layer, m))


def busy_pes(layer: Layer, m: Mapping) -> int:
    """PEs that do at least one MAC: the array positions whose spatial indices fall inside the
    layer (all of them for the first tile under ceil tiling). Below ``active_pes`` when a
    spatial factor over-covers its dim, e.g. a 27-row set folded onto 2 x 14 columns: 135 of 140."""
    from accelsim.mapping import DRAM as L_DRAM_LEVEL
    from accelsim.mapping import GLB as L_GLB_LEVEL
    from accelsim.mapping import RF as L_RF_LEVEL

    spans = m.spans()
    out = 1
    for d, D in enumerate(layer.dims):
        loops = [(m.factors[lv][d], spans[(d, lv)], lv in (ROWS, COLS))
                 for lv in (L_DRAM_LEVEL, L_GLB_LEVEL, ROWS, COLS, L_RF_LEVEL) if m.factors[lv][d] > 1]
        out *= count_tuples(D, loops)
    return out
