"""The sparse view of one layer on any hierarchy: what a level-list run (accelsim.pipeline_hierarchy)
adds per layer with a ``--sparse`` design.

``sparse_view(problem, hierarchy, nest, dense, spec, models, table) -> SparseView``: the dense action
table ``dense`` (``cost.actions.count_actions``, never changed) through ``sparse.model.analyze``;
energy = the priced sparse table (``sparse.model.priced_actions``: data, metadata and gated actions
under their own names) through the one energy sum (``cost.energy.energy_of``) with the hierarchy's
(component, action) table; the latency bound = ``cost.bound.bound_parts`` of the words that take
bandwidth (``sparse.model.bandwidth_actions``: data + metadata + gated, skipped MACs' cycles and
load imbalance in the compute part). Actual masks give exact counts as ``analyze`` states (the
effective MACs over the masks, every compressed action's dense words x its level's ratio measured on
the mask: ``sparse.exact.mask_ratio``). Names in the spec are checked against the hierarchy first (one
ConfigError line).
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsim.cost.actions import Actions
from accelsim.cost.bound import bound_parts
from accelsim.cost.energy import energy_of, energy_parts
from accelsim.energy_table import EnergyTable
from accelsim.hierarchy import Hierarchy
from accelsim.loopnest import LoopNest
from accelsim.problem import Problem
from accelsim.sparse.density import Actual, Model
from accelsim.sparse.model import SparseActions, analyze, bandwidth_actions, priced_actions
from accelsim.sparse.spec import SparseSpec, check_on


@dataclass(frozen=True)
class SparseView:
    actions: SparseActions
    energy_breakdown_pj: dict           # part -> pJ (cost.energy.energy_parts: mac, each level, LEVEL.net)
    dense_energy_pj: float
    energy_pj: float                    # energy_of's total of the priced sparse table
    bound_parts: dict                   # part -> cycles of the sparse latency bound

    @property
    def bound_cycles(self) -> float:
        return max(self.bound_parts.values())


def check_masks(problem: Problem, models: dict[str, Model]) -> None:
    """Each actual mask's shape against its tensor (one ConfigError line naming the source)."""
    for role, model in models.items():
        if isinstance(model, Actual):
            from accelsim.sparse.masks import check_mask  # numpy's module: masks only

            check_mask(problem, role, model.mask, model.source)


def sparse_view(problem: Problem, hierarchy: Hierarchy, nest: LoopNest, dense: Actions, spec: SparseSpec,
                models: dict[str, Model], table: EnergyTable) -> SparseView:
    check_on(spec, hierarchy)
    check_masks(problem, models)
    sa = analyze(problem, hierarchy, nest, dense, spec, models)
    e = energy_of(priced_actions(sa, hierarchy.compute.name), hierarchy, table)
    parts, _ = energy_parts(priced_actions(sa, hierarchy.compute.name), hierarchy, table)
    dense_e = energy_of(dense, hierarchy, table).total_pj
    return SparseView(sa, parts, dense_e, e.total_pj, bound_parts(bandwidth_actions(sa), hierarchy))


__all__ = ["SparseView", "check_masks", "sparse_view"]
