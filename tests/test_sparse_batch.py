"""The mapper searching with sparsity (issue 16, item 7): the batch scorer equals the slow sparse model
bit for bit, capacity is checked by compressed size (so mappings that fit only compressed are
proposed), and the best sparse mapping differs from the best dense one where sparsity changes the
trade-off."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from accelsim.arch import arch_from_dict, load_arch, resolve_arch_path
from accelsim.cost.bound import latency_bound
from accelsim.cost.encode import decode, encode_layer
from accelsim.cost.fast import count_batch
from accelsim.hierarchy import from_arch
from accelsim.legality import problems_of
from accelsim.loopnest import from_fixed
from accelsim.mapper.batch import BatchSpace
from accelsim.mapper.search import SearchSpec, search_batch
from accelsim.mapper.sparse_batch import SparseBatch
from accelsim.mapper.sparse_rank import sparse_score
from accelsim.problem import from_layer
from accelsim.sparse.density import Structured, Uniform
from accelsim.sparse.layer import bandwidth_counts, sparse_layer
from accelsim.sparse.model import capacity_problems, compressed_tiles
from accelsim.sparse.spec import load_spec, spec_from_dict
from accelsim.yamlio import load_yaml
from dataflows import registry
from workloads.layer import conv

LAYER = conv("c", C=16, K=32, H=14, R=3, pad=1, N=2)
UNIFORM = {"ifmap": Uniform(0.4), "weight": Uniform(0.35), "psum": Uniform(0.6)}
# gate the MACs on a zero ifmap, then skip those left on a zero weight (the second keeps the MACs with
# both nonzero: 1 - (0.4 * 0.35) / 0.4 of the still-effective ones); gate GLB weight reads on an empty
# RF ifmap tile (a per-mapping hypergeometric factor); a bitmask on the GLB's ifmaps
STACKED = {"name": "stacked", "formats": {"glb": {"ifmap": "bitmask"}},
           "gate": [{"level": "mac", "on_zero": ["ifmap"]}, {"level": "glb", "tensor": "weight", "on_zero": ["ifmap"]}],
           "skip": [{"level": "mac", "on_zero": ["weight"]}]}


@cache
def _batch(arch_name: str, n: int = 240):
    arch = load_arch(arch_name)
    flow = registry.get(arch.dataflow)
    lay = encode_layer(LAYER)
    space = BatchSpace(LAYER, arch, flow, lay)
    rng = np.random.default_rng(1)
    cand, _ = space.legal(rng, space.propose(rng, n))
    return arch, space, cand, count_batch(LAYER, cand)


def _keeps(space):
    return tuple(tuple(bool(x) for x in k) for k in space.keep)


def _equal_and_moved(monkeypatch, spec, models, select, patch, every: int = 1) -> tuple[int, int]:
    """The batch scorer on every ``every``-th mapping of the eyeriss_v1 batch that ``select(problem, flat,
    plan, levels)`` picks: its energy and latency bound equal the slow model's bit for bit (asserted); and
    how many of them the slow model's energy moves on with ``patch`` = (name, replacement) set in
    ``accelsim.sparse.model`` (the term under test exercised): (checked, moved)."""
    import accelsim.sparse.model as model

    arch, space, cand, counts = _batch("eyeriss_v1")
    energy, cycles = SparseBatch(LAYER, arch, _keeps(space), spec, models).score(counts, cand.factors, cand.orders)
    h = from_arch(arch)
    problem = from_layer(LAYER)
    checked = moved = 0
    for i in range(0, len(cand.factors), every):
        m = decode(cand, i)
        nest = from_fixed(m, h)
        if not select(problem, model.flatten(problem, nest), model.plan(nest, spec), len(h.levels)):
            continue
        sl = sparse_layer(LAYER, arch, m, spec, models)
        assert energy[i] == sl.energy_pj
        assert cycles[i] == latency_bound(bandwidth_counts(sl), arch)
        with monkeypatch.context() as mp:
            mp.setattr(model, *patch)
            moved += sparse_layer(LAYER, arch, m, spec, models).energy_pj != sl.energy_pj
        checked += 1
    print(f"{moved} of {checked}")
    return checked, moved


@pytest.mark.parametrize("arch_name,preset,models", [
    ("eyeriss_v1", "eyeriss_v1", UNIFORM),                      # RLE at DRAM, gating
    ("eyeriss_v1", "eyeriss_v2", UNIFORM),                      # CSC in the RF, skipping, load imbalance
    ("eyeriss_v1", "stc_2_4", {"weight": Structured(2, 4)}),    # 2:4 weights, balanced skipping
    ("eyeriss_v2_flat", "eyeriss_v1", UNIFORM),
    ("eyeriss_v2_flat", "eyeriss_v2", UNIFORM),
    ("eyeriss_v1", STACKED, UNIFORM),       # MAC features accumulating conditions; a GLB step on RF tiles
    ("eyeriss_like_65nm", "eyeriss_v1", UNIFORM),   # 8-bit words: metadata bits in the arch's words on both paths
])
@pytest.mark.usefixtures("binomial_lockstep")
def test_batch_scores_equal_the_slow_sparse_model_bit_for_bit(arch_name, preset, models):
    arch, space, cand, counts = _batch(arch_name)
    spec = load_spec(preset) if isinstance(preset, str) else spec_from_dict(preset, "stacked.yaml")
    sb = SparseBatch(LAYER, arch, _keeps(space), spec, models)
    assert sb.reason is None
    energy, cycles = sb.score(counts, cand.factors, cand.orders)
    for i in range(0, len(cand.factors), 12):
        m = decode(cand, i)
        sl = sparse_layer(LAYER, arch, m, spec, models)
        assert energy[i] == sl.energy_pj
        assert cycles[i] == latency_bound(bandwidth_counts(sl), arch)
        assert sl.energy_pj < sl.dense_energy_pj          # sparsity saved something on every preset


@pytest.mark.parametrize("capacity", ["expected", "worst"])
def test_compressed_capacity_equals_the_slow_check_on_every_row(capacity):
    """RF ifmap tiles in a bitmask at density 0.25: 0.25 + 1/16 words per dense word expected (fit 3x
    the dense tile), 1 + 1/16 worst (fit less): each row's verdict equals capacity_problems'."""
    arch, space, cand, counts = _batch("eyeriss_v1", 600)
    spec = spec_from_dict({"name": "b", "capacity": capacity, "formats": {"rf": {"ifmap": "bitmask"}}}, "b.yaml")
    models = {"ifmap": Uniform(0.25)}
    sb = SparseBatch(LAYER, arch, _keeps(space), spec, models)
    fits = sb.rf_fits(cand.factors, space.lay) & ~sb.glb_over(cand.factors, space.lay).any(axis=1)
    h, problem = from_arch(arch), from_layer(LAYER)
    slow = np.array([not capacity_problems(problem, h, from_fixed(decode(cand, i), h), spec, models)
                     for i in range(len(cand.factors))])
    assert (fits == slow).all()
    if capacity == "worst":
        assert not fits.all()           # 17/16 of a full RF tile overflows where the dense tile just fit


def test_a_metadata_store_in_the_batch_equals_the_slow_check_on_every_row():
    """RF ifmaps as 16-bit coordinates + payload at density 0.25 (0.25 data and 0.25 metadata words per
    dense word), the metadata in its own 1-word store: a row fits iff its RF ifmap tile has at most 4
    dense words, where sharing the 12-word RF (0.5 per dense word) fits every tile the dense space
    proposes (at most 12 words). Each row's verdict equals capacity_problems'."""
    arch, space, cand, counts = _batch("eyeriss_v1", 600)
    doc = {"name": "b", "formats": {"rf": {"ifmap": {"ranks": [{"CP": 16}]}}}}
    models = {"ifmap": Uniform(0.25)}
    h, problem = from_arch(arch), from_layer(LAYER)
    verdicts = {}
    for name, spec in (("store", spec_from_dict({**doc, "metadata_capacity": {"rf": {"ifmap": 1}}}, "b.yaml")),
                       ("shared", spec_from_dict(doc, "b.yaml"))):
        sb = SparseBatch(LAYER, arch, _keeps(space), spec, models)
        fits = sb.rf_fits(cand.factors, space.lay) & ~sb.glb_over(cand.factors, space.lay).any(axis=1)
        slow = np.array([not capacity_problems(problem, h, from_fixed(decode(cand, i), h), spec, models)
                         for i in range(len(cand.factors))])
        assert (fits == slow).all()
        verdicts[name] = fits
    dense = np.array([compressed_tiles(problem, h, from_fixed(decode(cand, i), h), spec_from_dict({"name": "u"}, "u.yaml"),
                                       {}).get(("rf", "ifmap"), 0.0) for i in range(len(cand.factors))])
    assert verdicts["shared"].all() and (verdicts["store"] == (dense <= 4)).all()
    assert 0 < verdicts["store"].sum() < len(dense)


def _small_rf_arch():
    """Eyeriss v1 with a 4-word ifmap scratchpad: dense, a 3x3 filter row needs 3 ifmap words per PE
    and 1-row strips; a bitmask at density 1/4 holds 12 words' worth (4 / (1/4 + 1/16) = 12.8)."""
    doc = load_yaml(resolve_arch_path("eyeriss_v1"))
    doc["rf"]["ifmap_words"] = 4
    return arch_from_dict(doc, "small_rf.yaml")


