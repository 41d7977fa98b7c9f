"""A problem, a hierarchy and loop nests over it as int64 arrays: the input of the general numba
scorer (``accelsim.cost.fast_nest``) and the currency of the general mapper.

:class:`NestLayout` (one per (problem, hierarchy)) names every position; no caller spells one:

- dims: ``problem.dim_names`` (index = position); roles: ``accelsim.names.ROLES``; levels:
  ``hierarchy.level_names``; spatial axes: ``accelsim.names.AXES``;
- count columns (``columns``): ``macs``, ``cycles``, ``active`` (:data:`HEAD`), then one column per
  storage key ``(level, role, action)`` for every level x ``ROLES`` x ``STORAGE_ACTIONS``, then one
  per network key ``(level, role, action)`` for every level with a fanout x ``ROLES`` x
  ``NETWORK_ACTIONS``: a superset of the keys ``cost.actions.count_actions`` emits, so a row and an
  ``Actions`` convert both ways (:meth:`NestLayout.row_of`, :meth:`NestLayout.actions_of`).

:class:`NestArrays` (leading batch axis B): ``factors (B, L, D)`` temporal factors per level and dim,
``orders (B, L, D)`` per level the dim indices outer -> inner (a permutation), ``spatial (B, L, 2, D)``
per level the factors of the fanout below it per axis (1 where the level has no fanout), ``keeps
(B, L, 3)`` 0/1 per role. :func:`encode_nests` / :func:`decode_nest` convert from / to
``loopnest.LoopNest`` exactly (a dim missing from a level's ``order`` follows in problem order, as
``loopnest.flatten`` places it).

The problem side (:class:`ProblemArrays`): dim sizes, per role which dims index it and the product
of its plain axes' sizes, and its coupled axes (a coordinate that is not a plain dim): their two
terms, offset and size. Exact range as ``accelsim.cost.encode``: product of the dim sizes <= 2**60,
every size, coefficient and offset below 2**31 (ConfigError otherwise; use ``count_actions``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np

from accelsim.cost.actions import Actions
from accelsim.errors import ConfigError
from accelsim.hierarchy import Hierarchy
from accelsim.loopnest import LevelMap, LoopNest
from accelsim.names import (
    AXES,
    DOWN,
    DOWN_DEST,
    DRAIN,
    FILL,
    NETWORK_ACTIONS,
    OUTPUT_ROLE,
    READ,
    ROLES,
    STORAGE_ACTIONS,
    UP,
    UP_SRC,
    UPDATE,
    X,
    Y,
)
from accelsim.problem import Problem

MACS, CYCLES, ACTIVE = "macs", "cycles", "active"
HEAD: tuple[str, ...] = (MACS, CYCLES, ACTIVE)
SCALAR_LIMIT = 1 << 31
PRODUCT_LIMIT = 1 << 60

# coupled-axis fields (ProblemArrays.coupled columns)
C_ROLE, C_D1, C_K1, C_D2, C_K2, C_OFF, C_SIZE, C_G, C_S, C_DL = range(10)


class NestArrays(NamedTuple):
    factors: np.ndarray     # (B, L, D)
    orders: np.ndarray      # (B, L, D)
    spatial: np.ndarray     # (B, L, 2, D)
    keeps: np.ndarray       # (B, L, 3)

    @property
    def n_nests(self) -> int:
        """Nests in the batch (``len()`` is the number of fields, as for any NamedTuple)."""
        return int(self.factors.shape[0])

    def take(self, index: np.ndarray) -> NestArrays:
        return NestArrays(*(a[index] for a in self))

    @staticmethod
    def concat(parts: list[NestArrays]) -> NestArrays:
        return NestArrays(*(np.concatenate([p[i] for p in parts]) for i in range(4)))


class ProblemArrays(NamedTuple):
    sizes: np.ndarray        # (D,)
    rel: np.ndarray          # (3, D) 1 where the dim indexes the role's tensor
    plain: np.ndarray        # (3,) product of the sizes of the role's plain axes
    coupled: np.ndarray      # (C, 10) one row per coupled axis (C_* columns)
    macs: int


@dataclass(frozen=True, eq=False)
class NestLayout:
    problem: Problem
    hierarchy: Hierarchy

    # ---- names and positions ------------------------------------------------------------------
    @cached_property
    def dims(self) -> tuple[str, ...]:
        return self.problem.dim_names

    @cached_property
    def levels(self) -> tuple[str, ...]:
        return self.hierarchy.level_names

    @cached_property
    def fanout_levels(self) -> tuple[int, ...]:
        return tuple(i for i, lv in enumerate(self.hierarchy.levels) if lv.fanout is not None)

    @cached_property
    def storage_base(self) -> int:
        return len(HEAD)

    @cached_property
    def network_base(self) -> int:
        return len(HEAD) + len(self.levels) * len(ROLES) * len(STORAGE_ACTIONS)

    @cached_property
    def columns(self) -> tuple[str | tuple[str, str, str], ...]:
        st = [(lv, r, a) for lv in self.levels for r in ROLES for a in STORAGE_ACTIONS]
        net = [(self.levels[i], r, a) for i in self.fanout_levels for r in ROLES for a in NETWORK_ACTIONS]
        return HEAD + tuple(st) + tuple(net)

    @cached_property
    def width(self) -> int:
        return len(self.columns)

    def storage_column(self, level: str, role: str, action: str) -> int:
        return (self.storage_base + (self.levels.index(level) * len(ROLES) + ROLES.index(role))
                * len(STORAGE_ACTIONS) + STORAGE_ACTIONS.index(action))

    def network_column(self, level: str, role: str, action: str) -> int:
        f = self.fanout_levels.index(self.levels.index(level))
        return (self.network_base + (f * len(ROLES) + ROLES.index(role)) * len(NETWORK_ACTIONS)
                + NETWORK_ACTIONS.index(action))

    @cached_property
    def kernel_layout(self) -> np.ndarray:
        """Integers the kernel takes its positions from: [storage_base, network_base, n_storage_actions,
        n_network_actions, output role, read, fill, update, drain, down, down_dest, up, up_src,
        column of macs, cycles, active, n_roles]."""
        return np.array([self.storage_base, self.network_base, len(STORAGE_ACTIONS), len(NETWORK_ACTIONS),
                         ROLES.index(OUTPUT_ROLE), *(STORAGE_ACTIONS.index(a) for a in (READ, FILL, UPDATE, DRAIN)),
                         *(NETWORK_ACTIONS.index(a) for a in (DOWN, DOWN_DEST, UP, UP_SRC)),
                         HEAD.index(MACS), HEAD.index(CYCLES), HEAD.index(ACTIVE), len(ROLES)], dtype=np.int64)

    @cached_property
    def fanout_index(self) -> np.ndarray:
        """(L,) per level the index of its fanout among ``fanout_levels``, -1 without one."""
        out = np.full(len(self.levels), -1, np.int64)
        for k, i in enumerate(self.fanout_levels):
            out[i] = k
        return out

    # ---- the problem --------------------------------------------------------------------------
    @cached_property
    def problem_arrays(self) -> ProblemArrays:
        p = self.problem
        dims = self.dims
        sizes = np.array([p.size(d) for d in dims], dtype=np.int64)
        if p.macs > PRODUCT_LIMIT:
            raise ConfigError(f"problem {p.name!r}: product of the dim sizes {p.macs} exceeds the int64 scorer's "
                              f"exact range (allowed <= 2**60); use accelsim.cost.actions.count_actions")
        rel = np.zeros((len(ROLES), len(dims)), dtype=np.int64)
        plain = np.ones(len(ROLES), dtype=np.int64)
        coupled = []
        for t, role in enumerate(ROLES):
            tensor = p.tensor(role)
            for c in tensor.coords:
                for d, k in c.terms:
                    rel[t, dims.index(d)] = 1
                    if k >= SCALAR_LIMIT:
                        raise ConfigError(f"problem {p.name!r}: coefficient {k} of {d} is outside the int64 scorer's "
                                          "exact range (< 2**31); use accelsim.cost.actions.count_actions")
                if abs(c.offset) >= SCALAR_LIMIT or c.size >= SCALAR_LIMIT:
                    raise ConfigError(f"problem {p.name!r}: coordinate {c.text()!r} of {tensor.name} is outside the "
                                      "int64 scorer's exact range (offset and size < 2**31); use count_actions")
                if p.is_simple(c):
                    plain[t] *= c.size
                    continue
                (d1, k1), *rest = c.terms
                d2, k2 = rest[0] if rest else (None, 1)
                g = math.gcd(k1, k2)
                coupled.append((t, dims.index(d1), k1, -1 if d2 is None else dims.index(d2), k2, c.offset, c.size,
                                g, k1 // g, k2 // g))
        return ProblemArrays(sizes, rel, plain, np.array(coupled, dtype=np.int64).reshape(-1, 10), p.macs)

    # ---- rows <-> action tables -------------------------------------------------------------
    def row_of(self, a: Actions) -> np.ndarray:
        """The count row of an action table (keys it lacks are 0; a key outside the layout raises)."""
        row = np.zeros(self.width, dtype=np.int64)
        row[HEAD.index(MACS)], row[HEAD.index(CYCLES)], row[HEAD.index(ACTIVE)] = a.macs, a.cycles, a.active
        for (lv, r, act), n in a.storage.items():
            row[self.storage_column(lv, r, act)] += n
        for (lv, r, act), n in a.network.items():
            row[self.network_column(lv, r, act)] += n
        return row

    def actions_of(self, row: np.ndarray) -> Actions:
        """The action table of a row (every key of the layout, zeros included)."""
        v = np.asarray(row, dtype=np.int64).tolist()
        storage = {k: v[self.storage_base + i] for i, k in enumerate(self.columns[len(HEAD):self.network_base])}
        network = {k: v[self.network_base + i] for i, k in enumerate(self.columns[self.network_base:])}
        return Actions(v[HEAD.index(MACS)], v[HEAD.index(CYCLES)], v[HEAD.index(ACTIVE)], storage, network)


def encode_nests(layout: NestLayout, nests: list[LoopNest]) -> NestArrays:
    """The nests as arrays (names resolved through ``layout``; no legality check here: the kernel
    checks the structural rules, ``loopnest.problems_of`` the rest)."""
    dims, levels = layout.dims, layout.levels
    B, L, D = len(nests), len(levels), len(dims)
    factors = np.ones((B, L, D), dtype=np.int64)
    orders = np.empty((B, L, D), dtype=np.int64)
    spatial = np.ones((B, L, len(AXES), D), dtype=np.int64)
    keeps = np.zeros((B, L, len(ROLES)), dtype=np.int64)
    for b, nest in enumerate(nests):
        if tuple(lm.level for lm in nest.levels) != levels:
            raise ConfigError(f"nest {b}: levels {[lm.level for lm in nest.levels]} must be the hierarchy's "
                              f"{list(levels)}")
        for i, lm in enumerate(nest.levels):
            for d, f in lm.factors:
                factors[b, i, dims.index(d)] = f
            order = list(lm.order) + [d for d in dims if d not in lm.order]
            orders[b, i] = [dims.index(d) for d in order]
            for a, pairs in enumerate((lm.x, lm.y)):
                for d, f in pairs:
                    spatial[b, i, a, dims.index(d)] = f
            for r in lm.keeps:
                keeps[b, i, ROLES.index(r)] = 1
            if lm.per_pass:
                raise ConfigError(f"nest {b}: per-pass tiles (level {lm.level!r}) are counted by "
                                  f"accelsim.cost.actions.count_actions only, not the int64 scorer")
    return NestArrays(factors, orders, spatial, keeps)


def decode_nest(layout: NestLayout, arrays: NestArrays, b: int) -> LoopNest:
    """Nest ``b`` of the batch as a LoopNest (factor-1 entries omitted, full orders)."""
    dims = layout.dims
    out = []
    for i, name in enumerate(layout.levels):
        f = arrays.factors[b, i]
        sp = arrays.spatial[b, i]
        has_fan = layout.hierarchy.levels[i].fanout is not None
        out.append(LevelMap(
            name,
            tuple((d, int(f[k])) for k, d in enumerate(dims) if f[k] != 1),
            tuple(dims[int(k)] for k in arrays.orders[b, i]),
            tuple(r for t, r in enumerate(ROLES) if arrays.keeps[b, i, t]),
            tuple((d, int(sp[AXES.index(X), k])) for k, d in enumerate(dims) if has_fan and sp[AXES.index(X), k] != 1),
            tuple((d, int(sp[AXES.index(Y), k])) for k, d in enumerate(dims) if has_fan and sp[AXES.index(Y), k] != 1)))
    return LoopNest(tuple(out))


__all__ = ["HEAD", "NestArrays", "NestLayout", "ProblemArrays", "decode_nest", "encode_nests"]
