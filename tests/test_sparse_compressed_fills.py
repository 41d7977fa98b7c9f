"""Words sent down to a level that stores a tensor compressed cross the network compressed (issue 16:
Eyeriss v2's NoC carries CSC into the PE), in the sparse model, the simulator and the latency bound.

Ground truth: the brute-force interpreter's dense counts times the receiving level's rho measured by an
independent walk over its tile positions (``tests.test_sparse_exact.brute``). ``analyze``'s network words (data and metadata) into the
compressed child equal its counts exactly, also after a skipping feature on actual masks; the uniform
model's expected words agree with the mean over random masks; the general simulator moves exactly those
words; the fixed shape's NoC row (what its simulator and bound read) is them too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from accelsim.cost.actions import count_actions
from accelsim.hierarchy import Fanout, Hierarchy, Storage
from accelsim.loopnest import LevelMap, LoopNest, flatten
from accelsim.names import DOWN, DOWN_DEST, IFMAP, ROLES, WEIGHT
from accelsim.problem import from_layer
from accelsim.sparse.density import Actual, Uniform
from accelsim.sparse.lockstep import lockstep_ratio
from accelsim.sparse.model import analyze, bandwidth_actions, plan
from accelsim.sparse.spec import spec_from_dict
from tests.core_strategies import hierarchies, nests, problems
from tests.test_sparse_exact import FORMATS, brute
from workloads.layer import conv

# a bitmask over _case's ifmap tiles (8 channels x 6 columns x rows: 48 bits a row): every tile's
# metadata is whole 16-bit words, so the simulator's integer words can equal the interpreter's count
BITMASK = "bitmask"


def into_child(nest, role: str, child: int) -> list[tuple[str, str, str]]:
    """The network keys of ``role`` sent down over the hop whose child is level ``child``."""
    chain = [i for i in range(len(nest.levels)) if nest.keeps(i, role) or i == 0]
    par = max(i for i in chain if i < child)
    return [(nest.levels[j].level, role, a) for j in range(par, child) for a in (DOWN, DOWN_DEST)]


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_words_sent_to_a_compressed_child_equal_the_interpreter(data):
    """Random problem x hierarchy (a fanout above the child) x nest x mask x format at the child only:
    the down / down_dest words into it are the interpreter's measure in the child's format, not the
    dense words the uncompressed parent holds."""
    problem = data.draw(problems())
    hierarchy = data.draw(hierarchies(((3, frozenset({0})), (3, frozenset({1})), (4, frozenset({0, 2})))))
    nest = data.draw(nests(problem, hierarchy))
    role = data.draw(st.sampled_from([IFMAP, WEIGHT]))
    kept = [i for i in range(1, len(nest.levels)) if nest.keeps(i, role)]
    assume(kept)
    child = data.draw(st.sampled_from(kept))
    keys = [k for k in into_child(nest, role, child) if hierarchy.levels[hierarchy.index(k[0])].fanout is not None]
    assume(keys)
    fmt_doc = data.draw(st.sampled_from(FORMATS[:-1]))
    spec = spec_from_dict({"name": "c", "formats": {nest.levels[child].level: {role: fmt_doc}}}, "t")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    mask = rng.random(tuple(c.size for c in problem.tensor(role).coords)) < data.draw(st.sampled_from([0.1, 0.5, 0.9]))
    dense = count_actions(problem, hierarchy, nest)
    sa = analyze(problem, hierarchy, nest, dense, spec, {role: Actual(mask)})
    want = brute(problem, hierarchy, nest, role, mask, lambda lv: spec.format_on(lv, role, problem))
    for k in keys:
        payload, meta = want.get(k, (0.0, 0.0))
        assert sa.data.network.get(k, 0) == pytest.approx(payload, rel=1e-12, abs=1e-9), (k, sa.data.network.get(k), payload)
        assert sa.metadata.network.get(k, 0) == pytest.approx(meta, rel=1e-12, abs=1e-9), k


def _case(r: int = 3):
    fanout = 4
    """An r x r conv (padded to keep 6 x 6) on DRAM -> GLB -(fanout of 4 over K)-> PE buffer (P in two
    halves, each PE keeping its weights over them), the ifmap multicast to the PEs."""
    problem = from_layer(conv("c", C=8, K=4, H=6, R=r, pad=r // 2))
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(fanout, 1, "bus")),
                        Storage("pe", ROLES)))
    sizes = dict(problem.dims)
    pe = tuple((d, sizes["P"] // 2 if d == "P" else 1 if d == "K" else sizes[d]) for d in problem.dim_names)
    nest = LoopNest((LevelMap("dram", tuple((d, 1) for d in problem.dim_names), problem.dim_names, ROLES),
                     LevelMap("glb", (("P", 2),), problem.dim_names, ROLES, (("K", fanout),)),
                     LevelMap("pe", pe, problem.dim_names, ROLES)))
    return problem, h, nest


def test_a_skipping_feature_moves_the_compressed_words_it_skips():
    """Skip the PE's ifmap refills whose weight tile is empty (both actual masks): the words left plus
    the words skipped on the hop into the compressed PE add up to the words without the feature, each
    measured in the PE's format (data + metadata, a skipped access's metadata skipped with it), and the
    words left equal the interpreter's count on the ifmap mask with the skipped tiles zeroed out."""
    problem, h, nest = _case()
    rng = np.random.default_rng(4)
    ifm = rng.random(tuple(c.size for c in problem.tensor(IFMAP).coords)) < 0.5
    w = rng.random(tuple(c.size for c in problem.tensor(WEIGHT).coords)) < 0.5
    w[:, 2:] = False                 # weight axes (G, K, C, R, S): output channels 2, 3: empty weight tiles (PEs 2, 3 of the fanout)
    fmts = {"formats": {"pe": {"ifmap": BITMASK}}}
    models = {IFMAP: Actual(ifm), WEIGHT: Actual(w)}
    dense = count_actions(problem, h, nest)
    before = analyze(problem, h, nest, dense, spec_from_dict({"name": "f", **fmts}, "t"), models)
    spec = spec_from_dict({"name": "s", **fmts, "skip": [{"level": "glb", "tensor": "ifmap", "on_zero": ["weight"]}]}, "t")
    sa = analyze(problem, h, nest, dense, spec, models)
    key = ("glb", IFMAP, DOWN_DEST)
    total = before.data.network[key] + before.metadata.network[key]
    left = sa.data.network[key] + sa.metadata.network[key]
    assert sa.skipped.network[key] > 0
    assert left + sa.skipped.network[key] == pytest.approx(total, abs=1e-9)
    want = brute(problem, h, nest, IFMAP, ifm, lambda lv: spec.format(lv, IFMAP))[key]
    # PEs 0, 1 of 4 keep their refills, the same tiles as PEs 2, 3: half the words, exactly
    assert left == pytest.approx((want[0] + want[1]) / 2, abs=1e-9)
    assert total == pytest.approx(want[0] + want[1], rel=1e-12)


