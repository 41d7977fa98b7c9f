"""The fixed-shape view of an action table: ``accelsim.cost.counts.Counts`` from ``Actions``.

On a hierarchy of the fixed shape (levels dram, glb with the rows x cols fanout, [rf], [reg]):
reads of a level = read + drain, writes = fill + update; the NoC row's reads are the fanout
network's ``down_dest``, its writes ``up_src``, and its transfers ``down + up``. Register-level
actions have no fixed-shape row and are left out (as the fixed-shape model never counted them).
"""

from __future__ import annotations

from accelsim.cost.actions import Actions
from accelsim.cost.counts import Counts
from accelsim.names import DOWN, DOWN_DEST, DRAIN, DRAM, FILL, GLB, READ, RF, ROLES, UP, UP_SRC, UPDATE


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