def test_best_sparse_mapping_differs_from_dense_and_fits_only_compressed():
    arch = _small_rf_arch()
    layer = conv("c", C=8, K=16, H=12, R=3, pad=1)
    flow = registry.get("rs")
    spec_ = SearchSpec("energy", 1500, 0)
    sparse = spec_from_dict({"name": "b", "formats": {"rf": {"ifmap": "bitmask"}},
                             "gate": [{"level": "rf", "tensor": "weight", "on_zero": ["ifmap"]}]}, "b.yaml")
    models = {"ifmap": Uniform(0.25)}
    dense = search_batch(layer, arch, flow, spec_)
    sp = search_batch(layer, arch, flow, spec_, sparse=(sparse, models))
    assert sp.mapping != dense.mapping
    # independently: the slow sparse model prefers the sparse search's mapping ...
    e_sparse, _ = sparse_score(layer, arch, sp.mapping, "energy", sparse, models)
    e_dense, _ = sparse_score(layer, arch, dense.mapping, "energy", sparse, models)
    assert e_sparse < e_dense
    assert sp.score.objective == e_sparse
    # ... which holds more ifmap words per PE than the dense RF can: it fits only compressed
    assert problems_of(layer, sp.mapping, arch)
    h = from_arch(arch)
    assert not capacity_problems(from_layer(layer), h, from_fixed(sp.mapping, h), sparse, models)


