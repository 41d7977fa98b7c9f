"""The mapper's sparse scorer over the general kernel's rows (accelsim.mapper.sparse_batch.NestSparseBatch)
equals the slow sparse path (accelsim.sparse.view.sparse_view on count_actions) bit for bit, energy and
latency bound, on random problems x random hierarchies (bandwidths, fanouts, keeps) x random formats,
gating/skipping steps and densities, and on the shipped hierarchies over the search space's own nests;
its compressed capacity check equals ``sparse.model.capacity_problems`` on every nest; and the sparse
search over a hierarchy finds what the dense shortlist's re-rank cannot: a nest that fits only
compressed, with a lower sparse objective by the slow path."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.arch import load_arch
from accelsim.cost.actions import count_actions
from accelsim.cost.energy import column_weights
from accelsim.cost.fast_nest import count_nests
from accelsim.cost.nest_arrays import NestLayout, encode_nests
from accelsim.energy_table import table_for
from accelsim.hierarchy import Fanout, Hierarchy, Storage, from_arch, hierarchy_from_dict, load_architecture
from accelsim.loopnest import problems_of
from accelsim.mapper.nest_search import search_nest
from accelsim.mapper.nest_space import NestSpace
from accelsim.mapper.sparse_batch import NestSparseBatch
from accelsim.mapper.sparse_memo import GROUPS
from accelsim.mapper.sparse_rank import rerank_nests
from accelsim.names import ROLES
from accelsim.problem import from_layer
from accelsim.sparse.density import Structured, Uniform
from accelsim.sparse.model import capacity_problems
from accelsim.sparse.spec import load_spec, spec_from_dict
from accelsim.sparse.view import sparse_view
from accelsim.tiles import touched
from tests.core_strategies import hierarchies, nests, problems
from workloads.layer import conv

FORMATS = ["bitmask", {"ranks": [{"CP": 5}]}, {"ranks": [{"RLE": 2}]}, {"ranks": [{"UOP": 6}, {"CP": 3}]},
           {"ranks": ["B", "U"]}, {"ranks": [{"RLE": 3}], "packing": [3, 64]}, {"ranks": ["B"], "adaptive": True}]
BANDWIDTHS = [None, None, 0.5, 1.0, 2.5]


@st.composite
def sparse_setup(draw, hierarchy: Hierarchy):
    """(hierarchy with random bandwidths and capacities, spec dict with random metadata stores, density models)."""
    levels = []
    for i, lv in enumerate(hierarchy.levels):
        cap = ()
        if i and lv.keeps and draw(st.booleans()):
            cap = ((lv.keeps, draw(st.integers(1, 48))),)
        levels.append(replace(lv, capacity=cap, read_bandwidth=draw(st.sampled_from(BANDWIDTHS)),
                              write_bandwidth=draw(st.sampled_from(BANDWIDTHS)),
                              bandwidth=draw(st.sampled_from(BANDWIDTHS))))
    h = replace(hierarchy, levels=tuple(levels))
    formats: dict = {}
    features: dict = {"gate": [], "skip": []}
    for i, lv in enumerate(h.levels):
        for r in (ROLES if i == 0 else lv.keeps):
            if draw(st.integers(0, 2)) == 0:
                formats.setdefault(lv.name, {})[r] = draw(st.sampled_from(FORMATS))     # every one compressed
    for i, lv in enumerate(h.levels):
        for r in ("ifmap", "weight"):         # an output's accesses are gated/skipped at the MACs only
            if (i == 0 or r in lv.keeps) and draw(st.integers(0, 3)) == 0:
                on = draw(st.lists(st.sampled_from(ROLES), min_size=1, max_size=2, unique=True))
                if any(r in formats.get(low.name, {}) for low in h.levels[i:]):     # its own zeros: uncompressed
                    on = [c for c in on if c != r] or [ROLES[1 - ROLES.index(r)]]  # only (sparse.spec.check)
                features[draw(st.sampled_from(["gate", "skip"]))].append({"level": lv.name, "tensor": r, "on_zero": on})
    for _ in range(draw(st.integers(0, 2))):
        on = draw(st.lists(st.sampled_from(["ifmap", "weight"]), min_size=1, max_size=2, unique=True))
        features[draw(st.sampled_from(["gate", "skip"]))].append({"level": h.compute.name, "on_zero": on})
    meta: dict = {}                       # own metadata stores (sparse.model.capacity_checks) of compressed tensors
    for i, lv in enumerate(h.levels):
        for r in (lv.keeps if i else ()):
            if r in formats.get(lv.name, {}) and draw(st.integers(0, 3)) == 0:
                meta.setdefault(lv.name, {})[r] = draw(st.integers(1, 24))
    spec = {"name": "random", "formats": formats, **features,
            "capacity": draw(st.sampled_from(["expected", "worst"])), "metadata_capacity": meta}
    models = {r: Uniform(draw(st.sampled_from([0.05, 0.3, 0.55, 0.9, 1.0]))) for r in ROLES}
    if draw(st.booleans()):
        models["weight"] = Structured(2, 4)
    return h, spec, models


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_scores_equal_the_slow_sparse_view_on_random_hierarchies(data):
    problem = data.draw(problems())
    h0 = data.draw(hierarchies())
    h, spec_doc, models = data.draw(sparse_setup(h0))
    spec = spec_from_dict(spec_doc, "random.yaml")
    batch = [data.draw(nests(problem, h0)) for _ in range(data.draw(st.integers(1, 4)))]
    layout = NestLayout(problem, h)
    arrays = encode_nests(layout, batch)
    table = table_for(h)
    sb = NestSparseBatch(layout, spec, models, table)

    def two(ft: dict) -> bool:
        return "tensor" in ft and sum(models[c].density < 1 and not isinstance(models[c], Structured)
                                      for c in ft["on_zero"]) == 2
    refused = any(two(ft) for kind in ("gate", "skip") for ft in spec_doc[kind])
    assert (sb.reason is not None) == refused      # a storage feature on two uniform conditions: the slow path's
    # (a condition at density 1 is never empty: the batch takes such a feature, on the slow path's product)
    if refused:        # the rest of the spec still scores bit-equal: drop those features
        spec = spec_from_dict({**spec_doc, **{kind: [ft for ft in spec_doc[kind] if not two(ft)]
                                              for kind in ("gate", "skip")}}, "random.yaml")
        sb = NestSparseBatch(layout, spec, models, table)
        assert sb.reason is None
    energy, cycles = sb.score(count_nests(layout, arrays), arrays)
    fits = sb.fits(arrays)
    for i, nest in enumerate(batch):
        v = sparse_view(problem, h, nest, count_actions(problem, h, nest), spec, models, table)
        assert energy[i] == v.energy_pj
        assert cycles[i] == v.bound_cycles
        assert fits[i] == (not capacity_problems(problem, h, nest, spec, models))


def _search_nests(problem, h, n: int = 400):
    layout = NestLayout(problem, h)
    return layout, NestSpace(layout).propose(np.random.default_rng(3), n)


LAYER = conv("c", C=16, K=32, H=14, R=3, pad=1, N=2)
UNIFORM = {"ifmap": Uniform(0.4), "weight": Uniform(0.35), "psum": Uniform(0.6)}


def _equal_and_moved(h, spec, models, n_nests: int, select, patch) -> tuple[int, int]:
    """The general batch scorer on the search space's nests of ``h`` (``n_nests`` proposed) that
    ``select(problem, flat, plan, levels)`` picks: energy and latency bound equal the slow path's bit for
    bit (asserted); and how many of them the slow path's energy moves on with ``patch`` = (name,
    replacement) set in ``accelsim.sparse.model`` (the term under test exercised): (checked, moved)."""
    import accelsim.sparse.model as model
    from accelsim.cost.nest_arrays import decode_nest

    problem = from_layer(LAYER)
    layout, arrays = _search_nests(problem, h, n_nests)
    table = table_for(h)
    energy, cycles = NestSparseBatch(layout, spec, models, table).score(count_nests(layout, arrays), arrays)
    checked = moved = 0
    for i in range(arrays.n_nests):
        nest = decode_nest(layout, arrays, i)
        if not select(problem, model.flatten(problem, nest), model.plan(nest, spec), len(h.levels)):
            continue
        v = sparse_view(problem, h, nest, count_actions(problem, h, nest), spec, models, table)
        assert (energy[i], cycles[i]) == (v.energy_pj, v.bound_cycles)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(model, *patch)
            moved += sparse_view(problem, h, nest, count_actions(problem, h, nest), spec, models,
                                 table).energy_pj != v.energy_pj
        checked += 1
    print(f"{moved} of {checked}")
    return checked, moved


@pytest.mark.parametrize("hier,preset", [
    ("eyeriss_v2", "eyeriss_v2_clustered"),      # CSC in the spad (tile-dependent), skipping with load imbalance
    ("eyeriss_v1", "eyeriss_v1"),                # eyeriss_v1's hierarchy: RLE at DRAM, gating
    ("eyeriss_v1", "eyeriss_v2"),                # the same level list with CSC in the RF
    ("simba_like", None),                        # bitmask ifmaps in every buffer, gated MACs
])
@pytest.mark.usefixtures("binomial_lockstep")
def test_shipped_hierarchies_over_the_search_space_equal_the_slow_path(hier, preset):
    h = from_arch(load_arch(hier)) if hier == "eyeriss_v1" else load_architecture(f"hierarchy/{hier}")
    if preset is None:
        spec = spec_from_dict({"name": "b", "formats": {lv.name: {"ifmap": "bitmask"} for lv in h.levels
                                                        if lv.keeps_role("ifmap")},
                               "gate": [{"level": h.compute.name, "on_zero": ["ifmap"]}]}, "b.yaml")
    else:
        spec = load_spec(preset)
    problem = from_layer(LAYER)
    layout, arrays = _search_nests(problem, h)
    table = table_for(h)
    sb = NestSparseBatch(layout, spec, UNIFORM, table)
    energy, cycles = sb.score(count_nests(layout, arrays), arrays)
    assert len(np.unique(arrays.keeps.reshape(arrays.n_nests, -1), axis=0)) > 1      # several keeps patterns
    from accelsim.cost.nest_arrays import decode_nest

    for i in range(0, arrays.n_nests, 25):
        nest = decode_nest(layout, arrays, i)
        v = sparse_view(problem, h, nest, count_actions(problem, h, nest), spec, UNIFORM, table)
        assert energy[i] == v.energy_pj
        assert cycles[i] == v.bound_cycles
        assert v.energy_pj < v.dense_energy_pj          # sparsity saved something


@pytest.mark.parametrize("generated", [False, True])
def test_a_warm_scorer_fed_in_pieces_equals_a_fresh_one_and_the_memo_keeps_every_argument_apart(generated):
    """The scorer's memo (mapper.sparse_memo.RowMemo) grows across batches: its hash table rebuilt when
    half full (started tiny here), keeps patterns first met in later pieces registering step functions
    over tiles already known. Scoring the nests in shuffled pieces with one scorer gives each nest the
    same floats as one fresh scorer (the generic look-up pass) on the whole batch, and every memoised
    value is its function's own value at its key's argument (recomputed here from the stored key).
    ``generated``: the warm scorer looks up with the pass generated per memo structure
    (mapper.memo_kernel: every group kind of the clustered v2, keeps, lockstep run, tile, served tiles
    with and without the reuse walk), found or added in the same order: the same keys, rows and values."""
    from accelsim.mapper import memo_kernel, score_kernel

    h = load_architecture("hierarchy/eyeriss_v2")
    spec = load_spec("eyeriss_v2_clustered")
    problem = from_layer(LAYER)
    layout, arrays = _search_nests(problem, h, 300)
    table = table_for(h)
    rows = count_nests(layout, arrays)
    fresh = NestSparseBatch(layout, spec, UNIFORM, table)
    fresh.memo.generated = False
    energy, cycles = fresh.score(rows, arrays)
    warm = NestSparseBatch(layout, spec, UNIFORM, table)
    warm.memo.generated = generated
    warm.gen["generated"] = generated          # and the row kernel generated per bound structure (score_kernel)
    warm.memo._table(4)
    order = np.random.default_rng(5).permutation(arrays.n_nests)
    cuts = [0, 1, 7, 40, 41, 150, arrays.n_nests]
    for a, b in zip(cuts, cuts[1:]):
        part = order[a:b]
        e, c = warm.score(rows[part], arrays.take(part))
        assert np.array_equal(e, energy[part]) and np.array_equal(c, cycles[part])
    assert warm.fits(arrays).tolist() == fresh.fits(arrays).tolist()
    memo = warm.memo
    kinds = {k[0] for shape in memo.structures.values() if shape is not None for k in shape[3]}
    assert kinds == ({"keeps", "lockstep", "tile", "span"} if generated else set())
    assert all(shape[5] == 2 for shape in memo.structures.values() if shape is not None)   # window axes P/R, Q/S
    assert all(memo_kernel.loaded_pass(shape, len(ROLES)) is not None for shape in memo.structures.values())
    assert (score_kernel.loaded_kernel(warm.gen["shape"]) is not None) if generated else "shape" not in warm.gen
    assert len(memo.table) >= 2 * len(memo.entries) > 8             # grown, at most half full
    assert len({k.tobytes() for k in memo.entries}) == len(memo.entries)        # each argument once
    # a tile key holds the nest's per-dim extents at its level (factors x fanout factors from the level
    # on, clipped to the dim's size), packed and unpacked exactly
    groups, _, _ = memo.columns([f for f, (_, _, _, axes, _) in enumerate(memo.fns) if axes is not None])
    idx = memo.resolve(groups, arrays.factors, arrays.spatial, arrays.keeps, orders=arrays.orders)
    sizes = np.array([problem.size(d) for d in problem.dim_names])
    per_level = arrays.factors * arrays.spatial[:, :, 0] * arrays.spatial[:, :, 1]
    for j, level in enumerate(groups):
        if level > memo.L:                # a served tile with reuse: checked against the slow path below
            continue
        want = np.minimum(np.prod(per_level[:, level:], axis=1), sizes)
        assert np.array_equal(memo.arguments(idx[:, j]), want)
    for group, slot, fn, axes, _ in memo.fns:
        if group == memo.keeps_group:
            continue                      # a pattern's index (its plan is checked by the scores above)
        rows_ = np.flatnonzero(memo.entries[:, 0] % GROUPS == group)[::7]
        for r, key in zip(rows_, memo.arguments(rows_)):
            if axes is None:              # (lockstep run, active units)
                arg = key
            else:                         # per axis: the rows its per-dim extents touch (accelsim.tiles), clipped;
                arg = np.array([min(size, touched(int(key[d1]), int(key[d2]) if d2 >= 0 else 1, k1, k2))
                                for d1, k1, d2, k2, size in axes] + list(key[len(sizes):]))   # then the rest as is
            got = memo.vals[r, slot:slot + 2] if isinstance(fn(arg), tuple) else memo.vals[r, slot]
            if np.isnan(got).all() and fns_lazy(memo, fn):
                continue                  # a lazy function is evaluated only where a row's pattern uses it
            want = fn(arg)
            assert (tuple(got) if isinstance(want, tuple) else got) == want
    # a row looks up only the groups its keeps pattern reads (RowMemo.resolve's ``uses``; the others
    # -1): the rows of looking every group up, with either pass
    look = warm.look[1]
    uses = look.uses(warm.pattern_parts)
    args = (arrays.factors, arrays.spatial, arrays.keeps, rows[:, warm.c_active].copy(), arrays.orders)
    full = memo.resolve(look.groups, *args)
    read = uses[memo.vals[full[:, look.col[0]], look.slot[0]].astype(int)]
    read[:, look.col[0]] = True
    assert (~read).any() and (read.sum(axis=1) < len(look.groups)).any()
    for gen in (False, True):
        gated = memo.resolve(look.groups, *args, generated=gen, uses=(int(look.slot[0]), uses))
        assert np.array_equal(gated, np.where(read, full, -1))


def fns_lazy(memo, fn) -> bool:
    return any(f[2] is fn for i, f in enumerate(memo.fns) if i in memo.lazy)


def test_memo_keys_of_any_size_are_exact():
    """Tile extents near 2^40 per dim do not fit one int64 key word: they are packed into several
    words and unpacked exactly; each distinct argument gets its own value (the function's own)."""
    from accelsim.mapper.sparse_memo import RowMemo

    sizes = np.array([1 << 40, 3, (1 << 40) + 7])
    memo = RowMemo(sizes, 2, nest=True, units=1)
    assert memo.width > 1                                   # more than one word of (group, extents)
    seen: list = []
    fn = memo.tile(lambda e: (seen.append(tuple(e)), float(e[0] % 1000) + e[1] / 4 + float(e[2] % 999))[1], 0,
                   np.array([(d, 1, -1, 1, int(n)) for d, n in enumerate(sizes)]))
    rng = np.random.default_rng(2)
    B = 300
    factors = np.ones((B, 2, 3), dtype=np.int64)
    factors[:, 0, 0] = rng.integers(1, 1 << 20, B)
    factors[:, 1, 0] = rng.integers(1, 1 << 21, B)
    factors[:, 1, 1] = rng.integers(1, 5, B)
    factors[:, 0, 2] = rng.choice([1, (1 << 39) + 5, 1 << 41], B)
    factors[::2] = factors[1::2]                           # half the rows repeat another's tile
    spatial = np.ones((B, 2, 2, 3), dtype=np.int64)
    groups, col, slot = memo.columns([fn])
    idx = memo.resolve(groups, factors, spatial, np.zeros((B, 2, 3), dtype=np.int64))
    want = np.minimum(factors[:, 0] * factors[:, 1], sizes)
    assert np.array_equal(memo.arguments(idx[:, 0]), want)
    assert len(seen) == len(set(seen)) == len({tuple(w) for w in want})       # each argument evaluated once
    for b in range(B):
        e = want[b]
        assert memo.vals[idx[b, 0], slot[0]] == float(e[0] % 1000) + e[1] / 4 + float(e[2] % 999)


@pytest.mark.parametrize("generated", [False, True])
def test_memo_refuses_a_row_outside_its_digit_ranges_and_packs_usual_keys_in_one_word(generated):
    """A key's ints are mixed-radix digits (mapper.sparse_memo): an int outside its digit's range would
    wrap into another argument's key, so it is refused (ConfigError), never packed; the lockstep group's
    active units have radix units + 1, a tile's extent radix its dim's size. The same with the look-up
    pass generated per memo structure (mapper.memo_kernel)."""
    from accelsim.errors import ConfigError
    from accelsim.mapper.sparse_memo import RowMemo

    memo = RowMemo(np.array([4, 6]), 1, nest=True, units=4, fanouts=(0,))
    memo.generated = generated
    assert memo.width == 1
    fn = memo.lockstep(lambda a: float(a[0] * 10 + a[1]))
    groups, _, slot = memo.columns([fn])
    factors = np.array([[[2, 3]], [[1, 6]]], dtype=np.int64)
    spatial = np.ones((2, 1, 2, 2), dtype=np.int64)
    spatial[1, 0, 0, 0] = 4                                  # row 1: 4 units; its run, below the fanout: 1
    idx = memo.resolve(groups, factors, spatial, np.zeros((2, 1, 3), dtype=np.int64), np.array([1, 4]))
    assert [memo.vals[i, slot[0]] for i in idx[:, 0]] == [61.0, 14.0]     # (run 6, 1 unit), (run 1, 4 units)
    with pytest.raises(ConfigError, match="active units"):
        memo.resolve(groups, factors, spatial, np.zeros((2, 1, 3), dtype=np.int64), np.array([1, 5]))
    tile = memo.tile(lambda e: float(e[0] * 10 + e[1]), 0, np.array([(0, 1, -1, 1, 4), (1, 1, -1, 1, 6)]))
    groups, _, slot = memo.columns([tile])
    with pytest.raises(ConfigError, match="factor below 1"):
        memo.resolve(groups, np.array([[[0, 1]]], dtype=np.int64), np.ones((1, 1, 2, 2), dtype=np.int64))
    idx = memo.resolve(groups, np.array([[[3, 1]], [[4, 6]]], dtype=np.int64), np.ones((2, 1, 2, 2), dtype=np.int64))
    assert [memo.vals[i, slot[0]] for i in idx[:, 0]] == [31.0, 46.0]       # a refused pass left no key behind


@pytest.mark.parametrize("generated", [False, True])
def test_a_known_keeps_key_is_read_by_its_bits_and_a_refused_pass_leaves_no_row_behind(generated):
    """The generated look-up pass reads a keeps key known before the pass from a direct map by its
    bits (``RowMemo.keeps_rows``, ``memo_kernel.KEEPS_DIRECT_BITS``) and records only such keys: a pass
    refused part-way (a factor below 1 in its last row) drops the keys it added, and a later pass adds
    other keys at those rows. Each row's keeps value is its own argument's (checked against the
    arguments, not against the code), with either pass; every direct-map entry names its own key."""
    from accelsim.errors import ConfigError
    from accelsim.mapper.sparse_memo import RowMemo

    memo = RowMemo(np.array([4, 6]), 2, nest=True, units=4, fanouts=(0,))
    memo.generated = generated
    kf = memo.keeps(lambda codes: float(codes[0] * 8 + codes[1]))
    tile = memo.tile(lambda e: float(e[0]), 1, np.array([(0, 1, -1, 1, 4), (1, 1, -1, 1, 6)]))
    groups, col, slot = memo.columns([kf, tile])

    def keeps_of(*codes):                    # per row its per-level codes (bit t: keeps role t)
        return np.array([[[(c >> t) & 1 for t in range(3)] for c in row] for row in codes], dtype=np.int64)

    def look(codes, factors=None):
        B = len(codes)
        f = np.ones((B, 2, 2), dtype=np.int64) if factors is None else factors
        idx = memo.resolve(groups, f, np.ones((B, 2, 2, 2), dtype=np.int64), keeps_of(*codes))
        got = [memo.vals[i, slot[0]] for i in idx[:, col[0]]]
        assert got == [float(a * 8 + b) for a, b in codes]
        return idx

    look([(1, 2), (3, 4), (1, 2)])
    look([(3, 4), (1, 2)])                   # known before the pass: read by their bits (generated)
    bad = np.ones((2, 2, 2), dtype=np.int64)
    bad[1, 1, 0] = 0                         # the last row's factor below 1: the pass is refused
    with pytest.raises(ConfigError, match="factor below 1"):
        look([(5, 6), (7, 7)], bad)
    look([(7, 1), (5, 6), (7, 1), (3, 4)])   # (5, 6) was dropped: (7, 1) now takes the row it had
    rows = memo.keeps_rows.get(3)
    assert (rows is not None and (rows >= 0).sum() == 2) if generated else rows is None   # (1, 2), (3, 4)
    for bits in np.flatnonzero(rows >= 0) if rows is not None else ():
        codes = memo.arguments(np.array([rows[bits]]))[0]
        assert int(codes[0]) | (int(codes[1]) << 3) == bits


def _tiny_buffer() -> Hierarchy:
    """DRAM -> 4 PEs, each with a 12-word buffer (ifmap + weight + psum) -> one MAC."""
    return hierarchy_from_dict({
        "name": "tiny", "word_bits": 16,
        "levels": [{"name": "dram", "keeps": ["ifmap", "weight", "psum"], "read_bandwidth": 4, "write_bandwidth": 4,
                    "fanout": {"x": 4, "y": 1, "network": "bus"}},
                   {"name": "buf", "keeps": ["ifmap", "weight", "psum"], "capacity": 12}],
        "compute": {"name": "mac"}}, "tiny.yaml")


def test_sparse_search_beats_the_dense_shortlist_rerank_with_a_nest_that_fits_only_compressed():
    """Weights at density 1/8 in a bitmask (1/8 + 1/16 words per dense word): a 12-word buffer holds
    ~64 weight words' worth compressed. The dense search never proposes such a tile; the sparse search
    does, and the slow path (sparse_view) confirms its lower sparse energy."""
    h = _tiny_buffer()
    problem = from_layer(conv("c", C=8, K=8, H=6, R=3, pad=1))
    spec = spec_from_dict({"name": "b", "formats": {"buf": {"weight": "bitmask"}},
                           "gate": [{"level": "mac", "on_zero": ["weight"]}]}, "b.yaml")
    models = {"weight": Uniform(0.125)}
    table = table_for(h)
    weights = column_weights(NestLayout(problem, h), table)
    dense = search_nest(problem, h, objective="energy", budget=3000, seed=0, energy_weights=weights)
    reranked = rerank_nests(problem, h, dense.shortlist, "energy", spec, models, table)
    found = search_nest(problem, h, objective="energy", budget=3000, seed=0, sparse=(spec, models, table))

    def slow(nest):
        return sparse_view(problem, h, nest, count_actions(problem, h, nest), spec, models, table)

    assert found.score.energy == slow(found.nest).energy_pj          # the search's score is the slow path's
    assert slow(found.nest).energy_pj < slow(reranked).energy_pj
    assert problems_of(problem, h, found.nest)                        # over the dense capacity ...
    assert not capacity_problems(problem, h, found.nest, spec, models)     # ... it fits compressed
    again = search_nest(problem, h, objective="energy", budget=3000, seed=0, sparse=(spec, models, table))
    assert (again.nest, again.score, again.shortlist) == (found.nest, found.score, found.shortlist)   # same seed


def test_output_updates_reduced_across_pes_score_as_the_slow_path(monkeypatch):
    """A buffer feeding the MACs' outputs across a 4 x 4 fanout (the registers keep no psum): each update
    at the buffer reduces the MACs of every PE below (``sparse.model.update_q`` on its box, the two
    conditions ifmap and weight both varying: ``box_dead``'s exact enumeration). The scorer evaluates the
    same function per distinct box through its memo: equal to the slow view bit for bit on every searched
    nest, and the box term moves the slow energy on most of them (it is exercised)."""
    import accelsim.sparse.model as model

    h = Hierarchy("red", (Storage("dram", ROLES), Storage("buffer", ROLES, fanout=Fanout(4, 4, "bus")),
                          Storage("reg", ("ifmap", "weight"), capacity=((("ifmap",), 1), (("weight",), 1)))))
    spec = spec_from_dict({"name": "r", "gate": [{"level": "mac", "on_zero": ["ifmap"]}],
                           "skip": [{"level": "mac", "on_zero": ["weight"]}]}, "r.yaml")
    problem = from_layer(conv("c", C=4, K=4, H=6, R=3, pad=1))
    models = {"ifmap": Uniform(0.4), "weight": Uniform(0.5)}
    layout, arrays = _search_nests(problem, h, 60)
    table = table_for(h)
    energy, cycles = NestSparseBatch(layout, spec, models, table).score(count_nests(layout, arrays), arrays)
    from accelsim.cost.nest_arrays import decode_nest

    moved = 0
    for i in range(arrays.n_nests):
        nest = decode_nest(layout, arrays, i)
        dense = count_actions(problem, h, nest)
        v = sparse_view(problem, h, nest, dense, spec, models, table)
        assert energy[i] == v.energy_pj
        assert cycles[i] == v.bound_cycles
        with monkeypatch.context() as mp:              # every update at the MACs' own fraction
            mp.setattr(model, "update_q", lambda st, p, ext, m, frac: frac)
            moved += sparse_view(problem, h, nest, dense, spec, models, table).energy_pj != v.energy_pj
    print(f"{moved} of {arrays.n_nests}")
    assert moved >= arrays.n_nests // 2


def _edge_update_scores(batch_runs=None, plain: bool = True):
    """(checked, cut) over 120 searched nests of a conv with padding and sizes that tile by ceil (C 3, K 5,
    H 7, R 3, pad 1) on a buffer feeding the MACs across a 3 x 2 fanout above registers that keep no psum
    and loop below it (the update boxes are lattices, cut by the dims' edges and lying over padding), MACs
    gated on ifmap and weight: asserts the scorer's energy and bound equal the slow view's on each;
    ``cut``: the nests whose slow energy moves when every update box is taken as the interior one.
    ``batch_runs``: the scorer's update key dims replaced (the test's break); ``plain`` False: the rows with a
    plain dim's lattice cut by an edge left on the key's row, no extra memo row
    (``NestSparseBatch.plain_cut`` emptied: the other break)."""
    import accelsim.sparse.model as model
    from accelsim.cost.nest_arrays import decode_nest
    from tests.test_sparse_exact_gating import GATE_MACS

    h = Hierarchy("cut", (Storage("dram", ROLES), Storage("buffer", ROLES, fanout=Fanout(3, 2, "bus")),
                          Storage("reg", ("ifmap", "weight"))))
    problem = from_layer(conv("c", C=3, K=5, H=7, R=3, pad=1))
    models = {"ifmap": Uniform(0.4), "weight": Uniform(0.5)}
    layout, arrays = _search_nests(problem, h, 120)
    table = table_for(h)
    sb = NestSparseBatch(layout, GATE_MACS, models, table)
    assert sb.update_runs
    if batch_runs is not None:
        sb.update_runs = batch_runs
    if not plain:
        sb.plain_cut = np.zeros(0, dtype=np.int64)
    energy, cycles = sb.score(count_nests(layout, arrays), arrays)
    cut = 0
    for i in range(arrays.n_nests):
        nest = decode_nest(layout, arrays, i)
        dense = count_actions(problem, h, nest)
        v = sparse_view(problem, h, nest, dense, GATE_MACS, models, table)
        assert (energy[i], cycles[i]) == (v.energy_pj, v.bound_cycles), i
        with pytest.MonkeyPatch.context() as mp:          # every update box as the interior one
            mp.setattr(model, "box_classes", lambda *a: (((), (), 1, True),))
            mp.setattr(model, "_UPDATE_MEMO", {})            # update_q's values as computed meanwhile
            cut += sparse_view(problem, h, nest, dense, GATE_MACS, models, table).energy_pj != v.energy_pj
    return arrays.n_nests, cut


def test_update_boxes_cut_by_an_edge_score_as_the_slow_path():
    """Reduced output updates whose boxes are cut by a dim's edge (ceil tiling) or lie over padding
    (``sparse.model.update_q``'s classes; ``_edge_update_scores``): the scorer, keying an update box by its
    extents and the placed dims' runs (``sparse.model.placed_dims``: P, Q, R, S here), equals the slow view
    bit for bit on every nest, and the classes move the slow energy on many of them (they are exercised).
    With the key missing the runs (the window counts alone) the scorer differs: the test's break."""
    n, cut = _edge_update_scores()
    print(f"{cut} of {n} nests with an update box cut by an edge")
    assert cut >= n // 10
    with pytest.raises(AssertionError):
        _edge_update_scores(batch_runs=())


def test_update_boxes_on_a_plain_lattice_cut_by_an_edge_score_as_the_slow_path():
    """An update box serving a plain dim (C, K: not ``sparse.model.placed_dims``) as a lattice cut by a ceil
    edge: its accesses' counts are not the run's (``sparse.model.plain_positions``). The scorer's key
    carries the placed dims' runs only, so ``_plain_cuts`` lists such boxes (22 of the 120 searched nests
    of ``_edge_update_scores``) and their rows read an extra memo row holding ``update_q`` of the box with
    C's and K's runs (``_plain_exact``): bit-equal to the slow view on every nest, and the extra rows move
    the energy of some (they are exercised). Without them (``plain_cut`` emptied) the scorer differs from
    the slow view: the test's break."""
    import accelsim.mapper.sparse_batch as sbm
    from tests.test_sparse_exact_gating import GATE_MACS

    h = Hierarchy("cut", (Storage("dram", ROLES), Storage("buffer", ROLES, fanout=Fanout(3, 2, "bus")),
                          Storage("reg", ("ifmap", "weight"))))
    problem = from_layer(conv("c", C=3, K=5, H=7, R=3, pad=1))
    models = {"ifmap": Uniform(0.4), "weight": Uniform(0.5)}
    layout, arrays = _search_nests(problem, h, 120)
    sb = NestSparseBatch(layout, GATE_MACS, models, table_for(h))
    assert [problem.dim_names[d] for d in sb.plain_cut] == ["K", "C"]
    real, seen = sbm._plain_cuts, []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sbm, "_plain_cuts", lambda *a: seen.append(real(*a)) or seen[-1])
        energy, _ = sb.score(count_nests(layout, arrays), arrays)
    marked = np.zeros(arrays.n_nests, dtype=np.bool_)
    marked[np.concatenate([hit[:, 0] for hit in seen])] = True
    again = NestSparseBatch(layout, GATE_MACS, models, table_for(h))
    again.plain_cut = np.zeros(0, dtype=np.int64)
    moved = energy != again.score(count_nests(layout, arrays), arrays)[0]
    print(f"{marked.sum()} of {len(marked)} nests marked, {moved.sum()} moved")
    assert marked.sum() >= 10 and moved.sum() >= 3 and not (moved & ~marked).any()
    _edge_update_scores()
    with pytest.raises(AssertionError):
        _edge_update_scores(plain=False)


