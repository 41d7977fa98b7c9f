"""accelsim.pipeline.run: layers of the same shape are searched once per run, with results equal to
searching each layer on its own."""

from __future__ import annotations

from dataclasses import replace

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

    monkeypatch.setattr(pipeline, "search", counting)
    run = pipeline.run(arch, workload, "rs", search_spec=spec)
    assert len(calls) == len(shapes)
    flow = registry.get("rs")
    for layer, lr in zip(workload.layers, run.layers):
        if not layer.kind.has_macs:
            continue
        alone = search(layer, arch, flow, spec)
        assert lr.search == alone                       # mapping, result (with this layer's name), score, counts
        assert lr.result.layer.name == layer.name