def test_uniform_expected_words_into_the_compressed_child_agree_with_the_mean_over_masks():
    """The expected down_dest words into the compressed PE (single-rank CP: linear in the moved elements)
    against the mean of the exact words over 300 random ifmaps with round(d * size) nonzeros, within 4
    standard errors; and they are fewer than the dense words by the density (d = 0.3)."""
    from tests.test_sparse_exact_gating import mean_over_masks

    problem, h, nest = _case()
    d = 0.3
    spec = spec_from_dict({"name": "f", "formats": {"pe": {"ifmap": {"ranks": [{"CP": 4}]}}}}, "t")
    key = ("glb", IFMAP, DOWN_DEST)
    want, mean, se = mean_over_masks(problem, h, nest, spec, lambda sa: sa.data.network[key] + sa.metadata.network[key],
                                     {IFMAP: d})
    assert abs(mean - want) <= 4 * se + 1e-9, (mean, want, se)
    sa = analyze(problem, h, nest, count_actions(problem, h, nest), spec, {IFMAP: Uniform(d)})
    size = problem.elements(IFMAP)
    assert sa.data.network[key] == pytest.approx(count_actions(problem, h, nest).network[key] * Uniform(d).nnz(size) / size)


def test_the_simulator_and_the_bound_move_the_compressed_words():
    """The general simulator on the sparse view's bandwidth table (data + metadata words) moves, into the
    compressed PE, exactly the interpreter's words (payload + metadata words), fewer than
    the dense ones; the latency bound's network part is those words at the bus's cost per word. A 1 x 1
    conv, so the ifmap (288 dense words, about 60% of them nonzero) is the network's busiest stream
    both dense and compressed (the weights' 32 words, the outputs' 144), and the bound must fall
    exactly to the ifmap's compressed words."""
    from accelsim.cost.bound import bound_parts, stream_words
    from accelsim.sim.general import simulate_nest
    from noc.registry import network_bound

    problem, h, nest = _case(r=1)
    rng = np.random.default_rng(6)
    ifm = rng.random(tuple(c.size for c in problem.tensor(IFMAP).coords)) < 0.6
    spec = spec_from_dict({"name": "f", "formats": {"pe": {"ifmap": BITMASK}}}, "t")
    dense = count_actions(problem, h, nest)
    sa = analyze(problem, h, nest, dense, spec, {IFMAP: Actual(ifm)})
    bw = bandwidth_actions(sa)
    sim = simulate_nest(problem, h, nest, bw)
    want = brute(problem, h, nest, IFMAP, ifm, lambda lv: spec.format(lv, IFMAP))
    words = {}
    for a in (DOWN, DOWN_DEST):
        payload, meta = want[("glb", IFMAP, a)]
        words[a] = payload + meta
        assert sim.words[("network", "glb", IFMAP, a)] == pytest.approx(words[a], rel=1e-12)
        assert words[a] < dense.network[("glb", IFMAP, a)]
    fan = h.levels[h.index("glb")].fanout
    ab = network_bound(fan.network, fan.params)
    others = [a * delivered + b * distinct for (a, b), (delivered, distinct) in zip(ab[1:], stream_words(dense, "glb")[1:])]
    (a_i, b_i) = ab[0]
    dense_ifmap = a_i * dense.network[("glb", IFMAP, DOWN_DEST)] + b_i * dense.network[("glb", IFMAP, DOWN)]
    sparse_ifmap = a_i * words[DOWN_DEST] + b_i * words[DOWN]
    assert max(others) < sparse_ifmap < dense_ifmap           # the ifmap stream bounds the network both ways
    assert bound_parts(dense, h)["glb.net"] == dense_ifmap
    assert bound_parts(bw, h)["glb.net"] == sparse_ifmap


