"""Exact gating / skipping of storage reads under actual masks (issue 16 item 6) against the interpreter.

The analytical side (``accelsim.sparse.model.analyze`` through ``accelsim.sparse.gating``) must equal,
action by action, the brute-force interpreter (``accelsim.interp_general.BruteForce``) walking every
point of the schedule with an event filter written here: a block (the points sharing every digit above
the child's cut) is ineffective when some condition role has no nonzero among the coordinates its
points touch; a refill event is ineffective when every block among its points is (docs/sparsity.md).
Random problems x hierarchies x nests x masks x formats, storage children (case b) and multicast reads
(case c) included; fixed-shape mappings converted to the general nest; a read that serves one MAC
(the closed form ``gating.per_mac_dead``); and hand-counted cases.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from math import comb

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelsim.cost.actions import assemble, count_actions
from accelsim.hierarchy import Fanout, Hierarchy, Storage
from accelsim.interp_general import BruteForce
from accelsim.loopnest import LevelMap, LoopNest, flatten
from accelsim.names import IFMAP, PSUM, ROLES, WEIGHT
from accelsim.problem import from_layer, gemm
from accelsim.sparse import model
from accelsim.sparse.density import Actual, Uniform
from accelsim.sparse.model import analyze
from accelsim.sparse.spec import spec_from_dict
from tests.test_sparse_exact import FORMATS, choose, draw_nest, rho
from workloads.layer import Layer, LayerKind, conv

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))


def _points(bf: BruteForce):
    loops = bf.flat.loops
    for tdig, pts in bf.active:
        for sdig, idx in pts:
            digits = [0] * len(loops)
            for i, v in zip(bf.temporal, tdig):
                digits[i] = v
            for i, v in zip(bf.spatial, sdig):
                digits[i] = v
            yield tuple(digits), idx


def truth(problem, hierarchy, nest, role, mask, fmt_of, level, child, groups, masks):
    """Per action key of the hop: ([payload, metadata bits] of every event, of the ineffective events),
    by the interpreter: every point visited, blocks and events formed by the schedule walk, their dense
    words times the interpreter's rho (tests/test_sparse_exact.py) of the level whose format the key is
    in (``fmt_of(level name)``: the role's format there; the child's for its fill and for the words sent
    down to it when it stores the role compressed)."""
    flat = flatten(problem, nest)
    n = len(nest.levels)
    hop_cut = flat.cut_of(child, role)
    block_cut = flat.cut(child)
    col = {d: k for k, d in enumerate(problem.dim_names)}
    probe = BruteForce(problem, flat)
    alive = {c: set() for g in groups for c in g}
    for digits, idx in _points(probe):
        for c in alive:
            coords = [sum(k * idx[col[d]] for d, k in co.terms) + co.offset for co in problem.tensor(c).coords]
            if all(0 <= v < co.size for v, co in zip(coords, problem.tensor(c).coords)) and masks[c][tuple(coords)]:
                alive[c].add(digits[:block_cut])

    def dead(r, cut, points):
        if r != role or cut != hop_cut:
            return False
        blocks = {p[:block_cut] for p in points}
        return any(all(any(b not in alive[c] for c in g) for b in blocks) for g in groups)

    everything = assemble(problem, hierarchy, nest, BruteForce(problem, flat), flat)
    ineffective = assemble(problem, hierarchy, nest, BruteForce(problem, flat, None, dead), flat)
    names = [lm.level for lm in nest.levels]
    wb = hierarchy.word_bits

    def chosen(level_name):   # the level's format as chosen for the layer (adaptive)
        return choose(problem, role, mask, fmt_of(level_name), wb)

    def ratio(k):          # [payload, metadata bits] per dense word of the key's format
        if k[2] in ("down", "down_dest") and child < n and chosen(names[child]).compressed:
            lv = child
        else:
            lv = child if k[2] == "fill" else level
        f = chosen(names[lv])
        return rho(problem, nest, role, mask, f, wb, lv) if f.compressed else np.array([1.0, 0.0])
    if role == PSUM:      # a MAC feature: the output's read-modify-write feeding the compute
        keys = [(names[level], role, a) for a in ("read", "update")] + [
            (names[j], role, a) for j in range(level, child) for a in ("down", "down_dest", "up", "up_src")]
    else:
        keys = [(names[level], role, "read")] + [(names[j], role, a) for j in range(level, child)
                                                for a in ("down", "down_dest")]
    if child < n:
        keys.append((names[child], role, "fill"))
    out = {}
    for k in keys:
        tab = "storage" if k[2] in ("read", "fill", "update") else "network"
        if k in getattr(everything, tab):
            out[k] = (getattr(everything, tab)[k] * ratio(k), getattr(ineffective, tab).get(k, 0) * ratio(k))
    return out


def _check(problem, hierarchy, nest, role, level, child, conds_list, kind, fmts, r_model, cond_masks,
           meta_read=False):
    """analyze's words against the interpreter on every key of the hop (the child's fill measured in
    the child's format, the read and the hops in the level's)."""
    names = [lm.level for lm in nest.levels]
    n = len(names)
    formats = {names[level]: {role: fmts[0]}}
    if child < n:
        formats[names[child]] = {role: fmts[1]}
    doc = {"name": "t", "formats": formats, "skipped_metadata": "read" if meta_read else "skip",
           kind: [{"level": names[level], "tensor": role, "on_zero": list(on)} for on in conds_list]}
    spec = spec_from_dict(doc, "t")
    models = {c: Actual(m) for c, m in cond_masks.items()}
    if isinstance(r_model, np.ndarray):
        models[role] = Actual(r_model)
        rmask = r_model
    else:
        models[role] = r_model
        rmask = np.ones(tuple(c.size for c in problem.tensor(role).coords), dtype=bool)
    dense = count_actions(problem, hierarchy, nest)
    sa = analyze(problem, hierarchy, nest, dense, spec, models)
    wb = hierarchy.word_bits
    truths = truth(problem, hierarchy, nest, role, rmask, lambda lv: spec.format_on(lv, role, problem), level, child,
                   conds_list, dict(cond_masks))
    return _compare(sa, truths, kind, wb, meta_read)


def _compare(sa, truths, kind, wb, meta_read=False):
    """Each key's data / metadata / gated / skipped words against the interpreter's (all events, the
    ineffective ones): the ineffective words leave the data for the gated (metadata still read) or the
    skipped (with their metadata, unless ``skipped_metadata: read``)."""
    for k, (total, ineff) in truths.items():
        words, meta = total[0] - ineff[0], total[1] / wb
        tab = "storage" if k[2] in ("read", "fill", "update") else "network"
        got_d = getattr(sa.data, tab).get(k, 0.0)
        got_m = getattr(sa.metadata, tab).get(k, 0.0)
        assert got_d == pytest.approx(words, abs=1e-6), (k, got_d, words)
        if kind == "gate":
            assert getattr(sa.gated, tab).get(k, 0.0) == pytest.approx(ineff[0], abs=1e-6), k
            assert got_m == pytest.approx(meta, abs=1e-6), k
        elif meta_read:
            assert got_m == pytest.approx(meta, abs=1e-6), k
            assert getattr(sa.skipped, tab).get(k, 0.0) == pytest.approx(ineff[0], abs=1e-6), k
        else:
            assert got_m == pytest.approx(meta - ineff[1] / wb, abs=1e-6), k
            assert getattr(sa.skipped, tab).get(k, 0.0) == pytest.approx(ineff[0] + ineff[1] / wb, abs=1e-6), k
    return len(truths)


def _masks(data, problem, roles):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    out = {}
    for r in roles:
        shape = tuple(c.size for c in problem.tensor(r).coords)
        out[r] = rng.random(shape) < data.draw(st.sampled_from([0.0, 0.1, 0.3, 0.6, 1.0]))
    return out


def _draw_feature(data, problem, nest, role):
    n = len(nest.levels)
    chain = [i for i in range(n) if nest.keeps(i, role) or i == 0] + [n]
    pick = data.draw(st.integers(0, len(chain) - 2))
    level, child = chain[pick], chain[pick + 1]
    conds = data.draw(st.lists(st.lists(st.sampled_from(ROLES), min_size=1, max_size=2, unique=True).map(tuple),
                               min_size=1, max_size=2))
    kind = data.draw(st.sampled_from(["gate", "skip"]))
    return level, child, conds, kind


def _r_model(data, problem, role, masks):
    if data.draw(st.booleans()):
        return masks[role], [data.draw(st.sampled_from(FORMATS)), data.draw(st.sampled_from(FORMATS))]
    return Uniform(0.5), ["uncompressed", "uncompressed"]


def _gating_matches(data, problem, hierarchy, nest) -> bool:
    """A random storage gate / skip on actual masks (the gated tensor's own mask and format drawn too)
    counted by ``analyze`` equals the interpreter's event filter (:func:`_check`)."""
    role = data.draw(st.sampled_from([IFMAP, WEIGHT]))
    level, child, conds, kind = _draw_feature(data, problem, nest, role)
    masks = _masks(data, problem, ROLES)
    r_model, fmts = _r_model(data, problem, role, masks)
    cond_masks = {c: masks[c] for g in conds for c in g}
    if role in cond_masks and not isinstance(r_model, np.ndarray):
        cond_masks[role] = masks[role]
        r_model = masks[role]            # a condition on the tensor itself: its mask is the condition's
    return _check(problem, hierarchy, nest, role, level, child, conds, kind, fmts, r_model, cond_masks,
                  data.draw(st.booleans()))


@SETTINGS
@given(st.data())
def test_gating_on_actual_masks_equals_the_interpreter_on_any_hierarchy(data):
    assert _gating_matches(data, *draw_nest(data, fixed=False))


@SETTINGS
@given(st.data())
def test_gating_on_actual_masks_equals_the_interpreter_on_fixed_shape_mappings(data):
    """Fixed-shape mappings (DRAM, GLB over the PE array, RF, operand registers; per-pass GLB tiles),
    converted to the general nest as a fixed-shape run with actual masks counts them."""
    case = draw_nest(data, fixed=True)
    if case is not None:
        assert _gating_matches(data, *case)


@SETTINGS
@given(st.data())
def test_mac_features_output_read_modify_write_on_actual_masks_equals_the_interpreter(data):
    """Gating / skipping MACs on actual ifmap / weight masks also gates / skips the output's
    read-modify-write at the level feeding the compute, event by event: an update that reduces several
    MACs across a fanout is ineffective only when all of them are (random hierarchies and fixed-shape
    mappings; the output an actual mask in a random format, or uniform and uncompressed)."""
    case = draw_nest(data)
    if case is None:
        return
    problem, hierarchy, nest = case
    names = [lm.level for lm in nest.levels]
    n = len(names)
    par = [i for i in range(n) if nest.keeps(i, PSUM) or i == 0][-1]
    feats = data.draw(st.lists(st.lists(st.sampled_from([IFMAP, WEIGHT]), min_size=1, max_size=2, unique=True),
                               min_size=1, max_size=2))
    kind = data.draw(st.sampled_from(["gate", "skip"]))
    masks = _masks(data, problem, ROLES)
    models = {IFMAP: Actual(masks[IFMAP]), WEIGHT: Actual(masks[WEIGHT])}
    if data.draw(st.booleans()):
        fmt_doc, models[PSUM], pmask = data.draw(st.sampled_from(FORMATS)), Actual(masks[PSUM]), masks[PSUM]
    else:
        fmt_doc, models[PSUM] = "uncompressed", Uniform(0.5)
        pmask = np.ones(masks[PSUM].shape, dtype=bool)
    meta_read = data.draw(st.booleans())
    spec = spec_from_dict({"name": "t", "formats": {names[par]: {PSUM: fmt_doc}},
                           "skipped_metadata": "read" if meta_read else "skip",
                           kind: [{"level": "mac", "on_zero": on} for on in feats]}, "t")
    sa = analyze(problem, hierarchy, nest, count_actions(problem, hierarchy, nest), spec, models)
    union = tuple(sorted({c for on in feats for c in on}))
    truths = truth(problem, hierarchy, nest, PSUM, pmask, lambda lv: spec.format(lv, PSUM), par, n, [union], masks)
    assert _compare(sa, truths, kind, hierarchy.word_bits, meta_read)


# ---- hand-counted cases ------------------------------------------------------------------------------

def _gemm_multicast():
    """z[m, n] += a[m, k] * b[k, n] with M = 2, N = 2, K = 2: the GLB multicasts each b[k, n] to the two
    PEs of the M fanout, one MAC each (b is read once per (n, k), used by m = 0 and m = 1)."""
    p = gemm("g", 2, 2, 2)
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(2, 1, "bus"))))
    dims = dict(p.dims)
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                     LevelMap("glb", tuple((d, s) for d, s in dims.items() if d != "M"), p.dim_names, ROLES,
                              x=(("M", 2),))))
    return p, h, nest


