"""Exact compressed words under actual masks (issue 16 item 6) against the brute-force interpreter.

The analytical side (``accelsim.sparse.exact``: the closed form's tiles, each measured on the mask in
its format) must equal, action by action, the brute-force interpreter walking every point of the
schedule (``accelsim.interp_general.BruteForce``) with a measure written here independently: a
recursive walk of each moved tile's fibertree. Random problems x hierarchies x nests x masks x formats.
And: the uniform model's expected words agree with the mean of the exact words over many random
masks (within sampling error), and ``analyze`` uses the exact words when the tensor is an actual mask.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelsim.cost.actions import assemble, count_actions
from accelsim.interp_general import BruteForce
from accelsim.loopnest import flatten
from accelsim.names import IFMAP, PSUM, WEIGHT
from accelsim.problem import from_layer
from accelsim.sparse.density import Actual, Uniform
from accelsim.sparse.exact import MaskOracle, exact_words
from accelsim.sparse.formats import parse_format
from accelsim.sparse.model import analyze
from accelsim.sparse.spec import spec_from_dict
from tests.core_strategies import hierarchies, nests, problems
from workloads.layer import conv

FORMATS = ["bitmask", {"ranks": [{"CP": 5}]}, {"ranks": [{"UOP": 4}, {"CP": 3}]}, {"ranks": ["B", "B"]},
           {"ranks": [{"RLE": 2}]}, {"ranks": [{"RLE": 1}], "packing": [3, 64], "adaptive": True},
           {"ranks": ["U", {"CP": 2}]}, {"ranks": [{"RLE": 1}, "B"]}, {"ranks": [{"RLE": 1}, "U"]},
           {"ranks": [{"UOP": 3}, {"RLE": 1}, {"CP": 2}]}, "uncompressed"]
ADDITIVE = ["bitmask", {"ranks": [{"CP": 5}]}, {"ranks": [{"CP": 3}], "packing": [3, 64]}, "uncompressed"]


def walk(fmt, sub: np.ndarray, word_bits: int) -> tuple[int, float]:
    """(payload entries, metadata bits) of one tile by a recursive fibertree walk (independent of
    ``accelsim.sparse.exact.tile_measure``)."""
    if sub.size == 0:
        return 0, 0.0
    if fmt.inner and sub.ndim == len(fmt.perm):      # the named axes innermost (``Format.on``)
        sub = np.transpose(sub, fmt.perm)
    ranks = fmt.ranks
    ext = list(sub.shape)
    k = len(ranks)
    if k > len(ext):
        ext = [1] * (k - len(ext)) + ext
    lens = [math.prod(ext[: len(ext) - k + 1])] + ext[len(ext) - k + 1:]
    arr = sub.reshape(lens) != 0

    def rec(i: int, fiber: np.ndarray) -> tuple[int, int]:
        rank = ranks[i]
        coords = list(range(lens[i]))
        nonempty = [c for c in coords if fiber[c].any()]
        meta = 0
        if rank.kind == "U":
            cont = coords
        elif rank.kind == "UOP":
            meta, cont = (lens[i] + 1) * rank.bits, coords
        elif rank.kind == "B":
            meta, cont = lens[i], nonempty
        elif rank.kind == "CP":
            meta, cont = rank.bits * len(nonempty), nonempty
        else:   # RLE: the run field skips up to 2^w - 1 zeros; a longer gap stores the zero after them
            prev, cont = -1, []
            for c in nonempty:
                while c - prev - 1 >= 2 ** rank.bits:
                    prev += 2 ** rank.bits
                    cont.append(prev)           # a zero entry (on an inner rank: its all-zero sub-fiber)
                cont.append(c)
                prev = c
            meta = rank.bits * len(cont)
        if i == k - 1:
            return len(cont), meta
        payload = 0
        for c in cont:
            p, m = rec(i + 1, fiber[c])
            payload += p
            meta += m
        return payload, meta

    payload, meta = rec(0, arr)
    meta_f = float(meta)
    if fmt.packing is not None:
        per, bits = fmt.packing
        meta_f = max(0.0, payload * bits / per - payload * word_bits)
    if fmt.adaptive and payload * word_bits + meta_f >= sub.size * word_bits:
        return sub.size, 0.0
    return payload, meta_f


def brute(problem, hierarchy, nest, role, mask, fmt, wb):
    def measure(r, box):
        if r != role or not all(box):
            return np.zeros(2)
        p, m = walk(fmt, mask[np.ix_(*[sorted(ax) for ax in box])], wb)
        return np.array([p, m])
    return assemble(problem, hierarchy, nest, BruteForce(problem, flatten(problem, nest), measure))


SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))


def draw_nest(data, fixed: bool | None = None):
    """(problem, hierarchy, nest): a random problem x hierarchy x nest, or a fixed-shape mapping (DRAM,
    GLB over a 1-3 x 1-3 array with per-pass tiles, RF, operand registers) converted to the general
    nest; ``fixed`` None: either, drawn. None when the converted mapping is not legal as a nest."""
    from accelsim.hierarchy import fixed_shape
    from accelsim.loopnest import from_fixed, problems_of
    from tests.strategies import mappings, small_layers

    if fixed is None:
        fixed = not data.draw(st.booleans())
    if not fixed:
        problem = data.draw(problems())
        hierarchy = data.draw(hierarchies())
        return problem, hierarchy, data.draw(nests(problem, hierarchy))
    layer = data.draw(small_layers(max_hw=5))
    m = data.draw(mappings(layer))
    hierarchy = fixed_shape(data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    nest = from_fixed(m, hierarchy)
    problem = from_layer(layer)
    return None if problems_of(problem, hierarchy, nest) else (problem, hierarchy, nest)


@SETTINGS
@given(st.data())
def test_exact_words_equal_the_interpreter_walking_the_masks(data):
    problem = data.draw(problems())
    hierarchy = data.draw(hierarchies())
    nest = data.draw(nests(problem, hierarchy))
    role = data.draw(st.sampled_from([IFMAP, WEIGHT, PSUM]))
    fmt = parse_format(data.draw(st.sampled_from(FORMATS)), "t", "f")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    shape = tuple(c.size for c in problem.tensor(role).coords)
    mask = rng.random(shape) < data.draw(st.sampled_from([0.05, 0.3, 0.7, 1.0]))
    flat = flatten(problem, nest)
    got = assemble(problem, hierarchy, nest, MaskOracle(problem, flat, role, mask, fmt, 16), flat)
    want = brute(problem, hierarchy, nest, role, mask, fmt, 16)
    keys = {k for k in (*want.storage, *got.storage) if k[1] == role}
    assert keys
    for k in keys:
        assert np.allclose(got.storage[k], want.storage[k], rtol=0, atol=1e-9), (k, got.storage[k], want.storage[k])
    for k in {k for k in (*want.network, *got.network) if k[1] == role}:
        assert np.allclose(got.network[k], want.network[k], rtol=0, atol=1e-9), (k, got.network[k], want.network[k])
    if fmt.text() == "[U]":          # uncompressed: the dense words, no metadata
        dense = count_actions(problem, hierarchy, nest)
        for k, v in got.storage.items():
            if k[1] == role:
                assert v[0] == dense.storage[k] and v[1] == 0


def _conv_case():
    from accelsim.hierarchy import Hierarchy, Storage
    from accelsim.loopnest import LevelMap, LoopNest
    from accelsim.names import ROLES

    problem = from_layer(conv("c", C=4, K=4, H=8, R=3, pad=1))
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("buf", ROLES)))
    sizes = dict(problem.dims)
    nest = LoopNest((LevelMap("dram", (("K", 2), ("P", 4)), problem.dim_names, ROLES),
                     LevelMap("buf", tuple((d, sizes[d] // (2 if d in ("K", "P") else 1)) for d in problem.dim_names),
                              problem.dim_names, ROLES)))
    return problem, h, nest


@pytest.mark.parametrize("fmt", [{"ranks": [{"CP": 4}]}, "bitmask"])
def test_uniform_expected_words_agree_with_the_mean_over_random_masks(fmt):
    """The expected model's compressed words at the DRAM and the buffer (single-rank formats: linear in
    the moved elements) against the mean of the exact words over 300 random ifmaps with exactly
    round(d * size) nonzeros, within 4 standard errors."""
    problem, h, nest = _conv_case()
    d = 0.3
    spec = spec_from_dict({"name": "f", "formats": {"dram": {"ifmap": fmt}, "buf": {"ifmap": fmt}}}, "t")
    dense = count_actions(problem, h, nest)
    sa = analyze(problem, h, nest, dense, spec, {IFMAP: Uniform(d)})
    size = problem.elements(IFMAP)
    shape = tuple(c.size for c in problem.tensor(IFMAP).coords)
    rng = np.random.default_rng(7)
    samples = []
    for _ in range(300):
        m = np.zeros(size, dtype=bool)
        m[rng.choice(size, Uniform(d).nnz(size), replace=False)] = True
        ds, ms, _, _ = exact_words(problem, h, nest, IFMAP, m.reshape(shape), lambda lv: spec.format(lv, IFMAP), [0, 1])
        samples.append([ds[k] + ms[k] for k in sorted(ds)])
    arr = np.array(samples)
    keys = sorted(ds)
    for j, k in enumerate(keys):
        want = sa.data.storage[k] + sa.metadata.storage[k]
        se = arr[:, j].std() / math.sqrt(len(arr)) + 1e-12
        assert abs(arr[:, j].mean() - want) <= 4 * se + 1e-9, (k, arr[:, j].mean(), want)


def test_analyze_with_an_actual_mask_moves_the_exact_words():
    problem, h, nest = _conv_case()
    rng = np.random.default_rng(3)
    shape = tuple(c.size for c in problem.tensor(IFMAP).coords)
    mask = rng.random(shape) < 0.4
    spec = spec_from_dict({"name": "f", "formats": {"dram": {"ifmap": {"ranks": [{"UOP": 4}, {"CP": 3}]}}}}, "t")
    sa = analyze(problem, h, nest, count_actions(problem, h, nest), spec, {IFMAP: Actual(mask)})
    ds, ms, dn, mn = exact_words(problem, h, nest, IFMAP, mask, lambda lv: spec.format(lv, IFMAP), [0])
    want = brute(problem, h, nest, IFMAP, mask, spec.format("dram", IFMAP), h.word_bits)
    for k, v in ds.items():
        assert sa.data.storage[k] == v == want.storage[k][0]
        assert sa.metadata.storage[k] == ms[k] == want.storage[k][1] / h.word_bits
    assert sa.data.storage[("buf", IFMAP, "read")] == count_actions(problem, h, nest).storage[("buf", IFMAP, "read")]


def test_mac_features_on_actual_masks_count_what_the_functional_mode_executes():
    """Gate MACs on a zero ifmap, then skip the rest on a zero weight: the gated MACs are those whose
    ifmap is zero (padding included), the skipped ones those with a nonzero ifmap and a zero weight,
    each counted by the functional mode executing the loop nest on the masks (the weight replaced by
    ones to count the ifmap condition alone)."""
    from accelsim.functional_general import execute

    problem, h, nest = _conv_case()
    rng = np.random.default_rng(11)
    shape = {r: tuple(c.size for c in problem.tensor(r).coords) for r in (IFMAP, WEIGHT)}
    ifm = (rng.random(shape[IFMAP]) < 0.5).astype(np.int64)
    w = (rng.random(shape[WEIGHT]) < 0.6).astype(np.int64)
    spec = spec_from_dict({"name": "g", "gate": [{"level": "mac", "on_zero": ["ifmap"]}],
                           "skip": [{"level": "mac", "on_zero": ["weight"]}]}, "t")
    dense = count_actions(problem, h, nest)
    sa = analyze(problem, h, nest, dense, spec, {IFMAP: Actual(ifm), WEIGHT: Actual(w)})
    ifmap_nonzero = int(execute(problem, nest, ifm, np.ones(shape[WEIGHT], dtype=np.int64)).sum())
    both = int(execute(problem, nest, ifm, w).sum())
    assert sa.gated_macs == pytest.approx(dense.macs - ifmap_nonzero, abs=1e-6)
    assert sa.skipped_macs == pytest.approx(ifmap_nonzero - both, abs=1e-6)
    assert sa.effective_macs == pytest.approx(both, abs=1e-6)


@pytest.mark.parametrize("fmt,kind", [("uncompressed", "gate"), ({"ranks": [{"CP": 4}]}, "skip")])
def test_storage_gating_per_mac_on_actual_masks_counts_the_executed_macs(fmt, kind):
    """The buffer serves the MACs one read each: gating / skipping its weight reads on a zero ifmap keeps
    exactly the reads whose MAC has a nonzero ifmap (and, stored compressed, a nonzero weight), counted
    by the functional mode executing the nest; the rest are gated / skipped."""
    from accelsim.functional_general import execute

    problem, h, nest = _conv_case()
    rng = np.random.default_rng(5)
    shape = {r: tuple(c.size for c in problem.tensor(r).coords) for r in (IFMAP, WEIGHT)}
    ifm = (rng.random(shape[IFMAP]) < 0.45).astype(np.int64)
    w = (rng.random(shape[WEIGHT]) < 0.5).astype(np.int64)
    spec = spec_from_dict({"name": "g", "formats": {"buf": {"weight": fmt}},
                           kind: [{"level": "buf", "tensor": "weight", "on_zero": ["ifmap"]}]}, "t")
    dense = count_actions(problem, h, nest)
    sa = analyze(problem, h, nest, dense, spec, {IFMAP: Actual(ifm), WEIGHT: Actual(w)})
    key = ("buf", WEIGHT, "read")
    assert dense.storage[key] == dense.macs
    if fmt == "uncompressed":
        kept = int(execute(problem, nest, ifm, np.ones(shape[WEIGHT], dtype=np.int64)).sum())
        total = dense.macs
    else:
        kept = int(execute(problem, nest, ifm, w).sum())
        total = int(w.sum()) * dense.macs // w.size       # each weight meets N * P * Q MACs
    before = analyze(problem, h, nest, dense, spec_from_dict({"name": "f", "formats": {"buf": {"weight": fmt}}}, "t"),
                     {IFMAP: Actual(ifm), WEIGHT: Actual(w)})
    assert before.data.storage[key] == total                      # the exact words before the feature
    assert sa.data.storage[key] == pytest.approx(kept, abs=1e-6)
    if kind == "gate":
        assert sa.gated.storage[key] == pytest.approx(total - kept, abs=1e-6)
    else:     # a skipped read's metadata is skipped with it
        meta_lost = before.metadata.storage[key] - sa.metadata.storage[key]
        assert sa.skipped.storage[key] == pytest.approx(total - kept + meta_lost, abs=1e-6)


@pytest.mark.parametrize("fmt", [{"ranks": [{"RLE": 1}, "B"]}, {"ranks": [{"RLE": 1}, "U"]},
                                 {"ranks": [{"UOP": 3}, {"RLE": 1}, {"CP": 2}]}, {"ranks": ["U", {"RLE": 1}, "U"]}])
def test_rle_on_an_inner_rank_measures_what_the_fibertree_walk_stores(fmt):
    """RLE on a rank other than the last: its zero entries (gaps of 2^w or more zeros) point to all-zero
    sub-fibers, which the ranks below store as any fiber; each tile's payload and metadata equal the
    recursive walk's, on 400 random tiles of random shapes and densities."""
    from accelsim.sparse.exact import tile_measure

    f = parse_format(fmt, "t", "f")
    rng = np.random.default_rng(2)
    for _ in range(80):
        shape = tuple(int(x) for x in rng.integers(1, 9, size=int(rng.integers(1, 4))))
        tiles = rng.random((5, *shape)) < rng.choice([0.05, 0.2, 0.5, 0.9])
        payload, meta = tile_measure(f, tiles, 16)
        for j in range(5):
            assert (payload[j], meta[j]) == walk(f, tiles[j], 16), (shape, tiles[j])