def test_the_plan_names_the_receiving_level_as_the_source_of_a_hops_words():
    """Down to the compressed PE: the PE's format; up from it (the output), and every hop into an
    uncompressed level: the hop parent's."""
    problem, h, nest = _case()
    pl = plan(nest, spec_from_dict({"name": "f", "formats": {"pe": {"ifmap": BITMASK, "psum": "bitmask"}}}, "t"))
    assert pl.source(("glb", IFMAP, DOWN_DEST), True) == (2, IFMAP)
    assert pl.source(("glb", IFMAP, DOWN), True) == (2, IFMAP)
    assert pl.source(("glb", WEIGHT, DOWN_DEST), True) == (1, WEIGHT)
    assert pl.source(("glb", "psum", "up"), True) == (1, "psum")
    assert pl.source(("glb", "psum", "down_dest"), True) == (2, "psum")
    assert pl.source(("pe", IFMAP, "fill"), False) == (2, IFMAP)


def test_the_fixed_shape_noc_row_is_the_compressed_words_into_the_rf():
    """Eyeriss v2 (flat): the fixed shape's NoC row of the sparse view (``sparse.layer.bandwidth_counts``:
    what its simulator and latency bound read) carries the ifmap into the RF in the preset's CSC, exactly
    the interpreter's count on an actual mask (a small pointwise layer under the named mapping)."""
    from accelsim.arch import load_arch
    from accelsim.cost.counts import L_NOC
    from accelsim.hierarchy import from_arch
    from accelsim.loopnest import from_fixed
    from accelsim.sparse.layer import bandwidth_counts, sparse_layer
    from accelsim.sparse.spec import load_spec
    from dataflows import registry

    arch = load_arch("eyeriss_v2_flat")
    layer = conv("pw", C=16, K=16, H=8, R=1)
    m = registry.get("rs_plus").named(layer, arch)
    spec = load_spec("eyeriss_v2")
    problem = from_layer(layer)
    rng = np.random.default_rng(8)
    ifm = rng.random(tuple(c.size for c in problem.tensor(IFMAP).coords)) < 0.4
    sl = sparse_layer(layer, arch, m, spec, {IFMAP: Actual(ifm)})
    h = from_arch(arch)
    nest = from_fixed(m, h)
    want = brute(problem, h, nest, IFMAP, ifm, lambda lv: spec.format_on(lv, IFMAP, problem))
    payload, meta = want[("glb", IFMAP, DOWN_DEST)]
    noc = bandwidth_counts(sl).reads[L_NOC][0]
    assert noc == pytest.approx(payload + meta, rel=1e-12, abs=1e-9)
    assert noc < count_actions(problem, h, nest).network[("glb", IFMAP, DOWN_DEST)]


