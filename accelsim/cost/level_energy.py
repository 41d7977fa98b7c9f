"""Energy of an action table on any hierarchy with today's per-level energy table: a MINIMAL
ADAPTER until the (component, action) energy table (issue 13 item 5, the ``energy`` helper) lands;
``accelsim run`` says so in its header (``energy ... (level adapter)``).

Each storage level is charged as one of the fixed shape's components (``accelsim.energy.EnergyTable``):
- the backing store (level 0): DRAM read / write energy;
- the last level when it is a register level (``Hierarchy.buffers``): nothing (the fixed shape
  never charged its operand registers);
- the innermost buffer (when there are two or more, or it has no fanout): the RF's per-tensor
  read / write energy;
- every other buffer: the GLB's read / write energy;
reads = read + drain, writes = fill + update. The network of each fanout: hop-words
``a * (down_dest + up_src) + b * (down + up)`` per tensor with its NoC model's ``(a, b)`` over the
fanout's x by y (``noc.registry.network_hop_coefficients``) at ``noc_hop_pj``; MACs at ``mac_pj``.
On ``from_arch`` of a fixed-shape arch this is exactly ``accelsim.cost.model.energy_of`` of the
same mapping (tests/test_run_hierarchy.py). Pure.
"""

from __future__ import annotations

from accelsim.cost.actions import Actions
from accelsim.energy import EnergyTable
from accelsim.hierarchy import Hierarchy
from accelsim.names import DOWN, DOWN_DEST, DRAIN, FILL, READ, ROLES, UP, UP_SRC, UPDATE

MAC_PART = "mac"


def component_of(hierarchy: Hierarchy) -> dict[str, str]:
    """Level name -> the fixed-shape component it is charged as: dram, glb, rf or none."""
    buffers = hierarchy.buffers
    out = {lv.name: "none" for lv in hierarchy.levels}
    out[hierarchy.levels[0].name] = "dram"
    for i in buffers:
        out[hierarchy.levels[i].name] = "glb"
    if buffers and (len(buffers) > 1 or hierarchy.levels[buffers[-1]].fanout is None):
        out[hierarchy.levels[buffers[-1]].name] = "rf"
    return out


def energy_of_actions(actions: Actions, hierarchy: Hierarchy, table: EnergyTable) -> tuple[dict, dict]:
    """(pJ per part: ``mac``, each level, ``LEVEL.net`` per network; pJ per tensor role, data
    movement only)."""
    from accelsim.arch import NocSpec
    from noc.registry import network_hop_coefficients

    kinds = component_of(hierarchy)
    by_part: dict[str, float] = {MAC_PART: actions.macs * table.mac_pj}
    by_tensor = {r: 0.0 for r in ROLES}
    s, n = actions.storage, actions.network
    for lv in hierarchy.levels:
        kind = kinds[lv.name]
        total = 0.0
        for ti, r in enumerate(ROLES):
            reads = s.get((lv.name, r, READ), 0) + s.get((lv.name, r, DRAIN), 0)
            writes = s.get((lv.name, r, FILL), 0) + s.get((lv.name, r, UPDATE), 0)
            if kind == "dram":
                e = reads * table.dram_read_pj + writes * table.dram_write_pj
            elif kind == "glb":
                e = reads * table.glb_read_pj + writes * table.glb_write_pj
            elif kind == "rf":
                e = reads * table.rf_read_pj[ti] + writes * table.rf_write_pj[ti]
            else:
                e = 0.0
            total += e
            by_tensor[r] += e
        by_part[lv.name] = total
        if lv.fanout is not None:
            coef = network_hop_coefficients(NocSpec(lv.fanout.network, lv.fanout.params), lv.fanout.x, lv.fanout.y)
            net = 0.0
            for r, (a, b) in zip(ROLES, coef):
                words = n.get((lv.name, r, DOWN_DEST), 0) + n.get((lv.name, r, UP_SRC), 0)
                distinct = n.get((lv.name, r, DOWN), 0) + n.get((lv.name, r, UP), 0)
                e = (a * words + b * distinct) * table.noc_hop_pj
                net += e
                by_tensor[r] += e
            by_part[f"{lv.name}.net"] = net
    return by_part, by_tensor


__all__ = ["MAC_PART", "component_of", "energy_of_actions"]
