"""The general numba batch scorer (accelsim.cost.fast_nest) equals the closed-form action table
(accelsim.cost.actions.count_actions) exactly, on random problems (conv with strides, dilation,
padding, groups; gemm; bmm; a strided 1-D einsum) x random hierarchies (1-4 storage levels between
DRAM and compute, 0-2 fanouts, random keeps) x random legal nests, scored as one batch; on
shipped hierarchies; and its refusals name the nest and the broken rule."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.cost.actions import count_actions
from accelsim.cost.fast_nest import Fallback, count_nests, energy_nests, kernel_rows, nest_memo
from accelsim.cost.nest_arrays import NestLayout, decode_nest, encode_nests
from accelsim.errors import ConfigError
from accelsim.hierarchy import load_architecture
from accelsim.loopnest import nest_from_dict
from accelsim.problem import bmm, from_layer, load_problem
from accelsim.yamlio import load_yaml
from tests.conftest import REPO
from tests.core_strategies import hierarchies, nests, problems, strided_1d
from tests.strategies import small_layers


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_batch_rows_equal_count_actions_on_random_hierarchies(data):
    problem = data.draw(problems())
    hierarchy = data.draw(hierarchies())
    batch = [data.draw(nests(problem, hierarchy)) for _ in range(data.draw(st.integers(1, 3)))]
    layout = NestLayout(problem, hierarchy)
    arrays = encode_nests(layout, batch)
    fb = Fallback()
    rows = count_nests(layout, arrays, nest_memo(layout, 4), fb)     # a tiny memo: collisions recompute
    for i, nest in enumerate(batch):
        want = count_actions(problem, hierarchy, nest)
        assert layout.actions_of(rows[i]) == layout.actions_of(layout.row_of(want))
        assert decode_nest(layout, arrays, i) == _normal(layout, nest)
    assert fb.rows <= len(batch)


# the generated kernels (cost.nest_kernel) are compiled once per shape and machine: four shapes x
# problem structures, each case a random hierarchy of that shape (keeps, fanout sizes) and problem
GENERATED_CASES = (
    ((4, frozenset({1})), "conv"),             # eyeriss_v1's shape: a fanout below the second level
    ((3, frozenset({0, 1})), "conv"),          # two fanouts, one below DRAM
    ((2, frozenset({1})), "bmm"),              # a fanout right above compute
    ((3, frozenset()), "strided"),             # no fanout; a coupled axis with a coefficient
)


@st.composite
def _problem_of(draw, kind):
    if kind == "conv":
        return from_layer(draw(small_layers(max_hw=6)))
    if kind == "bmm":
        return bmm("b", draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4)),
                   draw(st.integers(1, 4)), ("query", "key", "score"))
    return draw(strided_1d())


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_generated_kernel_rows_equal_count_actions_and_the_generic_kernel(data):
    shape, kind = data.draw(st.sampled_from(GENERATED_CASES))
    problem = data.draw(_problem_of(kind))
    hierarchy = data.draw(hierarchies(shapes=(shape,)))
    batch = [data.draw(nests(problem, hierarchy)) for _ in range(data.draw(st.integers(1, 4)))]
    layout = NestLayout(problem, hierarchy)
    arrays = encode_nests(layout, batch)
    gen, gen_left = kernel_rows(layout, arrays, nest_memo(layout, 4), generated=True)
    generic, generic_left = kernel_rows(layout, arrays, nest_memo(layout, 4), generated=False)
    assert gen.tolist() == generic.tolist() and gen_left.tolist() == generic_left.tolist()
    rows = count_nests(layout, arrays, nest_memo(layout, 4), generated=True)
    for i, nest in enumerate(batch):
        assert rows[i].tolist() == layout.row_of(count_actions(problem, hierarchy, nest)).tolist()


def _normal(layout, nest):
    """The nest as decode_nest writes it (full orders, factor-1 entries dropped)."""
    return decode_nest(layout, encode_nests(layout, [nest]), 0)


def test_clustered_eyeriss_v2_example_equals_count_actions_without_fallback():
    h = load_architecture("hierarchy/eyeriss_v2")
    p = load_problem(str(REPO / "tests/data/core_conv3x3.yaml"))
    nest = nest_from_dict(load_yaml(REPO / "tests/data/core_nest_v2.yaml"), h)
    layout = NestLayout(p, h)
    fb = Fallback()
    row = count_nests(layout, encode_nests(layout, [nest]), fallback=fb)[0]
    assert fb.rows == 0
    assert layout.actions_of(row) == layout.actions_of(layout.row_of(count_actions(p, h, nest)))
    # the figure docs/core.md quotes: 73,728 weight words arrive at the 16 clusters
    assert row[layout.network_column("dram", "weight", "down_dest")] == 73728


def test_energy_is_the_dot_product_with_the_weights():
    rows = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int64)
    assert energy_nests(rows, np.array([1.0, 0.5, 0.0])).tolist() == [2.0, 6.5]
    with pytest.raises(ConfigError, match="one entry per count column"):
        energy_nests(rows, np.ones(2))


@pytest.mark.parametrize("generated", [False, True])
def test_structural_errors_name_the_nest_and_the_rule(generated):
    h = load_architecture("hierarchy/eyeriss_v2")
    p = load_problem(str(REPO / "tests/data/core_conv3x3.yaml"))
    nest = nest_from_dict(load_yaml(REPO / "tests/data/core_nest_v2.yaml"), h)
    layout = NestLayout(p, h)
    arrays = encode_nests(layout, [nest, nest])
    k = layout.dims.index("K")
    bad = arrays.factors.copy()
    bad[1, 0, k] = 1                    # K no longer covered
    with pytest.raises(ConfigError, match="nest 1 of the batch: dim K: factors do not cover"):
        count_nests(layout, arrays._replace(factors=bad), generated=generated)
    order = arrays.orders.copy()
    order[0, 2, 0] = order[0, 2, 1]
    with pytest.raises(ConfigError, match="nest 0 of the batch: level spad: loop order is not a permutation"):
        count_nests(layout, arrays._replace(orders=order), generated=generated)


@pytest.mark.parametrize("generated", [False, True])
@pytest.mark.parametrize(("array", "index", "value", "message"), [
    ("factors", (0, 2, "C"), 0, "nest 0 of the batch: temporal factor at level spad, dim C: factor must be >= 1"),
    ("spatial", (1, 0, 0, "K"), 0, "nest 1 of the batch: spatial x factor of the fanout below dram, dim K: "
                                   "factor must be >= 1"),
    ("spatial", (1, 1, 1, "Q"), 0, "nest 1 of the batch: spatial y factor of the fanout below glb_cluster, dim Q: "
                                   "factor must be >= 1"),
    ("factors", (0, 1, "Q"), 17, "nest 0 of the batch: temporal factor at level glb_cluster, dim Q: factor over-tiles"),
    # P 9 at DRAM above P 2 x 4 spatial: (9 - 1) x 8 >= 16 though 9 <= 16
    ("factors", (1, 0, "P"), 9, "nest 1 of the batch: temporal factor at level dram, dim P: factor over-tiles"),
    # P 5 on the glb_cluster fanout's x axis, outside its y axis' P 4: (5 - 1) x 4 >= 16
    ("spatial", (0, 1, 0, "P"), 5, "nest 0 of the batch: spatial x factor of the fanout below glb_cluster, dim P: "
                                   "factor over-tiles"),
    # P 5 on the dram fanout's y axis, outside glb_cluster's P 4: (5 - 1) x 4 >= 16
    ("spatial", (1, 0, 1, "P"), 5, "nest 1 of the batch: spatial y factor of the fanout below dram, dim P: "
                                   "factor over-tiles"),
])
def test_factor_range_and_over_tiling_errors_name_the_loop_slot_and_dim(generated, array, index, value, message):
    h = load_architecture("hierarchy/eyeriss_v2")
    p = load_problem(str(REPO / "tests/data/core_conv3x3.yaml"))
    nest = nest_from_dict(load_yaml(REPO / "tests/data/core_nest_v2.yaml"), h)
    layout = NestLayout(p, h)
    arrays = encode_nests(layout, [nest, nest])
    bad = getattr(arrays, array).copy()
    bad[(*index[:-1], layout.dims.index(index[-1]))] = value
    with pytest.raises(ConfigError, match=message):
        count_nests(layout, arrays._replace(**{array: bad}), generated=generated)


@pytest.mark.parametrize("arch", ["eyeriss_v1", "isca16/ws", "hierarchy/eyeriss_v2", "hierarchy/simba_like"])
def test_bound_twin_equals_hierarchy_bound_bit_for_bit(arch):
    """bound_nests is the numba twin of accelsim.cost.bound.hierarchy_bound: equal floats on legal
    nests of shipped hierarchies (their bandwidths, shared ports and NoC models)."""
    from accelsim.cost.bound import hierarchy_bound
    from accelsim.cost.fast_nest import bound_nests
    from accelsim.mapper.nest_space import NestSpace
    from accelsim.problem import from_layer
    from workloads import zoo

    h = load_architecture(arch)
    p = from_layer(zoo.get("alexnet").layers[1])
    layout = NestLayout(p, h)
    arrays = NestSpace(layout).propose(np.random.default_rng(5), 60)
    assert arrays.n_nests >= 10
    rows = count_nests(layout, arrays)
    got = bound_nests(layout, rows)
    for i in range(arrays.n_nests):
        want = hierarchy_bound(count_actions(p, h, decode_nest(layout, arrays, i)), h)
        assert got[i] == want


@pytest.mark.parametrize("generated", [False, True])
def test_spatial_factors_at_a_level_without_a_fanout_are_refused(generated):
    h = load_architecture("hierarchy/eyeriss_v2")
    p = load_problem(str(REPO / "tests/data/core_conv3x3.yaml"))
    nest = nest_from_dict(load_yaml(REPO / "tests/data/core_nest_v2.yaml"), h)
    layout = NestLayout(p, h)
    arrays = encode_nests(layout, [nest, nest, nest])
    no_fan = [i for i, lv in enumerate(h.levels) if lv.fanout is None]
    sp = arrays.spatial.copy()
    sp[2, no_fan[-1], 1, layout.dims.index("K")] = 2
    with pytest.raises(ConfigError, match=f"nest 2 of the batch: level {layout.levels[no_fan[-1]]}, dim K: "
                                          "spatial factors at a level without a fanout"):
        count_nests(layout, arrays._replace(spatial=sp), generated=generated)


@pytest.mark.parametrize("layer_index", [0, 1])
def test_rows_equal_count_actions_on_eyeriss_v1_search_proposals(layer_index):
    """The benchmark's cases (benchmarks/bench_nest.py): nests the general mapper proposes on
    from_arch(eyeriss_v1) for AlexNet CONV1 (stride 4, a coupled axis with padding 0) and CONV2
    (padding 2), scored as one batch, each equal to count_actions."""
    from accelsim.arch import load_arch
    from accelsim.hierarchy import from_arch
    from accelsim.mapper.nest_space import NestSpace
    from accelsim.problem import from_layer
    from workloads import zoo

    h = from_arch(load_arch("eyeriss_v1"))
    p = from_layer(zoo.get("alexnet").layers[layer_index])
    layout = NestLayout(p, h)
    arrays = NestSpace(layout).propose(np.random.default_rng(11), 200)
    assert arrays.n_nests >= 100
    fb = Fallback()
    rows = count_nests(layout, arrays, fallback=fb)
    assert fb.rows < arrays.n_nests // 10          # the rest are the kernel's own rows
    for i in range(arrays.n_nests):
        want = layout.row_of(count_actions(p, h, decode_nest(layout, arrays, i)))
        assert rows[i].tolist() == want.tolist()


def test_an_unwritable_kernel_cache_warns_and_compiles_in_memory(tmp_path, monkeypatch):
    """No silent fallback: a cache directory that cannot be made names itself in one warning, and
    the kernel compiled in memory (uncached) still gives count_actions' rows."""
    from accelsim.cost import nest_kernel
    from accelsim.hierarchy import Hierarchy, Storage
    from accelsim.loopnest import LevelMap, LoopNest
    from accelsim.problem import gemm

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv(nest_kernel.CACHE_ENV, str(blocker / "kernels"))
    monkeypatch.setattr(nest_kernel, "_LOADED", {})
    monkeypatch.setattr(nest_kernel, "_WARNED", set())
    h = Hierarchy("two", (Storage("L0", ("ifmap", "weight", "psum")), Storage("L1", ("weight",))))
    p = gemm("g", 3, 4, 5)
    nest = LoopNest((LevelMap("L0", (("M", 3), ("K", 5)), ("K", "M", "N"), ("ifmap", "weight", "psum")),
                     LevelMap("L1", (("N", 4),), ("N", "M", "K"), ("weight",))))
    layout = NestLayout(p, h)
    with pytest.warns(nest_kernel.KernelCacheWarning, match=f"kernel cache {blocker / 'kernels'} is not writable"):
        rows = count_nests(layout, encode_nests(layout, [nest]), generated=True)
    assert rows[0].tolist() == layout.row_of(count_actions(p, h, nest)).tolist()


