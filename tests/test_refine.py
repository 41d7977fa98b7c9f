"""The mapper's shortlist and the simulation reducer (accelsim.refine)."""

from __future__ import annotations

from accelsim.arch import load_arch
from accelsim.cost.counts import count
from accelsim.cost.model import evaluate
from accelsim.mapper.score import score
from accelsim.mapper.search import SearchSpec, search, search_python
from accelsim.refine import by_simulation
from accelsim.sim import simulate_layer
from dataflows import registry
from workloads.loader import load_workload

ARCH = load_arch("eyeriss_v1")
FLOW = registry.get("rs")
CONV3 = [layer for layer in load_workload("alexnet", 4).layers if layer.name == "CONV3"][0]


def test_shortlist_is_best_first_and_starts_with_the_choice():
    for finder in (search, search_python):
        found = finder(CONV3, ARCH, FLOW, SearchSpec("edp", 600, 2))
        assert found.shortlist[0] == found.mapping and len(set(found.shortlist)) == len(found.shortlist) > 1
        objectives = [score(count(CONV3, m), ARCH, "edp").objective for m in found.shortlist]
        assert objectives == sorted(objectives)


def test_by_simulation_keeps_the_lowest_simulated_edp():
    found = search(CONV3, ARCH, FLOW, SearchSpec("edp", 2000, 0))
    refined = by_simulation(CONV3, ARCH, found.shortlist, "edp")
    edps = []
    for m in found.shortlist:
        r = evaluate(CONV3, ARCH, m)
        edps.append(r.energy_pj * simulate_layer(CONV3, ARCH, m, r.counts).cycles)
    assert refined.rank == edps.index(min(edps))
    assert refined.mapping == found.shortlist[refined.rank]
    assert refined.result.energy_pj * refined.sim.cycles == min(edps)


def test_pipeline_refine_keeps_the_simulated_best_and_says_so():
    from accelsim import report
    from accelsim.pipeline import run
    from workloads.layer import Workload

    workload = Workload("one", (CONV3,))
    spec = SearchSpec("edp", 1500, 4)
    plain = run(ARCH, workload, "rs", search_spec=spec, simulate=True)
    refined = run(ARCH, workload, "rs", search_spec=spec, simulate=True, refine=True)
    expect = by_simulation(CONV3, ARCH, plain.layers[0].search.shortlist, "edp")
    assert refined.layers[0].result.mapping == expect.mapping
    assert refined.layers[0].sim.cycles == expect.sim.cycles
    # never worse than the mapper's own choice on the simulated objective
    edp = lambda lr: lr.result.energy_pj * lr.sim.cycles  # noqa: E731
    assert edp(refined.layers[0]) <= edp(plain.layers[0])
    assert report.stats(refined)["search"]["refined_by_simulation"] is True
    assert report.stats(plain)["search"]["refined_by_simulation"] is False
