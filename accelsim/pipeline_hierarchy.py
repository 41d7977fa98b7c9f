"""Run a workload on a level-list hierarchy (the general core): per layer a loop nest (the
dataflow's named mapping, a searched one, or one given), its action table, energy, latency bound
and Eyexam steps 1-6 (7 when simulated). Pure apart from the optional progress hook.

Per layer with MACs: nest -> ``count_actions`` (accelsim.cost.actions: the one count) -> energy
(accelsim.cost.energy: the hierarchy's (component, action) energy table, accelsim.energy_table)
-> latency bound (accelsim.cost.bound.bound_parts over the hierarchy's bandwidths) -> Eyexam
(accelsim.eyexam.hierarchy) -> with ``simulate``, the simulator over any hierarchy
(accelsim.sim.general.simulate_nest: cycles with stalls by resource), else a layer's cycles ARE its
latency bound, and the report says which. Every count the report prints is read from the action
table.

With a search and ``refine`` (and ``simulate``), the search's shortlist and the dataflow's named
mapping are simulated and the one with the best objective on (energy, simulated cycles) is kept
(accelsim.refine.by_simulation_nest, the reducer the fixed-shape pipeline uses too): the refined
nest is never worse in simulation than the named mapping or the search's own choice.

The named mapping: the dataflow's rule (dataflows.nest_rule) on the hierarchy; for a fixed-shape
arch converted by ``accelsim.hierarchy.from_arch`` (``arch`` given) and a conv-shaped layer, the
dataflow's fixed-shape named mapping through ``accelsim.loopnest.from_fixed``, so the general run
counts exactly what the fixed path counts (tests/test_run_hierarchy.py).

Layers without MACs (pool, eltwise, ...) move their input once from the backing store through the
first buffer and their output back: backing store ``read`` ifmap and ``update`` psum; first buffer
``fill`` and ``read`` ifmap, ``update`` and ``drain`` psum; their ops (``Layer.vector_op_counts``)
run on the vector unit, else the MAC array (``cost.actions.op_actions``; the bound is the slowest of
those levels' bandwidth and the unit's ops).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accelsim.cost.actions import Actions, count_actions, streamed_actions
from accelsim.cost.bound import bound_parts
from accelsim.cost.energy import energy_parts
from accelsim.energy_table import EnergyTable, table_for
from accelsim.errors import ConfigError
from accelsim.eyexam.hierarchy import hierarchy_steps
from accelsim.eyexam.steps import Step
from accelsim.hierarchy import Hierarchy
from accelsim.loopnest import LoopNest, check, from_fixed
from accelsim.sim.result import SimResult
from workloads.problems import ProblemLayer, ProblemWorkload


@dataclass(frozen=True)
class HierarchyLayerRun:
    item: ProblemLayer
    nest: LoopNest | None                 # None: a layer without MACs
    actions: Actions
    energy_parts_pj: dict[str, float]     # mac, each level, LEVEL.net (accelsim.cost.energy.energy_parts)
    energy_by_tensor_pj: dict[str, float]
    bound_parts: dict[str, float]         # accelsim.cost.bound.bound_parts
    steps: tuple[Step, ...] = ()          # Eyexam 1-6, and 7 when simulated
    mapping_source: str = "named"         # named, hand-written, searched or mapper.sparse_fit.FIT_SOURCE
    search: Any = None                    # the search's record when searched
    sim: SimResult | None = None          # accelsim.sim.general, when simulated (layers with MACs)
    sparse: Any = None                    # accelsim.sparse.view.SparseView, when the run has sparsity
    sparse_sim: SimResult | None = None   # simulated on the sparse view's words and cycles, when both are on

    @property
    def cycles(self) -> float:
        """The simulated cycles when simulated, else the latency bound."""
        return float(self.sim.cycles) if self.sim is not None else max(self.bound_parts.values())

    @property
    def energy_pj(self) -> float:
        return sum(self.energy_parts_pj.values())


@dataclass(frozen=True)
class HierarchyRun:
    hierarchy: Hierarchy
    workload: ProblemWorkload
    dataflow: str | None                  # None: no dataflow named and every layer with MACs hand-written
    layers: tuple[HierarchyLayerRun, ...]
    energy_preset: str
    search: Any = None                    # the SearchSpec when searched
    hand_written: tuple[str, ...] = ()
    refined: bool = False                 # the search's shortlist was re-ranked by simulation
    sparsity: Any = None                  # accelsim.sparse.layer.Sparsity, when the run has sparsity


def flow_for(hierarchy: Hierarchy, dataflow: str | None, converted: bool):
    """The dataflow to run: the one given, else the hierarchy's; one that can map onto it."""
    from dataflows import registry

    name = dataflow or hierarchy.dataflow
    if name is None:
        raise ConfigError(f"hierarchy {hierarchy.name!r} names no dataflow: give --dataflow "
                          f"(one of {', '.join(ruled())})", source=hierarchy.source, key="dataflow")
    flow = registry.get(name)
    if flow.rule is None and not converted:
        raise ConfigError(f"dataflow {flow.name!r} has no rule for level-list hierarchies (it maps the fixed "
                          f"shape only); allowed: {', '.join(ruled())}", source=hierarchy.source)
    if flow.view is not None:
        raise ConfigError(f"dataflow {flow.name!r} views layers as another (SCALE-Sim's im2col) and runs on the "
                          f"fixed shape only; allowed here: {', '.join(ruled())}", source=hierarchy.source)
    return flow