def _c3_on_v2(weight_rf: int):
    """A 3x3 conv on the flat Eyeriss v2 with its weight scratchpad set to ``weight_rf`` words, under the
    named rs_plus mapping (the same mapping at 64 and 192 words: asserted by the caller)."""
    from dataclasses import replace

    from accelsim.arch import load_arch
    from dataflows import registry

    arch = load_arch("eyeriss_v2_flat")
    arch = replace(arch, rf=replace(arch.rf, weight=weight_rf))
    layer = conv("c3", C=32, K=32, H=14, R=3)
    return layer, arch, registry.get("rs_plus").named(layer, arch)


def test_the_fixed_shape_simulator_double_buffers_beside_the_compressed_tiles():
    """The fixed shape's simulator takes a sparse view's room beside the compressed tiles
    (``sparse.layer.sparse_rooms``): a 60-word weight tile in a 64-word scratchpad leaves 4 words, so
    dense only 4/60 of the next tile is prefetched; as a bitmask at d 0.25 it takes 60 x 0.25 + 60 bits /
    16 = 18.75 words and leaves 45.25, a whole tile. The simulation is then, cycle for cycle, that of the
    same sparse counts on a 192-word scratchpad (where the dense tile leaves a whole tile too), and faster
    than the dense tiles' room gives. With no format (a gate at the compute alone) the rooms are the dense
    ones and the simulation does not change."""
    from accelsim.mapping import RF as RF_INDEX
    from accelsim.sim import simulate_layer
    from accelsim.sim.timing import prefetch_share
    from accelsim.sparse.layer import bandwidth_counts, sparse_layer, sparse_rooms
    from accelsim.tiles import tile_extents

    layer, small, m = _c3_on_v2(64)
    _, big, m_big = _c3_on_v2(192)
    assert m == m_big and tile_extents(layer, m, (RF_INDEX,))[WEIGHT] == 60
    spec = spec_from_dict({"name": "b", "formats": {"rf": {"weight": BITMASK}}}, "b.yaml")
    models = {WEIGHT: Uniform(0.25)}
    rooms = sparse_rooms(layer, small, m, spec, models)
    tile, free = rooms[("rf", WEIGHT)]
    assert (tile, free) == pytest.approx((60 * 0.25 + 60 / 16, 64 - 60 * 0.25 - 60 / 16), abs=1e-9)
    assert prefetch_share(layer, m, small, WEIGHT) == pytest.approx(4 / 60)
    assert prefetch_share(layer, m, small, WEIGHT, rooms) == 1.0
    counts = bandwidth_counts(sparse_layer(layer, small, m, spec, models))
    compressed = simulate_layer(layer, small, m, counts, rooms=rooms)
    roomy = simulate_layer(layer, big, m, counts)
    dense_room = simulate_layer(layer, small, m, counts)
    assert (compressed.cycles, compressed.stall_cycles) == (roomy.cycles, roomy.stall_cycles)
    assert compressed.cycles < dense_room.cycles

    gate = spec_from_dict({"name": "g", "gate": [{"level": "mac", "on_zero": [IFMAP]}]}, "g.yaml")
    g_models = {IFMAP: Uniform(0.25)}
    g_rooms = sparse_rooms(layer, small, m, gate, g_models)
    assert g_rooms[("rf", WEIGHT)] == (60, 4) and g_rooms[("rf", IFMAP)][1] == 16 - g_rooms[("rf", IFMAP)][0]
    g_counts = bandwidth_counts(sparse_layer(layer, small, m, gate, g_models))
    a = simulate_layer(layer, small, m, g_counts, rooms=g_rooms)
    b = simulate_layer(layer, small, m, g_counts)
    assert (a.cycles, a.stall_cycles, a.exposed) == (b.cycles, b.stall_cycles, b.exposed)