def test_a_multicast_read_is_ineffective_only_when_every_destination_is():
    """b's GLB reads on a zero a: 4 reads (each (k, n) once, multicast to m = 0, 1), each ineffective only
    when a[0, k] and a[1, k] are both zero. With a = [[0, 0], [1, 0]] (k = 0: one destination nonzero;
    k = 1: none) exactly the 2 reads of k = 1 are gated; each PE's own delivery (down_dest, 8 words)
    is gated where its a is zero: 6 of them."""
    p, h, nest = _gemm_multicast()
    a_role, b_role = p.tensors[0].role, p.tensors[1].role
    a = np.array([[0, 0], [1, 0]], dtype=bool)
    spec = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": b_role, "on_zero": [a_role]}]}, "t")
    dense = count_actions(p, h, nest)
    assert dense.storage[("glb", b_role, "read")] == 4 and dense.network[("glb", b_role, "down_dest")] == 8
    sa = analyze(p, h, nest, dense, spec, {a_role: Actual(a)})
    assert sa.gated.storage[("glb", b_role, "read")] == 2
    assert sa.data.storage[("glb", b_role, "read")] == 2
    assert sa.gated.network[("glb", b_role, "down_dest")] == 6
    assert sa.gated.network[("glb", b_role, "down")] == 2


def test_a_read_into_a_storage_child_is_ineffective_when_its_blocks_are():
    """A 1-D case by hand: z[m, n] += a[m, k] * b[k, n], M = 2, N = 1, K = 4 with an RF under the GLB
    keeping b; the GLB's loop over k2 (2) sits above the RF, the RF's loops m (2) and k1 (2) below it, so
    each GLB read of b is one RF tile (k = 2*k2 + k1, 2 words) serving the block of a[:, 2*k2 : 2*k2+2].
    With a nonzero only at (1, 1): block k2 = 0 is effective, k2 = 1 is not: 2 of the 4 b words are
    skipped at the GLB read and at the RF fill."""
    p = gemm("g", 2, 1, 4)
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES), Storage("rf", ROLES)))
    order = ("K", "M", "N")
    nest = LoopNest((LevelMap("dram", (), order, ROLES),
                     LevelMap("glb", (("K", 2),), order, ROLES),
                     LevelMap("rf", (("K", 2), ("M", 2)), order, ROLES)))
    a_role, b_role = p.tensors[0].role, p.tensors[1].role
    a = np.zeros((2, 4), dtype=bool)
    a[1, 1] = True
    spec = spec_from_dict({"name": "t", "skip": [{"level": "glb", "tensor": b_role, "on_zero": [a_role]}]}, "t")
    dense = count_actions(p, h, nest)
    assert dense.storage[("glb", b_role, "read")] == 4 and dense.storage[("rf", b_role, "fill")] == 4
    sa = analyze(p, h, nest, dense, spec, {a_role: Actual(a)})
    for k in (("glb", b_role, "read"), ("rf", b_role, "fill")):
        assert sa.skipped.storage[k] == 2 and sa.data.storage[k] == 2


def test_a_psum_condition_is_read_from_its_mask():
    """A condition on the output: b's GLB reads (multicast case) on a zero z, z = [[0, 1], [0, 0]]
    (z[m, n]): read (k, n) serves m = 0, 1: n = 0 has z[0, 0] = z[1, 0] = 0, so its 2 reads (k = 0, 1)
    are gated; n = 1 has z[0, 1] = 1: kept."""
    p, h, nest = _gemm_multicast()
    b_role = p.tensors[1].role
    z = np.array([[0, 1], [0, 0]], dtype=bool)
    assert p.tensors[2].role == PSUM
    spec = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": b_role, "on_zero": [PSUM]}]}, "t")
    sa = analyze(p, h, nest, count_actions(p, h, nest), spec, {PSUM: Actual(z)})
    assert sa.gated.storage[("glb", b_role, "read")] == 2


# ---- the uniform model's expectation against the mean of the exact counts over random masks -------------

def _mean_case(multicast: bool, k: int = 4, d: float = 0.3):
    """z[m, n] += a[m, kk] * b[kk, n], M = k (4 without multicast), N = 4, K = 8; the GLB's b reads gated
    on a zero a. Multicast: the GLB feeds k PEs (the M fanout), one MAC each, so each b read serves k
    blocks (a[0..k-1, kk]). Storage child: the GLB loops over n, k2 above an RF whose tile is k1 (2) x m
    (4): each b read (2 words) is one RF refill serving one block (a[0..3, 2 k2 : 2 k2 + 2]). Returns the
    uniform model's gated reads, the mean and the standard error of the exact counts over 300 random
    masks of exactly round(d x size) nonzeros."""
    p = gemm("g", k if multicast else 4, 4, 8)
    if multicast:
        h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(k, 1, "bus"))))
        nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                         LevelMap("glb", (("N", 4), ("K", 8)), p.dim_names, ROLES, x=(("M", k),))))
    else:
        h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES), Storage("rf", ROLES)))
        nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                         LevelMap("glb", (("N", 4), ("K", 4)), ("N", "K", "M"), ROLES),
                         LevelMap("rf", (("K", 2), ("M", 4)), ("K", "M", "N"), ROLES)))
    spec = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": WEIGHT, "on_zero": [IFMAP]}]}, "t")
    return _mean_over_masks(p, h, nest, spec, ("glb", WEIGHT, "read"), {IFMAP: d})


def test_uniform_gating_of_reads_serving_one_block_agrees_with_the_mean_over_random_masks():
    """Each gated read serves one block (a storage child, no reuse, no multicast): the uniform model's
    expected gated reads, 32 x P(a's 4 x 2 tile empty), agree with the mean of the exact counts over
    300 random masks of exactly round(0.3 x 32) nonzeros within 4 standard errors."""
    expected, mean, se = _mean_case(multicast=False)
    assert expected == pytest.approx(32 * comb(32 - 10, 8) / comb(32, 8), rel=1e-12)
    assert abs(mean - expected) <= 4 * se, (expected, mean, se)


@pytest.mark.parametrize("k, d, size, nnz", [(4, 0.3, 32, 10), (2, 0.5, 16, 8)])
def test_uniform_gating_of_multicast_reads_agrees_with_the_mean_over_random_masks(k, d, size, nnz):
    """A b read multicast to k PEs is gated only when all k a's it serves are zero: for these k distinct
    elements of a (nnz of size nonzero) that is the emptiness of their union, a k-element tile:
    32 reads x C(size - nnz, k) / C(size, k) (k = 4, d = 0.3: 6.51, where the per-destination fraction
    gave 32 x 0.7 = 22.4; measured mean 6.29 +- 0.20; k = 2, d = 0.5: 7.47 against 16), within 4 standard
    errors of the mean over 300 random masks."""
    expected, mean, se = _mean_case(multicast=True, k=k, d=d)
    assert expected == pytest.approx(32 * comb(size - nnz, k) / comb(size, k), rel=1e-12)
    assert abs(mean - expected) <= 4 * se, (expected, mean, se)


def mean_over_masks(p, h, nest, spec, measure, densities: dict, n=300):
    """(``measure`` of the uniform model's result, and its mean and standard error over ``n`` draws of
    random masks through the exact actual-mask path, equal to the interpreter). Each role in
    ``densities`` gets exactly round(d x size) nonzeros at uniformly random places. ``measure`` maps a
    SparseActions to a number or a list of numbers."""
    dense = count_actions(p, h, nest)
    expected = np.array(measure(analyze(p, h, nest, dense, spec, {r: Uniform(d) for r, d in densities.items()})))
    rng = np.random.default_rng(1)
    samples = []
    for _ in range(n):
        models = {}
        for role, d in densities.items():
            size = p.elements(role)
            m = np.zeros(size, dtype=bool)
            m[rng.choice(size, Uniform(d).nnz(size), replace=False)] = True
            models[role] = Actual(m.reshape(tuple(c.size for c in p.tensor(role).coords)))
        samples.append(measure(analyze(p, h, nest, dense, spec, models)))
    arr = np.array(samples)
    return expected, arr.mean(axis=0), arr.std(axis=0) / np.sqrt(n)


def _mean_over_masks(p, h, nest, spec, key, densities: dict, n=300):
    """:func:`mean_over_masks` of the gated words of ``key`` (a storage or network action)."""
    return mean_over_masks(p, h, nest, spec, lambda sa: sa.gated.storage.get(key, sa.gated.network.get(key)),
                           densities, n)