@pytest.mark.usefixtures("binomial_lockstep")
def test_batch_scores_with_temporal_reuse_equal_the_slow_model_bit_for_bit(monkeypatch):
    """The mappings whose gated accesses serve several blocks over time (the RF's weight read into the
    operand register kept over the RF's inner loops of dims the weight ignores, ``sparse.model.reuse_loops``;
    the GLB's weight read into an RF tile kept over GLB loops of P / Q / N): every one of the first 25
    among the batch's random loop orders scores as the slow model, bit for bit, and the reuse changes
    the slow model's energy on some of them (the term is exercised, not idle)."""
    import accelsim.sparse.model as model

    arch, space, cand, counts = _batch("eyeriss_v1")
    spec = spec_from_dict(STACKED | {"gate": STACKED["gate"] + [{"level": "rf", "tensor": "weight",
                                                                   "on_zero": ["ifmap"]}]}, "reuse.yaml")
    sb = SparseBatch(LAYER, arch, _keeps(space), spec, UNIFORM)
    energy, cycles = sb.score(counts, cand.factors, cand.orders)
    h = from_arch(arch)
    problem = from_layer(LAYER)
    n = len(h.levels)
    checked = moved = 0
    for i in range(len(cand.factors)):
        m = decode(cand, i)
        nest = from_fixed(m, h)
        flat = model.flatten(problem, nest)
        if not any(st.child is not None and model.reuse_loops(problem, flat, st.child, st.role, n)
                   for st in model.plan(nest, spec).steps):
            continue
        sl = sparse_layer(LAYER, arch, m, spec, UNIFORM)
        assert energy[i] == sl.energy_pj
        assert cycles[i] == latency_bound(bandwidth_counts(sl), arch)
        with monkeypatch.context() as mp:          # the same model without the reuse loops
            mp.setattr(model, "reuse_loops", lambda *a: [])
            moved += sparse_layer(LAYER, arch, m, spec, UNIFORM).energy_pj != sl.energy_pj
        checked += 1
        if checked == 25:
            break
    print(f"{moved} of {checked}")
    assert checked == 25 and moved >= 5, (checked, moved)