def test_an_update_box_served_as_a_lattice_scores_as_the_slow_path():
    """An output update reducing a box whose window dim is a lattice (``tests.test_sparse_exact_gating.
    lattice_update``: P {0, 3} under the GLB's fanout, the RF's temporal P between): the memo keys the
    update box by its runs (``_gap_dims``' reduced-update dims), so the scorer's energy and bound equal the
    slow view's, whose pair enumeration walks the lattice (with the window count alone the scorer walked
    the run {0, 1}: 14777.13 pJ against the slow 14807.02)."""
    from tests.test_sparse_exact_gating import GATE_MACS, lattice_update

    problem, h, nest = lattice_update()
    models = {"ifmap": Uniform(0.25), "weight": Uniform(0.5)}
    layout = NestLayout(problem, h)
    arrays = encode_nests(layout, [nest])
    table = table_for(h)
    energy, cycles = NestSparseBatch(layout, GATE_MACS, models, table).score(count_nests(layout, arrays), arrays)
    v = sparse_view(problem, h, nest, count_actions(problem, h, nest), GATE_MACS, models, table)
    assert energy[0] == v.energy_pj and cycles[0] == v.bound_cycles
    import accelsim.sparse.model as model

    served = model.served_extents
    with pytest.MonkeyPatch.context() as mp:         # the lattice moves the slow energy (it is exercised)
        mp.setattr(model, "served_extents", lambda *a: replace(served(*a), points=None))
        assert sparse_view(problem, h, nest, count_actions(problem, h, nest), GATE_MACS, models,
                           table).energy_pj != v.energy_pj