def test_uniform_gating_of_a_tile_kept_over_time_agrees_with_the_mean_over_random_masks():
    """Temporal reuse: z[m, n] += a[m, k] * b[k, n] (M 4, N 4, K 8), the GLB's b reads gated on a zero
    a; the GLB loops n, k2 (4), m2 (2) above an RF of tile k1 (2) x m1 (2). m2 ignores b and follows
    b's last GLB loop (k2): the RF keeps its b tile over both m2 iterations, so each GLB read (2 words,
    16 reads) serves two blocks, a[4 m's, 2 k's]: the union of 8 elements of a (10 of 32 nonzero).
    Expected 32 x C(22, 8) / C(32, 8) = 0.973; the mean of the exact counts over 300 random masks
    0.987 +- 0.156 (within 4 standard errors). The model before took one block per read, 32 x
    C(22, 4) / C(32, 4) = 6.51: 35 standard errors off."""
    p = gemm("g", 4, 4, 8)
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES), Storage("rf", ROLES)))
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                     LevelMap("glb", (("N", 4), ("K", 4), ("M", 2)), ("N", "K", "M"), ROLES),
                     LevelMap("rf", (("K", 2), ("M", 2)), ("K", "M", "N"), ROLES)))
    spec = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": WEIGHT, "on_zero": [IFMAP]}]}, "t")
    expected, mean, se = _mean_over_masks(p, h, nest, spec, ("glb", WEIGHT, "read"), {IFMAP: 0.3})
    assert expected == pytest.approx(32 * comb(22, 8) / comb(32, 8), rel=1e-12)
    assert abs(mean - expected) <= 4 * se, (expected, mean, se)
    assert abs(mean - 32 * comb(22, 4) / comb(32, 4)) > 4 * se          # the one-block model is outside the band


@pytest.mark.parametrize("d, nnz", [(0.1, 2), (0.2, 4)])
def test_uniform_gating_over_sliding_windows_kept_over_time_agrees_with_the_mean_over_random_masks(d, nnz):
    """Temporal reuse over sliding windows: a 1-D conv (C 2, K 2, P 8, R 3, H 10, stride 1, no padding),
    the GLB's weight reads gated on a zero ifmap; the GLB loops k, c, p2 (4) above an RF of tile r (3) x
    p1 (2): the RF keeps its 3-word weight tile (one (k, c)) over p2, so each of the 4 GLB reads serves
    4 blocks of 4 ifmap rows each (p1 x r: rows 2 p2 .. 2 p2 + 3), overlapping: their union is the 10
    rows of channel c, counted once (not 16), of the ifmap's 20 elements (nnz nonzero). Expected
    12 x C(20 - nnz, 10) / C(20, 10): d = 0.1: 2.842 against a mean over 300 random masks of 2.820 +-
    0.173; d = 0.2: 0.520 against 0.480 +- 0.094 (within 4 standard errors). The one-block model gave
    12 x C(20 - nnz, 4) / C(20, 4) (7.58; 4.51), the windows taken as disjoint 12 x C(20 - nnz, 16) /
    C(20, 16) (0.38; 0.002): both outside the band."""
    p = from_layer(conv("c", C=2, K=2, H=10, R=3, W=1, S=1))
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES), Storage("rf", ROLES)))
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                     LevelMap("glb", (("K", 2), ("C", 2), ("P", 4)), ("K", "C", "P"), ROLES),
                     LevelMap("rf", (("R", 3), ("P", 2)), ("R", "P"), ROLES)))
    spec = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": WEIGHT, "on_zero": [IFMAP]}]}, "t")
    expected, mean, se = _mean_over_masks(p, h, nest, spec, ("glb", WEIGHT, "read"), {IFMAP: d})
    assert expected == pytest.approx(12 * comb(20 - nnz, 10) / comb(20, 10), rel=1e-12)
    assert abs(mean - expected) <= 4 * se, (expected, mean, se)
    for wrong in (12 * comb(20 - nnz, 4) / comb(20, 4), 12 * comb(20 - nnz, 16) / comb(20, 16)):
        assert abs(mean - wrong) > 4 * se, (wrong, mean, se)


def _interleaved(rows: int):
    """A 1-D conv (C 2, K 2, R 3, H ``rows``, no padding) whose GLB loops k, c, p2 (2) sit over a spatial
    p (2) above an RF of tile r (3) x p1 (2), weight reads at the GLB gated on a zero ifmap: (problem,
    hierarchy, nest, spec)."""
    p = from_layer(conv("c", C=2, K=2, H=rows, R=3, W=1, S=1))
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(1, 2, "bus")),
                        Storage("rf", ROLES)))
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                     LevelMap("glb", (("K", 2), ("C", 2), ("P", 2)), ("K", "C", "P"), ROLES, y=(("P", 2),)),
                     LevelMap("rf", (("R", 3), ("P", 2)), ("R", "P"), ROLES)))
    spec = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": WEIGHT, "on_zero": [IFMAP]}]}, "t")
    return p, h, nest, spec


def test_uniform_gating_over_windows_interleaved_with_a_spatial_loop_agrees_with_the_mean_over_random_masks():
    """The review's case: a sliding-window dim whose served loops are interleaved with an unserved loop
    of the same dim. A 1-D conv (C 2, K 2, P 8, R 3, H 10, no padding); the GLB loops k, c, p2 (2) over a
    spatial p (2) above an RF of tile r (3) x p1 (2); weight reads at the GLB gated on a zero ifmap (d
    0.15: 3 of 20 nonzero). The RF keeps its weight tile over the GLB's p2, so each RF fill (3 words, 24
    in all) serves p = p1 + 4 p2 (p in {0, 1, 4, 5}: the spatial p, stride 2, is another PE's): rows
    {0..3} and {4..7}, 8 of the channel's rows, not the 6 of a contiguous run of 4 p's. Expected 24 x
    C(17, 8) / C(20, 8) = 4.632; the GLB read also serves the spatial p (p 0..7 contiguous: 10 rows,
    12 x C(17, 10) / C(20, 10) = 1.263). Within 4 standard errors of the mean over 400 random masks
    (measured 4.56 +- 0.27 and 1.22 +- 0.14 over 300); the run-of-4 model's 24 x C(17, 6) / C(20, 6) =
    7.663 (a mean of 4.536 +- 0.148 over 1,000 masks in the review) is outside the band."""
    p, h, nest, spec = _interleaved(10)
    fill, read = ("rf", WEIGHT, "fill"), ("glb", WEIGHT, "read")
    expected, mean, se = mean_over_masks(p, h, nest, spec, lambda sa: [sa.gated.storage[fill], sa.gated.storage[read]],
                                         {IFMAP: 0.15}, n=400)
    assert list(expected) == pytest.approx([24 * comb(17, 8) / comb(20, 8), 12 * comb(17, 10) / comb(20, 10)],
                                           rel=1e-12)
    assert np.all(np.abs(mean - expected) <= 4 * se), (expected, mean, se)
    assert abs(mean[0] - 24 * comb(17, 6) / comb(20, 6)) > 4 * se[0]      # the contiguous run's union is outside


def test_uniform_gating_with_ceil_edge_tiles_agrees_with_the_mean_over_random_masks():
    """The interleaved case of the test above with P 7 (H 9), its factors still 2 x 2 x 2: the accesses
    at base p 0 serve p {0, 1, 4, 5} (rows 0..7 of the channel's 9: 8), those at base p 2 serve {2, 3, 6}
    (p 7 is past the edge: rows 2..8, 7), so 12 of the 24 RF weight fills have a union of 7 rows, 12 of 8
    (ifmap 18 elements, 3 nonzero): 12 x C(15, 7) / C(18, 7) + 12 x C(15, 8) / C(18, 8) = 4.191, within 4
    standard errors of the mean over 3,000 random masks (4.126 +- 0.086); the interior union for every
    fill, 24 x C(15, 8) / C(18, 8) = 3.529 (the model before), is outside the band."""
    p, h, nest, spec = _interleaved(9)
    expected, mean, se = _mean_over_masks(p, h, nest, spec, ("rf", WEIGHT, "fill"), {IFMAP: 0.15}, n=3000)
    assert expected == pytest.approx(12 * comb(15, 7) / comb(18, 7) + 12 * comb(15, 8) / comb(18, 8), rel=1e-12)
    assert abs(mean - expected) <= 4 * se, (expected, mean, se)
    assert abs(mean - 24 * comb(15, 8) / comb(18, 8)) > 4 * se, (mean, se)


def _mean_over_all_masks(p, h, nest, spec, key, role: str, d: float):
    """(the uniform model's gated words of ``key``, their mean over every mask of ``role`` with exactly
    round(d x size) nonzeros, counted exactly through the actual-mask path, equal to the interpreter):
    the expectation itself, no sampling error."""
    import itertools

    dense = count_actions(p, h, nest)
    expected = analyze(p, h, nest, dense, spec, {role: Uniform(d)}).gated.storage[key]
    size, shape = p.elements(role), tuple(c.size for c in p.tensor(role).coords)
    counts = []
    for ones in itertools.combinations(range(size), Uniform(d).nnz(size)):
        m = np.zeros(size, dtype=bool)
        m[list(ones)] = True
        counts.append(analyze(p, h, nest, dense, spec, {role: Actual(m.reshape(shape))}).gated.storage.get(key, 0.0))
    return expected, float(np.mean(counts))


def _glb_rf(p, glb, rf):
    """DRAM, GLB, RF (no fanout), the GLB's weight reads gated on a zero ifmap: (hierarchy, nest, spec);
    ``glb`` / ``rf``: (loops, order)."""
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES), Storage("rf", ROLES)))
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES), LevelMap("glb", *glb, ROLES), LevelMap("rf", *rf, ROLES)))
    return h, nest, spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": WEIGHT, "on_zero": [IFMAP]}]}, "t")


def test_uniform_gating_of_windows_clipped_by_padding_equals_the_mean_over_every_mask():
    """Padding: a 1-D conv (C 1, K 2, H 8, R 3, pad 1: P 8); the GLB loops p2 (4) outside k (2) above an
    RF of r (3) x p1 (2), so each RF weight fill (3 words, 8 fills) serves one block, ifmap rows
    2 p2 - 1 .. 2 p2 + 2: 3 rows at p2 0 and 3 (row -1, row 8 are padding), 4 inside. With 2 of the 8
    rows nonzero: 3 x 2 x (2 x C(6, 3) / C(8, 3) + 2 x C(6, 4) / C(8, 4)) = 6.857 gated words, equal to
    the mean over all 28 masks; the interior union for every fill (24 x C(6, 4) / C(8, 4) = 5.143) is not."""
    p = from_layer(Layer(name="c", kind=LayerKind.CONV, N=1, C=1, K=2, H=8, W=1, R=3, S=1, pad_h=1, pad_w=0))
    h, nest, spec = _glb_rf(p, ((("P", 4), ("K", 2)), ("P", "K")), ((("R", 3), ("P", 2)), ("R", "P")))
    expected, mean = _mean_over_all_masks(p, h, nest, spec, ("rf", WEIGHT, "fill"), IFMAP, 0.25)
    assert expected == pytest.approx(6 * (2 * comb(6, 3) / comb(8, 3) + 2 * comb(6, 4) / comb(8, 4)), rel=1e-12)
    assert mean == pytest.approx(expected, rel=1e-12)
    assert mean != pytest.approx(24 * comb(6, 4) / comb(8, 4), rel=1e-3)