def test_the_fixed_shape_simulator_prefetches_into_the_glb_beside_the_compressed_tiles():
    """The GLB's room (``simulate_layer``'s tile prefetch and early DRAM fetches) is also taken beside the
    compressed tiles: on the flat Eyeriss v2 (192 KB: 98,304 words for ifmap and psum) a 3x3 conv's named
    GLB tiles take 36,540 ifmap + 57,344 psum words, 4,420 free; as bitmasks at d 0.25 they take
    x (0.25 + 1/16): 11,418.75 + 17,920, 68,965.25 free. The next tiles then fit, and the layer simulates
    cycle for cycle as the same counts with dense rooms on a 400 KB GLB (where the dense tiles leave
    room too), faster than with the dense tiles' room on 192 KB."""
    from dataclasses import replace

    from accelsim.arch import load_arch
    from accelsim.names import GLB, PSUM
    from accelsim.sim import simulate_layer
    from accelsim.sparse.layer import bandwidth_counts, sparse_layer, sparse_rooms
    from accelsim.tiles import tile_words
    from dataflows import registry

    arch = load_arch("eyeriss_v2_flat")
    big = replace(arch, glb=replace(arch.glb, size_kb=400))
    layer = conv("c", C=64, K=64, H=58, R=3)
    m = registry.get(arch.dataflow).named(layer, arch)
    assert tuple(tile_words(layer, m)["glb"]) == (36540, 20160, 57344) and m.glb_keep == (True, False, True)
    spec = spec_from_dict({"name": "g", "formats": {"glb": {IFMAP: BITMASK, PSUM: BITMASK}}}, "g.yaml")
    models = {IFMAP: Uniform(0.25), PSUM: Uniform(0.25)}
    rooms = sparse_rooms(layer, arch, m, spec, models)
    free = 98304 - (36540 + 57344) * 0.3125
    assert rooms[(GLB, IFMAP)] == pytest.approx((36540 * 0.3125, free), abs=1e-3)
    assert rooms[(GLB, PSUM)] == pytest.approx((57344 * 0.3125, free), abs=1e-3)
    counts = bandwidth_counts(sparse_layer(layer, arch, m, spec, models))
    compressed = simulate_layer(layer, arch, m, counts, rooms=rooms)
    roomy = simulate_layer(layer, big, m, counts)
    dense_room = simulate_layer(layer, arch, m, counts)
    assert (compressed.cycles, compressed.stall_cycles) == (roomy.cycles, roomy.stall_cycles)
    assert compressed.prefetched and not dense_room.prefetched
    assert compressed.cycles < dense_room.cycles


def _skipping_case(r: int = 3):
    """_case(r) with a 2-word/cycle GLB port, CSC in the PE and skipping on uniform densities."""
    from dataclasses import replace

    problem, h, nest = _case(r)
    h = replace(h, levels=(h.levels[0], replace(h.levels[1], bandwidth=2.0), h.levels[2]))
    spec = spec_from_dict({"name": "s", "formats": {"pe": {"ifmap": {"ranks": [{"UOP": 4}, {"CP": 4}]}}},
                           "skip": [{"level": "mac", "on_zero": ["ifmap", "weight"]}]}, "t")
    return problem, h, nest, spec