def test_windows_served_as_a_lattice_score_as_the_slow_path():
    """A window dim (P, Q, R, S of the ifmap's rows and columns) whose served loops are interleaved with an
    unserved loop of the same dim (an RF fill kept over a buffer's P above a fanout's P: ``sparse.model.
    served_extents``' exact window counts, carried in the memo's served-tile key): on simba_like's search
    space with every storage level's ifmap / weight reads gated on the other operand, every such nest
    scores as the slow path bit for bit, and the exact count moves the slow path's energy on some of
    them (the contiguous run is not what is scored)."""
    import accelsim.sparse.model as model

    h = load_architecture("hierarchy/simba_like")
    gates = [{"level": lv.name, "tensor": r, "on_zero": ["ifmap" if r == "weight" else "weight"]}
             for i, lv in enumerate(h.levels[:-1]) for r in ("weight", "ifmap") if i and lv.keeps_role(r)]
    spec = spec_from_dict({"name": "g", "gate": gates + [{"level": h.compute.name, "on_zero": ["ifmap", "weight"]}]},
                          "g.yaml")
    served = model.served_extents

    def lattice(problem, flat, pl, n) -> bool:
        return any(served(problem, flat, n if st.child is None else st.child, lo, st.role or "psum", n).windows
                   for st in pl.steps for lo, _ in st.groups())
    # the counterfactual: the same model with every served set a contiguous run
    checked, moved = _equal_and_moved(h, spec, UNIFORM, 160, lattice, (
        "served_extents", lambda *a: replace(served(*a), windows=None, runs=None, slide=None)))
    assert checked >= 10 and moved >= 5, (checked, moved)


