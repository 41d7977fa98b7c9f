"""Energy = action counts x the energy table: the one implementation of the energy sum.

``energy_of(actions, hierarchy, table) -> EnergyBreakdown``: one row per action of the table
``cost.actions.Actions`` (compute: ``(compute level, ANY_ROLE, compute)`` = MACs; non-MAC ops
``(unit, ANY_ROLE, op kind)`` on the vector unit or the MAC array; storage rows under
the level's name; network rows under ``<level>.net``) with its count, pJ per word and pJ; sums per
component and per role; the total. :func:`weights` is the same table as a float64 vector over an
ordered list of action keys, for numba scorers: a scorer that adds ``count[k] * w[k]`` over keys in
:func:`canonical` order gets the total bit for bit (a row's pJ is ``count * pJ per word`` and the
total adds the rows in canonical order; adding 0.0 for a zero count changes nothing).

Invariants: every action present in ``actions`` (zero counts included) must be priced by the table
(else ConfigError naming the component and action: never a silent 0); every storage/network level
named must be a component of ``hierarchy``; the rows are in the table's canonical order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from accelsim.cost.actions import Actions
from accelsim.energy_table import EnergyTable, network_name, sort_key
from accelsim.errors import ConfigError
from accelsim.names import ANY_ROLE, COMPUTE, ROLES

if TYPE_CHECKING:                # numpy only for the scorers' weight vectors: a named run never imports it
    import numpy as np

Key = tuple[str, str, str]       # (component, role, action)


@dataclass(frozen=True)
class EnergyBreakdown:
    rows: tuple[tuple[str, str, str, int, float, float], ...]   # component, role, action, count, pJ each, pJ
    total_pj: float

    def by_component(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for c, _, _, _, _, pj in self.rows:
            out[c] = out.get(c, 0.0) + pj
        return out

    def by_role(self) -> dict[str, float]:
        """Data movement per tensor role (compute rows, which have no role, are not in it)."""
        out = {r: 0.0 for r in ROLES}
        for _, r, _, _, _, pj in self.rows:
            if r in out:
                out[r] += pj
        return out

    def pj(self, component: str, role: str, action: str) -> float:
        for c, r, a, _, _, pj in self.rows:
            if (c, r, a) == (component, role, action):
                return pj
        return 0.0

    def table(self) -> str:
        lines = [f"{'component':<16} {'tensor':<7} {'action':<10} {'count':>14} {'pJ each':>9} {'pJ':>14}"]
        lines += [f"{c:<16} {r:<7} {a:<10} {n:>14,} {e:>9.4g} {pj:>14,.1f}" for c, r, a, n, e, pj in self.rows if n]
        lines += [f"{c:<16} {'':<7} {'':<10} {'':>14} {'':>9} {pj:>14,.1f}" for c, pj in self.by_component().items()]
        lines.append(f"{'total':<16} {'':<7} {'':<10} {'':>14} {'':>9} {self.total_pj:>14,.1f}")
        return "\n".join(lines)


def keys_of(actions: Actions, hierarchy: Any) -> list[tuple[Key, int]]:
    """Every (component, role, action) key of an action table with its count, unordered."""
    levels = set(hierarchy.level_names)
    out: list[tuple[Key, int]] = [((hierarchy.compute.name, ANY_ROLE, COMPUTE), actions.macs)]
    for (lv, r, a), n in actions.storage.items():
        if lv not in levels:
            raise ConfigError(f"action table names level {lv!r}, which hierarchy {hierarchy.name!r} does not have")
        out.append(((lv, r, a), n))
    for (lv, r, a), n in actions.network.items():
        if lv not in levels or hierarchy.level(lv).fanout is None:
            raise ConfigError(f"action table names the network below {lv!r}, which hierarchy {hierarchy.name!r} "
                              "does not have")
        out.append(((network_name(lv), r, a), n))
    units = {hierarchy.compute.name} | ({hierarchy.vector.name} if getattr(hierarchy, "vector", None) else set())
    for (u, op), n in actions.ops.items():
        if u not in units:
            raise ConfigError(f"action table names unit {u!r}, which hierarchy {hierarchy.name!r} does not have")
        out.append(((u, ANY_ROLE, op), n))
    return out


def canonical(keys: list[Key], table: EnergyTable) -> list[Key]:
    """``keys`` sorted in the table's canonical order (the order the total is added in)."""
    return sorted(keys, key=lambda k: sort_key(table, *k))


def _check(hierarchy: Any, table: EnergyTable) -> None:
    from accelsim.energy_table import components_of

    if components_of(hierarchy) != table.components:
        raise ConfigError(f"energy table {table.name!r} is for components "
                          f"{', '.join(c for c, _ in table.components)}, not hierarchy {hierarchy.name!r}'s")


def energy_of(actions: Actions, hierarchy: Any, table: EnergyTable) -> EnergyBreakdown:
    """The energy of an action table on ``hierarchy`` priced by ``table`` (module docstring)."""
    _check(hierarchy, table)
    found = keys_of(actions, hierarchy)
    found.sort(key=lambda kn: sort_key(table, *kn[0]))
    rows = []
    total = 0.0
    for (c, r, a), n in found:
        each = table.pj(c, r, a)
        pj = n * each
        total += pj
        rows.append((c, r, a, n, each, pj))
    return EnergyBreakdown(tuple(rows), total)


def weights(keys: list[Key], table: EnergyTable) -> np.ndarray:
    """pJ per count of each key, float64, in the given order (for numba scorers: energy = the sum of
    count x weight; bit-equal to energy_of's total when ``keys`` are in :func:`canonical` order)."""
    import numpy as np

    return np.array([table.pj(c, r, a) for c, r, a in keys], dtype=np.float64)


MAC_PART = "mac"     # the compute level's entry in :func:`energy_parts` (whatever the compute level's name)


def energy_parts(actions: Actions, hierarchy: Any, table: EnergyTable) -> tuple[dict[str, float], dict[str, float]]:
    """(pJ per part: ``mac`` (the compute level), then each level and ``LEVEL.net`` in hierarchy
    order; pJ per tensor role, data movement only) of :func:`energy_of`."""
    e = energy_of(actions, hierarchy, table)
    by_c = e.by_component()
    compute = hierarchy.compute.name
    parts = {MAC_PART: by_c.get(compute, 0.0)}
    parts.update({c: by_c.get(c, 0.0) for c, _ in table.components if c != compute})
    return parts, e.by_role()


def column_weights(layout: Any, table: EnergyTable) -> np.ndarray:
    """pJ per count of each column of a general scorer's row layout (``cost.nest_arrays.NestLayout``:
    ``macs`` / ``cycles`` / ``active``, then storage keys ``(level, role, action)``, then from
    ``network_base`` network keys ``(level, role, action)``): ``macs`` the compute energy, the other
    head columns 0, every key its table price (energy = row . weights, up to float rounding)."""
    import numpy as np

    from accelsim.names import COMPUTE as _C

    out = []
    compute = layout.hierarchy.compute.name
    for i, col in enumerate(layout.columns):
        if isinstance(col, str):
            out.append(table.pj(compute, ANY_ROLE, _C) if col == "macs" else 0.0)
            continue
        lv, r, a = col
        out.append(table.pj(network_name(lv) if i >= layout.network_base else lv, r, a))
    return np.array(out, dtype=np.float64)


__all__ = ["MAC_PART", "EnergyBreakdown", "canonical", "column_weights", "energy_of", "energy_parts", "keys_of",
           "weights"]