def ruled() -> list[str]:
    """Dataflows with a rule for any hierarchy."""
    from dataflows import registry

    return [n for n in registry.names() if registry.get(n).rule is not None]


def named_nest(item: ProblemLayer, hierarchy: Hierarchy, flow, arch=None) -> LoopNest:
    """The dataflow's named mapping of one layer (module docstring)."""
    from dataflows.nest_rule import build

    assert item.problem is not None
    if arch is not None and item.layer is not None:
        return from_fixed(flow.named(item.layer, arch), hierarchy)
    if flow.rule is None:
        raise ConfigError(f"dataflow {flow.name!r} has no rule for level-list hierarchies; allowed: "
                          f"{', '.join(ruled())}", source=hierarchy.source)
    return build(flow.rule, item.problem, hierarchy, flow.name)


def stream_actions(item: ProblemLayer, hierarchy: Hierarchy) -> Actions:
    """The action table of a layer without MACs (module docstring; ``cost.actions.streamed_actions``)."""
    layer = item.layer
    assert layer is not None
    return streamed_actions(hierarchy, layer.ifmap_elems, layer.output_elems, layer.vector_op_counts)


def energy_table(hierarchy: Hierarchy, arch=None) -> tuple[str, EnergyTable]:
    """(table name, table): the hierarchy's ``energy:`` section (``energy_table.table_for``); a
    converted fixed-shape arch carries its own table (``hierarchy.from_arch``)."""
    table = table_for(hierarchy)
    return table.name, table


def _named_or_none(item: ProblemLayer, hierarchy: Hierarchy, flow, arch=None) -> LoopNest | None:
    """The named mapping, or None when the dataflow's rule cannot map this layer here."""
    try:
        return named_nest(item, hierarchy, flow, arch)
    except ConfigError:
        return None


def refine_layer(item: ProblemLayer, hierarchy: Hierarchy, flow, found, objective: str, table: EnergyTable,
                 arch=None, sparse: tuple | None = None):
    """The search's shortlist and the named mapping re-ranked by simulation (module docstring):
    an ``accelsim.refine.Ranked`` whose payload is the kept nest's ``NestCost``. ``sparse`` =
    (SparseSpec, {role: density model}): only the candidates that fit by compressed size."""
    from accelsim.refine import by_simulation_nest, candidate_pool

    problem = item.problem
    assert problem is not None
    candidates = candidate_pool(found.shortlist or (found.nest,), _named_or_none(item, hierarchy, flow, arch))
    if sparse is not None:
        from accelsim.mapper.sparse_fit import REFINED, fitting

        candidates = fitting(candidates, problem, hierarchy, lambda n: n, sparse[0], sparse[1],
                             f"layer {item.name!r}: no nest --refine simulates", REFINED)
    return by_simulation_nest(problem, hierarchy, candidates, objective, table)