@pytest.mark.parametrize("feature, kind, effective, rf_weight", [
    ({"level": "mac", "on_zero": [IFMAP, WEIGHT]}, "skip", 5.5, 0.0),
    ({"level": "mac", "on_zero": [IFMAP]}, "gate", 11.0, 0.0),
    ({"level": "rf", "tensor": WEIGHT, "on_zero": [IFMAP]}, "gate", 48.0, 37.0),
    ({"level": "rf", "tensor": WEIGHT, "on_zero": [IFMAP]}, "skip", 48.0, 37.0),
    ({"level": "rf", "tensor": WEIGHT, "on_zero": [IFMAP, WEIGHT]}, "gate", 48.0, 42.5)])
def test_uniform_per_mac_features_over_padding_equal_the_mean_over_every_mask(feature, kind, effective, rf_weight):
    """A MAC on padding reads a zero no density describes: the same 1-D conv (K 2, P 8, R 3, pad 1: 48 MACs,
    44 of them on an ifmap row, p 0 with r 0 and p 7 with r 2 on padding, per k), 2 of the 8 ifmap rows
    and 3 of the 6 weights nonzero. Skipping MACs on both operands keeps 44 x 2/8 x 3/6 = 5.5 (the
    issue's MACs x d_in x d_w over the MACs whose operands are elements; 48 x 1/8 = 6 counted the padded
    ones at the density); gating on the ifmap keeps 44 x 2/8 = 11; the RF's weight reads into the MAC
    (one per MAC) gated or skipped on the ifmap lose 44 x 6/8 + 4 = 37, on both 48 - 5.5 = 42.5, and a MAC
    feature takes the RF's psum update of each MAC it removes: each the mean over all 28 x 20 mask pairs,
    exactly."""
    p = from_layer(Layer(name="c", kind=LayerKind.CONV, N=1, C=1, K=2, H=8, W=1, R=3, S=1, pad_h=1, pad_w=0))
    h, nest, _ = _glb_rf(p, ((("P", 4), ("K", 2)), ("P", "K")), ((("R", 3), ("P", 2)), ("R", "P")))
    spec = spec_from_dict({"name": "t", kind: [feature]}, "t")

    def measure(sa):
        lost = sa.gated if kind == "gate" else sa.skipped
        return [sa.effective_macs, lost.storage.get(("rf", WEIGHT, "read"), 0.0),
                lost.storage.get(("rf", PSUM, "update"), 0.0)]
    expected, mean = mean_over_all_masks(p, h, nest, spec, measure, {IFMAP: 2, WEIGHT: 3})
    updates = 48 - effective if feature["level"] == "mac" else 0.0
    assert list(mean) == pytest.approx([effective, rf_weight, updates], rel=1e-12, abs=1e-12)
    assert list(expected) == pytest.approx(list(mean), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("kind", ["gate", "skip"])
@pytest.mark.parametrize("on, effective", [([IFMAP], 11.0), ([IFMAP, WEIGHT], 5.5)])
def test_uniform_mac_features_over_padding_take_each_mac_update_and_reduced_update_as_every_mask_does(
        kind, on, effective):
    """The conv above, the RF keeping no psum: the GLB fans K (2) and P (2) out and every MAC sends its
    update up (``up_src``: one MAC each, 48, of which the feature takes 48 minus the effective MACs, those on
    padding included), while the GLB's own update and the bus's ``up`` / ``down`` reduce the two P
    PEs' MACs (a box over padding at p 0 and 7): every count the mean over all 28 x 20 mask pairs."""
    p = from_layer(Layer(name="c", kind=LayerKind.CONV, N=1, C=1, K=2, H=8, W=1, R=3, S=1, pad_h=1, pad_w=0))
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(2, 2, "bus")),
                        Storage("rf", (IFMAP, WEIGHT))))
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                     LevelMap("glb", (("P", 2),), ("P", "K"), ROLES, x=(("K", 2),), y=(("P", 2),)),
                     LevelMap("rf", (("R", 3), ("P", 2)), ("R", "P"), (IFMAP, WEIGHT))))
    spec = spec_from_dict({"name": "t", kind: [{"level": "mac", "on_zero": on}]}, "t")
    keys = [("glb", PSUM, a) for a in ("update", "read", "up", "down", "up_src")]

    def measure(sa):
        lost = sa.gated if kind == "gate" else sa.skipped
        return [sa.effective_macs] + [lost.storage.get(k, lost.network.get(k, 0.0)) for k in keys]
    expected, mean = mean_over_all_masks(p, h, nest, spec, measure, {IFMAP: 2, WEIGHT: 3})
    assert (mean[0], mean[-1]) == pytest.approx((effective, 48 - effective), rel=1e-12)
    assert 0 < mean[1] < mean[-1]               # a reduced update is lost only when both PEs' MACs are
    assert list(expected) == pytest.approx(list(mean), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("on, nnz, gated", [([IFMAP, WEIGHT], {IFMAP: 2, WEIGHT: 3}, 16 * (4 / 6 + 2 / 6 * 3 / 15)),
                                             ([IFMAP, PSUM], {IFMAP: 2, PSUM: 1}, 16 * (4 / 6 + 2 / 6 * 10 / 12))])
def test_uniform_gating_of_multicast_reads_over_padding_equals_the_mean_over_every_mask(on, nnz, gated):
    """A 1-D conv (K 2, P 6, R 3, H 6, pad 1) whose GLB multicasts each ifmap read to the two K PEs: the
    read's ifmap is one element (a per-MAC condition, over padding at p 0 with r 0 and p 5 with r 2, where
    the read moves no word), the weight or psum varies over the two MACs: of the 16 reads, those whose ifmap
    is zero (4 of 6) and, of the rest, those whose two weights (C(3, 2) / C(6, 2)) or two psums (10 / 12)
    are zero. The uniform model's gated reads equal the mean over every mask placement (300 and 180)."""
    p = from_layer(Layer(name="c", kind=LayerKind.CONV, N=1, C=1, K=2, H=6, W=1, R=3, S=1, pad_h=1, pad_w=0))
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(2, 1, "bus"))))
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                     LevelMap("glb", (("P", 6), ("R", 3)), ("P", "R"), ROLES, x=(("K", 2),))))
    spec = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": IFMAP, "on_zero": on}]}, "t")
    expected, mean = mean_over_all_masks(p, h, nest, spec, lambda sa: [sa.gated.storage[("glb", IFMAP, "read")]], nnz)
    assert mean[0] == pytest.approx(gated, rel=1e-9)
    assert expected[0] == pytest.approx(mean[0], rel=1e-12)


def test_uniform_gating_of_sliding_refills_on_their_own_tensor_over_padding_equals_the_mean_over_every_mask():
    """A 1-D conv (K 1, P 8, R 3, H 8, pad 1) whose RF keeps an ifmap window over r (3) x p1 (2) and slides
    it along the GLB's p2 (4): the refills move 3, 2, 2 and 1 new rows (rows -1 and 8 are padding) while
    the tile is 3, 4, 4 and 3 rows. Gated on an empty ifmap tile, with 3 of the 8 rows nonzero, every mask
    gives 4 x C(5, 3) / C(8, 3) + 4 x C(5, 4) / C(8, 4) = 1.0 gated words (each refill's new rows times its
    tile's emptiness); weighting the emptiness by the whole tiles gave (48 P3 + 64 P4) / 14 = 0.9388 (before
    ``sparse.model.slide_loop``: each access position now weighs the words it moves)."""
    p = from_layer(Layer(name="c", kind=LayerKind.CONV, N=1, C=1, K=1, H=8, W=1, R=3, S=1, pad_h=1, pad_w=0))
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES), Storage("rf", ROLES)))
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES), LevelMap("glb", (("P", 4),), ("P",), ROLES),
                     LevelMap("rf", (("R", 3), ("P", 2)), ("R", "P"), ROLES)))
    spec = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": IFMAP, "on_zero": [IFMAP]}]}, "t")
    expected, mean = _mean_over_all_masks(p, h, nest, spec, ("glb", IFMAP, "read"), IFMAP, 3 / 8)
    assert mean == pytest.approx(4 * comb(5, 3) / comb(8, 3) + 4 * comb(5, 4) / comb(8, 4), rel=1e-12)
    assert expected == pytest.approx(mean, rel=1e-12)
    assert expected != pytest.approx((48 * comb(5, 3) / comb(8, 3) + 64 * comb(4, 3) / comb(8, 3)) / 14, rel=1e-6)


@pytest.mark.parametrize("key", [("glb", IFMAP, "read"), ("rf", IFMAP, "fill")])
def test_uniform_gating_of_sliding_refills_on_two_conditions_equals_the_mean_over_every_mask(key):
    """The conv above with K 2 outside the GLB's p2 (the RF keeps one k's 3 weights and the ifmap window,
    refilled per (k, p2): 2 x (3 + 2 + 2 + 1) = 16 new rows), the refills gated on [ifmap, weight], both
    varying over the accesses (``sparse.model._edge_q``'s classes, each weighed by its new words): with 3
    of 8 ifmap rows and 2 of 6 weights nonzero, each refill is ineffective when its ifmap tile or its k's
    weights (C(3, 2) / C(6, 2) = 0.2) are all zero: 2 x (8 x 0.2 + 0.8 x 1.0) = 4.8 gated words, the model
    and the mean over all 56 x 15 mask pairs (whole tiles weighed: 4.702)."""
    p = from_layer(Layer(name="c", kind=LayerKind.CONV, N=1, C=1, K=2, H=8, W=1, R=3, S=1, pad_h=1, pad_w=0))
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES), Storage("rf", ROLES)))
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES), LevelMap("glb", (("K", 2), ("P", 4)), ("K", "P"), ROLES),
                     LevelMap("rf", (("R", 3), ("P", 2)), ("R", "P"), ROLES)))
    spec = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": IFMAP, "on_zero": [IFMAP, WEIGHT]}]}, "t")
    expected, mean = mean_over_all_masks(p, h, nest, spec, lambda sa: [sa.gated.storage[key]], {IFMAP: 3, WEIGHT: 2})
    assert mean[0] == pytest.approx(2 * (8 * 0.2 + 0.8 * 1.0), rel=1e-12)
    assert expected[0] == pytest.approx(mean[0], rel=1e-12)


def test_a_per_mac_condition_over_padding_beside_two_varying_ones_equals_the_mean_over_every_mask():
    """Review rev24's case: the same conv's GLB fans K out to two PEs and gates its weight reads on [ifmap,
    weight, psum]: the ifmap is one element per read (on padding at p 0 with r 0 and p 5 with r 2, where
    the read is ineffective whatever the others), weight and psum vary over the two PEs (two conditions:
    the pair enumeration per class of access positions). The uniform model equals the mean over every
    placement of 5 of 6 ifmap rows, 1 of 6 weights and 11 of 12 outputs (432), to 1e-12; before, the ifmap
    counted at its density on padding too."""
    p = from_layer(Layer(name="c", kind=LayerKind.CONV, N=1, C=1, K=2, H=6, W=1, R=3, S=1, pad_h=1, pad_w=0))
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(2, 1, "bus"))))
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                     LevelMap("glb", (("P", 6), ("R", 3)), ("P", "R"), ROLES, x=(("K", 2),))))
    spec = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": WEIGHT, "on_zero": [IFMAP, WEIGHT, PSUM]}]},
                          "t")
    expected, mean = mean_over_all_masks(p, h, nest, spec, lambda sa: [sa.gated.storage[("glb", WEIGHT, "read")]],
                                         {IFMAP: 5, WEIGHT: 1, PSUM: 11})
    assert expected[0] == pytest.approx(mean[0], rel=1e-12)


