"""The energy table of a hierarchy: pJ per action of each component, Accelergy style.

Components: every storage level (its name), the network of each fanout (``<level>.net``,
``accelsim.names.NET_SUFFIX``) and the compute level (its name). An entry is
``(component, role, action) -> pJ`` per word (per MAC for ``compute``); ``role`` is a tensor role or
``ANY_ROLE`` (every role; compute entries always). A lookup tries the role's own entry, then the
``ANY_ROLE`` one; a missing entry is a ConfigError naming the component and action, never a silent 0.

Invariants (checked on construction, ConfigError otherwise):
- components are unique, of kind storage / network / compute, in hierarchy order (outermost first,
  a level's network right after it, compute last); that order is the canonical summation order;
- an entry names a component of the table, an action of its kind (``accelsim.names``:
  ``STORAGE_ACTIONS`` / ``NETWORK_ACTIONS`` / ``COMPUTE`` plus the ``EXTRA_*_ACTIONS`` later models
  declare), a known role, a finite energy >= 0; no key twice;
- areas (mm^2 per instance, optional) are finite, >= 0 and name components.

:func:`preset_table` prices every dense action of a hierarchy from an ``accelsim.energy`` preset by
level class: the first level is the backing store (``dram``); the innermost level, when its capacity
groups are all one word, is a register (charged 0 in every preset: ISCA'16 and the fixed shape fold
operand registers into the MAC); a level with a fanout below it is a ``buffer``; any other level is
``local`` (an RF / scratchpad). Storage: read and drain cost the preset's read energy, fill and
update its write energy. A network costs hop x a per word received or sent per destination/source
(down_dest, up_src) and hop x b per distinct word (down, up), with (a, b) the NoC model's per-role
hop coefficients (``noc.model.NocModel.hop_coefficients``), exactly as the fixed shape charges its
array network. :func:`arch_table` is the fixed-shape arch's record (``accelsim.energy.ArchEnergy``,
with its YAML overrides) as the same table over ``hierarchy.from_arch``'s levels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from accelsim.energy import PRESET_BY_NAME, Preset
from accelsim.energy_keys import FIXED_COMPONENTS, Entry, actions_of, network_name, pj_overrides
from accelsim.errors import ConfigError
from accelsim.fields import Fields
from accelsim.names import (
    ANY_ROLE,
    COMPUTE,
    COMPUTE_UNIT,
    DOWN,
    DOWN_DEST,
    DRAIN,
    DRAM,
    FILL,
    GATED,
    GLB,
    MAC,
    METADATA,
    NETWORK,
    NETWORK_ACTIONS,
    READ,
    REG,
    RF,
    ROLES,
    STORAGE,
    STORAGE_ACTIONS,
    UP,
    UP_SRC,
    UPDATE,
    VECTOR_UNIT,
    sparse_action,
)
from accelsim.vector_ops import OPS


@dataclass(frozen=True)
class EnergyTable:
    name: str                                          # the preset (and "+ overrides" when overridden)
    components: tuple[tuple[str, str], ...]            # (component, kind), canonical order
    entries: tuple[Entry, ...]
    area_mm2: tuple[tuple[str, float], ...] = ()       # per instance, optional
    sources: tuple[str, ...] = ()                      # where the numbers come from; what is not charged
    _index: dict = field(init=False, repr=False, compare=False, hash=False)
    _order: dict = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        kinds = dict(self.components)
        if len(kinds) != len(self.components):
            raise ConfigError(f"energy table {self.name!r}: a component is listed twice")
        index: dict[tuple[str, str, str], float] = {}
        for c, role, action, pj in self.entries:
            if c not in kinds:
                raise ConfigError(f"energy table {self.name!r}: unknown component {c!r}; "
                                  f"components: {', '.join(kinds)}")
            allowed = actions_of(kinds[c])
            if action not in allowed:
                raise ConfigError(f"energy table {self.name!r}: unknown action {action!r} for {kinds[c]} component "
                                  f"{c!r}; allowed: {', '.join(allowed)}")
            if role != ANY_ROLE and role not in ROLES:
                raise ConfigError(f"energy table {self.name!r}: unknown tensor {role!r} for {c!r}; "
                                  f"allowed: {', '.join(ROLES)}")
            if isinstance(pj, bool) or not isinstance(pj, (int, float)) or not math.isfinite(pj) or pj < 0:
                raise ConfigError(f"energy table {self.name!r}: energy of {c} {role} {action} must be a "
                                  f"finite number >= 0, got {pj!r}")
            if (c, role, action) in index:
                raise ConfigError(f"energy table {self.name!r}: {c} {role} {action} given twice")
            index[(c, role, action)] = float(pj)
        for c, a in self.area_mm2:
            if c not in kinds or not math.isfinite(a) or a < 0:
                raise ConfigError(f"energy table {self.name!r}: bad area {a!r} for component {c!r}")
        object.__setattr__(self, "_index", index)
        # component -> (position, its actions); memoised (component, role, action) -> sort key
        object.__setattr__(self, "_order", {c: (ci, actions_of(k)) for ci, (c, k) in enumerate(self.components)})

    def kind(self, component: str) -> str:
        for c, k in self.components:
            if c == component:
                return k
        raise ConfigError(f"energy table {self.name!r}: no component {component!r}; "
                          f"components: {', '.join(c for c, _ in self.components)}")

    def pj(self, component: str, role: str, action: str) -> float:
        """pJ per word (per MAC) of one action. ConfigError when the table does not price it."""
        v = self._index.get((component, role, action))
        if v is None:
            v = self._index.get((component, ANY_ROLE, action))
        if v is None:
            kind = self.kind(component)
            what = f"tensor {role}" if role != ANY_ROLE else "any tensor"
            raise ConfigError(f"energy table {self.name!r} has no energy for action {action!r} of {kind} "
                              f"{component!r} ({what}); give it under energy.pj.{component}.{action}")
        return v

    def rows(self) -> list[tuple[str, str, str, float]]:
        """The entries in canonical order."""
        return sorted(self.entries, key=lambda e: sort_key(self, e[0], e[1], e[2]))

    def describe(self) -> str:
        lines = [f"energy table {self.name} (pJ per word; per MAC for compute)"]
        lines += [f"  {c:<16} {r:<7} {a:<10} {pj:.6g}" for c, r, a, pj in self.rows()]
        return "\n".join(lines)


def sort_key(table: EnergyTable, component: str, role: str, action: str) -> tuple[int, int, int, str]:
    """The canonical order: component (hierarchy order), role (ROLES order, ANY_ROLE last), action
    (the kind's order); an energy sum is added in this order (accelsim.cost.energy)."""
    memo = table._order
    key = (component, role, action)
    if key in memo:
        return memo[key]
    found = memo.get(component)
    if found is None:
        table.kind(component)          # raises: unknown component
        raise AssertionError("unreachable")
    ci, acts = found
    ai = acts.index(action) if action in acts else len(acts)
    ri = ROLES.index(role) if role in ROLES else len(ROLES)
    memo[key] = (ci, ri, ai, action)
    return memo[key]


# ---- the components of a hierarchy ---------------------------------------------------------------

def components_of(hierarchy: Any) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for lv in hierarchy.levels:
        out.append((lv.name, STORAGE))
        if lv.fanout is not None:
            out.append((network_name(lv.name), NETWORK))
    out.append((hierarchy.compute.name, COMPUTE_UNIT))
    vec = getattr(hierarchy, "vector", None)
    if vec is not None:
        out.append((vec.name, VECTOR_UNIT))
    return tuple(out)


def instances_of(hierarchy: Any) -> dict[str, int]:
    """How many copies of each component the hierarchy has (the product of the fanouts above it)."""
    out: dict[str, int] = {}
    n = 1
    for lv in hierarchy.levels:
        out[lv.name] = n
        if lv.fanout is not None:
            out[network_name(lv.name)] = n
            n *= lv.fanout.size
    out[hierarchy.compute.name] = n
    vec = getattr(hierarchy, "vector", None)
    if vec is not None:
        out[vec.name] = 1     # ``vector.lanes`` lanes per copy: area_mm2 of a vector unit is per copy
        for i, f in hierarchy.fanouts:
            if i < hierarchy.index(vec.below):
                out[vec.name] *= f.size
    return out


def _kb(words: int | None, word_bits: int) -> float | None:
    return None if words is None else words * word_bits / 8 / 1024


def _rw_entries(c: str, per_role: dict[str, tuple[float, float]]) -> list[Entry]:
    """Read/drain at the read energy, fill/update at the write energy; one ANY_ROLE set when all
    roles cost the same."""
    values = set(per_role.values())
    groups = [(ANY_ROLE, values.pop())] if len(values) == 1 else list(per_role.items())
    out = []
    for role, (r, w) in groups:
        out += [(c, role, READ, r), (c, role, FILL, w), (c, role, UPDATE, w), (c, role, DRAIN, r)]
    return out


def _net_entries(c: str, hop: float, coeffs: dict[str, tuple[float, float]]) -> list[Entry]:
    values = set(coeffs.values())
    groups = [(ANY_ROLE, values.pop())] if len(values) == 1 else list(coeffs.items())
    out = []
    for role, (a, b) in groups:
        out += [(c, role, DOWN, b * hop), (c, role, DOWN_DEST, a * hop), (c, role, UP, b * hop),
                (c, role, UP_SRC, a * hop)]
    return out


def hop_coefficients(network: str, params: tuple, x: int, y: int) -> dict[str, tuple[float, float]]:
    """Per role (a, b) of a fanout's NoC model: hop-words = a x words per destination + b x distinct."""
    from accelsim.arch import NocSpec
    from noc import registry as noc_registry

    spec = NocSpec(network, params)
    ab = noc_registry.model(network).hop_coefficients(x, y, noc_registry.settings(spec))
    return {r: (float(a), float(b)) for r, (a, b) in zip(ROLES, ab)}


def level_class(hierarchy: Any, i: int) -> str:
    """dram (the backing store), register (the innermost level, every capacity group one word: the
    operand registers / accumulator feeding the compute unit), buffer (a fanout below) or local."""
    lv = hierarchy.levels[i]
    if i == 0:
        return "dram"
    if i == len(hierarchy.levels) - 1 and lv.capacity and all(w == 1 for _, w in lv.capacity):
        return "register"
    return "buffer" if lv.fanout is not None else "local"


def vector_entries(hierarchy: Any, p: Preset) -> list[Entry]:
    """One entry per op kind (``vector_ops.OPS``) of each unit that may run non-MAC ops: the MAC array
    (FuseMax puts per-score ops there) and the vector unit when there is one; the preset's
    ``vector_op`` price, else one MAC each."""
    vec = getattr(hierarchy, "vector", None)
    out = _op_entries(hierarchy.compute.name, p, hierarchy.word_bits)
    return out + (_op_entries(vec.name, p, hierarchy.word_bits) if vec is not None else [])


def _op_entries(unit: str, p: Preset, wb: int) -> list[Entry]:
    return [(unit, ANY_ROLE, op, p.vector_op(wb, op) if p.vector_op is not None else p.mac(wb)) for op in OPS]


GATED_PJ = 0.0      # the default price of a gated action: a clock-gated no-op (stated; leakage not modelled)
SPARSE_SOURCE = ("sparse actions: metadata_ACTION words priced as the component's ACTION (a data word); "
                 "gated_ACTION 0 pJ (a clock-gated no-op, leakage not modelled) unless given (energy.pj)")
_DENSE = frozenset(STORAGE_ACTIONS + NETWORK_ACTIONS + (COMPUTE,))


def with_sparse_defaults(base: dict[tuple[str, str, str], float]) -> dict[tuple[str, str, str], float]:
    """``base`` plus, for each dense entry (c, role, a), the sparse model's own actions where not given:
    ``metadata_a`` at a's price (metadata moves as data words of the component) and ``gated_a`` at
    :data:`GATED_PJ` (compute: ``gated_compute`` only). Dense entries are never changed."""
    out = dict(base)
    for (c, r, a), v in base.items():
        if a not in _DENSE:
            continue
        kinds = ((GATED, GATED_PJ),) if a == COMPUTE else ((METADATA, v), (GATED, GATED_PJ))
        for kind, price in kinds:
            out.setdefault((c, r, sparse_action(kind, a)), price)
    return out


def preset_table(hierarchy: Any, preset: str | Preset) -> EnergyTable:
    """Every dense action of ``hierarchy`` priced by a preset (module docstring), plus the sparse
    actions' defaults (:func:`with_sparse_defaults`)."""
    t = _dense_preset_table(hierarchy, preset)
    base = with_sparse_defaults({(c, r, a): v for c, r, a, v in t.entries})
    return EnergyTable(t.name, t.components, tuple((c, r, a, v) for (c, r, a), v in base.items()), (),
                       t.sources + (SPARSE_SOURCE,))


def _dense_preset_table(hierarchy: Any, preset: str | Preset) -> EnergyTable:
    p = PRESET_BY_NAME[preset] if isinstance(preset, str) else preset
    wb = hierarchy.word_bits
    entries: list[Entry] = []
    for i, lv in enumerate(hierarchy.levels):
        cls = level_class(hierarchy, i)
        total = sum(w for _, w in lv.capacity) if lv.capacity else None
        if cls == "dram":
            per = {r: p.dram(wb) for r in ROLES}
        elif cls == "register":
            per = {r: (0.0, 0.0) for r in ROLES}
        elif cls == "buffer":
            per = {r: p.buffer(wb, _kb(total, wb)) for r in ROLES}
        else:
            group = {r: ws for ts, ws in lv.capacity for r in ts}
            per = {r: p.local(wb, _kb(group.get(r, total), wb), r) for r in ROLES}
        entries += _rw_entries(lv.name, per)
        if lv.fanout is not None:
            f = lv.fanout
            entries += _net_entries(network_name(lv.name), p.hop(wb),
                                    hop_coefficients(f.network, f.params, f.x, f.y))
    entries.append((hierarchy.compute.name, ANY_ROLE, COMPUTE, p.mac(wb)))
    entries += vector_entries(hierarchy, p)
    sources = (p.source, p.vector_source) + ((f"not charged: {p.uncharged}",) if p.uncharged else ())
    return EnergyTable(p.name, components_of(hierarchy), tuple(entries), (), sources)


def arch_table(arch: Any) -> EnergyTable:
    """The fixed-shape arch's energy record as the table over ``hierarchy.from_arch``'s components
    (dram, glb, glb.net, rf, reg, mac): DRAM/GLB/RF reads and drains at the read energy, fills and
    updates at the write energy (RF per role), the array network as the arch's NoC model charges it
    (``noc.registry.hop_coefficients``), the operand registers 0 (the fixed shape never charged them)."""
    from noc import registry as noc_registry

    return _arch_table(arch.energy, arch.energy_preset, tuple(noc_registry.hop_coefficients(arch)), arch.word_bits)


@lru_cache(maxsize=256)
def _arch_table(e: Any, preset: str, coeffs: tuple, word_bits: int) -> EnergyTable:
    entries: list[Entry] = []
    entries += _rw_entries(DRAM, {r: (e.dram_read_pj, e.dram_write_pj) for r in ROLES})
    entries += _rw_entries(GLB, {r: (e.glb_read_pj, e.glb_write_pj) for r in ROLES})
    entries += _net_entries(network_name(GLB), e.noc_hop_pj, dict(zip(ROLES, coeffs)))
    entries += _rw_entries(RF, {r: (e.rf_read_pj[i], e.rf_write_pj[i]) for i, r in enumerate(ROLES)})
    entries += _rw_entries(REG, {r: (0.0, 0.0) for r in ROLES})
    entries.append((MAC, ANY_ROLE, COMPUTE, e.mac_pj))
    p = PRESET_BY_NAME[preset]
    entries += _op_entries(MAC, p, word_bits)     # non-MAC ops on the MAC array, priced by the preset
    comps = FIXED_COMPONENTS
    base = _apply({(c, r, a): v for c, r, a, v in entries}, e.overrides, dense=True)
    base = _apply(with_sparse_defaults(base), e.overrides, dense=False)
    name = preset + (" + overrides" if e.overrides else "")
    return EnergyTable(name, comps, tuple((c, r, a, v) for (c, r, a), v in base.items()), (),
                       (p.source, p.vector_source, "operand registers: not charged", SPARSE_SOURCE))


def _apply(base: dict, overrides: tuple[Entry, ...], dense: bool) -> dict:
    """``base`` with the overrides of dense (or of sparse) actions applied: an override for every role
    (ANY_ROLE) replaces the per-role entries of that action; per-role ones go last."""
    out = dict(base)
    for c, r, a, v in sorted(overrides, key=lambda e: e[1] != ANY_ROLE):
        if (a in _DENSE or a in OPS) != dense:
            continue
        if r == ANY_ROLE:
            for k in [k for k in out if k[0] == c and k[2] == a]:
                del out[k]
        out[(c, r, a)] = v
    return out


# ---- the energy section of a hierarchy file ------------------------------------------------------

@dataclass(frozen=True)
class EnergySpec:
    """What a hierarchy says about energy: a preset, per-(component, role, action) overrides in pJ,
    optional areas (mm^2 per instance) and their source. ``complete``: the overrides price every
    component (a converted fixed-shape arch), so the preset is not evaluated."""

    preset: str = "normalized"
    overrides: tuple[Entry, ...] = ()
    area_mm2: tuple[tuple[str, float], ...] = ()
    area_source: str = ""
    complete: bool = False


def table_for(hierarchy: Any) -> EnergyTable:
    """The hierarchy's energy table: its preset, then its overrides (``hierarchy.energy``)."""
    return _table_for(hierarchy)


@lru_cache(maxsize=128)
def _table_for(hierarchy: Any) -> EnergyTable:
    spec: EnergySpec = hierarchy.energy
    comps = components_of(hierarchy)
    if spec.complete:
        p = PRESET_BY_NAME[spec.preset]
        base: dict[tuple[str, str, str], float] = {(c, r, a): v for c, r, a, v in vector_entries(hierarchy, p)}
        sources: tuple[str, ...] = (p.source, p.vector_source, SPARSE_SOURCE)
        name = spec.preset
    else:
        t = _dense_preset_table(hierarchy, spec.preset)
        base = {(c, r, a): v for c, r, a, v in t.entries}
        sources = t.sources + (SPARSE_SOURCE,)
        name = spec.preset + (" + overrides" if spec.overrides else "")
    # dense overrides, then the sparse defaults derived from them, then the sparse overrides
    base = _apply(with_sparse_defaults(_apply(base, spec.overrides, dense=True)), spec.overrides, dense=False)
    if spec.area_mm2:
        sources = sources + (f"areas: {spec.area_source}" if spec.area_source else "areas: as given",)
    return EnergyTable(name, comps, tuple((c, r, a, v) for (c, r, a), v in base.items()), spec.area_mm2, sources)


def area_mm2(hierarchy: Any) -> float | None:
    """Sum over components of area per instance x instances; None when no area is given."""
    table = table_for(hierarchy)
    if not table.area_mm2:
        return None
    n = instances_of(hierarchy)
    return sum(a * n[c] for c, a in table.area_mm2)


def energy_spec_from_fields(f: Fields, hierarchy_components: tuple[tuple[str, str], ...]) -> EnergySpec:
    """Read ``energy: {preset, pj: {component: {action: pJ | {role: pJ}}}, area_mm2: {component: mm2},
    area_source}``. Errors are one line naming the file and key."""
    preset = f.str("preset", "normalized", choices=PRESET_BY_NAME)
    overrides = pj_overrides(f, hierarchy_components)
    kinds = dict(hierarchy_components)
    areas: list[tuple[str, float]] = []
    if f.has("area_mm2"):
        af = f.sub("area_mm2")
        for c in list(af.data):
            if c not in kinds:
                raise af.error(c, f"unknown component {c!r}; components: {', '.join(kinds)}")
            areas.append((c, af.number(c, minimum=0)))
        af.done()
    source = f.str("area_source", "")
    if areas and not source:
        raise f.error("area_source", "areas need their source: say where the mm^2 figures come from")
    f.done()
    return EnergySpec(preset, overrides, tuple(areas), source)