def search_layer(item: ProblemLayer, hierarchy: Hierarchy, flow, spec, table: EnergyTable, arch=None,
                 sparse: tuple | None = None):
    """The general mapper (accelsim.mapper.nest_search.search_nest) on one layer, energy scored with
    the hierarchy's energy table per count column (accelsim.cost.energy.column_weights), started
    from the dataflow's named mapping when it has one here (so a search is never worse than it).
    ``sparse`` = (SparseSpec, {role: density model}): a sparse search (compressed capacity, sparse
    energy and bound through ``table``), started from the named mapping fit by compressed size."""
    from accelsim.cost.energy import column_weights
    from accelsim.cost.nest_arrays import NestLayout
    from accelsim.mapper.nest_search import search_nest

    assert item.problem is not None
    if spec.time_limit_s is not None:
        raise ConfigError("--time-limit: the mapper over level-list hierarchies stops by --search-budget only")
    named = _named_or_none(item, hierarchy, flow, arch)
    if named is not None and sparse is not None:     # as a sparse run takes it: fit by compressed size
        from accelsim.mapper.sparse_fit import fit_nest, named_what

        try:
            named = fit_nest(item.problem, hierarchy, named, sparse[0], sparse[1],
                             named_what(item.name, flow.name, hierarchy.name))
        except ConfigError:
            named = None
    start: tuple[LoopNest, ...] = () if named is None else (named,)
    weights = column_weights(NestLayout(item.problem, hierarchy), table)
    return search_nest(item.problem, hierarchy, objective=spec.objective, budget=spec.budget, seed=spec.seed,
                       energy_weights=weights, start=start, sparse=None if sparse is None else (*sparse, table))