def test_uniform_gating_with_a_ceil_edge_on_a_plain_dim_weights_each_access_by_its_words():
    """Ceil tiling of a plain dim: z[m, n] += a[m, k] * b[k, n] (M 2, N 2, K 5); the GLB loops n, k2 (3)
    above an RF of k1 (2) x m (2): the k2 = 2 read is cut at the edge (k 4 only): 1 word of b whose block
    a[:, 4] holds 2 elements, where the others read 2 words serving 4. With 3 of a's 10 elements nonzero:
    2 x (2 x 2 x C(7, 4) / C(10, 4) + 1 x C(7, 2) / C(10, 2)) = 2.267 gated words, equal to the mean over
    all 120 masks; every read at the interior union (10 x C(7, 4) / C(10, 4) = 1.667) is not."""
    p = gemm("g", 2, 2, 5)
    h, nest, spec = _glb_rf(p, ((("N", 2), ("K", 3)), ("N", "K", "M")), ((("K", 2), ("M", 2)), ("K", "M", "N")))
    expected, mean = _mean_over_all_masks(p, h, nest, spec, ("glb", WEIGHT, "read"), IFMAP, 0.3)
    assert expected == pytest.approx(2 * (4 * comb(7, 4) / comb(10, 4) + comb(7, 2) / comb(10, 2)), rel=1e-12)
    assert mean == pytest.approx(expected, rel=1e-12)
    assert mean != pytest.approx(10 * comb(7, 4) / comb(10, 4), rel=1e-3)


def test_uniform_gating_over_a_dilated_lattice_of_windows_agrees_with_the_mean_over_random_masks():
    """The lattice can also cover fewer rows than a run of the same extent: a 1-D conv with dilation 2
    (C 2, K 2, P 6, R 3, H 10); the GLB loops c, k, p2 (3) over a spatial p (2) above an RF of r (3);
    weight reads at the GLB gated on a zero ifmap (d 0.3: 6 of 20 nonzero). Each RF fill (24 words)
    serves p in {0, 2, 4} (the spatial p, stride 1, is the other PE's), rows p + 2 r: {0, 2, 4, 6, 8},
    5 rows, where a run p in {0, 1, 2} covers 7. Expected 24 x C(14, 5) / C(20, 5) = 3.099, within 4
    standard errors of the mean over 300 random masks (measured 3.04 +- 0.20); the run's 24 x C(14, 7) /
    C(20, 7) = 1.063 is outside the band (the savings understated, not overstated, here)."""
    p = from_layer(conv("c", C=2, K=2, H=10, R=3, W=1, S=1, dilation=2))
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(1, 2, "bus")),
                        Storage("rf", ROLES)))
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                     LevelMap("glb", (("C", 2), ("K", 2), ("P", 3)), ("C", "K", "P"), ROLES, y=(("P", 2),)),
                     LevelMap("rf", (("R", 3),), ("R", "P"), ROLES)))
    spec = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": WEIGHT, "on_zero": [IFMAP]}]}, "t")
    expected, mean, se = _mean_over_masks(p, h, nest, spec, ("rf", WEIGHT, "fill"), {IFMAP: 0.3})
    assert expected == pytest.approx(24 * comb(14, 5) / comb(20, 5), rel=1e-12)
    assert abs(mean - expected) <= 4 * se, (expected, mean, se)
    assert abs(mean - 24 * comb(14, 7) / comb(20, 7)) > 4 * se, (mean, se)


GATE_MACS = spec_from_dict({"name": "t", "gate": [{"level": "mac", "on_zero": [IFMAP, WEIGHT]}]}, "t")


@pytest.mark.parametrize("key, words, reduced", [(("glb", PSUM, "update"), 32, True),
                                                 (("glb", PSUM, "down_dest"), 32, True),
                                                 (("glb", PSUM, "up_src"), 128, False)])
def test_uniform_gating_of_updates_reduced_across_pes_agrees_with_the_mean_over_random_masks(key, words, reduced):
    """A compute feature's output update reduced across PEs: z[m, n] += a[m, k] * b[k, n] (M 4, N 4, K 8),
    the GLB feeding the MACs through a K fanout of 4, MACs gated on a zero a or b (d 0.25 each: 8 of 32
    nonzero). Each GLB update of z (and the bus's down / down_dest / up) reduces the 4 MACs k = 4 k2 + x:
    it is ineffective when none has both a[m, k] and b[k, n] nonzero; the PE's own up_src serves its one
    MAC. Exactly: sum over the b-subsets S of the 4 b's, C(28, 8 - |S|) / C(32, 8) x C(32 - |S|, 8) /
    C(32, 8), grouped by |S| = j with C(4, j) sets each: 0.7686 per update, 24.60 of 32 (mean over 300
    mask pairs 24.52 +- 0.11), within 4 standard errors; the MACs' fraction, 1 - 0.25 x 0.25, gave 30.0
    (49 standard errors off). up_src: 128 x 0.9375 = 120.0, mean 119.91 +- 0.12 (the MACs' fraction is
    its expectation)."""
    p = gemm("g", 4, 4, 8)
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(4, 1, "bus"))))
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                     LevelMap("glb", (("M", 4), ("N", 4), ("K", 2)), p.dim_names, ROLES, x=(("K", 4),))))
    expected, mean, se = _mean_over_masks(p, h, nest, GATE_MACS, key, {IFMAP: 0.25, WEIGHT: 0.25})
    per = sum(comb(4, j) * comb(28, 8 - j) / comb(32, 8) * comb(32 - j, 8) / comb(32, 8) for j in range(5))
    assert expected == pytest.approx(words * (per if reduced else 1 - 0.25 * 0.25), rel=1e-12)
    assert abs(mean - expected) <= 4 * se, (expected, mean, se)
    if reduced:
        assert abs(mean - words * (1 - 0.25 * 0.25)) > 4 * se            # the MACs' fraction is outside the band


@pytest.mark.parametrize("da, dw", [(0.25, 0.25), (0.5, 0.25), (0.2, 0.5)])
def test_uniform_gating_of_updates_reduced_over_sliding_windows_agrees_with_the_mean_over_random_masks(da, dw):
    """The reduced update over sliding windows: a 1-D conv (C 2, K 2, P 8, R 3, H 10, no padding), the GLB
    feeding a 3 x 2 fanout over R and P: each GLB update of the output reduces 6 MACs (p in a pair, r
    0..2) that touch 4 overlapping ifmap rows and 3 weights, both conditions varying (``box_dead``'s
    exact enumeration: the weights' groups, the ifmap rows each reaches, the union per subset). Within 4
    standard errors of the mean over 300 mask pairs (measured 22.35 vs 22.20 +- 0.15; 16.28 vs 16.29 +-
    0.19; 18.20 vs 18.41 +- 0.20); the MACs' fraction 32 x (1 - da dw) (30.0, 28.0, 28.8: 52-61 standard
    errors off) and the product of the unions' emptiness, a lower bound (17.8, 13.1, 13.8: 17-30 off), are
    both outside the band."""
    p = from_layer(conv("c", C=2, K=2, H=10, R=3, W=1, S=1))
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(3, 2, "bus"))))
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                     LevelMap("glb", (("K", 2), ("C", 2), ("P", 4)), ("K", "C", "P"), ROLES,
                              x=(("R", 3),), y=(("P", 2),))))
    expected, mean, se = _mean_over_masks(p, h, nest, GATE_MACS, ("glb", PSUM, "update"), {IFMAP: da, WEIGHT: dw})
    assert abs(mean - expected) <= 4 * se, (expected, mean, se)
    ua, uw = Uniform(da).p_empty(4, 20), Uniform(dw).p_empty(3, 12)
    for wrong in (32 * (1 - da * dw), 32 * (1 - (1 - ua) * (1 - uw))):
        assert abs(mean - wrong) > 4 * se, (wrong, mean, se)


def test_a_grid_too_large_for_exact_gating_is_one_line(monkeypatch):
    """The blocks' count is checked before they are built: over ``MAX_CELLS``, one ConfigError line naming
    the layer, the tensor and the count (here the multicast case's a[m, k] blocks: 2 x 2 MACs' a)."""
    import accelsim.sparse.gating as gating
    from accelsim.errors import ConfigError

    monkeypatch.setattr(gating, "MAX_CELLS", 3)
    p, h, nest = _gemm_multicast()
    spec = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": WEIGHT, "on_zero": [IFMAP]}]}, "t")
    with pytest.raises(ConfigError, match=r"^g: exact gating of weight under actual masks walks 4 blocks of its "
                                          r"conditions \(limit 3\)") as err:
        analyze(p, h, nest, count_actions(p, h, nest), spec, {IFMAP: Actual(np.ones((2, 2), dtype=bool))})
    assert "\n" not in str(err.value)


def test_uniform_multicast_gates_each_network_action_by_the_blocks_it_serves():
    """The multicast case (k = 4, d = 0.3, a: 10 nonzeros of 32): the GLB's b read and the bus's ``down``
    serve the 4 PEs, gated when all 4 a's are zero (C(22, 4) / C(32, 4)); each PE's ``down_dest`` serves
    its own MAC, gated when its a is zero (1 - d, the compute's one-element tile)."""
    p = gemm("g", 4, 4, 8)
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(4, 1, "bus"))))
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                     LevelMap("glb", (("N", 4), ("K", 8)), p.dim_names, ROLES, x=(("M", 4),))))
    spec = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": WEIGHT, "on_zero": [IFMAP]}]}, "t")
    dense = count_actions(p, h, nest)
    sa = analyze(p, h, nest, dense, spec, {IFMAP: Uniform(0.3)})
    all4 = comb(22, 4) / comb(32, 4)
    assert dense.network[("glb", WEIGHT, "down")] == 32 and dense.network[("glb", WEIGHT, "down_dest")] == 128
    assert sa.gated.storage[("glb", WEIGHT, "read")] == pytest.approx(32 * all4, rel=1e-12)
    assert sa.gated.network[("glb", WEIGHT, "down")] == pytest.approx(32 * all4, rel=1e-12)
    assert sa.gated.network[("glb", WEIGHT, "down_dest")] == pytest.approx(128 * 0.7, rel=1e-12)


