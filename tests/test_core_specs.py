"""The general core's specs: problem / hierarchy / nest YAML loaders and their one-line errors, the
converters from today's Layer / Arch / Mapping, the shipped level-list configs, Timeloop-style
printing, and a BERT-base attention Q.K^T counted at full size against hand-derived counts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.arch import load_arch
from accelsim.cost.actions import count_actions
from accelsim.errors import ConfigError
from accelsim.hierarchy import Fanout, Hierarchy, Storage, from_arch, hierarchy_from_dict, load_hierarchy
from accelsim.interp_general import interpret
from accelsim.loopnest import LevelMap, LoopNest, check, from_fixed, loop_nest_text, nest_from_dict, nest_to_dict
from accelsim.loopnest import problems_of as check_all
from accelsim.names import COMPUTE, DOWN, DOWN_DEST, DRAIN, FILL, IFMAP, PSUM, READ, ROLES, UPDATE, WEIGHT
from accelsim.problem import attention_scores, from_layer, problem_from_dict
from configs import root
from tests.strategies import small_layers
from workloads import zoo
from workloads.layer import conv, fc, gemm

SRC = "spec.yaml"


def one_line_error(fn, *args) -> str:
    with pytest.raises(ConfigError) as e:
        fn(*args)
    text = str(e.value)
    assert "\n" not in text and text.startswith(SRC)
    return text


# ---- problem ------------------------------------------------------------------------------

def test_problem_yaml_conv_row_is_the_affine_projection():
    p = problem_from_dict({"name": "c1d", "dims": {"P": 4, "R": 3, "K": 2},
                           "tensors": [{"name": "x", "role": "ifmap", "coords": [{"expr": "2*P + R - 1", "size": 8}]},
                                       {"name": "w", "role": "weight", "coords": ["R", "K"]},
                                       {"name": "y", "role": "psum", "coords": ["K", "P"]}]}, SRC)
    (c,) = p.tensor(IFMAP).coords
    assert c.terms == (("P", 2), ("R", 1)) and c.offset == -1 and c.size == 8
    assert p.macs == 24 and p.relevant(WEIGHT) == {"R", "K"}


@pytest.mark.parametrize("tensors, key, words", [
    ([{"name": "x", "role": "ifmap", "coords": ["P + Z"]}], "tensors[0].coords[0]", "unknown dim 'Z'"),
    ([{"name": "x", "role": "ifmap", "coords": ["P"]}, {"name": "w", "role": "weight", "coords": ["P"]},
      {"name": "y", "role": "psum", "coords": [{"expr": "2*P", "size": 8}]}], "tensors[2].coords[0]", "plain dims"),
    ([{"name": "x", "role": "ifmap", "coords": ["2*P"]}], "tensors[0].coords[0]", "not a plain dim"),
    ([{"name": "x", "role": "input", "coords": ["P"]}], "tensors[0].role", "allowed: ifmap, psum, weight"),
    ([{"name": "x", "role": "ifmap", "coords": ["P"]}, {"name": "w", "role": "ifmap", "coords": ["P"]},
      {"name": "y", "role": "psum", "coords": ["P"]}], "tensors", "exactly one tensor with role 'ifmap'"),
])
def test_problem_yaml_errors_name_file_and_key(tensors, key, words):
    rest = [{"name": "w", "role": "weight", "coords": ["P"]}, {"name": "y", "role": "psum", "coords": ["P"]}]
    tensors = tensors + rest[len(tensors) - 1:]
    text = one_line_error(problem_from_dict, {"name": "bad", "dims": {"P": 4}, "tensors": tensors}, SRC)
    assert f"{SRC}: {key}:" in text and words in text


@pytest.mark.parametrize("layer", [conv("c", C=6, K=4, H=9, R=3, stride=2, pad=1, groups=2),
                                   conv("dw", C=8, K=8, H=7, R=3, groups=8), fc("f", C=16, K=10, H=3),
                                   gemm("g", m=5, n=7, k=3)])
def test_from_layer_keeps_macs_and_tensor_sizes(layer):
    p = from_layer(layer)
    assert p.macs == layer.macs
    assert p.elements(IFMAP) == layer.ifmap_elems and p.elements(WEIGHT) == layer.weight_elems
    assert p.elements(PSUM) == layer.output_elems


def test_every_zoo_network_converts_with_the_same_macs():
    for name in zoo.names():
        net = zoo.get(name)
        assert sum(from_layer(lay).macs for lay in net.layers if lay.kind.has_macs) == net.macs, name


# ---- hierarchy ---------------------------------------------------------------------------------

LEVELS = [{"name": "dram", "keeps": ["ifmap", "weight", "psum"]},
          {"name": "buf", "keeps": ["ifmap", "psum"], "capacity": 64, "fanout": {"x": 2, "y": 2, "network": "bus"}},
          {"name": "pe", "keeps": ["weight", "psum"], "capacity": {"weight": 8, "psum": 4}}]


def _with(i, **changes):
    levels = [dict(lv) for lv in LEVELS]
    levels[i].update(changes)
    return {"name": "h", "levels": levels}


@pytest.mark.parametrize("doc, key, words", [
    (_with(1, keeps=["ifmap", "bias"]), "levels[1].keeps", "keeps unknown tensor 'bias'"),
    (_with(1, fanout={"x": 0, "y": 2}), "levels[1].fanout.x", "must be >= 1"),
    (_with(2, name="buf"), "levels[2].name", "duplicate level name 'buf'"),
    (_with(1, fanout={"x": 2, "network": "torus"}), "levels[1].fanout.network", "allowed: bus"),
    (_with(2, capacity={"ifmap": 3}), "levels[2].capacity.ifmap", "not kept by this level"),
    (_with(0, keeps=["ifmap"]), "levels[0]", "backing store"),
])
def test_hierarchy_yaml_errors_name_file_and_key(doc, key, words):
    text = one_line_error(hierarchy_from_dict, doc, SRC)
    assert f"{SRC}: {key}:" in text and words in text


def test_shipped_level_list_configs_load():
    v2 = load_hierarchy(str(root() / "eyeriss_v2.yaml"))
    assert v2.level_names == ("dram", "glb_cluster", "spad", "reg")
    assert [(f.x, f.y) for _, f in v2.fanouts] == [(8, 2), (3, 4)] and v2.instances == 192
    assert WEIGHT not in v2.level("glb_cluster").keeps
    simba = load_hierarchy(str(root() / "hierarchy" / "simba_like.yaml"))
    assert len(simba.fanouts) == 2 and simba.instances == 36 * 16


def test_from_arch_eyeriss_v1_levels_and_capacities():
    h = from_arch(load_arch("eyeriss_v1"))
    assert h.level_names == ("dram", "glb", "rf", "reg")
    assert h.level("glb").capacity == ((("ifmap", "psum"), 51200), (("weight",), 4096))
    assert h.level("rf").capacity == ((("ifmap",), 12), (("weight",), 224), (("psum",), 24))
    assert (h.level("glb").fanout.x, h.level("glb").fanout.y, h.level("glb").fanout.network) == (12, 14, "eyeriss_v1")


# ---- nests -------------------------------------------------------------------------------

def test_nest_yaml_rejects_a_level_that_does_not_exist():
    h = hierarchy_from_dict({"name": "h", "levels": LEVELS}, "h.yaml")
    text = one_line_error(nest_from_dict, [{"level": "glb", "factors": {"K": 2}}], h, SRC)
    assert f"{SRC}: [0].level:" in text and "no level 'glb'" in text and "levels: dram, buf, pe" in text


def test_nest_round_trip_and_timeloop_print():
    p = attention_scores(heads=2, length=4, head_dim=3)
    h = hierarchy_from_dict({"name": "h", "levels": LEVELS}, "h.yaml")
    doc = [{"level": "dram", "factors": {"B": 2, "M": 2}, "order": ["B", "M", "N", "K"]},
           {"level": "buf", "factors": {"K": 3}, "keeps": ["ifmap"], "spatial": {"x": {"N": 2}, "y": {"M": 2}}},
           {"level": "pe", "factors": {"N": 2}}]
    nest = nest_from_dict(doc, h, "m.yaml")
    check(p, h, nest)
    assert nest_from_dict(nest_to_dict(nest), h) == nest
    assert loop_nest_text(p, nest).splitlines() == [
        "dram [ifmap, weight, psum]", "--------",
        "for b in [0:2)", "  for m in [0:2)",
        "    buf [ifmap]", "    --------",
        "    for k in [0:3)", "      parallel-for n in [0:2) (buf fanout x)",
        "        parallel-for m in [0:2) (buf fanout y)",
        "          pe [weight, psum]", "          --------", "          for n in [0:2)", "            MAC"]


def test_capacity_and_fanout_limits_are_checked():
    p = attention_scores(heads=1, length=4, head_dim=4)
    h = hierarchy_from_dict({"name": "h", "levels": LEVELS}, "h.yaml")
    too_wide = LoopNest((LevelMap("dram", (("M", 4), ("N", 4), ("K", 4)), (), ROLES),
                         LevelMap("buf", (), (), ("ifmap",), (("N", 4),)), LevelMap("pe")))
    with pytest.raises(ConfigError, match="spatial factors use 4 > fanout x 2"):
        check(p, h, too_wide)
    too_big = LoopNest((LevelMap("dram", (("M", 4),), (), ROLES), LevelMap("buf", (), (), ("psum",)),
                        LevelMap("pe", (("K", 4), ("N", 4)), (), ("weight",))))
    with pytest.raises(ConfigError, match="pe tiles of weight need 16 words > 8"):
        check(p, h, too_big)


def test_from_fixed_follows_the_arch_registers():
    """An arch without operand registers: a fixed-shape mapping that keeps them is rejected."""
    from accelsim.arch import arch_from_dict
    from accelsim.mapping import Mapping

    arch = arch_from_dict({"version": 1, "name": "noregs", "clock_mhz": 100, "word_bits": 16,
                           "pe_array": {"rows": 2, "cols": 2, "operand_registers": []},
                           "glb": {"size_kb": 8, "bandwidth_words_per_cycle": 4}}, "noregs.yaml")
    h = from_arch(arch)
    ones = (1,) * 8
    m = Mapping((ones,) * 5, (tuple(range(8)),) * 3, (True,) * 3, (False,) * 3, (True,) * 3)
    nest = from_fixed(m, h)
    with pytest.raises(ConfigError, match="cannot keep"):
        check(from_layer(conv("c", C=1, K=1, H=1, R=1)), h, nest)


# ---- attention ----------------------------------------------------------------------------------

def _attention_setup(heads, length, head_dim, tile):
    """DRAM loops B, M/tile, N/tile; GLB loop K; a tile x tile fanout over (M, N); registers."""
    p = attention_scores(heads, length, head_dim)
    h = Hierarchy("attn", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(tile, tile, "bus")),
                           Storage("reg", ROLES)))
    outer = (("B", heads), ("M", length // tile), ("N", length // tile))
    nest = LoopNest((LevelMap("dram", outer, ("B", "M", "N"), ROLES),
                     LevelMap("glb", (("K", head_dim),), ("K",), ROLES, (("M", tile),), (("N", tile),)),
                     LevelMap("reg", keeps=ROLES)))
    return p, h, nest


def test_bert_base_qk_small_instance_equals_interpreter():
    p, h, nest = _attention_setup(heads=2, length=8, head_dim=4, tile=2)
    check(p, h, nest)
    assert count_actions(p, h, nest) == interpret(p, h, nest)


def test_bert_base_qk_full_size_hand_counts():
    """BERT-base Q.K^T: 12 heads, L = 512, d = 64; a 16 x 16 fanout over (M, N). By the buffer rules:
    the GLB keeps a query tile across the inner N loop (one DRAM read per element), re-reads keys
    once per M tile (32x), writes every score once and never reads one back; each PE gets one query
    word per MAC (K changes every step), the GLB sends each query word once per N tile."""
    p, h, nest = _attention_setup(heads=12, length=512, head_dim=64, tile=16)
    check(p, h, nest)
    a = count_actions(p, h, nest)
    q_elems, scores = 12 * 512 * 64, 12 * 512 * 512
    assert a.get("mac", "", COMPUTE) == a.macs == 12 * 512 * 512 * 64
    assert a.cycles == 12 * 32 * 32 * 64 and a.active == 256
    assert a.get("dram", IFMAP, READ) == q_elems
    assert a.get("dram", WEIGHT, READ) == q_elems * 32
    assert a.get("dram", PSUM, UPDATE) == scores and a.get("dram", PSUM, READ) == 0
    assert a.get("glb", IFMAP, FILL) == q_elems
    assert a.get("glb", IFMAP, READ) == q_elems * 32 == a.get("glb", IFMAP, DOWN)
    assert a.get("glb", IFMAP, DOWN_DEST) == a.macs == a.get("reg", IFMAP, FILL)
    assert a.get("glb", PSUM, DRAIN) == scores


@settings(max_examples=60, deadline=None)
@given(layer=small_layers(), seed=st.integers(0, 10_000), level=st.integers(0, 4), dim=st.integers(0, 7))
def test_from_arch_carries_the_hardware_constraints(layer, seed, level, dim):
    """eyeriss_v1's constraints.unsplit become level/fanout unsplit lists: the general legality check
    agrees with the fixed one on mapper proposals and on proposals with one factor forced up."""
    import random

    from accelsim.legality import problems_of as fixed_problems_of
    from accelsim.loopnest import problems_of
    from accelsim.mapper.space import propose
    from accelsim.mapping import Mapping
    from dataflows import registry

    arch = load_arch("eyeriss_v1")
    h = from_arch(arch)
    m = propose(layer, arch, registry.get("rs"), random.Random(seed))
    factors = [list(f) for f in m.factors]
    D = layer.dims[dim]
    if D > 1:                          # split the dim at one level; DRAM covers the rest
        factors[level][dim] = 2
        if level != 0:
            inner = factors[1][dim] * factors[2][dim] * factors[3][dim] * factors[4][dim]
            factors[0][dim] = -(-D // inner)
    bumped = Mapping(tuple(tuple(f) for f in factors), m.orders, m.glb_keep, m.rf_keep, m.reg_keep)
    p = from_layer(layer)
    for mm in (m, bumped):
        assert bool(problems_of(p, h, from_fixed(mm, h))) == bool(fixed_problems_of(layer, mm, arch))


def test_unsplit_yaml_keys_reject_a_split():
    doc = {"name": "h", "levels": [{"name": "dram", "keeps": ["ifmap", "weight", "psum"], "unsplit": ["K"],
                                    "fanout": {"x": 4, "network": "bus", "unsplit_x": ["M"]}}]}
    h = hierarchy_from_dict(doc, "h.yaml")
    p = attention_scores(heads=1, length=4, head_dim=4)
    ok = LoopNest((LevelMap("dram", (("M", 4), ("N", 4), ("K", 4)), (), ROLES),))
    assert [k for k, _ in check_all(p, h, ok)] == ["levels[0].factors"]
    spatial = LoopNest((LevelMap("dram", (("M", 1), ("N", 4)), (), ROLES, (("M", 4),)),))
    assert check_all(p, h, spatial)[0] == ("levels[0].x", "the fanout below 'dram' may not split M on x "
                                                          "(its unsplit_x list)")


@pytest.mark.parametrize("arch", ["eyeriss_v2", "hierarchy/simba_like"])
@pytest.mark.parametrize("searched", [False, True])
def test_bert_qk_as_accelsim_run_maps_it_is_exact_and_computes_q_times_k(arch, searched):
    """BERT-base's attention scores (workloads/bert_base_qk.yaml: 12 heads, L = 512, d = 64) are a bmm
    with two activation operands. The nest `accelsim run` gives it (the hierarchy's named mapping, or
    --search), on a small instance of the same layer (2 heads, L = 16, d = 8): its action table
    equals the brute-force interpreter's, and executing it computes Q·K^T as NumPy does."""
    import numpy as np

    from accelsim.functional_general import execute, shape
    from accelsim.hierarchy import load_architecture
    from accelsim.mapper.search import SearchSpec
    from accelsim.pipeline_hierarchy import run_hierarchy
    from tests.conftest import REPO
    from workloads.problems import ProblemLayer, ProblemWorkload, load_problem_workload

    (full,) = load_problem_workload(str(REPO / "workloads" / "bert_base_qk.yaml")).layers
    assert dict(full.problem.dims) == {"B": 12, "M": 512, "N": 512, "K": 64}
    assert full.problem.macs == 12 * 512 * 512 * 64
    p = attention_scores(heads=2, length=16, head_dim=8)
    h = load_architecture(arch)
    spec = SearchSpec("energy", 300, 1) if searched else None
    run = run_hierarchy(h, ProblemWorkload("qk", (ProblemLayer("qk", "bmm", p),)), search_spec=spec)
    (lr,) = run.layers
    assert lr.mapping_source == ("searched" if searched else "named")
    assert check_all(p, h, lr.nest) == []
    assert lr.actions == interpret(p, h, lr.nest)
    rng = np.random.default_rng(13)
    q, k = rng.integers(-8, 8, shape(p, IFMAP)), rng.integers(-8, 8, shape(p, WEIGHT))
    assert (q.shape, k.shape) == ((2, 16, 8), (2, 8, 16))                 # key laid out [head, d, j]
    np.testing.assert_array_equal(execute(p, lr.nest, q, k), np.einsum("bmk,bkn->bmn", q, k))