def test_the_general_simulator_sees_skipped_work():
    """On the sparse view's table (``bandwidth_actions``) the general simulator computes the sparse ideal
    cycles (skipped MACs with load imbalance, rounded up): with every port and network free its cycles
    are exactly those, fewer than the dense ones; with the GLB port limited its stalls add up to the rest;
    at density 1 the features skip the MACs on padding alone (2,176 of the 3 x 3 conv's 10,368: per axis 2
    of the 18 (p, r) pairs), and the four PEs in lockstep (over K: each sees the same padding) skip them
    together, the walk over all-ones masks (before, the binomial model kept the dense cycles); on a 1 x 1
    conv (no padding) nothing is skipped: it is the dense simulation, cycle for cycle."""
    from accelsim.sim.general import simulate_nest, unlimited_hierarchy

    problem, h, nest, spec = _skipping_case()
    dense = count_actions(problem, h, nest)
    sa = analyze(problem, h, nest, dense, spec, {IFMAP: Uniform(0.5), WEIGHT: Uniform(0.5)})
    assert sa.cycles < dense.cycles
    free = simulate_nest(problem, unlimited_hierarchy(h), nest, bandwidth_actions(sa))
    assert free.cycles == free.ideal_cycles == math.ceil(sa.cycles)
    limited = simulate_nest(problem, h, nest, bandwidth_actions(sa))
    assert limited.ideal_cycles == math.ceil(sa.cycles)
    assert limited.cycles == limited.ideal_cycles + sum(limited.stall_cycles.values())
    assert limited.cycles > free.cycles
    ones = analyze(problem, h, nest, dense, spec, {IFMAP: Uniform(1.0), WEIGHT: Uniform(1.0)})
    assert (ones.skipped_macs, ones.effective_macs) == pytest.approx((2176, 8192))
    # density 1: no random zero, so the expectation is the walk over all-ones masks, exactly
    walked = lockstep_ratio(problem, flatten(problem, nest), [((IFMAP, WEIGHT), False)],
                            {r: np.ones(tuple(c.size for c in problem.tensor(r).coords), np.uint8) for r in (IFMAP, WEIGHT)})
    assert ones.cycles == dense.cycles * walked < dense.cycles
    problem, h, nest, spec = _skipping_case(1)
    dense = count_actions(problem, h, nest)
    ones = analyze(problem, h, nest, dense, spec, {IFMAP: Uniform(1.0), WEIGHT: Uniform(1.0)})
    assert ones.skipped_macs == 0 and ones.cycles == dense.cycles
    base = simulate_nest(problem, h, nest)
    # CSC at density 1 adds metadata words into the PE: strip them to compare the schedule alone
    same = simulate_nest(problem, h, nest, replace_words(bandwidth_actions(ones), dense))
    assert (same.cycles, same.stall_cycles) == (base.cycles, base.stall_cycles)


def test_a_gate_before_a_skip_keeps_the_padded_macs_slots_in_lockstep():
    """Gate the MACs on a zero ifmap (d 1/2), then skip on a zero weight (2:4): a MAC on padding is gated
    and keeps its slot, so each of the four K-PEs (all seeing the same padding) keeps 10,368 - 8,192 x
    1/2 x 1/2 = 8,320 of its 10,368 slots' share, and the lockstep cycles are never below dense x
    8,320 / 10,368 (review rev24: the fraction over the MACs away from the padding, 3/4, went below it,
    and the uniform gate left the N:M skip's work unbalanced while the cycles took none)."""
    from accelsim.sparse.density import Structured

    problem, h, nest = _case()
    spec = spec_from_dict({"name": "g", "gate": [{"level": "mac", "on_zero": ["ifmap"]}],
                           "skip": [{"level": "mac", "on_zero": ["weight"]}]}, "t")
    dense = count_actions(problem, h, nest)
    sa = analyze(problem, h, nest, dense, spec, {IFMAP: Uniform(0.5), WEIGHT: Structured(2, 4)})
    assert dense.active == 4 and sa.skipped_macs == pytest.approx(2048, rel=1e-12)
    assert dense.cycles * 8320 / 10368 - 1e-9 < sa.cycles < dense.cycles


def replace_words(bw, dense):
    """``bw`` with the dense table's words (its cycles kept)."""
    from dataclasses import replace

    return replace(bw, storage=dict(dense.storage), network=dict(dense.network))


def test_a_simulated_level_list_run_with_sparsity_simulates_the_sparse_view():
    """``run_hierarchy(simulate=True)`` with sparsity: each layer's ``sparse_sim`` is the general simulator
    on its sparse view's bandwidth table and compressed tiles (``group_rooms``); stats.json carries its
    cycles and stalls, the table a column."""
    from accelsim.hierarchy import load_architecture
    from accelsim.pipeline_hierarchy import run_hierarchy
    from accelsim.report_hierarchy import stats, table
    from accelsim.sim.general import simulate_nest
    from accelsim.sparse.layer import Sparsity
    from accelsim.sparse.model import group_rooms
    from accelsim.sparse.spec import load_spec
    from workloads.problems import ProblemWorkload, of_layer

    h = load_architecture("eyeriss_v2")
    w = ProblemWorkload("w", (of_layer(conv("pw", C=32, K=32, H=8, R=1)),))
    run = run_hierarchy(h, w, simulate=True, sparsity=Sparsity(load_spec("eyeriss_v2_clustered"),
                                                               (("ifmap", Uniform(0.5)), ("weight", Uniform(0.5)))))
    lr = run.layers[0]
    models = {"ifmap": Uniform(0.5), "weight": Uniform(0.5)}
    want = simulate_nest(lr.item.problem, h, lr.nest, bandwidth_actions(lr.sparse.actions),
                         occupied=group_rooms(lr.item.problem, h, lr.nest, load_spec("eyeriss_v2_clustered"), models))
    assert lr.sparse_sim == want
    assert lr.sparse_sim.ideal_cycles == math.ceil(lr.sparse.actions.cycles) < lr.sim.ideal_cycles
    doc = stats(run)
    assert doc["layers"][0]["sparse"]["sim_cycles"] == want.cycles == doc["totals"]["sparse"]["sim_cycles"]
    assert doc["layers"][0]["sparse"]["sim_stall_cycles"] == dict(want.stall_cycles)
    assert "sparse sim" in table(doc).splitlines()[2]


