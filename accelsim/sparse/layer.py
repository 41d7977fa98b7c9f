"""One fixed-shape layer's sparse view, priced by the one energy function.

``sparse_layer(layer, arch, mapping, spec, models) -> SparseLayer``: the dense table of the mapping
(:func:`dense_table`: the fixed shape's count rows, the granularity its dense energy and bound and the
mapper's batch scorer ``accelsim.mapper.sparse_batch`` work on), its sparse view (``accelsim.sparse.model.analyze``),
and its energy: the one table of everything that costs energy (``accelsim.sparse.model.priced_actions``:
data words, metadata words, gated words and MACs under their own action names) priced by the arch's
(component, action) table (``energy_table.arch_table``) through the one energy function
``accelsim.cost.energy.energy_of``; skipped words and MACs cost nothing. No second energy formula.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from accelsim.cost.actions import Actions
from accelsim.cost.counts import Counts, _shape, count, fixed_actions, priced_actions_of_counts, to_counts
from accelsim.cost.energy import energy_of
from accelsim.cost.model import arch_hierarchy, energy_parts
from accelsim.energy_table import arch_table
from accelsim.errors import ConfigError
from accelsim.hierarchy import from_arch
from accelsim.loopnest import from_fixed
from accelsim.mapping import COLS, ROWS, Mapping
from accelsim.names import PSUM, ROLES
from accelsim.problem import from_layer
from accelsim.sparse.density import Actual, FromOnnx, FromRun, Model, Source
from accelsim.sparse.model import (
    SparseActions,
    analyze,
    bandwidth_actions,
    compressed_tiles,
    group_rooms,
    priced_actions,
)
from accelsim.sparse.spec import SparseSpec, check_on
from accelsim.sparse.view import check_masks
from workloads.layer import Layer


@dataclass(frozen=True)
class SparseLayer:
    actions: SparseActions
    energy_breakdown_pj: dict           # part -> pJ (ENERGY_PARTS), all sparse actions summed
    dense_energy_pj: float
    energy_pj: float                    # energy_of's total of the priced sparse table


ROLES_INDEX = {r: i for i, r in enumerate(ROLES)}


def dense_table(layer: Layer, m: Mapping, spec: SparseSpec, models: dict[str, Model]) -> Actions:
    """The table the fixed shape's sparse view works on: its count rows as an action table
    (``cost.counts.priced_actions_of_counts``: a level's reads under ``read``, writes under ``fill``, as
    its dense energy and bound see them). The exact action table (``fixed_actions``) instead when a
    MAC feature acts on the output's read-modify-write at a level that merges it with other actions
    (no psum register: the RF's psum row holds reads and drains), so the feature moves only its own,
    or when a tensor is an actual mask (``sparse.exact`` measures the general table's own events)."""
    psum_reg = m.reg_keep[ROLES_INDEX[PSUM]]
    if (not psum_reg and any(ft.role is None for ft in spec.features)
            or any(isinstance(x, Actual) for x in models.values())):
        return fixed_actions(layer, m)
    return priced_actions_of_counts(count(layer, m))


def sparse_layer(layer: Layer, arch, m: Mapping, spec: SparseSpec, models: dict[str, Model]) -> SparseLayer:
    # the fixed shape's levels with the arch's word: metadata bits become words of the arch's width
    # (as the batch scorer and the capacity check count them)
    h = replace(_shape(m.spatial(ROWS), m.spatial(COLS)), word_bits=arch.word_bits)
    check_on(spec, from_arch(arch))          # what the arch's levels may keep (the GLB's holds)
    problem = from_layer(layer)
    check_masks(problem, models)
    dense = dense_table(layer, m, spec, models)
    sa = analyze(problem, h, from_fixed(m, h), dense, spec, models)
    ha, price = arch_hierarchy(arch), arch_table(arch)
    e = energy_of(priced_actions(sa, ha.compute.name), ha, price)
    parts, _ = energy_parts(e)
    dense_parts, _ = energy_parts(energy_of(dense, ha, price))
    if sa.macs <= 0:
        raise ConfigError(f"layer {layer.name!r} has no MACs: nothing sparse to model")
    return SparseLayer(sa, parts, sum(dense_parts.values()), e.total_pj)


def sparse_rooms(layer: Layer, arch, m: Mapping, spec: SparseSpec, models: dict[str, Model]
                 ) -> dict[tuple[str, str], tuple[float, float]]:
    """(level, tensor) -> (words of the tensor's tile there in its format, payload + metadata; words of
    room beside its capacity group's tiles for the next refill): ``sparse.model.compressed_tiles`` and
    ``group_rooms`` on the arch's level list (``hierarchy.from_arch``, as the compressed capacity check),
    per ``spec.capacity``; what the fixed shape's simulator sees of the sparse view's double-buffering
    room (``accelsim.sim.timing.Rooms``). Only the tensors the mapping keeps at a bounded level."""
    h = from_arch(arch)
    problem = from_layer(layer)
    nest = from_fixed(m, h)
    tiles = compressed_tiles(problem, h, nest, spec, models)
    rooms = group_rooms(problem, h, nest, spec, models)
    out = {}
    for lv in h.levels:
        for g, (group, _) in enumerate(lv.capacity):
            for r in group:
                if (lv.name, r) in tiles and (lv.name, g) in rooms:
                    out[(lv.name, r)] = (tiles[(lv.name, r)], rooms[(lv.name, g)][1])
    return out


def bandwidth_counts(sl: SparseLayer) -> Counts:
    """The fixed-shape ``Counts`` the bandwidth bounds should see: ``sparse.model.bandwidth_actions``
    (data + metadata + gated words per action, the sparse ideal cycles rounded up) as count rows."""
    return to_counts(bandwidth_actions(sl.actions))


@dataclass(frozen=True)
class Sparsity:
    """A run's sparsity: the design's features and the densities (the workload's, overridden per
    role by ``override``, the CLI's ``--density``)."""

    spec: SparseSpec
    override: tuple[tuple[str, Model | Source], ...] = ()

    def models(self, workload, layer: str) -> dict[str, Model]:
        """role -> model of one layer; network-wide actual sources (ONNX weights, a run) resolved to the
        layer's masks, a ``.npy`` mask taken in any of its accepted layouts
        (``accelsim.sparse.actual.resolve``). A level-list run's layer (``workloads.problems.ProblemLayer``)
        resolves through the conv-shaped layer it came from; a bmm / einsum layer's masks are its
        problem's shape (``sparse.view.check_masks``)."""
        merged = {**workload.density_of(layer), **dict(self.override)}
        if not any(isinstance(m, (FromOnnx, FromRun, Actual)) for m in merged.values()):
            return merged
        from accelsim.sparse.actual import resolve

        lay = next(x for x in workload.layers if x.name == layer)
        conv = lay if isinstance(lay, Layer) else lay.layer
        if conv is None:
            for m in merged.values():
                if isinstance(m, (FromOnnx, FromRun)):
                    raise ConfigError(f"layer {layer!r} ({lay.kind}) is not conv-shaped: masks from an ONNX model "
                                      f"map its Conv, Gemm and MatMul layers only", source=m.where, key=layer)
            return merged
        return {r: resolve(m, r, workload, conv) for r, m in merged.items()}


__all__ = ["SparseLayer", "Sparsity", "bandwidth_counts", "dense_table", "sparse_layer",
           "sparse_rooms"]