@SETTINGS
@given(st.data())
def test_output_words_in_any_format_through_analyze_equal_the_interpreter(data):
    """The output (psum) under an actual mask in any format, multi-rank, RLE and adaptive included (its
    fills are its updates minus its first touches, each first-touched tile measured whole): ``analyze``'s
    data and metadata words at the compressed level and on the hops it feeds equal the brute force
    walking the masks, on random hierarchies and on fixed-shape mappings (DRAM, GLB over the PE array
    with per-pass tiles, RF, registers) converted to the general nest."""
    case = draw_nest(data)
    if case is None:
        return
    problem, hierarchy, nest = case
    names = [lm.level for lm in nest.levels]
    chain = [i for i in range(len(names)) if nest.keeps(i, PSUM) or i == 0]
    level = data.draw(st.sampled_from(chain))
    fmt_doc = data.draw(st.sampled_from(FORMATS[:-1]))
    spec = spec_from_dict({"name": "o", "formats": {names[level]: {"psum": fmt_doc}}}, "t")
    fmt = spec.format(names[level], PSUM)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    shape = tuple(c.size for c in problem.tensor(PSUM).coords)
    mask = rng.random(shape) < data.draw(st.sampled_from([0.1, 0.4, 0.8]))
    sa = analyze(problem, hierarchy, nest, count_actions(problem, hierarchy, nest), spec, {PSUM: Actual(mask)})
    want = brute(problem, hierarchy, nest, PSUM, mask, fmt, hierarchy.word_bits)
    wb = hierarchy.word_bits
    nxt = ([i for i in chain if i > level] + [len(names)])[0]
    keys = [("storage", k) for k in want.storage if k[1] == PSUM and k[0] == names[level]]
    keys += [("network", k) for k in want.network if k[1] == PSUM and level <= names.index(k[0]) < nxt]
    assert keys
    for tab, k in keys:
        w = np.zeros(2) + getattr(want, tab)[k]
        assert getattr(sa.data, tab)[k] == pytest.approx(w[0], abs=1e-6), (k, getattr(sa.data, tab)[k], w)
        assert getattr(sa.metadata, tab)[k] == pytest.approx(w[1] / wb, abs=1e-6), k


