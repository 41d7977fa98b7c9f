"""accelsim.pipeline.run: layers of the same shape are searched once per run, with results equal to
searching each layer on its own."""

from __future__ import annotations

from dataclasses import replace

import accelsim.mapper.search as mapper_search
import accelsim.pipeline as pipeline
from accelsim.arch import load_arch
from accelsim.mapper.search import SearchSpec, search
from dataflows import registry
from workloads.loader import load_workload


def test_repeated_shapes_are_searched_once_with_identical_results(monkeypatch):
    workload = load_workload("resnet50", 1)
    workload = replace(workload, layers=workload.layers[:16])
    mac_layers = [layer for layer in workload.layers if layer.kind.has_macs]
    shapes = {replace(layer, name="") for layer in mac_layers}
    assert len(shapes) < len(mac_layers)              # the prefix does repeat shapes (bottleneck blocks)
    arch, spec = load_arch("eyeriss_v1"), SearchSpec("edp", 600, 3)
    calls = []

    def counting(layer, *args):
        calls.append(layer.name)
        return search(layer, *args)

    monkeypatch.setattr(mapper_search, "search", counting)     # the pipeline imports it when searching
    run = pipeline.run(arch, workload, "rs", search_spec=spec)
    assert len(calls) == len(shapes)
    flow = registry.get("rs")
    for layer, lr in zip(workload.layers, run.layers):
        if not layer.kind.has_macs:
            continue
        alone = search(layer, arch, flow, spec)
        assert lr.search == alone                       # mapping, result (with this layer's name), score, counts
        assert lr.result.layer.name == layer.name


def test_named_mappings_and_counts_shared_by_shape_equal_each_layer_alone():
    """A run maps and counts each layer shape once (pipeline's named-mapping memo, cost.counts'
    fixed_actions memo); every layer's result equals evaluating that layer alone from scratch, the
    action table equals a fresh count of the layer under its own name."""
    from accelsim.cost import counts
    from accelsim.cost.actions import count_actions
    from accelsim.cost.model import evaluate
    from accelsim.loopnest import from_fixed
    from accelsim.mapping import COLS, ROWS
    from accelsim.problem import from_layer

    workload = load_workload("resnet50", 1)
    workload = replace(workload, layers=workload.layers[:16])
    arch, flow = load_arch("eyeriss_v1"), registry.get("rs")
    run = pipeline.run(arch, workload, "rs")
    repeated = 0
    for layer, lr in zip(workload.layers, run.layers):
        if not layer.kind.has_macs:
            continue
        counts._FIXED_ACTIONS.clear()
        alone = evaluate(layer, arch, flow.named(layer, arch))
        assert lr.result == alone and lr.result.layer.name == layer.name
        h = counts.fixed_shape(alone.mapping.spatial(ROWS), alone.mapping.spatial(COLS))
        fresh = count_actions(from_layer(layer), h, from_fixed(alone.mapping, h))
        assert counts.fixed_actions(replace(layer, name="other"), alone.mapping) == fresh
        repeated += sum(1 for other in workload.layers[:workload.layers.index(layer)]
                        if replace(other, name="") == replace(layer, name=""))
    assert repeated > 0                                  # the prefix repeats shapes