def _two_conditions(reuse: bool):
    """z[m, n] += a[m, k] * b[k, n] (M 4, N 4, K 8), the GLB's b reads gated on a zero a or a zero z (two
    conditions, both varying over the blocks a read serves). Multicast (``reuse`` False): the GLB feeds 4
    PEs (the M fanout), one MAC each; a read of b[k, n] serves the blocks m = 0..3, each with one a[m, k]
    and one z[m, n]. Reuse: the GLB loops n, k2 (4), m2 (2) above an RF of tile k1 (2) x m1 (2) that keeps
    its b tile over m2: a read serves 2 blocks, each an a tile of 4 elements and a z tile of 2."""
    p = gemm("g", 4, 4, 8)
    if reuse:
        h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES), Storage("rf", ROLES)))
        nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                         LevelMap("glb", (("N", 4), ("K", 4), ("M", 2)), ("N", "K", "M"), ROLES),
                         LevelMap("rf", (("K", 2), ("M", 2)), ("K", "M", "N"), ROLES)))
    else:
        h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(4, 1, "bus"))))
        nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                         LevelMap("glb", (("N", 4), ("K", 8)), p.dim_names, ROLES, x=(("M", 4),))))
    spec = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": WEIGHT, "on_zero": [IFMAP, PSUM]}]}, "t")
    return p, h, nest, spec


@pytest.mark.parametrize("reuse, da, dz", [(False, 0.5, 0.5), (False, 0.25, 0.75), (True, 0.25, 0.5)])
def test_uniform_gating_on_two_conditions_varying_over_the_blocks_agrees_with_the_mean_over_random_masks(
        reuse, da, dz):
    """A read is ineffective when every block it serves has SOME condition empty (not only when some
    condition's whole union is empty): two conditions both varying over the blocks, ``box_dead``'s pair
    enumeration over the blocks' tiles. Multicast, d 0.5 / 0.5: each of the 32 reads is gated when no m
    of 4 has a[m, k] and z[m, n] both nonzero: sum over the z-subsets S of the 4 z's, C(12, 8 - |S|) /
    C(16, 8) x C(32 - |S|, 16) / C(32, 16), 9.456 reads. Measured over 300 mask pairs (model, mean +- SE;
    the product of the unions' emptiness, a lower bound): 9.456, 9.397 +- 0.135 (2.788, 49 SE off);
    d 0.25 / 0.75: 13.410, 13.310 +- 0.152 (9.468, 25 SE); reuse, 0.25 / 0.5: 6.196, 6.060 +- 0.232
    (3.382, 12 SE). Within 4 standard errors; the product outside the band."""
    p, h, nest, spec = _two_conditions(reuse)
    expected, mean, se = _mean_over_masks(p, h, nest, spec, ("glb", WEIGHT, "read"), {IFMAP: da, PSUM: dz})
    if not reuse and da == dz == 0.5:
        per = sum(comb(4, j) * comb(12, 8 - j) / comb(16, 8) * comb(32 - j, 16) / comb(32, 16) for j in range(5))
        assert expected == pytest.approx(32 * per, rel=1e-12)
    assert abs(mean - expected) <= 4 * se, (expected, mean, se)
    ua = Uniform(da).p_empty(8 if reuse else 4, 32)       # a's union over the served blocks
    uz = Uniform(dz).p_empty(4, 16)                       # z's union: z[0..3, n] either way
    lower = 32 * (1 - (1 - ua) * (1 - uz))
    assert expected > lower
    assert abs(mean - lower) > 4 * se, (lower, mean, se)



def test_uniform_gating_on_two_conditions_over_a_lattice_of_windows_agrees_with_the_mean_over_random_masks():
    """Two varying conditions over a lattice: the interleaved case (``_interleaved``, H 10), the weight's
    fills and reads gated on a zero ifmap or a zero output (d 0.15 / 0.5). Each RF fill serves p in {0, 1,
    4, 5}: two blocks (p2 0, 1), each 4 ifmap rows and 2 outputs, ``box_dead``'s pair enumeration over the
    lattice's points. Within 4 standard errors of the mean over 400 mask pairs (fills 8.166 against
    8.198 +- 0.218; reads, whose p 0..7 is a run, 1.940 against 1.988 +- 0.128); the same enumeration over
    the run p 0..3 gives 9.900 fills, outside the band."""
    p, h, nest, _ = _interleaved(10)
    spec = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": WEIGHT, "on_zero": [IFMAP, PSUM]}]}, "t")
    fill, read = ("rf", WEIGHT, "fill"), ("glb", WEIGHT, "read")
    expected, mean, se = mean_over_masks(p, h, nest, spec, lambda sa: [sa.gated.storage[fill], sa.gated.storage[read]],
                                         {IFMAP: 0.15, PSUM: 0.5}, n=400)
    assert np.all(np.abs(mean - expected) <= 4 * se), (expected, mean, se)
    served = model.served_extents
    with pytest.MonkeyPatch.context() as mp:          # the same enumeration with every served set a run
        mp.setattr(model, "served_extents", lambda *a: replace(served(*a), points=None))
        run = analyze(p, h, nest, count_actions(p, h, nest), spec, {IFMAP: Uniform(0.15), PSUM: Uniform(0.5)})
    assert abs(mean[0] - run.gated.storage[fill]) > 4 * se[0], (run.gated.storage[fill], mean, se)


def lattice_update():
    """A 1-D conv (C 2, K 2, P 12, R 3, H 14) whose GLB loops k, c, p (2) over a 3 x 2 fanout of r and p
    above an RF that loops p (3) and keeps no output: each GLB update of the output reduces the MACs of a
    box whose P is the lattice {0, 3}. (problem, hierarchy, nest)."""
    p = from_layer(conv("c", C=2, K=2, H=14, R=3, W=1, S=1))
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(3, 2, "bus")),
                        Storage("rf", (IFMAP, WEIGHT))))
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                     LevelMap("glb", (("K", 2), ("C", 2), ("P", 2)), ("K", "C", "P"), ROLES, x=(("R", 3),),
                              y=(("P", 2),)),
                     LevelMap("rf", (("P", 3),), ("P",), (IFMAP, WEIGHT))))
    return p, h, nest


def test_uniform_gating_of_updates_reduced_over_a_lattice_of_windows_agrees_with_the_mean_over_random_masks():
    """The reduced update over sliding windows with the fanout's P above a temporal P of an RF that keeps no
    output: a 1-D conv (C 2, K 2, P 12, R 3, H 14), the GLB's temporal k, c, p (2) over a 3 x 2 fanout of
    r and p above an RF looping p (3); MACs gated on a zero ifmap or weight (d 0.25 / 0.5). Each GLB update
    of the output reduces the 6 MACs r 0..2 at p and p + 3 (the lattice {0, 3}: ifmap rows p .. p + 5, two
    disjoint windows), ``box_dead``'s pair enumeration over the lattice: 21.641 gated updates of 48 against
    a mean of 21.54 +- 0.21 over 300 mask pairs; the same enumeration over the run {0, 1} (4 chained rows,
    the model before) gives 23.776, 10 standard errors off."""
    p, h, nest = lattice_update()
    key, dens = ("glb", PSUM, "update"), {IFMAP: 0.25, WEIGHT: 0.5}
    expected, mean, se = _mean_over_masks(p, h, nest, GATE_MACS, key, dens)
    assert abs(mean - expected) <= 4 * se, (expected, mean, se)
    served = model.served_extents
    with pytest.MonkeyPatch.context() as mp:          # the same enumeration with every served set a run
        mp.setattr(model, "served_extents", lambda *a: replace(served(*a), points=None))
        run = analyze(p, h, nest, count_actions(p, h, nest), GATE_MACS, {r: Uniform(d) for r, d in dens.items()})
    assert abs(mean - run.gated.storage[key]) > 4 * se, (run.gated.storage[key], mean, se)


def mean_over_all_masks(p, h, nest, spec, measure, nnz: dict):
    """(``measure`` of the uniform model's result at densities nnz / size, and its exact mean over EVERY
    placement of exactly ``nnz[role]`` nonzeros in each role, through the exact actual-mask path, equal to
    the interpreter): the expectation itself, no sampling error."""
    dense = count_actions(p, h, nest)
    expected = np.array(measure(analyze(p, h, nest, dense, spec, {r: Uniform(k / p.elements(r)) for r, k in nnz.items()})))
    masks = []
    for r, k in nnz.items():
        shape = tuple(c.size for c in p.tensor(r).coords)
        masks.append([Actual(np.isin(np.arange(p.elements(r)), pos).reshape(shape))
                      for pos in itertools.combinations(range(p.elements(r)), k)])
    total = [np.array(measure(analyze(p, h, nest, dense, spec, dict(zip(nnz, combo)))))
             for combo in itertools.product(*masks)]
    return expected, np.mean(total, axis=0)


def _tiny_two_conditions(case: str):
    """Small nests whose b / weight reads at the GLB are gated on a zero ifmap or output, both varying over
    the blocks a read serves: (problem, hierarchy, nest, the gated keys)."""
    if case == "multicast":          # z[m, n] += a[m, k] b[k, n], M 3, N 2, K 2: a read serves m 0..2
        p = gemm("g", 3, 2, 2)
        h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(3, 1, "bus"))))
        nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                         LevelMap("glb", (("N", 2), ("K", 2)), p.dim_names, ROLES, x=(("M", 3),))))
        return p, h, nest, [("glb", WEIGHT, "read")]
    if case == "reuse":              # M 2, N 2, K 4: the RF (k1 2) keeps b over the GLB's m (2): 2 blocks
        p = gemm("g", 2, 2, 4)
        h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES), Storage("rf", ROLES)))
        nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                         LevelMap("glb", (("N", 2), ("K", 2), ("M", 2)), ("N", "K", "M"), ROLES),
                         LevelMap("rf", (("K", 2),), ("K", "M", "N"), ROLES)))
        return p, h, nest, [("glb", WEIGHT, "read"), ("rf", WEIGHT, "fill")]
    # a lattice: a 1-D conv (C 1, K 1, P 8, R 3, H 10), the GLB's p2 (2) over a spatial p (2) above an RF
    # of r (3) x p1 (2): an RF fill serves p in {0, 1, 4, 5} (2 blocks), the GLB read p 0..7
    return (*_lattice_conv(10), [("rf", WEIGHT, "fill"), ("glb", WEIGHT, "read")])


def _lattice_conv(h_size: int):
    """A 1-D conv (C 1, K 1, R 3, H ``h_size``) whose GLB loops p2 (2) over a spatial p (2) above an RF of
    r (3) x p1 (2): an RF fill serves p in {0, 1, 4, 5} (cut at the edge when P < 8). (problem, hierarchy, nest)"""
    p = from_layer(conv("c", C=1, K=1, H=h_size, R=3, W=1, S=1))
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(1, 2, "bus")),
                        Storage("rf", ROLES)))
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                     LevelMap("glb", (("P", 2),), ("K", "C", "P"), ROLES, y=(("P", 2),)),
                     LevelMap("rf", (("R", 3), ("P", 2)), ("R", "P"), ROLES)))
    return p, h, nest