def test_accesses_at_a_dims_edge_score_as_the_slow_path():
    """Edges (``sparse.model.edge_classes``): on the clustered v2's search space over a padded conv (P 14,
    pad 1), the spad's weight reads into the register serve unions whose size depends on the access's
    position (ceil tiling of P and Q, windows over padding): 225 of the 400 nests, 2 of them with P or Q
    served as more than one run (a temporal loop kept over outside an unserved fanout: the memo key's
    runs code). Every such nest scores as the slow path bit for bit, and taking each access at the
    interior union instead (one class) moves the slow path's energy on most of them (218)."""
    import accelsim.sparse.model as model
    from accelsim.cost.nest_arrays import decode_nest

    h = load_architecture("hierarchy/eyeriss_v2")
    spec = load_spec("eyeriss_v2_clustered")
    problem = from_layer(LAYER)
    n = len(h.levels)
    layout, arrays = _search_nests(problem, h)
    table = table_for(h)
    energy, _ = NestSparseBatch(layout, spec, UNIFORM, table).score(count_nests(layout, arrays), arrays)
    edged = gapped = moved = 0
    for i in range(arrays.n_nests):
        nest = decode_nest(layout, arrays, i)
        flat = model.flatten(problem, nest)
        served = [model.served_extents(problem, flat, st.child, lo, st.role, n) for st in model.plan(nest, spec).steps
                  if st.child is not None and st.child < n for lo, _ in st.groups()]
        if not any(len(model.edge_classes(problem, s, "weight", ("ifmap",))) > 1 for s in served):
            continue
        v = sparse_view(problem, h, nest, count_actions(problem, h, nest), spec, UNIFORM, table)
        assert energy[i] == v.energy_pj
        edged += 1
        gapped += any(s.runs for s in served)
        with pytest.MonkeyPatch.context() as mp:       # every access at the interior union: one class
            mp.setattr(model, "edge_classes", lambda p, s, r, c: ((tuple(
                math.prod(model.role_extents(p, s.ext, x, s.windows)) for x in c), 1),))
            moved += sparse_view(problem, h, nest, count_actions(problem, h, nest), spec, UNIFORM,
                                 table).energy_pj != v.energy_pj
    print(f"{edged} nests with edges, {gapped} with a dim of several runs, {moved} moved")
    assert edged >= 100 and gapped >= 1 and moved >= edged // 2, (edged, gapped, moved)