def run_hierarchy(hierarchy: Hierarchy, workload: ProblemWorkload, dataflow: str | None = None, *,
                  arch=None, nests: dict[str, LoopNest] | None = None, search_spec=None,
                  simulate: bool = False, refine: bool = False,
                  on_layer: Callable[[str], None] | None = None, sparsity=None,
                  mapping_file: str | None = None) -> HierarchyRun:
    """Map, count, cost, bound and (``simulate``) simulate every layer (module docstring). ``arch``:
    the fixed-shape arch ``hierarchy`` was converted from; ``nests``: hand-written nests by layer
    name; ``search_spec``: search each layer (:func:`search_layer`) instead of taking the
    named mapping; ``refine`` (with ``search_spec`` and ``simulate``): re-rank each search by
    simulation (:func:`refine_layer`). ``sparsity`` (``accelsim.sparse.layer.Sparsity``): each layer with
    MACs also gets its sparse view (``accelsim.sparse.view.sparse_view``) of the chosen nest, beside
    the dense counts, which it never changes; the nest fits by compressed size (a named nest's tiles
    are cut until it does, a hand-written one that does not is an error: ``mapper.sparse_fit``);
    with a search (and no ``refine``), the search itself is sparse (``mapper.nest_search.search_nest``
    with ``sparse``: compressed capacity, sparse costs), or, where the batch scorer does not cover the
    spec (``mapper.sparse_batch.unsupported``: actual masks, a storage feature on two conditions that are
    not N:M, ...), the search's shortlist and the
    named nest are re-ranked by the sparse objective (``mapper.sparse_rank.rerank_nests``); simulated,
    it is also simulated on the sparse view's words and cycles (``sparse_sim``: ``simulate_nest`` on
    ``sparse.model.bandwidth_actions``, as the fixed shape's ``LayerRun.sparse_sim``).
    ``mapping_file``: the file ``nests`` came from (named in their errors)."""
    if refine and not (search_spec is not None and simulate):
        raise ConfigError("--refine re-ranks a search by simulation: it needs --search and the simulator "
                          "(not --no-sim)")
    all_given = search_spec is None and all(nests and pl.name in nests for pl in workload.layers
                                            if pl.problem is not None)
    # a dataflow names the mapping of layers without a hand-written one (and Eyexam's rule); with
    # every layer with MACs hand-written and none named, there is none
    flow = None if all_given and dataflow is None and hierarchy.dataflow is None else \
        flow_for(hierarchy, dataflow, arch is not None)
    preset, table = energy_table(hierarchy, arch)
    if sparsity is not None:       # the spec against the levels before any layer is mapped
        from accelsim.sparse.spec import check_on

        check_on(sparsity.spec, hierarchy)
    out = []
    searched: dict = {}
    refined: dict = {}
    for item in workload.layers:
        source, found, kept = "named", None, None
        if item.problem is None:
            nest, actions = None, stream_actions(item, hierarchy)
        else:
            if nests and item.name in nests:
                nest, source = nests[item.name], "hand-written"
                where = f"{mapping_file}: {item.name}" if mapping_file else f"mapping for layer {item.name!r}"
                check(item.problem, hierarchy, nest, source=where)
                if sparsity is not None:       # it must fit by compressed size as given
                    from accelsim.mapper.sparse_fit import check_given

                    check_given(item.problem, hierarchy, nest, sparsity.spec, sparsity.models(workload, item.name),
                                where)
            elif search_spec is not None:
                key: tuple = (item.problem.dims, item.problem.tensors)     # same shape: searched once per run
                sparse_search = None
                if sparsity is not None and not refine:
                    from accelsim.mapper.sparse_batch import unsupported

                    models = sparsity.models(workload, item.name)
                    if unsupported(sparsity.spec, models) is None:   # same shape and densities: searched once
                        sparse_search = (sparsity.spec, models)
                        key += (tuple(sorted(models.items())),)
                if key not in searched:
                    searched[key] = search_layer(item, hierarchy, flow, search_spec, table, arch, sparse_search)
                found = searched[key]
                nest, source = found.nest, "searched"
                if refine:
                    fit = None if sparsity is None else (sparsity.spec, sparsity.models(workload, item.name))
                    rkey = key if fit is None else key + (tuple(sorted(fit[1].items())),)   # fit by densities
                    if rkey not in refined:
                        refined[rkey] = refine_layer(item, hierarchy, flow, found, search_spec.objective, table, arch,
                                                     fit)
                    kept = refined[rkey].payload
                    nest = refined[rkey].candidate
                elif sparsity is not None and sparse_search is None:    # re-ranked by the sparse objective
                    from accelsim.mapper.sparse_rank import rerank_nests
                    from accelsim.refine import candidate_pool

                    pool = candidate_pool(found.shortlist or (found.nest,), _named_or_none(item, hierarchy, flow, arch))
                    nest = rerank_nests(item.problem, hierarchy, pool, search_spec.objective, sparsity.spec,
                                        sparsity.models(workload, item.name), table)
            else:
                assert flow is not None       # all_given above
                nest = named_nest(item, hierarchy, flow, arch)
                if sparsity is not None:       # its tiles cut until they fit by compressed size
                    from accelsim.mapper.sparse_fit import FIT_SOURCE, fit_nest, named_what

                    cut = fit_nest(item.problem, hierarchy, nest, sparsity.spec, sparsity.models(workload, item.name),
                                   named_what(item.name, flow.name, hierarchy.name))
                    nest, source = cut, (source if cut == nest else FIT_SOURCE)
            actions = kept.actions if kept is not None else count_actions(item.problem, hierarchy, nest)
        if kept is not None:
            parts, by_tensor = kept.energy_parts_pj, kept.energy_by_tensor_pj
        else:
            parts, by_tensor = energy_parts(actions, hierarchy, table)
        bound = bound_parts(actions, hierarchy)
        sim = kept.sim if kept is not None else None
        if sim is None and simulate and nest is not None and item.problem is not None:
            from accelsim.sim.general import simulate_nest

            sim = simulate_nest(item.problem, hierarchy, nest, actions)
        steps = hierarchy_steps(item.problem, hierarchy, actions, flow, sim) if (
            item.problem is not None and flow is not None and flow.rule is not None) else ()
        sparse = sparse_sim = None
        if sparsity is not None and nest is not None and item.problem is not None:
            from accelsim.sparse.view import sparse_view

            models = sparsity.models(workload, item.name)
            sparse = sparse_view(item.problem, hierarchy, nest, actions, sparsity.spec, models, table)
            if sim is not None:        # the same schedule on the words that take bandwidth, the tiles compressed
                from accelsim.sim.general import simulate_nest
                from accelsim.sparse.model import bandwidth_actions, group_rooms

                sparse_sim = simulate_nest(item.problem, hierarchy, nest, bandwidth_actions(sparse.actions),
                                           occupied=group_rooms(item.problem, hierarchy, nest, sparsity.spec, models))
        out.append(HierarchyLayerRun(item, nest, actions, parts, by_tensor, bound, steps, source, found, sim, sparse,
                                     sparse_sim))
        if on_layer is not None:
            on_layer(item.name)
    given = tuple(lr.item.name for lr in out if lr.mapping_source == "hand-written")
    return HierarchyRun(hierarchy, workload, None if flow is None else flow.name, tuple(out), preset, search_spec, given,
                        bool(refine and search_spec is not None), sparsity)


__all__ = ["HierarchyLayerRun", "HierarchyRun", "energy_table", "flow_for",
           "named_nest", "refine_layer", "ruled", "run_hierarchy", "search_layer", "stream_actions"]