@pytest.mark.parametrize("role,inner", [(IFMAP, ["C"]), (WEIGHT, ["K"]), (WEIGHT, ["C", "K"]), (PSUM, ["K"])])
def test_inner_axes_order_the_ranks_as_the_interpreter_walks_them(role, inner):
    """A format with ``inner`` (Eyeriss v2's CSC: coordinates over the channels) measures every moved tile
    with the named axes innermost: exact words (``MaskOracle``) equal the interpreter walking the masks
    with the tile's axes transposed so, and differ from the format without ``inner`` (the order matters)."""
    from accelsim.sparse.formats import axis_names

    problem, h, nest = _conv_case()
    flat = flatten(problem, nest)
    doc = {"ranks": [{"UOP": 4}, {"CP": 3}]}
    fmt = parse_format({**doc, "inner": inner}, "t", "f").on(axis_names(problem.tensor(role)), "t")
    plain = parse_format(doc, "t", "f")
    mask = np.random.default_rng(7).random(tuple(c.size for c in problem.tensor(role).coords)) < 0.4
    got = assemble(problem, h, nest, MaskOracle(problem, flat, role, mask, fmt, 16), flat)
    want = brute(problem, h, nest, role, mask, fmt, 16)
    other = brute(problem, h, nest, role, mask, plain, 16)
    keys = [k for k in want.storage if k[1] == role]
    assert keys
    for k in keys:
        assert np.allclose(got.storage[k], want.storage[k], rtol=0, atol=1e-9), (k, got.storage[k], want.storage[k])
    assert any(not np.allclose(want.storage[k], other.storage[k]) for k in keys)


