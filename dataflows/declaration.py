"""What a dataflow is: a declaration of constraints on mappings, plus a named mapping.

A dataflow says which dimensions may be spread across the array's rows and columns, which tensors
each PE keeps in its register file, which dimensions may loop inside a PE (the innermost, per-PE
loops), and which dimension should be innermost at the GLB level (e.g. Q for row stationary, so
each PE's ifmap window slides). It is data, not a subclass: the mapper reads it, and
``named(layer, arch)`` gives the hand-written mapping that needs no search. A dataflow may also
``view`` a layer as another (SCALE-Sim's arrays compute a convolution as its im2col GEMM): the
pipeline maps, costs and simulates ``view(layer)``, named or searched alike. A dataflow with a
``rule`` (dataflows.nest_rule) also has a named mapping on any level-list hierarchy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dataflows.nest_rule import NestRule
from workloads.layer import DIMS


@dataclass(frozen=True)
class Dataflow:
    name: str
    title: str
    rows: tuple[str, ...]          # dims allowed spatial on PE rows
    cols: tuple[str, ...]          # dims allowed spatial on PE columns
    rf_keeps: tuple[str, ...]      # tensors each PE keeps (when the arch's RF can hold them)
    rf_loops: tuple[str, ...]      # dims allowed as per-PE (RF-level) loops
    glb_innermost: tuple[str, ...]  # dims the named mapping puts innermost at the GLB level (outer -> inner)
    named: Callable                # (layer, arch) -> Mapping
    view: Callable | None = None   # layer -> the layer the array computes (SCALE-Sim: its im2col GEMM); None: as given
    # (layer, mapping) -> one line naming the mapping in the dataflow's own terms, or None
    describe_mapping: Callable | None = None
    rule: NestRule | None = None   # the named mapping on any hierarchy (dataflows.nest_rule); None: fixed shape only

    def dim_ids(self, which: str) -> tuple[int, ...]:
        return tuple(DIMS.index(d) for d in getattr(self, which))

    def describe(self) -> str:
        return (f"{self.name}: {self.title}; rows <- {'/'.join(self.rows) or '-'}, cols <- "
                f"{'/'.join(self.cols) or '-'}, PE keeps {'/'.join(self.rf_keeps) or 'nothing'}, "
                f"per-PE loops {'/'.join(self.rf_loops) or '-'}")
