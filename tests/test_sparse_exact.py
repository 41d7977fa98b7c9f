"""Exact compressed words under actual masks (issue 16 item 6) against the brute-force interpreter.

The analytical side (``analyze`` on an actual mask: every compressed action's dense words x its level's
rho_L, ``accelsim.sparse.exact.mask_ratio``) must equal, action by action, the brute-force interpreter's
dense counts (``accelsim.interp_general.interpret``) x a rho written here independently: the level's tile
positions from the schedule's points grouped by their digits above the level's cut, each measured by a
recursive walk of its fibertree, an adaptive format's choice from its rule. Random problems x hierarchies x
nests x masks x formats. And: the uniform model's expected words agree with the mean of the words on many
random masks (within sampling error), at ceil edges and padding too.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelsim.cost.actions import count_actions
from accelsim.loopnest import flatten
from accelsim.names import IFMAP, PSUM, WEIGHT
from accelsim.problem import from_layer
from accelsim.sparse.density import Actual, Uniform
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
    return payload, meta_f


def choose(problem, role, mask, fmt, wb):
    """An adaptive format's choice, from its rule (docs/sparsity.md, Formats): uncompressed when the whole
    tensor's expected words at the mask's density (``Format.per_tile``, itself tested against masks) are
    not fewer than its elements, else the format without ``adaptive``; any other format as it is."""
    if not fmt.adaptive:
        return fmt
    fmt = dataclasses.replace(fmt, adaptive=False)
    shape = [c.size for c in problem.tensor(role).coords]
    payload, bits = fmt.per_tile(shape, Uniform(float(mask.mean())), mask.size, wb)
    return parse_format("uncompressed", "t", "f") if payload * wb + bits >= mask.size * wb else fmt


def rho(problem, nest, role, mask, fmt, wb, level):
    """The interpreter's rho of ``level`` (``accelsim.sparse.exact``), written independently: the level's
    tile positions are the schedule's points grouped by their digits of the role's loops above the
    level's cut, each position the coordinates its points touch; rho = (sum of the positions' walks
    (:func:`walk`)) / (sum of their elements): [payload, metadata bits] per dense word (``fmt`` chosen,
    :func:`choose`)."""
    import itertools

    flat = flatten(problem, nest)
    loops = flat.loops
    cut = flat.cut_of(level, role)
    rel = problem.relevant(role)
    keypos = [i for i in range(cut) if loops[i].dim in rel]
    coords = problem.tensor(role).coords
    size = dict(problem.dims)
    tiles: dict = {}
    for digits in itertools.product(*[range(lp.factor) for lp in loops]):
        idx = {d: 0 for d in size}
        for lp, v in zip(loops, digits):
            idx[lp.dim] += v * lp.span
        if any(idx[d] >= size[d] for d in size):
            continue                      # no such point (ceil tiling)
        axes = tiles.setdefault(tuple(digits[i] for i in keypos), [set() for _ in coords])
        x = [sum(k * idx[d] for d, k in c.terms) + c.offset for c in coords]
        if all(0 <= v < c.size for v, c in zip(x, coords)):
            for a, v in enumerate(x):
                axes[a].add(v)
    total, elems = np.zeros(2), 0
    for axes in tiles.values():
        if all(axes):
            total += walk(fmt, mask[np.ix_(*[sorted(a) for a in axes])], wb)
            elems += math.prod(len(a) for a in axes)
    return total / elems if elems else np.array([1.0, 0.0])


def brute(problem, hierarchy, nest, role, mask, fmt_of):
    """The interpreter's words of ``role`` (``fmt_of(level name)``: its format there) under its mask:
    per action key [data words, metadata words], the dense count times the rho of the level whose
    format the action is in (its own; a network action's receiving level's, as the interpreter's hops
    go: a word sent down to a child storing the tensor compressed arrives in its format)."""
    from accelsim.interp_general import interpret

    dense = interpret(problem, hierarchy, nest)
    names = [lm.level for lm in nest.levels]
    n = len(names)
    wb = hierarchy.word_bits
    raw = fmt_of

    def fmt_of(level: str):       # each level's format as chosen for this layer (adaptive)
        return choose(problem, role, mask, raw(level), wb)
    chain = [i for i in range(n) if nest.keeps(i, role) or i == 0] + [n]
    hop = {j: (par, ch) for par, ch in zip(chain, chain[1:]) for j in range(par, ch)}
    ratios = {}

    def scale(level, words):
        f = fmt_of(names[level])
        if not f.compressed:
            return np.array([words, 0.0])
        if level not in ratios:
            ratios[level] = rho(problem, nest, role, mask, f, wb, level)
        return words * ratios[level] * np.array([1.0, 1.0 / wb])

    out = {}
    for (lv, r, a), w in dense.storage.items():
        if r == role:
            out[(lv, r, a)] = scale(names.index(lv), w)
    for (lv, r, a), w in dense.network.items():
        if r == role:
            par, ch = hop[names.index(lv)]
            down = a in ("down", "down_dest") and ch < n and fmt_of(names[ch]).compressed
            out[(lv, r, a)] = scale(ch if down else par, w)
    return out


def close(got, want):
    return np.allclose(got, want, rtol=1e-12, atol=1e-9)


def assert_words(sa, want):
    """analyze's data and metadata words equal the interpreter's, key by key."""
    assert want
    for k, (d, m) in want.items():
        tab = "storage" if k in sa.data.storage else "network"
        got = [getattr(sa.data, tab).get(k, 0.0), getattr(sa.metadata, tab).get(k, 0.0)]
        assert close(got, [d, m]), (k, got, [d, m])


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
    """``analyze`` with an actual mask of one role in a random format at one or two levels: every action
    of the role equals the interpreter's dense count times the rho of the level whose format it is in
    (operands and the output, random problems x hierarchies x nests x masks)."""
    problem = data.draw(problems())
    hierarchy = data.draw(hierarchies())
    nest = data.draw(nests(problem, hierarchy))
    role = data.draw(st.sampled_from([IFMAP, WEIGHT, PSUM]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    shape = tuple(c.size for c in problem.tensor(role).coords)
    mask = rng.random(shape) < data.draw(st.sampled_from([0.05, 0.3, 0.7, 1.0]))
    names = [lm.level for lm in nest.levels]
    chain = [i for i in range(len(names)) if i == 0 or nest.keeps(i, role)]
    levels = data.draw(st.lists(st.sampled_from(chain), min_size=1, max_size=2, unique=True))
    formats = {names[i]: {role: data.draw(st.sampled_from(FORMATS))} for i in levels}
    spec = spec_from_dict({"name": "f", "formats": formats}, "t")
    sa = analyze(problem, hierarchy, nest, count_actions(problem, hierarchy, nest), spec, {role: Actual(mask)})
    assert_words(sa, brute(problem, hierarchy, nest, role, mask, lambda lv: spec.format_on(lv, role, problem)))


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


def test_analyze_with_an_actual_mask_moves_the_exact_words():
    """Words = dense words x rho of the level's format on the mask; a level without a format moves the
    dense words (the DRAM's CSR tiles: clipped by padding at the edges, each position once)."""
    problem, h, nest = _conv_case()
    rng = np.random.default_rng(3)
    shape = tuple(c.size for c in problem.tensor(IFMAP).coords)
    mask = rng.random(shape) < 0.4
    spec = spec_from_dict({"name": "f", "formats": {"dram": {"ifmap": {"ranks": [{"UOP": 4}, {"CP": 3}]}}}}, "t")
    dense = count_actions(problem, h, nest)
    sa = analyze(problem, h, nest, dense, spec, {IFMAP: Actual(mask)})
    assert_words(sa, brute(problem, h, nest, IFMAP, mask, lambda lv: spec.format(lv, IFMAP)))
    assert sa.data.storage[("buf", IFMAP, "read")] == dense.storage[("buf", IFMAP, "read")]
    assert sa.metadata.storage[("buf", IFMAP, "read")] == 0


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
    exactly the reads whose MAC has a nonzero ifmap, counted by the functional mode executing the nest,
    each moving the weight's share rho (stored as CP over the whole weight: its density); the rest are
    gated / skipped."""
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
    share = 1.0 if fmt == "uncompressed" else w.sum() / w.size
    kept = int(execute(problem, nest, ifm, np.ones(shape[WEIGHT], dtype=np.int64)).sum()) * share
    total = dense.macs * share
    before = analyze(problem, h, nest, dense, spec_from_dict({"name": "f", "formats": {"buf": {"weight": fmt}}}, "t"),
                     {IFMAP: Actual(ifm), WEIGHT: Actual(w)})
    assert before.data.storage[key] == pytest.approx(total, rel=1e-12)     # the words before the feature
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
    """The output (psum) under an actual mask in any format, multi-rank, RLE and adaptive included:
    ``analyze``'s data and metadata words of every output action equal the interpreter's dense counts
    times the rho of the level whose format the action is in, on random hierarchies and on fixed-shape
    mappings (DRAM, GLB over the PE array with per-pass tiles, RF, registers) converted to the general
    nest."""
    case = draw_nest(data)
    if case is None:
        return
    problem, hierarchy, nest = case
    names = [lm.level for lm in nest.levels]
    chain = [i for i in range(len(names)) if nest.keeps(i, PSUM) or i == 0]
    level = data.draw(st.sampled_from(chain))
    fmt_doc = data.draw(st.sampled_from(FORMATS[:-1]))
    spec = spec_from_dict({"name": "o", "formats": {names[level]: {"psum": fmt_doc}}}, "t")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    shape = tuple(c.size for c in problem.tensor(PSUM).coords)
    mask = rng.random(shape) < data.draw(st.sampled_from([0.1, 0.4, 0.8]))
    sa = analyze(problem, hierarchy, nest, count_actions(problem, hierarchy, nest), spec, {PSUM: Actual(mask)})
    assert_words(sa, brute(problem, hierarchy, nest, PSUM, mask, lambda lv: spec.format(lv, PSUM)))


@pytest.mark.parametrize("role,inner", [(IFMAP, ["C"]), (WEIGHT, ["K"]), (WEIGHT, ["C", "K"]), (PSUM, ["K"])])
def test_inner_axes_order_the_ranks_as_the_interpreter_walks_them(role, inner):
    """A format with ``inner`` (Eyeriss v2's CSC: coordinates over the channels) measures every tile
    with the named axes innermost: the words on a mask equal the interpreter's rho walking the tiles
    with their axes transposed so, and differ from the format without ``inner`` (the order matters)."""
    problem, h, nest = _conv_case()
    doc = {"ranks": [{"UOP": 4}, {"CP": 3}]}
    mask = np.random.default_rng(7).random(tuple(c.size for c in problem.tensor(role).coords)) < 0.4
    dense = count_actions(problem, h, nest)
    got = {}
    for fmt in ({**doc, "inner": inner}, doc):
        spec = spec_from_dict({"name": "f", "formats": {"dram": {role: fmt}, "buf": {role: fmt}}}, "t")
        sa = analyze(problem, h, nest, dense, spec, {role: Actual(mask)})
        assert_words(sa, brute(problem, h, nest, role, mask, lambda lv, spec=spec: spec.format_on(lv, role, problem)))
        got[bool(fmt.get("inner"))] = sa
    assert any(not close(got[True].metadata.storage[k], got[False].metadata.storage[k])
               for k in got[True].metadata.storage if k[1] == role)


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



def _window_case(spread_r: bool):
    """A conv whose ifmap tiles overlap (windows): the GLB feeds a 2 x 3 PE array over P and either R
    (each PE one row of the window, the PEs' rows overlapping across P) or C (each PE a P row's whole
    window: neighbours share two rows); the DRAM and the GLB step Q and P, so refills slide."""
    from accelsim.hierarchy import Fanout, Hierarchy, Storage
    from accelsim.loopnest import LevelMap, LoopNest
    from accelsim.names import ROLES

    problem = from_layer(conv("c", C=2, K=2, H=6, R=3, pad=1))
    dims = problem.dim_names
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(2, 3, "bus")), Storage("rf", ROLES)))
    if spread_r:
        glb = LevelMap("glb", (("P", 3),), dims, ROLES, x=(("P", 2),), y=(("R", 3),))
        rf = LevelMap("rf", (("C", 2), ("Q", 3), ("S", 3)), dims, ROLES)
    else:
        glb = LevelMap("glb", (("P", 3),), dims, ROLES, x=(("P", 2),), y=(("C", 2),))
        rf = LevelMap("rf", (("Q", 3), ("R", 3), ("S", 3)), dims, ROLES)
    nest = LoopNest((LevelMap("dram", (("K", 2), ("Q", 2)), dims, ROLES), glb, rf))
    return problem, h, nest


@pytest.mark.parametrize("spread_r", [True, False])
@pytest.mark.parametrize("fmt", [{"ranks": [{"UOP": 4}, {"CP": 3}]}, {"ranks": [{"RLE": 2}]}, {"ranks": ["B", "B"]},
                                 {"ranks": [{"RLE": 1}], "packing": [3, 64], "adaptive": True}])
def test_overlapping_tile_positions_over_padding_count_each_position_once(spread_r, fmt):
    """Windows: the ifmap's tile positions at the GLB and the RF overlap (halo) and are clipped by the
    padding; rho counts each position once (an element in two positions twice). Every ifmap action,
    the multicast down to the compressed PEs in their format included, equals the interpreter's."""
    problem, h, nest = _window_case(spread_r)
    mask = np.random.default_rng(5).random(tuple(c.size for c in problem.tensor(IFMAP).coords)) < 0.4
    spec = spec_from_dict({"name": "f", "formats": {lv: {"ifmap": fmt} for lv in ("glb", "rf")}}, "t")
    sa = analyze(problem, h, nest, count_actions(problem, h, nest), spec, {IFMAP: Actual(mask)})
    want = brute(problem, h, nest, IFMAP, mask, lambda lv: spec.format(lv, IFMAP))
    assert ("glb", IFMAP, "down") in want
    assert_words(sa, want)


AGREE_FORMATS = [{"ranks": [{"UOP": 4}, {"CP": 3}]}, {"ranks": ["B", "B"]}, {"ranks": [{"RLE": 2}]},
                 {"ranks": [{"RLE": 1}], "packing": [3, 64], "adaptive": True}, {"ranks": ["U", {"CP": 3}]}]


def _agree_case(pad: int):
    """The probe's nest (DRAM, a GLB over two PEs splitting K, an RF): pad 0 with factors dividing the
    dims (every tile position interior), or pad 1 (the ifmap's positions clipped by the padding)."""
    from accelsim.hierarchy import Fanout, Hierarchy, Storage
    from accelsim.loopnest import LevelMap, LoopNest
    from accelsim.names import ROLES

    problem = from_layer(conv("c", C=4, K=4, H=8, R=3, pad=pad))
    p_dim = problem.size("P")           # 6 without padding, 8 with
    dims = problem.dim_names
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(2, 1, "bus")), Storage("rf", ROLES)))
    nest = LoopNest((LevelMap("dram", (("K", 2), ("P", 2)), dims, ROLES),
                     LevelMap("glb", (("C", 2), ("Q", 2), ("P", p_dim // 4 if pad else 3)), dims, ROLES, x=(("K", 2),)),
                     LevelMap("rf", (("C", 2), ("P", 2 if pad else 1), ("Q", p_dim // 2), ("R", 3), ("S", 3)),
                              dims, ROLES)))
    return problem, h, nest


def _agreement(pad: int, fmt, level: str):
    from tests.test_sparse_exact_gating import mean_over_masks

    problem, h, nest = _agree_case(pad)
    spec = spec_from_dict({"name": "f", "formats": {level: {"weight": fmt, "ifmap": fmt}}}, "t")
    keys: list = []

    def measure(sa):
        tabs = [(sa.data.storage, sa.metadata.storage), (sa.data.network, sa.metadata.network)]
        keys[:] = sorted((k, j) for j, (d, _) in enumerate(tabs) for k in d if k[1] in (IFMAP, WEIGHT) and d[k])
        return [tabs[j][0][k] + tabs[j][1][k] for k, j in keys]

    want, mean, se = mean_over_masks(problem, h, nest, spec, measure, {IFMAP: 0.3, WEIGHT: 0.5}, n=200)
    return [(k, w, m, s) for (k, _), w, m, s in zip(keys, want, mean, se)]


@pytest.mark.parametrize("level", ["glb", "rf"])
@pytest.mark.parametrize("fmt", AGREE_FORMATS + [{"ranks": [{"UOP": 4}]}, {"ranks": [{"CP": 3}], "packing": [3, 64]}])
def test_uniform_words_equal_the_mean_over_random_masks_on_interior_tiles(fmt, level):
    """The uniform model's words (data + metadata) of every ifmap / weight action (reads, fills, the
    network down to the PEs) against the mean over 200 random masks with exactly round(d x size)
    nonzeros of the words on the masks, within 4 standard errors (deterministic ones, se 0: to 1e-9
    relative). Every tile position interior (pad 0, factors dividing the dims): E[rho on a mask] is
    the interior tile's expected ratio exactly. Multi-rank and RLE formats included: on main before
    rho (each event's own tile measured) the RF's CSR ifmap reads were 3129 against a mean of 6643. One
    UOP rank: taken as linear in the tile before (a 1-element tile's (1 + 1) x w bits per word), the GLB's
    ifmap down words were 1728.0 against the masks' 1441.8."""
    rows = _agreement(0, fmt, level)
    assert any(k[0] == "glb" and k[2] == "down" for k, *_ in rows)
    for k, want, mean, se in rows:
        assert abs(want - mean) <= 4 * se + 1e-9 * abs(mean), (k, want, mean, se)


@pytest.mark.parametrize("level", ["glb", "rf"])
@pytest.mark.parametrize("fmt", AGREE_FORMATS)
def test_uniform_words_equal_the_mean_over_random_masks_over_padding(level, fmt):
    """As on interior tiles, with pad 1: the ifmap's tile positions clipped by the padding count their
    in-range elements (rho_L = sum m(S) / sum |S| over every position, edges included), under the
    uniform model too (``sparse.positions``). With one interior tile's expected ratio (the model before)
    the RF's ifmap reads were UOP+CP 3128.98 against a mean of 3211.00 +- 7.58, RLE(2) 3353.37 against
    3312.58 +- 6.91, packed adaptive RLE(1) 5834.32 against 5735.17 +- 10.0."""
    rows = _agreement(1, fmt, level)
    for k, want, mean, se in rows:
        assert abs(want - mean) <= 4 * se + 1e-9 * abs(mean), (k, want, mean, se)