@pytest.mark.parametrize("hier", ["simba_like", "eyeriss_v2"])
def test_sliding_refills_score_as_the_slow_path(hier):
    """Sliding refills (``sparse.model.slide_loop``: a refill of the ifmap's window moves only the rows its
    previous tile did not hold, so each access position weighs its new words): every storage level's ifmap
    reads gated on an empty ifmap tile, over the search space of a padded conv; every nest whose refill
    slides scores as the slow path bit for bit (the memo's served-tile key carries the sliding loop; the
    generic and the generated look-up pass alike), and weighing each access by its whole tile instead moves the slow path's energy
    on most of them (simba_like: 134 of the 183 such nests among 200; eyeriss_v2: 99 of 171)."""
    import accelsim.sparse.model as model

    h = load_architecture(f"hierarchy/{hier}")
    spec = spec_from_dict({"name": "s", "gate": [{"level": lv.name, "tensor": "ifmap", "on_zero": ["ifmap"]}
                                                 for lv in h.levels[:-1] if lv.keeps_role("ifmap")]}, "s.yaml")

    def sliding(problem, flat, pl, n) -> bool:
        return any(st.child is not None and model.slide_loop(problem, flat, st.child, st.role, n) for st in pl.steps)
    # the counterfactual: every access weighed by its whole tile
    models = UNIFORM | {"ifmap": Uniform(0.05)}
    checked, moved = _equal_and_moved(h, spec, models, 200, sliding, ("slide_loop", lambda *a: None))
    layout, arrays = _search_nests(from_layer(LAYER), h, 200)     # the generated look-up pass: the same floats
    rows = count_nests(layout, arrays)
    scores = []
    for generated in (False, True):
        sb = NestSparseBatch(layout, spec, models, table_for(h))
        sb.memo.generated = generated
        scores.append(sb.score(rows, arrays))
    assert all(np.array_equal(a, b) for a, b in zip(*scores))
    assert any(k[0] == "span" and k[7] for shape in sb.memo.structures.values() if shape for k in shape[3])
    assert checked >= 50 and moved >= checked // 2, (checked, moved)