@pytest.mark.usefixtures("binomial_lockstep")
def test_batch_scores_with_windows_served_as_a_lattice_equal_the_slow_model_bit_for_bit(monkeypatch):
    """RS mappings whose GLB weight read into an RF tile is kept over the GLB's P above the array's P (the
    RF fill serves p = p_rf + stride x p_glb, the array's p between: ``sparse.model.served_extents``' exact
    window count, carried in the memo's served-tile key): every such mapping of the batch (73 of 239)
    scores as the slow model, bit for bit (ifmap density 0.02, so that a union's emptiness is not
    negligible). Taken as a contiguous run instead (``windows`` and ``runs`` dropped), the slow model's
    energy moves on most of them (53 of 73): RS keeps one filter row per PE, so a lattice's p's touch
    disjoint single rows either way and the interior count differs on two only (7 of p's 14 against 12,
    and 3 against 4), but the accesses' positions differ, so they meet the dim's edge (and padding)
    differently (``sparse.model.edge_classes``)."""
    models = UNIFORM | {"ifmap": Uniform(0.02)}
    from dataclasses import replace

    import accelsim.sparse.model as model

    served = model.served_extents

    def lattice(problem, flat, pl, n) -> bool:
        return any(st.child is not None and served(problem, flat, st.child, lo, st.role, n).windows
                   for st in pl.steps for lo, _ in st.groups())
    # the counterfactual: the same model with every served set a contiguous run
    checked, moved = _equal_and_moved(monkeypatch, spec_from_dict(STACKED, "stacked.yaml"), models, lattice,
                                      ("served_extents", lambda *a: replace(served(*a), windows=None, runs=None)))
    assert checked >= 50 and moved >= checked // 2, (checked, moved)


@pytest.mark.parametrize("preset", ["eyeriss_v2", "reuse", "slide"])
def test_the_generated_look_up_pass_equals_the_generic_one_on_fixed_shape_rows(preset):
    """The memo look-up pass generated per memo structure (mapper.memo_kernel) on the fixed shape's
    mappings (RF tiles, the lockstep run over the mapping levels, served tiles spanning the array's
    ROWS/COLS with the reuse walk over the DRAM / GLB / RF orders) finds or adds the same keys in the
    same order as the generic pass: the same scores bit for bit and the same memo, batch after batch;
    with it, the row kernel generated per bound structure (mapper.score_kernel: the count columns
    gathered, the network's psum-up stream with its third key), the same floats. ``slide``: a GLB gate on the
    ifmap itself, whose served-tile keys carry the loop a refill slides along (``sparse.model.slide_loop``)."""
    from accelsim.mapper import score_kernel

    arch, space, cand, counts = _batch("eyeriss_v1")
    more = {"reuse": [{"level": "rf", "tensor": "weight", "on_zero": ["ifmap"]}],
            "slide": [{"level": "glb", "tensor": "ifmap", "on_zero": ["ifmap"]}]}
    base = STACKED if preset != "slide" else {k: v for k, v in STACKED.items() if k != "formats"}   # ifmap dense
    spec = load_spec(preset) if preset not in more else spec_from_dict(
        base | {"gate": STACKED["gate"] + more[preset]}, f"{preset}.yaml")
    out = []
    for generated in (False, True):
        sb = SparseBatch(LAYER, arch, _keeps(space), spec, UNIFORM)
        sb.memo.generated = generated
        sb.gen["generated"] = generated
        half = len(cand.factors) // 2
        scores = [sb.score(counts[s], cand.factors[s], cand.orders[s]) for s in (slice(0, half), slice(half, None))]
        assert (score_kernel.loaded_kernel(sb.gen["shape"]) is not None) if generated else "shape" not in sb.gen
        assert sb.gen.get("shape", (0, 0, -1))[2] == -1 and any(k[2] >= 0 for f in sb.net_keys for k in f)
        kinds = {k for shape in sb.memo.structures.values() if shape is not None for k in shape[3]}
        out.append((scores, sb.memo.entries, sb.memo.vals, kinds))
    (generic, e0, v0, k0), (gen, e1, v1, k1) = out
    assert k0 == set() and {k[0] for k in k1} >= ({"tile", "lockstep", "span"} if preset == "eyeriss_v2" else {"span"})
    assert any(k[0] == "span" and k[4] for k in k1)       # the reuse walk, generated too
    assert any(k[0] == "span" and k[7] for k in k1) == (preset == "slide")      # and the sliding loop's code
    assert all(shape[5] == 2 for shape in sb.memo.structures.values())     # and the window counts (P/R, Q/S)
    for (a, b), (c, d) in zip(generic, gen):
        assert np.array_equal(a, c) and np.array_equal(b, d)
    assert np.array_equal(e0, e1) and np.array_equal(v0, v1, equal_nan=True)


