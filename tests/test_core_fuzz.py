"""Fuzzing the general core's spec files (tests/test_fuzz.py's mutation engine): level-list
hierarchies, problems and loop nests. Every mutated file ends in a one-line ConfigError or, when it
happens to be valid, in a spec that counts (MACs of the problem, exact integers)."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.cost.actions import count_actions
from accelsim.hierarchy import load_hierarchy
from accelsim.loopnest import check, nest_from_dict
from accelsim.problem import load_problem
from accelsim.yamlio import load_yaml
from tests.conftest import REPO
from tests.test_fuzz import SETTINGS, _dump, _expect_config_error_or_result, mutated

DATA = REPO / "tests" / "data"
GOOD_HIERARCHY = yaml.safe_load((REPO / "configs" / "eyeriss_v2.yaml").read_text())
GOOD_PROBLEM = yaml.safe_load((DATA / "core_conv3x3.yaml").read_text())
GOOD_NEST = yaml.safe_load((DATA / "core_nest_v2.yaml").read_text())
HIERARCHY = load_hierarchy(str(REPO / "configs" / "eyeriss_v2.yaml"))
PROBLEM = load_problem(str(DATA / "core_conv3x3.yaml"))


@settings(max_examples=150, **SETTINGS)
@given(doc=mutated(GOOD_HIERARCHY))
def test_hierarchy_yaml_mutations(tmp_path, doc):
    path = tmp_path / "h.yaml"
    path.write_text(_dump(doc))
    h = _expect_config_error_or_result(load_hierarchy, str(path))
    if h is not None:
        assert h.levels and h.instances >= 1


@settings(max_examples=150, **SETTINGS)
@given(doc=mutated(GOOD_PROBLEM))
def test_problem_yaml_mutations(tmp_path, doc):
    path = tmp_path / "p.yaml"
    path.write_text(_dump(doc))
    p = _expect_config_error_or_result(load_problem, str(path))
    if p is not None:
        assert p.macs >= 1 and {t.role for t in p.tensors} == {"ifmap", "weight", "psum"}


@settings(max_examples=120, **SETTINGS)
@given(doc=mutated(GOOD_NEST))
def test_nest_yaml_mutations(tmp_path, doc):
    path = tmp_path / "n.yaml"
    path.write_text(_dump(doc))

    def load_and_check(p):
        nest = nest_from_dict(load_yaml(p), HIERARCHY, str(p))
        check(PROBLEM, HIERARCHY, nest, str(p))
        return nest

    nest = _expect_config_error_or_result(load_and_check, str(path))
    if nest is not None:
        a = count_actions(PROBLEM, HIERARCHY, nest)
        assert a.macs == PROBLEM.macs and all(isinstance(n, int) and n >= 0 for n in a.storage.values())


# ---- every spec key the general core added -----------------------------------------------------------
# eyeriss_v2 alone leaves out the vector unit, the energy section (preset, per-action overrides, areas),
# per-direction bandwidths, unsplit lists, input FIFOs, capacity partitions: a second base has them all.
GOOD_HIERARCHY_FULL = {
    **yaml.safe_load((REPO / "configs" / "hierarchy" / "eyeriss_v2_vector.yaml").read_text()),
    "energy": {"preset": "horowitz_45nm",
               "pj": {"spad": {"read": {"weight": 1.2}, "fill": {"weight": 1.2}},
                      "glb_cluster.net": {"down_dest": 0.3, "up_src": 0.3}, "vector": {"exp": 2.0}},
               "area_mm2": {"glb_cluster": 0.2, "spad": 0.005, "mac": 0.003}, "area_source": "fuzz test"},
}
GOOD_HIERARCHY_FULL["levels"] = [dict(lv) for lv in GOOD_HIERARCHY_FULL["levels"]]
GOOD_HIERARCHY_FULL["levels"][0].update(read_bandwidth=1.8, write_bandwidth=0.9)
GOOD_HIERARCHY_FULL["levels"][1].update(unsplit=["R"], capacity=[{"tensors": ["ifmap"], "words": 2048},
                                                                  {"tensors": ["psum"], "words": 4096}])
GOOD_HIERARCHY_FULL["levels"][2].update(input_fifo_words={"ifmap": 4, "weight": 4})
GOOD_HIERARCHY_FULL["levels"][1]["fanout"] = {**GOOD_HIERARCHY_FULL["levels"][1]["fanout"], "unsplit_x": ["N"]}
GOOD_WORKLOAD = {"version": 1, "name": "w", "layers": [
    {"name": "c", "kind": "conv", "C": 4, "K": 8, "H": 6, "W": 6, "R": 3, "S": 3, "padding": 1},
    {"name": "qk", "kind": "bmm", "batch": 2, "m": 8, "n": 8, "k": 4},
    {"name": "e", "kind": "einsum", "einsum": {"dims": {"K": 4, "P": 5, "R": 3}, "tensors": [
        {"name": "x", "role": "ifmap", "coords": [{"expr": "2*P + R - 1", "size": 9}]},
        {"name": "w", "role": "weight", "coords": ["K", "R"]},
        {"name": "y", "role": "psum", "coords": ["K", "P"]}]}}]}
TIMELOOP = REPO / "tests" / "data" / "timeloop"
TIMELOOP_DESIGNS = (("eyeriss_like.arch.yaml", "alexnet_conv1.prob.yaml", "eyeriss_like_conv1.map.yaml"),
                    ("simple_weight_stationary.arch.yaml", "simple_weight_stationary.constraints.yaml",
                     "alexnet_conv1.prob.yaml", "simple_weight_stationary_conv1.map.yaml"))


def test_full_bases_are_valid(tmp_path):
    """The bases below load (so a mutation, not the base, is what an error is about)."""
    from accelsim.hierarchy import hierarchy_from_dict
    from workloads.problems import load_problem_workload

    h = hierarchy_from_dict(GOOD_HIERARCHY_FULL, "h.yaml")
    assert h.vector is not None and h.levels[0].write_bandwidth == 0.9 and h.levels[1].unsplit == ("R",)
    assert h.energy.area_mm2
    (tmp_path / "w.yaml").write_text(_dump(GOOD_WORKLOAD))
    w = load_problem_workload(str(tmp_path / "w.yaml"))
    assert [pl.problem.macs for pl in w.layers] == [8 * 4 * 6 * 6 * 9, 2 * 8 * 8 * 4, 4 * 5 * 3]


@settings(max_examples=120, **SETTINGS)
@given(doc=mutated(GOOD_HIERARCHY_FULL))
def test_hierarchy_yaml_mutations_every_new_key(tmp_path, doc):
    path = tmp_path / "h.yaml"
    path.write_text(_dump(doc))
    h = _expect_config_error_or_result(load_hierarchy, str(path))
    if h is not None:
        from accelsim.energy_table import table_for

        assert h.levels and h.instances >= 1
        table_for(h)                   # the energy section prices every action, or it was an error above


@settings(max_examples=100, **SETTINGS)
@given(doc=mutated(GOOD_WORKLOAD))
def test_workload_yaml_mutations_bmm_and_einsum_layers(tmp_path, doc):
    from workloads.problems import load_problem_workload

    path = tmp_path / "w.yaml"
    path.write_text(_dump(doc))
    w = _expect_config_error_or_result(load_problem_workload, str(path))
    if w is not None:
        for pl in w.layers:
            if pl.problem is not None:
                assert pl.problem.macs >= 1 and {t.role for t in pl.problem.tensors} == {"ifmap", "weight", "psum"}


@settings(max_examples=100, **SETTINGS)
@given(files=st.sampled_from(TIMELOOP_DESIGNS), data=st.data())
def test_timeloop_import_mutations(tmp_path, files, data):
    """`accelsim import timeloop` on a mutated eyeriss_like or simple_weight_stationary design (one of
    its architecture, constraints, problem or mapping files mutated): a one-line error, or specs that
    load and count (the import checks its mapping against its problem and architecture)."""
    from accelsim.hierarchy import hierarchy_from_dict
    from accelsim.interop.timeloop import import_timeloop
    from accelsim.problem import problem_from_dict

    which = data.draw(st.sampled_from(range(len(files))))
    paths = []
    for i, name in enumerate(files):
        doc = yaml.safe_load((TIMELOOP / name).read_text())
        if i == which:
            doc = data.draw(mutated(doc))
        paths.append(tmp_path / name)
        paths[-1].write_text(_dump(doc))

    def imported(_):
        imp = import_timeloop([str(p) for p in paths])
        h = hierarchy_from_dict(imp.hierarchy, "h.yaml")
        p = problem_from_dict(imp.problem, "p.yaml")
        nest = nest_from_dict(imp.mapping, h, "n.yaml")
        check(p, h, nest, "n.yaml")
        return p, h, nest

    got = _expect_config_error_or_result(imported, None)
    if got is not None:
        p, h, nest = got
        assert count_actions(p, h, nest).macs == p.macs