def test_two_features_on_one_tensor_score_as_the_slow_path():
    """Two features on each storage level's ifmap (gate on an empty ifmap tile, then skip on an empty psum
    tile): the second's fraction is the union's less the first's per class of access positions
    (``sparse.model.group_q``, keyed in the memo by both features' conditions): every nest of the
    eyeriss_v2 level list's search space (120) scores as the slow path, bit for bit, and the slow path
    moves from the independent product on 38 of them."""
    import accelsim.sparse.model as model

    h = load_architecture("hierarchy/eyeriss_v2")
    spec = spec_from_dict({"name": "two",
                           "gate": [{"level": lv.name, "tensor": "ifmap", "on_zero": ["ifmap"]}
                                    for lv in h.levels[1:-1] if lv.keeps_role("ifmap")],
                           "skip": [{"level": lv.name, "tensor": "ifmap", "on_zero": ["psum"]}
                                    for lv in h.levels[1:-1] if lv.keeps_role("ifmap")]}, "two.yaml")
    # the counterfactual: each feature its own fraction of what is left
    checked, moved = _equal_and_moved(h, spec, UNIFORM | {"ifmap": Uniform(0.05), "psum": Uniform(0.05)}, 120,
                                      lambda *a: True, ("group_q", lambda ons, st, *a: model.step_q(st, *a)))
    assert checked == 120 and moved >= checked // 4, (checked, moved)


