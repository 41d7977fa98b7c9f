"""Sparsity on level-list hierarchies (issue 16 on the general core): ``accelsim run HIERARCHY --sparse``
adds the sparse view (accelsim.sparse.view) beside the dense action table, which it never changes;
expected values by hand (skipping: MACs x d_in x d_w over the MACs whose operands are elements, padding
none; one compute unit: cycles x that fraction; a gated
action at its own overridden price), and the general view agrees with the fixed-shape one on a
converted arch."""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pytest
import yaml

from accelsim.arch import load_arch
from accelsim.cli import main
from accelsim.hierarchy import from_arch, hierarchy_from_dict
from accelsim.pipeline_hierarchy import run_hierarchy
from accelsim.sparse.density import Uniform
from accelsim.sparse.layer import Sparsity, sparse_layer
from accelsim.sparse.masks import effective_macs
from accelsim.sparse.spec import load_spec, spec_from_dict
from dataflows import registry
from workloads.layer import conv
from workloads.problems import ProblemWorkload, load_problem_workload, of_layer

LAYER = conv("c", C=4, K=8, H=6, R=3, pad=1)          # 4 x 8 x 6 x 6 x 3 x 3 = 10,368 MACs
# per axis 16 of the 18 (p, r) pairs read a row of the 6-row ifmap (p 0 with r 0 and p 5 with r 2 read the
# padding: a zero no density describes), so 10,368 x (16/18)^2 = 8,192 MACs have an ifmap element
INSIDE = 8192


def _one_unit(energy: dict | None = None):
    """DRAM -> a 64-word buffer -> one MAC: no fanout, so no lockstep imbalance."""
    doc = {"name": "one", "word_bits": 16, "dataflow": "os",
           "levels": [{"name": "dram", "keeps": ["ifmap", "weight", "psum"]},
                      {"name": "buf", "keeps": ["ifmap", "weight", "psum"], "capacity": 4096}],
           "compute": {"name": "mac"}}
    if energy is not None:
        doc["energy"] = energy
    return hierarchy_from_dict(doc, "one.yaml")


def _run(h, spec, models, arch=None):
    w = ProblemWorkload("w", (of_layer(LAYER),))
    return run_hierarchy(h, w, arch=arch, sparsity=Sparsity(spec, tuple(models.items())))


SKIP = spec_from_dict({"name": "s", "skip": [{"level": "mac", "on_zero": ["ifmap", "weight"]}]}, "s.yaml")


def test_skipping_on_one_unit_by_hand_and_the_dense_table_is_unchanged():
    h = _one_unit()
    run = _run(h, SKIP, {"ifmap": Uniform(0.5), "weight": Uniform(0.25)})
    dense = run_hierarchy(h, ProblemWorkload("w", (of_layer(LAYER),)))
    lr = run.layers[0]
    assert lr.actions == dense.layers[0].actions                 # the dense counts are never changed
    sa = lr.sparse.actions
    assert sa.effective_macs == INSIDE * 0.5 * 0.25
    assert sa.skipped_macs == 10368 - INSIDE * 0.125
    assert sa.cycles == pytest.approx(lr.actions.cycles * INSIDE * 0.125 / 10368, rel=1e-12)   # one unit: no imbalance
    assert lr.sparse.bound_parts["compute"] == math.ceil(lr.actions.cycles * INSIDE * 0.125 / 10368)
    assert lr.sparse.energy_pj < lr.energy_pj


def test_gated_compute_priced_by_the_hierarchy_yaml_override():
    """Gating MACs on zero ifmaps (density 1/4): 3/4 of the 8,192 MACs with an ifmap element and the 2,176
    on padding, 8,320 of 10,368 MACs gated; pricing gated_compute at 0.3 pJ instead of 0 adds 0.3 x 8,320
    pJ exactly."""
    gate = spec_from_dict({"name": "g", "gate": [{"level": "mac", "on_zero": ["ifmap"]}]}, "g.yaml")
    models = {"ifmap": Uniform(0.25)}
    e0 = _run(_one_unit(), gate, models).layers[0].sparse.energy_pj
    e1 = _run(_one_unit({"preset": "normalized", "pj": {"mac": {"gated_compute": 0.3}}}), gate, models)
    assert e1.layers[0].sparse.actions.gated_macs == 10368 - INSIDE * 0.25
    assert e1.layers[0].sparse.energy_pj - e0 == pytest.approx(0.3 * 8320, rel=1e-12)


def test_general_view_equals_the_fixed_shape_view_on_a_converted_arch():
    """The same mapping, the same sparse model: the general view (every action apart) and the fixed-shape
    one (the count rows) give the same energy, effective MACs and compressed DRAM words (to rounding)."""
    arch = load_arch("eyeriss_v1")
    spec = load_spec("eyeriss_v1")
    models = {"ifmap": Uniform(0.4), "weight": Uniform(0.35), "psum": Uniform(0.6)}
    lr = _run(from_arch(arch), spec, models, arch=arch).layers[0]
    fixed = sparse_layer(LAYER, arch, registry.get("rs").named(LAYER, arch), spec, models)
    assert lr.sparse.energy_pj == pytest.approx(fixed.energy_pj, rel=1e-12)
    assert lr.sparse.actions.effective_macs == pytest.approx(fixed.actions.effective_macs, rel=1e-12)
    assert lr.sparse.actions.totals("dram") == pytest.approx(fixed.actions.totals("dram"), rel=1e-12)