@pytest.mark.parametrize("case, nnz", [("multicast", {IFMAP: 3, PSUM: 2}), ("reuse", {IFMAP: 3, PSUM: 2}),
                                       ("lattice", {IFMAP: 2, PSUM: 2})])
def test_uniform_gating_on_two_conditions_equals_the_mean_over_every_mask(case, nnz, monkeypatch):
    """The two-condition expectation is exact: on tensors small enough to place their nonzeros every way
    (300, 336 and 1,260 mask pairs), the uniform model's gated words equal the mean of the exact counts
    over all of them (multicast 2.16 of 4 reads; reuse 3.333 reads and fills; the lattice 2.5905 RF fills,
    0.3429 GLB reads), where the product of the unions' emptiness (``_pair_dead`` declined) is below (the
    lattice's fills: 1.3905) and, for the lattice, the same enumeration over the run p 0..3 above (2.6857)."""
    p, h, nest, keys = _tiny_two_conditions(case)
    spec = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": WEIGHT, "on_zero": [IFMAP, PSUM]}]}, "t")

    def measure(sa):
        return [sa.gated.storage[k] for k in keys]
    expected, mean = mean_over_all_masks(p, h, nest, spec, measure, nnz)
    assert list(expected) == pytest.approx(list(mean), rel=1e-12, abs=1e-12)
    models = {r: Uniform(k / p.elements(r)) for r, k in nnz.items()}
    with monkeypatch.context() as mp:
        mp.setattr(model, "_pair_dead", lambda *a: None)
        lower = measure(analyze(p, h, nest, count_actions(p, h, nest), spec, models))
    assert lower[0] < mean[0] - 0.1, (lower, mean)
    if case == "lattice":
        served = model.served_extents
        with monkeypatch.context() as mp:
            mp.setattr(model, "served_extents", lambda *a: replace(served(*a), points=None))
            run = measure(analyze(p, h, nest, count_actions(p, h, nest), spec, models))
        assert run[0] > mean[0] + 0.05, (run, mean)


def test_edge_classes_of_a_plain_dim_take_the_short_way_to_the_same_classes(monkeypatch):
    """``sparse.model._component`` counts a group of one dim whose axes are the dim itself (C, K, N; P for
    the output) by the served indices per access alone; the classes equal the general walk over every
    position's axis counts (ceil edges included: random runs over random convs, padded or not)."""
    import random

    import accelsim.sparse.model as sm

    component = sm._component.__wrapped__
    rng = random.Random(5)
    combos = (("weight", (IFMAP,)), (IFMAP, (WEIGHT,)), ("psum", (IFMAP, WEIGHT)), (None, (IFMAP,)), ("psum", (WEIGHT,)))
    cases = []
    for _ in range(60):
        r = rng.choice([1, 2, 3])
        p = from_layer(conv("c", C=rng.randint(1, 9), K=rng.randint(1, 9), H=rng.randint(3, 12), R=r,
                            N=rng.randint(1, 3), stride=rng.choice([1, 2]), pad=rng.choice([0, 1]) if r > 1 else 0))
        for d in ("C", "K", "N", "P"):
            runs = tuple(rng.randint(1, 4) for _ in range(2 * rng.randint(1, 3) - 1))
            cases += [(p, d, runs, role, conds) for role, conds in combos]
    short = [component(p, (d,), (runs,), role, conds) for p, d, runs, role, conds in cases]
    monkeypatch.setattr(sm, "_plain", lambda coord, size: False)
    walked = [component(p, (d,), (runs,), role, conds) for p, d, runs, role, conds in cases]
    assert short == walked
    assert sum(len(s) > 1 for s in short) > 50          # ceil edges: more than one class


GATE_TWO = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": WEIGHT, "on_zero": [IFMAP, PSUM]}]}, "t")


def _edge_two_conditions(case: str):
    """Tiny nests where two varying conditions meet a dim's edge: (problem, hierarchy, nest, spec, the gated
    keys, the nonzeros per condition)."""
    three = (Storage("dram", ROLES), Storage("glb", ROLES), Storage("rf", ROLES))
    if case == "ceil":
        # z[m, n] += a[m, k] b[k, n], M 2, N 2, K 3 under k 2 x 2: the RF (k1 2) keeps b over the GLB's m (2),
        # so a read serves 2 blocks; the k2 = 1 reads are cut at the edge (k 2 only: 1 word, a 1 x 1 tile)
        p = gemm("g", 2, 2, 3)
        nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                         LevelMap("glb", (("N", 2), ("K", 2), ("M", 2)), ("N", "K", "M"), ROLES),
                         LevelMap("rf", (("K", 2),), ("K", "M", "N"), ROLES)))
        return p, Hierarchy("h", three), nest, GATE_TWO, [("glb", WEIGHT, "read"), ("rf", WEIGHT, "fill")], \
            {IFMAP: 3, PSUM: 2}
    if case == "padding":
        # a 1-D conv (C 1, K 2, H 6, R 3, pad 1: P 6); the GLB loops k, p2 (3) above an RF of r (3) x p1 (2)
        # that keeps its weight row over p2: a fill serves 3 blocks, ifmap rows -1..6 (rows -1 and 6 padding)
        p = from_layer(Layer(name="c", kind=LayerKind.CONV, N=1, C=1, K=2, H=6, W=1, R=3, S=1, pad_h=1, pad_w=0))
        nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                         LevelMap("glb", (("K", 2), ("P", 3)), ("K", "P"), ROLES),
                         LevelMap("rf", (("R", 3), ("P", 2)), ("R", "P"), ROLES)))
        return p, Hierarchy("h", three), nest, GATE_TWO, [("rf", WEIGHT, "fill"), ("glb", WEIGHT, "read")], \
            {IFMAP: 2, PSUM: 2}
    if case == "lattice":
        # the lattice of _tiny_two_conditions with P 7 (H 9): RF fills serve p {0, 1, 4, 5} and, at the
        # edge, {2, 3, 6}
        return (*_lattice_conv(9), GATE_TWO, [("rf", WEIGHT, "fill"), ("glb", WEIGHT, "read")], {IFMAP: 2, PSUM: 2})
    # reduced output updates (MACs gated on a zero ifmap or weight) whose box is cut: a GLB feeding a 3 x 2
    # fanout of r and p, each update reducing r 0..2 at a pair of p's
    fan = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(3, 2, "bus"))))
    if case == "update padding":      # C 2, K 1, H 4, pad 1 (P 4): p {0, 1} reads row -1, p {2, 3} row 4
        p = from_layer(Layer(name="c", kind=LayerKind.CONV, N=1, C=2, K=1, H=4, W=1, R=3, S=1, pad_h=1, pad_w=0))
        glb = (("C", 2), ("P", 2))
    else:                             # C 1, K 1, H 7 (P 5) under p 3 x 2: the p2 = 2 update reduces p 4 only
        p = from_layer(conv("c", C=1, K=1, H=7, R=3, W=1, S=1))
        glb = (("P", 3),)
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                     LevelMap("glb", glb, ("C", "P"), ROLES, x=(("R", 3),), y=(("P", 2),))))
    return p, fan, nest, GATE_MACS, [("glb", PSUM, "update")], {IFMAP: 3, WEIGHT: 2}


def _interior_only(monkeypatch):
    """Every access as the interior box (the model before: ``box_classes`` one interior class; an empty
    memo of ``update_q``'s values meanwhile, ``_update_memo``)."""
    monkeypatch.setattr(model, "box_classes", lambda *a: (((), (), 1, True),))
    monkeypatch.setattr(model, "_UPDATE_MEMO", {})


@pytest.mark.parametrize("case, interior", [("ceil", 1.8), ("padding", 1.6), ("lattice", 1.9683),
                                            ("update padding", 3.5429), ("update ceil", 0.4286)])
def test_two_varying_conditions_at_an_edge_equal_the_mean_over_every_mask(case, interior, monkeypatch):
    """Two conditions varying over the blocks an access serves, at a dim's edge: per class of access
    positions (``box_classes``) the clipped box's pair enumeration (``_clipped_dead``: padding is no
    element), weighted by the accessed words, equals the mean of the exact counts over EVERY placement of
    the nonzeros (120, 990, 756, 840 and 105 mask pairs) to 1e-12: a ceil edge on a plain dim (2.2667
    gated b reads and fills), windows over padding (1.9152 fills), a lattice cut by the edge (2.4444
    fills, 0.2778 reads) and reduced output updates over padding (4.1238) and at a ceil edge (0.6286:
    ``update_q``'s classes, each clipped box enumerated once per canonical key, ``_class_pair``).
    The interior box for every access (the model before) gave the first key ``interior``: off by 0.2-0.6."""
    p, h, nest, spec, keys, nnz = _edge_two_conditions(case)

    def measure(sa):
        return [sa.gated.storage[k] for k in keys]
    expected, mean = mean_over_all_masks(p, h, nest, spec, measure, nnz)
    assert list(expected) == pytest.approx(list(mean), rel=1e-12, abs=1e-12)
    _interior_only(monkeypatch)
    before = measure(analyze(p, h, nest, count_actions(p, h, nest), spec,
                             {r: Uniform(k / p.elements(r)) for r, k in nnz.items()}))
    assert before[0] == pytest.approx(interior, abs=1e-4)
    assert abs(before[0] - mean[0]) > 0.1, (before, mean)


def test_a_reduced_update_on_a_plain_lattice_cut_by_a_ceil_edge_equals_the_mean_over_every_mask():
    """A plain dim served as a lattice cut by a ceil edge (``update_q`` takes its counts' histogram,
    ``model.plain_positions``): z[n] += a[k] b[k, n] (M 1, N 2, K 4), the GLB's n (2) over a fanout of k (2)
    above an RF looping k (3) that keeps no output: each update reduces the MACs at k {0, 3}, {1} or {2}
    (the lattice of span 3 cut at K 4), MACs gated on a zero a or b (2 of 4, 4 of 8 nonzero). The mean over
    every placement (420 mask pairs) is 4.0714 gated updates; taking K as the run {0, 1} / {2, 3} (both
    interior, the model before) gave 3.2143."""
    p = gemm("g", 1, 2, 4)
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(2, 1, "bus")),
                        Storage("rf", (IFMAP, WEIGHT))))
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                     LevelMap("glb", (("N", 2),), ("N",), ROLES, x=(("K", 2),)),
                     LevelMap("rf", (("K", 3),), ("K",), (IFMAP, WEIGHT))))
    expected, mean = mean_over_all_masks(p, h, nest, GATE_MACS, lambda sa: [sa.gated.storage[("glb", PSUM, "update")]],
                                         {IFMAP: 2, WEIGHT: 4})
    assert mean[0] == pytest.approx(4.0714, abs=1e-4)
    assert expected[0] == pytest.approx(mean[0], rel=1e-12)