def test_a_condition_without_a_density_leaves_a_storage_feature_to_the_batch():
    """A storage gate on two conditions, one without a density (dense: never empty inside the tensor), has
    one condition that varies: the batch scores it (no fall-back to the slow path's re-rank; it fell back
    before), bit for bit as the slow path, and the gate saves energy."""
    from accelsim.cost.nest_arrays import decode_nest

    h = from_arch(load_arch("eyeriss_v1"))
    problem = from_layer(LAYER)
    layout, arrays = _search_nests(problem, h, 120)
    table = table_for(h)
    models = {"ifmap": Uniform(0.4)}
    two = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": "weight", "on_zero": ["ifmap", "psum"]}]},
                         "t.yaml")
    sb = NestSparseBatch(layout, two, models, table)
    assert sb.reason is None
    energy, cycles = sb.score(count_nests(layout, arrays), arrays)
    saved = 0
    for i in range(0, arrays.n_nests, 10):
        nest = decode_nest(layout, arrays, i)
        v = sparse_view(problem, h, nest, count_actions(problem, h, nest), two, models, table)
        assert (energy[i], cycles[i]) == (v.energy_pj, v.bound_cycles)
        saved += v.energy_pj < v.dense_energy_pj
    assert saved > 0                                    # the gate saves energy on some of them


