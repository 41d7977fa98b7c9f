"""Run a workload on an architecture: per layer, a mapping (named, searched or given), its cost,
and (when the simulator is on) its simulated timing. Pure apart from the optional progress hook.

A search depends on the layer's shape, the arch, the dataflow and the search spec only (never on
its name), so layers of the same shape (ResNet's repeated blocks) are searched once per run and
the mapping is re-costed for each; the results are the same as searching every layer. A dataflow
with a ``view`` (SCALE-Sim's: the im2col GEMM) has every layer mapped, costed and simulated as viewed;
on a systolic arch with ``buffers: scalesim`` a layer run with SCALE-Sim's fixed mapping gets
SCALE-Sim's DRAM traffic (accelsim.cost.scalesim_buffers), a searched or given mapping the GLB tiles'.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from accelsim.cost.model import LayerResult, evaluate
from accelsim.errors import ConfigError
from accelsim.legality import problems_of
from accelsim.mapping import Mapping
from dataflows.scalesim_fold import DATAFLOWS as SCALESIM_FLOWS
from noc import registry as noc_registry
from workloads.layer import Workload

if TYPE_CHECKING:
    from accelsim.arch import Arch
    from accelsim.mapper.search import SearchResult, SearchSpec
    from accelsim.sim import SimResult
    from accelsim.sparse.layer import SparseLayer, Sparsity


@dataclass(frozen=True)
class LayerRun:
    result: LayerResult
    search: SearchResult | None = None
    sim: SimResult | None = None       # when simulated
    sparse: SparseLayer | None = None  # the sparse view (accelsim.sparse), when the run has sparsity
    sparse_sim: SimResult | None = None   # simulated with the sparse view's counts, when both are on
    mapping_source: str = "named"      # named, hand-written, searched or mapper.sparse_fit.FIT_SOURCE

    @property
    def cycles(self) -> int:
        """Simulated cycles when simulated, else the ideal (compute-bound) cycles."""
        if self.sim is not None:
            return int(self.sim.cycles)
        return self.result.ideal_cycles


@dataclass(frozen=True)
class Run:
    arch: Arch
    workload: Workload
    dataflow: str
    search: SearchSpec | None
    simulated: bool
    layers: tuple[LayerRun, ...]
    refined: bool = False              # the search's shortlist was re-ranked by simulation
    hand_written: tuple[str, ...] = ()  # layers run with a mapping the caller gave (``mappings``)
    sparsity: Sparsity | None = None

    @property
    def batch(self) -> int:
        return self.workload.layers[0].N


def _named_or_none(flow, layer, arch) -> Mapping | None:
    try:
        m = flow.named(layer, arch)
    except ConfigError:
        return None
    return None if problems_of(layer, m, arch) else m


def run(arch, workload: Workload, dataflow: str | None = None, *, search_spec: SearchSpec | None = None,
        mappings: dict[str, Mapping] | None = None, simulate: bool = False, refine: bool = False,
        on_layer: Callable[[str], None] | None = None, sparsity: Sparsity | None = None,
        mapping_file: str | None = None) -> Run:
    """Map, cost and (optionally) simulate every layer. ``mappings`` overrides per layer name;
    ``refine`` (with a search and the simulator) keeps the search's shortlist mapping with the best
    objective on simulated cycles (accelsim.refine). ``sparsity``: each MAC layer also gets its sparse
    view (accelsim.sparse.layer) of the chosen mapping, which fits by compressed size: a named mapping's
    tiles are cut until they do, a hand-written one that does not is an error (accelsim.mapper.sparse_fit);
    with a search (and no ``refine``), the search
    is sparse (accelsim.mapper.sparse_rank.search_sparse: compressed capacity, sparse costs); simulated,
    it is also simulated on the sparse view's counts (``sparse.layer.bandwidth_counts``: compressed
    data + metadata + gated words per level, the sparse ideal cycles with skipping and load imbalance).
    ``mapping_file``: the file ``mappings`` came from (named in their errors)."""
    from dataflows import registry

    flow = registry.get(dataflow or arch.dataflow)
    if sparsity is not None:       # the spec against the arch's levels before any layer is mapped
        from accelsim.hierarchy import from_arch
        from accelsim.sparse.spec import check_on

        check_on(sparsity.spec, from_arch(arch))
    out = []
    searched: dict = {}                   # layer shape -> SearchResult, within this run only
    named: dict = {}                      # layer shape -> (the dataflow's named mapping, its mapping_source)
    scalesim_buffers = noc_registry.settings(arch.noc).get("buffers") == "scalesim"
    for layer in workload.layers:
        given = layer
        if flow.view is not None:          # the layer as the dataflow's array computes it (SCALE-Sim: im2col)
            layer = flow.view(layer)
        found, source = None, "named"
        # role -> density model of this layer (actual masks resolved once per layer)
        layer_models = sparsity.models(workload, given.name) if sparsity is not None and layer.kind.has_macs else None
        if not layer.kind.has_macs:
            result = evaluate(layer, arch, None)  # type: ignore[arg-type]
        elif mappings and layer.name in mappings:
            result, source = evaluate(layer, arch, mappings[layer.name]), "hand-written"
            if sparsity is not None:       # a hand-written mapping must fit by compressed size as given
                from accelsim.mapper.sparse_fit import check_fixed

                assert layer_models is not None
                check_fixed(layer, arch, mappings[layer.name], sparsity.spec, layer_models,
                            f"{mapping_file}: {layer.name}" if mapping_file else f"mapping for layer {layer.name!r}")
        elif search_spec is not None:
            source = "searched"
            models = layer_models if not refine else None
            key = (replace(layer, name=""), tuple(models.items()) if models is not None else None)
            if key in searched:
                same = searched[key]
                found = replace(same, result=evaluate(layer, arch, same.mapping, validate=False))
            elif models is not None:      # the mapper with sparsity (accelsim.mapper.sparse_rank)
                from accelsim.mapper.sparse_rank import search_sparse

                assert sparsity is not None
                found = searched[key] = search_sparse(layer, arch, flow, search_spec, sparsity.spec, models)
            else:
                from accelsim.mapper.search import search  # the mapper: only when searching

                found = searched[key] = search(layer, arch, flow, search_spec)
            result = found.result
        else:
            shape: tuple = (replace(layer, name=""),)
            models = layer_models
            if models is not None:
                shape += tuple(models.items())
            if shape not in named:
                m = flow.named(layer, arch)
                named[shape] = (m, "named")
                if sparsity is not None and models is not None:   # its tiles cut until they fit compressed
                    from accelsim.mapper.sparse_fit import FIT_SOURCE, fit_fixed

                    fit = fit_fixed(layer, arch, m, sparsity.spec, models, flow.name)
                    named[shape] = (fit, "named" if fit == m else FIT_SOURCE)
            mapping, source = named[shape]
            result = evaluate(layer, arch, mapping)
            if scalesim_buffers and flow.name in SCALESIM_FLOWS:   # SCALE-Sim's DRAM traffic of its own mapping
                from accelsim.cost.scalesim_buffers import with_scalesim_buffers

                result = with_scalesim_buffers(result, given, arch, SCALESIM_FLOWS[flow.name])
        sim = None
        if refine and simulate and found is not None and search_spec is not None:
            from accelsim.refine import by_simulation, candidate_pool

            # the shortlist plus the search's seed, the dataflow's named mapping (accelsim.refine.candidate_pool)
            candidates = candidate_pool(found.shortlist or (found.mapping,), _named_or_none(flow, layer, arch))
            if sparsity is not None:       # only those that fit by compressed size (mapper.sparse_fit)
                from accelsim.mapper.sparse_fit import REFINED, fitting, fixed_nests

                assert layer_models is not None
                candidates = fitting(candidates, *fixed_nests(layer, arch), sparsity.spec, layer_models,
                                     f"layer {layer.name!r}: no mapping --refine simulates", REFINED)
            refined = by_simulation(layer, arch, candidates, search_spec.objective)
            result, sim = refined.result, refined.sim
        elif simulate and result.mapping is not None:
            from accelsim.sim import simulate_layer

            sim = simulate_layer(layer, arch, result.mapping, result.counts)
        if sim is not None:
            from accelsim.eyexam import examine

            sim = examine(layer, arch, result.mapping, result.counts, flow.name, sim)
        sparse = None
        if sparsity is not None and result.mapping is not None:
            from accelsim.sparse.layer import sparse_layer

            assert layer_models is not None           # a layer with a mapping has MACs
            sparse = sparse_layer(layer, arch, result.mapping, sparsity.spec, layer_models)
        sparse_sim = None
        if sparse is not None and sim is not None and result.mapping is not None:   # the same schedule, sparse counts
            from accelsim.sim import simulate_sparse

            assert sparsity is not None and layer_models is not None
            sparse_sim = simulate_sparse(layer, arch, result.mapping, sparse, sparsity.spec, layer_models)
        out.append(LayerRun(result, found, sim, sparse, sparse_sim, source))
        if on_layer is not None:
            on_layer(layer.name)
    given_names = tuple(lay.name for lay in workload.layers
                        if lay.kind.has_macs and mappings and lay.name in mappings)
    return Run(arch, workload, flow.name, search_spec, simulate, tuple(out),
               bool(refine and simulate and search_spec is not None), given_names, sparsity)
