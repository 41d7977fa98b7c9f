"""The mappers' shortlists and the simulation reducer (accelsim.refine), on fixed-shape archs and on
level-list hierarchies."""

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


# --- level-list hierarchies (accelsim.pipeline_hierarchy, accelsim.refine.by_simulation_nest) ---

def _hierarchy_run(refine: bool, search: bool = True, simulate: bool = True):
    from accelsim.hierarchy import level_list
    from accelsim.pipeline_hierarchy import run_hierarchy
    from workloads.problems import ProblemWorkload, load_problem_workload

    h = level_list("hierarchy/simba_like")
    conv5 = [pl for pl in load_problem_workload("alexnet").layers if pl.name == "CONV5"]
    spec = SearchSpec("edp", 400, 0) if search else None
    return run_hierarchy(h, ProblemWorkload("conv5", tuple(conv5)), None, search_spec=spec, simulate=simulate,
                         refine=refine)


def test_hierarchy_refine_keeps_the_simulated_best_of_the_shortlist_and_the_named_mapping():
    """Simba-like, AlexNet CONV5, EDP, budget 400, seed 0. Every candidate (the search's 16-nest
    shortlist and the ws named mapping) is simulated here independently; the refined run keeps the
    minimum simulated EDP, which is below both the search's own choice and the named mapping
    (measured: 8.322e14 against 8.356e14 for both: the bound ranks the kept nest third)."""
    from accelsim.cost.actions import count_actions
    from accelsim.cost.energy import energy_parts
    from accelsim.energy_table import table_for
    from accelsim.pipeline_hierarchy import named_nest
    from accelsim.sim.general import simulate_nest
    from dataflows import registry as flows

    plain, refined, named = _hierarchy_run(False), _hierarchy_run(True), _hierarchy_run(False, search=False)
    h = plain.hierarchy
    item = plain.layers[0].item
    table = table_for(h)
    found = plain.layers[0].search
    candidates = list(found.shortlist) + [named_nest(item, h, flows.get("ws"))]
    edps = []
    for nest in candidates:
        a = count_actions(item.problem, h, nest)
        edps.append(sum(energy_parts(a, h, table)[0].values()) * simulate_nest(item.problem, h, nest, a).cycles)
    edp = lambda lr: lr.energy_pj * lr.cycles  # noqa: E731
    lr = refined.layers[0]
    assert lr.sim is not None and lr.nest == candidates[edps.index(min(edps))]
    assert edp(lr) == min(edps)
    assert edp(lr) < edp(plain.layers[0]) and edp(lr) < edp(named.layers[0])
    assert refined.refined and not plain.refined


def test_hierarchy_refine_cli_is_deterministic_and_says_so():
    import json
    import subprocess
    import sys

    from tests.conftest import REPO

    args = [sys.executable, "-m", "accelsim", "run", "hierarchy/simba_like", "-w", "alexnet", "--layers", "CONV4",
            "--search", "--search-budget", "400", "--objective", "edp", "--seed", "3", "--refine", "--json"]
    a, b = (subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600) for _ in range(2))
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout
    assert json.loads(a.stdout)["search"]["refined_by_simulation"] is True
    bad = subprocess.run(args[:-1] + ["--no-sim"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "--refine re-ranks a search by simulation: it needs --search and the simulator" in bad.stderr
