"""The keys of an energy table: which actions a component of each kind may be priced for, the fixed
shape's components, and the ``pj:`` override section of an arch or hierarchy YAML (read by both
``accelsim.arch`` and ``accelsim.energy_table``; no import of either, so neither depends on the other).
"""

from __future__ import annotations

from accelsim.fields import Fields
from accelsim.names import (
    ANY_ROLE,
    COMPUTE,
    COMPUTE_UNIT,
    DRAM,
    EXTRA_COMPUTE_ACTIONS,
    EXTRA_NETWORK_ACTIONS,
    EXTRA_STORAGE_ACTIONS,
    GLB,
    MAC,
    NET_SUFFIX,
    NETWORK,
    NETWORK_ACTIONS,
    REG,
    RF,
    ROLES,
    STORAGE,
    STORAGE_ACTIONS,
    VECTOR_UNIT,
)
from accelsim.vector_ops import OPS

Entry = tuple[str, str, str, float]        # (component, role or ANY_ROLE, action, pJ)


def actions_of(kind: str) -> tuple[str, ...]:
    """The action names a component of ``kind`` may have, canonical order."""
    if kind == STORAGE:
        return STORAGE_ACTIONS + EXTRA_STORAGE_ACTIONS
    if kind == NETWORK:
        return NETWORK_ACTIONS + EXTRA_NETWORK_ACTIONS
    if kind == VECTOR_UNIT:
        return tuple(OPS)
    return (COMPUTE,) + EXTRA_COMPUTE_ACTIONS + tuple(OPS)


def network_name(level: str) -> str:
    return level + NET_SUFFIX


FIXED_COMPONENTS: tuple[tuple[str, str], ...] = (
    (DRAM, STORAGE), (GLB, STORAGE), (network_name(GLB), NETWORK), (RF, STORAGE), (REG, STORAGE), (MAC, COMPUTE_UNIT))


def pj_overrides(f: Fields, components: tuple[tuple[str, str], ...]) -> tuple[Entry, ...]:
    """The ``pj: {component: {action: pJ | {role: pJ}}}`` key of an energy section (absent: none).
    Actions are any of the component kind's (sparse ones included: ``gated_read``, ``metadata_fill``,
    ``gated_compute``). Errors are one line naming the file and key."""
    kinds = dict(components)
    overrides: list[Entry] = []
    if f.has("pj"):
        pf = f.sub("pj")
        for c in list(pf.data):
            if c not in kinds:
                raise pf.error(c, f"unknown component {c!r}; components: {', '.join(kinds)}")
            cf = pf.sub(c)
            allowed = actions_of(kinds[c])
            for a in list(cf.data):
                if a not in allowed:
                    raise cf.error(a, f"unknown action {a!r} for {kinds[c]} component {c!r}; "
                                      f"allowed: {', '.join(allowed)}")
                if isinstance(cf.raw(a), dict) and kinds[c] != COMPUTE_UNIT:
                    rf = cf.sub(a)
                    for r in list(rf.data):
                        if r not in ROLES:
                            raise rf.error(r, f"unknown tensor {r!r}; allowed: {', '.join(ROLES)}")
                        overrides.append((c, r, a, rf.number(r, minimum=0)))
                    rf.done()
                else:
                    overrides.append((c, ANY_ROLE, a, cf.number(a, minimum=0)))
            cf.done()
        pf.done()
    return tuple(overrides)


__all__ = ["FIXED_COMPONENTS", "Entry", "actions_of", "network_name", "pj_overrides"]