def test_a_dense_condition_over_padding_still_counts_as_a_condition_that_can_be_empty():
    """Review rev23: a gate on [psum, ifmap] with the ifmap at density 1 whose coordinates run past its
    size (P + R over a 1-element axis: R = 1 reads padding) is a gate on two conditions that can be empty
    (``sparse.model.never_empty`` is False): the batch declines it (the slow path's two-condition box is
    not in its served-tile key), where it scored 921.45 pJ against the slow path's 920.45."""
    from accelsim.problem import Coord, Problem, Tensor

    x = Tensor("x", "ifmap", (Coord((("M", 1),), 0, 1), Coord((("P", 1), ("R", 1)), 0, 1)))
    w = Tensor("w", "weight", (Coord((("R", 1),), 0, 2), Coord((("K", 2),), 0, 1)))
    z = Tensor("z", "psum", (Coord((("M", 1),), 0, 1), Coord((("P", 1),), 0, 1), Coord((("K", 1),), 0, 1)))
    p = Problem("strided", (("M", 1), ("P", 1), ("R", 2), ("K", 1)), (x, w, z))
    f = Fanout(1, 1, "bus")
    h = Hierarchy("r", (Storage("L0", ROLES), Storage("L1", ("weight",), fanout=f), Storage("L2", (), fanout=f),
                        Storage("L3", ("weight",))))
    spec = spec_from_dict({"name": "r", "formats": {"L0": {"ifmap": "bitmask", "weight": "bitmask", "psum": "bitmask"},
                                                    "L1": {"weight": "bitmask"}},
                           "gate": [{"level": "L0", "tensor": "weight", "on_zero": ["psum", "ifmap"]}]}, "r.yaml")
    models = {"ifmap": Uniform(1.0), "weight": Uniform(0.05), "psum": Uniform(0.55)}
    sb = NestSparseBatch(NestLayout(p, h), spec, models, table_for(h))
    assert sb.reason is not None and "two conditions that can be empty" in sb.reason
    dense_x = spec_from_dict({"name": "r", "gate": [{"level": "L0", "tensor": "weight", "on_zero": ["psum", "ifmap"]}]},
                             "r.yaml")
    q = Problem("inside", (("M", 1), ("P", 1), ("R", 1), ("K", 1)),
                (Tensor("x", "ifmap", (Coord((("M", 1),), 0, 1), Coord((("P", 1), ("R", 1)), 0, 1))),
                 Tensor("w", "weight", (Coord((("R", 1),), 0, 1), Coord((("K", 2),), 0, 1))), z))
    assert NestSparseBatch(NestLayout(q, h), dense_x, models, table_for(h)).reason is None   # no padding: one condition


def test_the_sliding_loop_code_ranks_every_loop_a_window_dim_can_have():
    """The memo key's sliding-loop digit (``RowMemo`` ``slides``): every (dim, span, factor) a loop of a window
    dim can have without over-tiling it (span below the size, 2 <= factor <= ceil(size / span)) gets its own
    code in 1 .. radix - 1, every code is one of them, and ``slide_of`` decodes it exactly (dims 7, 13, 3
    and 224 in two window axes: 1,294 loops)."""
    from accelsim.mapper.sparse_memo import RowMemo

    sizes = np.array([4, 7, 13, 14, 3, 1, 224])
    memo = RowMemo(sizes, 3, nest=True, units=4, windows=np.array([[1, 1, 4, 1], [3, 2, 6, 1]]), slides=True)
    codes = {}
    for d in (1, 3, 4, 6):
        size = int(sizes[d])
        for span in range(1, size):
            for f in range(2, -(-size // span) + 1):
                codes[int(memo.slide_off[d] + memo.slide_pre[d, span] + f - 2)] = (d, span, f)
    assert sorted(codes) == list(range(1, memo.slide_radix)) and len(codes) == 1294
    assert all(memo.slide_of(c) == loop for c, loop in codes.items())
    assert memo.slide_of(0) is None