def test_prune_cache_removes_other_versions_unused_for_a_day_with_their_cache_entries(tmp_path):
    """The generated-kernel cache stays bounded: other versions' kernels (and numba's and Python's
    __pycache__ entries of them, and orphaned entries) go once unused for PRUNE_AGE; the current
    version's and another version's recently used kernels stay."""
    import os

    from accelsim.cost.nest_kernel import PRUNE_AGE, prune_cache

    now = 2_000_000_000.0
    pyc = tmp_path / "__pycache__"
    pyc.mkdir()

    def plant(path, age):
        path.write_text("")
        os.utime(path, (now - age, now - age))

    day = PRUNE_AGE
    modules = {"accelsim_nest_aaaaaaaaaaaa_111111111111": 10 * day,     # the current version, old: kept
               "accelsim_nest_bbbbbbbbbbbb_111111111111": 2 * day,      # another version, unused 2 days: gone
               "accelsim_nest_bbbbbbbbbbbb_222222222222": day - 60,     # another version, used today: kept
               "accelsim_nest_0123456789abcdef01234567": day + 60}      # the earlier naming, unused: gone
    for m, age in modules.items():
        plant(tmp_path / f"{m}.py", age)
        plant(pyc / f"{m}.kernel-52.py311.nbi", age)
        plant(pyc / f"{m}.kernel-52.py311.1.nbc", age)
    plant(pyc / "accelsim_nest_cccccccccccc_333333333333.kernel-52.py311.nbi", 2 * day)   # orphan: gone
    plant(pyc / "accelsim_nest_dddddddddddd_444444444444.kernel-52.py311.nbi", 60)        # orphan, new: kept
    plant(tmp_path / "tmpab12.tmp", 2 * day)                                               # unfinished write: gone
    plant(tmp_path / "notes.txt", 10 * day)                                                # not ours: kept
    removed = prune_cache(tmp_path, "aaaaaaaaaaaa", now=now)
    assert removed == ["accelsim_nest_0123456789abcdef01234567", "accelsim_nest_bbbbbbbbbbbb_111111111111"]
    kept = ["accelsim_nest_aaaaaaaaaaaa_111111111111", "accelsim_nest_bbbbbbbbbbbb_222222222222"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [f"{m}.py" for m in kept] + ["notes.txt"]
    assert sorted(p.name for p in pyc.iterdir()) == sorted(
        [f"{m}.kernel-52.py311.{e}" for m in kept for e in ("nbi", "1.nbc")]
        + ["accelsim_nest_dddddddddddd_444444444444.kernel-52.py311.nbi"])


def test_kernel_for_writes_its_version_and_prunes_a_stale_kernel_once(tmp_path, monkeypatch):
    """A process's first generated kernel prunes its cache directory: a kernel of another version
    unused for two days is deleted; the new kernel's file is named by the current version."""
    import os

    from accelsim.cost import nest_kernel
    from accelsim.hierarchy import Hierarchy, Storage
    from accelsim.loopnest import LevelMap, LoopNest
    from accelsim.problem import gemm

    monkeypatch.setenv(nest_kernel.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(nest_kernel, "_LOADED", {})
    monkeypatch.setattr(nest_kernel, "_PRUNED", set())
    stale = tmp_path / "accelsim_nest_0123456789ab_0123456789ab.py"
    stale.write_text("")
    old = stale.stat().st_mtime - 2 * nest_kernel.PRUNE_AGE
    os.utime(stale, (old, old))
    h = Hierarchy("two", (Storage("L0", ("ifmap", "weight", "psum")), Storage("L1", ("weight",))))
    p = gemm("g", 3, 4, 5)
    nest = LoopNest((LevelMap("L0", (("M", 3), ("K", 5)), ("K", "M", "N"), ("ifmap", "weight", "psum")),
                     LevelMap("L1", (("N", 4),), ("N", "M", "K"), ("weight",))))
    layout = NestLayout(p, h)
    rows = count_nests(layout, encode_nests(layout, [nest]), generated=True)
    assert rows[0].tolist() == layout.row_of(count_actions(p, h, nest)).tolist()
    assert not stale.exists()
    version = nest_kernel._fingerprint()[:12]
    assert [f.name.split("_")[2] for f in tmp_path.glob("accelsim_nest_*.py")] == [version]


def test_kernel_for_remembers_the_kernel_per_layout_object(monkeypatch):
    """A layout's second batch skips the shape key (kernel_for's per-call cost on the mapper's
    512-nest batches); another layout object of the same shape derives it and gets the same kernel."""
    from accelsim.arch import load_arch
    from accelsim.cost import nest_kernel
    from accelsim.hierarchy import from_arch
    from workloads import zoo

    h = from_arch(load_arch("eyeriss_v1"))
    p = from_layer(zoo.get("alexnet").layers[1])
    layout = NestLayout(p, h)
    fn = nest_kernel.kernel_for(layout)
    calls = []
    real = nest_kernel.shape_of
    monkeypatch.setattr(nest_kernel, "shape_of", lambda lay: calls.append(lay) or real(lay))
    assert nest_kernel.kernel_for(layout) is fn and calls == []
    other = NestLayout(p, h)
    assert nest_kernel.kernel_for(other) is fn and calls == [other]


def test_a_layout_whose_generated_kernel_is_loaded_scores_small_batches_with_it(monkeypatch):
    """A search's batches that the legality filter left below GENERATED_MIN go to the generated kernel
    once it is loaded for their layout; a layout that never reached a big batch keeps the generic
    one. Rows equal count_actions' either way."""
    from accelsim.cost import fast_nest, nest_kernel

    h = load_architecture("hierarchy/eyeriss_v2")
    p = load_problem(str(REPO / "tests/data/core_conv3x3.yaml"))
    nest = nest_from_dict(load_yaml(REPO / "tests/data/core_nest_v2.yaml"), h)
    want = NestLayout(p, h).row_of(count_actions(p, h, nest)).tolist()
    generic_calls = []
    generic = fast_nest._kernel
    monkeypatch.setattr(fast_nest, "_kernel", lambda *a: generic_calls.append(a[6].shape[0]) or generic(*a))
    layout = NestLayout(p, h)                        # a new layout object: nothing loaded for it yet
    arrays = encode_nests(layout, [nest] * 3)
    assert nest_kernel.loaded_kernel(layout) is None
    assert count_nests(layout, arrays).tolist() == [want] * 3
    assert generic_calls == [3]
    big = encode_nests(layout, [nest] * fast_nest.GENERATED_MIN)
    assert count_nests(layout, big).tolist() == [want] * fast_nest.GENERATED_MIN
    assert generic_calls == [3]                      # a big batch: the generated kernel, now loaded
    assert nest_kernel.loaded_kernel(layout) is nest_kernel.kernel_for(layout)
    assert count_nests(layout, arrays).tolist() == [want] * 3
    assert generic_calls == [3]                      # a small batch of the same layout: generated too
    other = NestLayout(p, h)                         # the same shape, another layout that never ran big
    assert count_nests(other, encode_nests(other, [nest])).tolist() == [want]
    assert generic_calls == [3, 1]
    assert count_nests(layout, arrays, generated=False).tolist() == [want] * 3
    assert generic_calls == [3, 1, 3]                # generated=False still forces the generic kernel


def test_generated_rows_equal_count_actions_on_clustered_eyeriss_v2_proposals():
    """The sparse benchmark's hierarchy (benchmarks/bench_sparse.py --hier): nests the general mapper
    proposes on the clustered Eyeriss v2 for AlexNet CONV2 (batch 4). Two fanouts, and a weight hop from
    DRAM past the GLB: a dim's loops kept above a cut interleave with a dropped spatial one (DRAM's
    temporal and the GLB's kept, the DRAM fanout's dropped), the count the generated kernel walks
    (``_walk``) where it reads it. Generated rows equal to the generic kernel's and count_actions'."""
    from dataclasses import replace

    from accelsim.mapper.nest_space import NestSpace
    from workloads import zoo

    h = load_architecture("eyeriss_v2")
    p = from_layer(replace(zoo.get("alexnet").layers[1], N=4))
    layout = NestLayout(p, h)
    arrays = NestSpace(layout).propose(np.random.default_rng(3), 300)
    gen, gen_left = kernel_rows(layout, arrays, generated=True)
    generic, generic_left = kernel_rows(layout, arrays, generated=False)
    assert gen.tolist() == generic.tolist() and gen_left.tolist() == generic_left.tolist()
    assert gen_left.sum() < arrays.n_nests // 10
    for i in np.flatnonzero(~gen_left):
        want = layout.row_of(count_actions(p, h, decode_nest(layout, arrays, int(i))))
        assert gen[i].tolist() == want.tolist()


def test_generated_kernels_index_arrays_unsigned_and_literals_as_written():
    """cost.nest_kernel.unsigned_subscripts: every non-literal index of a named array becomes an unsigned
    one (numba skips its negative-index wrap); literals (a negative one counts from the end), slices
    and attributes' subscripts stay; a function compiled from the rewritten text gives the same values."""
    from numba import njit

    from accelsim.cost.nest_kernel import kernel_source, shape_of, unsigned_subscripts

    src = ("import numpy as np\n"
           "def f(a, out, i, t):\n"
           "    out[i, i + 1] = a[i] + a[0] + a[-1] + a[1:3].sum() + a.shape[0] + t[0]\n"
           "    return out[i, i + 1]\n")
    got = unsigned_subscripts(src)
    assert ("out[np.uint64(i), np.uint64(i + 1)] = a[np.uint64(i)] + a[0] + a[-1] + a[1:3].sum() + a.shape[0] + t[0]"
            in got), got
    assert "return out[np.uint64(i), np.uint64(i + 1)]" in got
    ns: dict = {}
    exec(compile(got, "<test>", "exec"), ns)
    a = np.arange(5, dtype=np.int64) * 7
    out = np.zeros((3, 4), np.int64)
    for i in range(3):
        assert njit(ns["f"])(a, out, i, (2, 3)) == a[i] + a[0] + a[-1] + a[1:3].sum() + 5 + 2
    # the dense generated kernel of the clustered Eyeriss v2 is written with unsigned indices
    from dataclasses import replace

    from workloads import zoo

    layout = NestLayout(from_layer(replace(zoo.get("alexnet").layers[1], N=4)), load_architecture("eyeriss_v2"))
    text = unsigned_subscripts(kernel_source(shape_of(layout)))
    assert "out[np.uint64(b), np.uint64(3 + par * 12)]" in text