def test_batch_scores_of_sliding_refills_equal_the_slow_model_bit_for_bit(monkeypatch):
    """Gating the GLB's ifmap reads and the RF's ifmap fills (refills that slide along P or R: each moves
    only the rows its previous tile did not hold, ``sparse.model.slide_loop``) on an empty ifmap tile (over
    padding at the layer's edges): every mapping of the batch whose refill slides (143 of 239) scores as the
    slow model, bit for bit (the memo's served-tile key carries the sliding loop), and weighing each access
    by its whole tile instead of its new words moves the slow model's energy on most of them (139)."""
    import accelsim.sparse.model as model

    spec = spec_from_dict({"name": "slide", "gate": [{"level": "glb", "tensor": "ifmap", "on_zero": ["ifmap"]}]},
                          "slide.yaml")
    models = UNIFORM | {"ifmap": Uniform(0.05), "weight": Uniform(0.05)}

    def sliding(problem, flat, pl, n) -> bool:
        return any(st.child is not None and model.slide_loop(problem, flat, st.child, st.role, n) for st in pl.steps)
    # the counterfactual: every access weighed by its whole tile
    checked, moved = _equal_and_moved(monkeypatch, spec, models, sliding, ("slide_loop", lambda *a: None))
    assert checked >= 100 and moved >= checked // 2, (checked, moved)


def test_batch_scores_of_two_features_on_one_tensor_equal_the_slow_model_bit_for_bit(monkeypatch):
    """Two features on the GLB's ifmap (gate on an empty ifmap tile, then skip on an empty psum tile; each
    on one condition, so the batch scores them): the second's fraction is the one of the union of their
    conditions less the first's, per class of access positions (``sparse.model.group_q``), on both paths:
    every third mapping of the batch (80) scores as the slow model, bit for bit, and the slow model moves
    from the independent product on 32 of them (the positions correlate the two: padding, ceil edges,
    sliding refills)."""
    import accelsim.sparse.model as model

    spec = spec_from_dict({"name": "two", "gate": [{"level": "glb", "tensor": "ifmap", "on_zero": ["ifmap"]}],
                           "skip": [{"level": "glb", "tensor": "ifmap", "on_zero": ["psum"]}]}, "two.yaml")
    models = UNIFORM | {"ifmap": Uniform(0.05), "psum": Uniform(0.05)}
    # the counterfactual: each feature its own fraction of what is left
    checked, moved = _equal_and_moved(monkeypatch, spec, models, lambda *a: True,
                                      ("group_q", lambda ons, st, *a: model.step_q(st, *a)), every=3)
    assert checked >= 70 and moved >= checked // 4, (checked, moved)