def _shape(problem, role: str) -> tuple[int, ...]:
    return tuple(c.size for c in problem.tensor(role).coords)


def _cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_cli_clustered_eyeriss_v2_with_csc_and_skipping(tmp_path):
    code, out, _ = _cli(["run", "eyeriss_v2", "-w", "mobilenet_v1", "--layers", "1-2", "--no-sim", "-q",
                         "--sparse", "eyeriss_v2_clustered", "--density", "ifmap=0.5,weight=0.4", "--out", str(tmp_path)])
    assert code == 0
    head = out.splitlines()[2].split()
    assert head[-7:] == ["effMAC%", "sparse", "cycles", "sparse", "uJ", "sparse", "dram/MAC"]
    doc = json.loads((tmp_path / "stats.json").read_text())
    inside = 0
    for layer, item in zip(doc["layers"], load_problem_workload("mobilenet_v1").layers[:2]):
        sp = layer["sparse"]
        # the MACs whose ifmap and weight are elements (the mask reduction on all-ones masks)
        real = effective_macs(item.problem, np.ones(_shape(item.problem, "ifmap"), bool),
                              np.ones(_shape(item.problem, "weight"), bool))
        assert real < layer["macs"]                    # both layers pad their ifmap
        assert sp["effective_macs"] == pytest.approx(real * 0.2, rel=1e-12)
        inside += real
        assert sp["formats"] == {"spad.ifmap": "[UOP(4), CP(4)] inner C", "spad.weight": "[UOP(7), CP(4)] inner K"}
        assert sp["levels"]["spad"]["skipped"] > 0 and sp["levels"]["spad"]["metadata"] > 0
        assert sp["bound_cycles"] == max(sp["bound_parts"].values())
    assert doc["totals"]["sparse"]["effective_macs"] == pytest.approx(inside * 0.2)


def test_cli_a_preset_for_another_hierarchy_is_one_line(tmp_path):
    code, out, err = _cli(["run", "eyeriss_v2", "-w", "mobilenet_v1", "--layers", "1", "--no-sim", "-q",
                           "--sparse", "eyeriss_v2"])
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "eyeriss_v2.yaml: formats.rf: unknown level 'rf'; levels: dram, glb_cluster, spad, reg" in err


def test_workload_densities_reach_a_hierarchy_run(tmp_path):
    doc = {"version": 1, "name": "tiny", "density": {"ifmap": 0.5},
           "layers": [{"name": "c1", "kind": "conv", "C": 4, "K": 8, "H": 8, "R": 3, "padding": 1}]}
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(doc))
    code, _, _ = _cli(["run", "hierarchy/simba_like", "-w", str(p), "--no-sim", "-q", "--sparse",
                       str(_write_gate(tmp_path)), "--out", str(tmp_path / "o")])
    assert code == 0
    got = json.loads((tmp_path / "o" / "stats.json").read_text())["layers"][0]["sparse"]
    # an 8-row ifmap under a 3-row window, pad 1: 22 of 24 (p, r) pairs per axis read an element
    assert got["densities"]["ifmap"] == 0.5
    assert got["gated_macs"] == pytest.approx((1 - 0.5 * (22 / 24) ** 2) * 8 * 4 * 8 * 8 * 9)


def _write_gate(tmp_path):
    p = tmp_path / "gate.yaml"
    p.write_text(yaml.safe_dump({"name": "g", "gate": [{"level": "vector_mac", "on_zero": ["ifmap"]}]}))
    return p


def test_search_on_a_hierarchy_keeps_the_candidate_with_the_best_sparse_objective():
    """--search with sparsity on a level list: the general mapper searches with the sparse scorer (its
    score is the kept nest's sparse energy, recomputed here by sparse_view), and that energy is the
    minimum over its shortlist and the named nest."""
    from accelsim.cost.actions import count_actions
    from accelsim.energy_table import table_for
    from accelsim.hierarchy import load_hierarchy
    from accelsim.mapper.search import SearchSpec
    from accelsim.pipeline_hierarchy import _named_or_none, flow_for
    from accelsim.refine import candidate_pool
    from accelsim.sparse.view import sparse_view
    from tests.conftest import REPO

    h = load_hierarchy(str(REPO / "configs" / "eyeriss_v2.yaml"))
    spec = load_spec("eyeriss_v2_clustered")
    models = {"ifmap": Uniform(0.3), "weight": Uniform(0.4)}
    w = ProblemWorkload("w", (of_layer(LAYER),))
    run = run_hierarchy(h, w, search_spec=SearchSpec("energy", 300, 0), sparsity=Sparsity(spec, tuple(models.items())))
    lr = run.layers[0]
    table = table_for(h)
    pool = candidate_pool(lr.search.shortlist, _named_or_none(lr.item, h, flow_for(h, None, False), None))
    assert len(pool) > 1

    def energy(nest):
        return sparse_view(lr.item.problem, h, nest, count_actions(lr.item.problem, h, nest), spec, models,
                           table).energy_pj

    assert lr.search.sparse == "searched with sparsity (compressed capacity, sparse costs)"
    assert lr.search.score.energy == energy(lr.nest) == lr.sparse.energy_pj
    assert lr.sparse.energy_pj == min(energy(n) for n in pool)
    assert lr.nest in pool
