"""Fuzzing the general core's spec files (tests/test_fuzz.py's mutation engine): level-list
hierarchies, problems and loop nests. Every mutated file ends in a one-line ConfigError or, when it
happens to be valid, in a spec that counts (MACs of the problem, exact integers)."""

from __future__ import annotations

import yaml
from hypothesis import given, settings

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