def test_the_double_buffering_room_beside_compressed_tiles():
    """The PE's 240-word ifmap store holds one dense tile (8 channels x 5 rows x 6 columns) and no room
    for the next refill; in CSC at d = 0.5 the tile takes 120 data words + (41 offsets + 120 coordinates)
    x 4 bits = 160.25 words, so 79.75 words of the next refill arrive early: the simulator's room is the
    compressed one (``occupied`` = ``sparse.model.group_rooms``) and the PE waits less. With the metadata
    in a store of its own, the fuller store limits the room."""
    from accelsim.hierarchy import Fanout, Hierarchy, Storage
    from accelsim.sim.blocks import block_schedule
    from accelsim.sim.general import room_of, simulate_nest
    from accelsim.sparse.model import group_rooms

    problem = from_layer(conv("c", C=8, K=8, H=6, R=3, pad=1))
    pe = {"K": 2, "C": 8, "P": 3, "Q": 6, "R": 3, "S": 3}
    nest = LoopNest((LevelMap("dram", tuple((d, 1) for d in problem.dim_names), problem.dim_names, ROLES),
                     LevelMap("glb", (("P", 2),), problem.dim_names, ROLES, (("K", 4),)),
                     LevelMap("pe", tuple((d, pe.get(d, 1)) for d in problem.dim_names),      # K outermost: the
                              ("K",) + tuple(d for d in problem.dim_names if d != "K"), ROLES)))   # tile is not
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(4, 1, "bus"), bandwidth=2.0),
                        Storage("pe", ROLES, capacity=(((IFMAP,), 240),))))          # replaced piecewise
    spec = spec_from_dict({"name": "s", "formats": {"pe": {"ifmap": {"ranks": [{"UOP": 4}, {"CP": 4}]}}},
                           "skip": [{"level": "mac", "on_zero": ["ifmap", "weight"]}]}, "t")
    models = {IFMAP: Uniform(0.5), WEIGHT: Uniform(0.5)}
    occupied = group_rooms(problem, h, nest, spec, models)
    assert occupied == {("pe", 0): (pytest.approx(120 + (41 * 4 + 120 * 4) / 16), pytest.approx(240 - 160.25))}
    sched = block_schedule(problem, h, nest)
    hop = next(x for x in sched.hops if x.role == IFMAP and x.child == 2)
    assert (room_of(problem, h, nest, sched, hop).free, room_of(problem, h, nest, sched, hop).need) == (0, 240)
    assert room_of(problem, h, nest, sched, hop, occupied).free == pytest.approx(240 - 160.25)
    bw = bandwidth_actions(analyze(problem, h, nest, count_actions(problem, h, nest), spec, models))
    dense_room = simulate_nest(problem, h, nest, bw)
    compressed_room = simulate_nest(problem, h, nest, bw, occupied=occupied)
    assert compressed_room.ideal_cycles == dense_room.ideal_cycles
    assert sum(compressed_room.stall_cycles.values()) < sum(dense_room.stall_cycles.values())
    # the metadata in its own 45-word store: the tile's 40.25 metadata words leave 4.75 there, the data
    # 120 of 240; a refill splits 120 : 40.25 over them, so 4.75 x 160.25 / 40.25 words of it fit early
    own = spec_from_dict({"name": "m", "formats": {"pe": {"ifmap": {"ranks": [{"UOP": 4}, {"CP": 4}]}}},
                          "metadata_capacity": {"pe": {"ifmap": 45}}}, "t")
    assert group_rooms(problem, h, nest, own, models) == {
        ("pe", 0): (pytest.approx(160.25), pytest.approx(4.75 * 160.25 / 40.25))}