def test_inner_names_the_tensors_axes_or_is_one_line():
    """``inner`` names axes by their coordinate's first dim (ifmap N, G, C, P, Q); an axis the tensor lacks
    is a ConfigError naming the format, the tensor and its axes; an unresolved format refuses a tile."""
    from accelsim.errors import ConfigError
    from accelsim.sparse.formats import axis_names

    problem = from_layer(conv("c", C=4, K=4, H=8, R=3, pad=1))
    assert axis_names(problem.tensor(IFMAP)) == ("N", "G", "C", "P", "Q")
    assert axis_names(problem.tensor(WEIGHT)) == ("G", "K", "C", "R", "S")
    fmt = parse_format({"ranks": [{"UOP": 4}, {"CP": 4}], "inner": ["C"]}, "t", "f")
    assert fmt.text() == "[UOP(4), CP(4)] inner C"
    on = fmt.on(axis_names(problem.tensor(IFMAP)), "tensor 'ifmap'")
    assert on.perm == (0, 1, 3, 4, 2)
    # a 16-channel 1 x 1 tile: one position (2 offsets of 4 bits) and 16 coordinates, not 17 offsets
    assert on.per_tile([1, 1, 16, 1, 1], Uniform(1.0), 16, 16) == (16, 2 * 4 + 16 * 4)
    assert fmt.on(("N", "G", "C", "P", "Q"), "x").per_tile([1, 1, 16, 1, 1], Uniform(1.0), 16, 16) == \
        parse_format({"ranks": [{"UOP": 4}, {"CP": 4}]}, "t", "f").per_tile([1, 1, 1, 1, 16], Uniform(1.0), 16, 16)
    with pytest.raises(ConfigError) as err:
        parse_format({"ranks": [{"UOP": 4}, {"CP": 4}], "inner": ["X"]}, "t", "f").on(
            axis_names(problem.tensor(IFMAP)), "f: formats.rf.ifmap.inner (tensor 'ifmap' of 'c')")
    assert str(err.value) == "f: formats.rf.ifmap.inner (tensor 'ifmap' of 'c'): unknown axis 'X'; allowed: N, G, C, P, Q"
    with pytest.raises(ConfigError, match="not resolved"):
        fmt.per_tile([1, 1, 16, 1, 1], Uniform(1.0), 16, 16)
    with pytest.raises(ConfigError, match="inner must be a list of distinct axis names"):
        parse_format({"ranks": ["B"], "inner": ["C", "C"]}, "t", "f")