@pytest.mark.parametrize("nnz", [1, 2])
def test_a_reduced_update_on_a_plain_lattice_with_one_condition_equals_the_mean_over_every_mask(nnz):
    """Review rev21's case: z[m, n] += a[m, k] b[k, n] (M 3, N 3, K 6), a GLB looping m, n, k (2 each) over a
    fanout of m, n, k (2 each) above a register looping k (2) that keeps no output, MACs gated on a zero a
    alone (1 or 2 of its 18 elements nonzero): each update reduces k {0, 2}, {1, 3}, {4} or {5} (the lattice
    cut at K 6) at a 2 x 2 or edge box of m, n. The model equals the mean over every placement (18 and 153
    masks: 31.0 and 26.5882 gated updates of 36); taking K as the run of its count (the model before) gave
    29.3333 for the first."""
    p = gemm("g", 3, 3, 6)
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(8, 1, "bus")),
                        Storage("rf", (IFMAP, WEIGHT))))
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                     LevelMap("glb", (("M", 2), ("N", 2), ("K", 2)), ("N", "M", "K"), ROLES,
                              x=(("M", 2), ("N", 2), ("K", 2))),
                     LevelMap("rf", (("K", 2),), ("K", "N", "M"), (IFMAP, WEIGHT))))
    gate = spec_from_dict({"name": "t", "gate": [{"level": "mac", "on_zero": [IFMAP]}]}, "t")
    expected, mean = mean_over_all_masks(p, h, nest, gate, lambda sa: [sa.gated.storage[("glb", PSUM, "update")]],
                                         {IFMAP: nnz})
    assert expected[0] == pytest.approx(mean[0], rel=1e-12)
    if nnz == 1:
        assert mean[0] == pytest.approx(31.0, abs=1e-9)


def test_two_varying_conditions_at_a_ceil_edge_of_a_lattice_agree_with_the_mean_over_random_masks(monkeypatch):
    """The interleaved 1-D conv (``_interleaved``, H 9: P 7 under p 2 x 2 x 2, C 2, K 2), the weight's RF
    fills and GLB reads gated on a zero ifmap or a zero output (3 of 18 and 14 of 28 nonzero): half the
    fills serve p {0, 1, 4, 5}, half the edge's {2, 3, 6}. The model's 8.631 fills and 2.070 reads agree
    with the mean over 400 random mask pairs (8.640 +- 0.233, 2.018 +- 0.131) within 4 standard errors;
    the interior box for every fill (7.056, the model before) is 6.8 standard errors off."""
    p, h, nest, _ = _interleaved(9)
    fill, read = ("rf", WEIGHT, "fill"), ("glb", WEIGHT, "read")
    dens = {IFMAP: 1 / 6, PSUM: 0.5}

    def measure(sa):
        return [sa.gated.storage[fill], sa.gated.storage[read]]
    expected, mean, se = mean_over_masks(p, h, nest, GATE_TWO, measure, dens, n=400)
    assert np.all(np.abs(mean - expected) <= 4 * se), (expected, mean, se)
    _interior_only(monkeypatch)
    before = measure(analyze(p, h, nest, count_actions(p, h, nest), GATE_TWO, {r: Uniform(d) for r, d in dens.items()}))
    assert abs(mean[0] - before[0]) > 4 * se[0], (before, mean, se)


@pytest.mark.parametrize("m, before", [(2, 1.2222), (3, 5.7037)])
def test_three_varying_conditions_equal_the_mean_over_every_mask(m, before, monkeypatch):
    """Three conditions varying over the blocks: z[m, n] += a[m, k] b[k, n] (N 2, K 2), the GLB's b reads
    gated on a zero a, b or z, multicast over a 2 x 2 fanout of k and m, so each of a read's blocks (k, m)
    has its own a, b and z element. ``_triple_dead``: per subset of the third condition's groups the pair
    enumeration of the blocks it leaves alive. Equal to the mean of the exact counts over every placement
    of 2 nonzeros in each tensor (M 2: 2.2593 of 4 reads over 216 mask triples; M 3 under m 2 x 2, the
    second read of each n cut at the edge to m 2: 6.7348 of 8 over 1,350), where the product of the
    unions' emptiness (the model before) gave 1.2222 and 5.7037."""
    p = gemm("g", m, 2, 2)
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(2, 2, "bus"))))
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                     LevelMap("glb", (("N", 2),) if m == 2 else (("N", 2), ("M", 2)), ("M", "N", "K"), ROLES,
                              x=(("K", 2),), y=(("M", 2),))))
    spec = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": WEIGHT, "on_zero": [IFMAP, WEIGHT, PSUM]}]},
                          "t")
    nnz = {IFMAP: 2, WEIGHT: 2, PSUM: 2}

    def measure(sa):
        return [sa.gated.storage[("glb", WEIGHT, "read")]]
    expected, mean = mean_over_all_masks(p, h, nest, spec, measure, nnz)
    assert list(expected) == pytest.approx(list(mean), rel=1e-12, abs=1e-12)
    monkeypatch.setattr(model, "_triple_box_dead", lambda *a: None)
    monkeypatch.setattr(model, "_triple_dead", lambda *a: None)
    lower = measure(analyze(p, h, nest, count_actions(p, h, nest), spec,
                            {r: Uniform(k / p.elements(r)) for r, k in nnz.items()}))
    assert lower[0] == pytest.approx(before, abs=1e-4)
    assert lower[0] < mean[0] - 0.5


def test_a_dense_condition_without_padding_drops_out_at_the_edges():
    """A condition at density 1 whose tensor never leaves [0, size) (the output) is never empty: a gate on
    [ifmap, output] with a dense output is the gate on [ifmap], edges included (the padded conv of
    ``test_uniform_gating_of_windows_clipped_by_padding_equals_the_mean_over_every_mask``: 6.857 RF weight
    fills, the exact mean over every mask; the interior box, which that gate took before, gave 5.143)."""
    p = from_layer(Layer(name="c", kind=LayerKind.CONV, N=1, C=1, K=2, H=8, W=1, R=3, S=1, pad_h=1, pad_w=0))
    h, nest, one = _glb_rf(p, ((("P", 4), ("K", 2)), ("P", "K")), ((("R", 3), ("P", 2)), ("R", "P")))
    two = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": WEIGHT, "on_zero": [IFMAP, PSUM]}]}, "t")
    dense = count_actions(p, h, nest)
    key = ("rf", WEIGHT, "fill")
    got = [analyze(p, h, nest, dense, s, {IFMAP: Uniform(0.25)}).gated.storage[key] for s in (one, two)]
    assert got[1] == got[0]
    assert got[1] == pytest.approx(6 * (2 * comb(6, 3) / comb(8, 3) + 2 * comb(6, 4) / comb(8, 4)), rel=1e-12)


def test_three_conditions_over_padding_give_one_value_in_every_order():
    """review rev22: a box over padding whose interior grid counts more ifmap coordinates (6) than the ifmap
    has elements (5): ``_triple_dead`` chose that condition to enumerate in two of the six orders and fell
    back to the product of unions (0.0 there, 0.047 in the other four; NaN before the guard). The third is
    now chosen among the conditions that can be enumerated and a pair enumerates the side that can."""
    import itertools

    from accelsim.problem import from_layer
    from accelsim.sparse.model import Served, box_dead
    from workloads.layer import Layer, LayerKind

    p = from_layer(Layer(name="c", kind=LayerKind.CONV, N=1, C=1, K=2, H=5, W=1, R=3, S=1, pad_h=1, pad_w=0,
                         stride_h=2))
    assert p.elements("ifmap") == 5
    box = Served({d: p.size(d) for d in p.dim_names})
    models = {r: Uniform(0.5) for r in ("ifmap", "weight", "psum")}
    got = {perm: box_dead(p, box, perm, models, mac=True)
           for perm in itertools.permutations(("ifmap", "weight", "psum"))}
    assert len(set(got.values())) == 1, got
    assert next(iter(got.values())) > 0.0          # not the lower bound's 0.0


def _sliding_conv(h_in: int, k: int):
    """A 1-D conv (C 1, K ``k``, H ``h_in``, R 3, pad 1) whose GLB loops K then p2 (4) above an RF of r (3) x
    p1 (2): the RF's ifmap window slides along p2 (ceil-cut at the end when P is odd)."""
    p = from_layer(Layer(name="c", kind=LayerKind.CONV, N=1, C=1, K=k, H=h_in, W=1, R=3, S=1, pad_h=1, pad_w=0))
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES), Storage("rf", ROLES)))
    glb = (("K", k), ("P", 4)) if k > 1 else (("P", 4),)
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES), LevelMap("glb", glb, tuple(d for d, _ in glb), ROLES),
                     LevelMap("rf", (("R", 3), ("P", 2)), ("R", "P"), ROLES)))
    return p, h, nest


def test_a_gate_listed_twice_removes_nothing_more_as_every_mask_shows():
    """Two features on one (level, tensor) with the same condition (``sparse.model.group_q``): the second
    finds every access it would remove already removed by the first. The sliding conv with K 2, the GLB's
    ifmap reads gated on [ifmap] twice, 3 of 8 rows nonzero: 2 x 1.0 = 2.0 gated words, the mean over all
    56 masks; taken as independent, the second removed its fraction again of what the first left:
    2 + 14 x 2 / 16 = 3.75."""
    p, h, nest = _sliding_conv(8, 2)
    spec = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": IFMAP, "on_zero": [IFMAP]},
                                                 {"level": "glb", "tensor": IFMAP, "on_zero": [IFMAP]}]}, "t")
    expected, mean = mean_over_all_masks(p, h, nest, spec, lambda sa: [sa.gated.storage[("glb", IFMAP, "read")]],
                                         {IFMAP: 3})
    assert mean[0] == pytest.approx(2.0, rel=1e-12)
    assert expected[0] == pytest.approx(mean[0], rel=1e-12)


@pytest.mark.parametrize("second", [[PSUM], [PSUM, IFMAP]])
def test_features_on_one_tensor_meeting_the_same_edges_equal_the_mean_over_every_mask(second):
    """Features on one (level, tensor) whose conditions vary with the access's position: the sliding conv
    with H 7 (P 7: the last RF tile holds one p), the GLB's ifmap reads gated on [ifmap] (padding at both
    ends, the ceil edge) and then skipped on ``second`` (the RF tile's psum: 2 outputs, 1 at the edge).
    The two fractions are correlated through the positions, so the second's words are not its mean
    fraction of what the first left (``sparse.model.group_q`` sums them per class of positions): gated and
    skipped words equal the mean over all 35 x 35 mask pairs (3 of 7 rows, 3 of 7 outputs nonzero)."""
    p, h, nest = _sliding_conv(7, 1)
    spec = spec_from_dict({"name": "t", "gate": [{"level": "glb", "tensor": IFMAP, "on_zero": [IFMAP]}],
                           "skip": [{"level": "glb", "tensor": IFMAP, "on_zero": second}]}, "t")
    key = ("glb", IFMAP, "read")
    expected, mean = mean_over_all_masks(p, h, nest, spec, lambda sa: [sa.gated.storage[key], sa.skipped.storage[key]],
                                         {IFMAP: 3, PSUM: 3})
    assert list(expected) == pytest.approx(list(mean), rel=1e-12)
