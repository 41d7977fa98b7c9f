"""The flattened loop nest of a mapping and the per-tensor view of it the counters share."""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.mapping import COLS, DRAM, GLB, LEVELS, RF, ROWS, Mapping
from workloads.layer import DIMS

MAC_CUT = -1  # child "level" meaning the MAC units themselves


@dataclass(frozen=True)
class Loop:
    dim: int
    factor: int
    level: int
    span: int          # product of this dim's factors at inner levels

    @property
    def spatial(self) -> bool:
        return self.level in (ROWS, COLS)


@dataclass(frozen=True)
class Nest:
    loops: tuple[Loop, ...]
    glb_cut: int       # loops above the GLB (its tile spans the rest)
    rf_cut: int        # loops above the RF
    mac_cut: int       # all loops

    def cut(self, level: int) -> int:
        return {GLB: self.glb_cut, RF: self.rf_cut, MAC_CUT: self.mac_cut}[level]


def build_nest(m: Mapping) -> Nest:
    spans = []
    for d in range(len(DIMS)):
        inner = 1
        per_level = [0] * len(LEVELS)
        for level in (RF, COLS, ROWS, GLB, DRAM):
            per_level[level] = inner
            inner *= m.factors[level][d]
        spans.append(per_level)
    loops: list[Loop] = []

    def add(level: int, order) -> None:
        for d in order:
            f = m.factors[level][d]
            if f > 1:
                loops.append(Loop(d, f, level, spans[d][level]))

    add(DRAM, m.orders[0])
    glb_cut = len(loops)
    add(GLB, m.orders[1])
    add(ROWS, range(len(DIMS)))
    add(COLS, range(len(DIMS)))
    rf_cut = len(loops)
    add(RF, m.orders[2])
    return Nest(tuple(loops), glb_cut, rf_cut, len(loops))
