"""The uniform model's words per dense word of a compressed level (``sparse.model.ratio_of``: rho =
sum_S m(S) / sum_S |S| over the level's tile positions S) against the same sum measured on random masks.

The tile positions are enumerated here independently of ``sparse.positions``: per dim every run
``[t e, min(t e + e, size))``, per axis the in-range coordinates of every combination of its dims' runs
(numpy broadcasting), a tile the product of its axes' coordinate sets. Each random tensor holds exactly
round(d x size) nonzeros at uniformly random places; its rho is ``sparse.exact.tile_measure`` summed over
the tiles over their elements. The model's rho must equal the mean over masks within 4 standard errors
(deterministic parts, such as UOP offsets, to 1e-9): at ceil edges, at windows clipped by padding, with
strides and dilations, for multi-rank formats and RLE, where the tile of the interior extents was off
(a padded conv's 6-row ifmap tile whose every position holds 5 rows).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from accelsim.names import IFMAP, PSUM, WEIGHT
from accelsim.problem import from_layer
from accelsim.sparse.density import Uniform
from accelsim.sparse.exact import tile_measure
from accelsim.sparse.formats import axis_names, parse_format
from accelsim.sparse.model import ratio_of
from accelsim.sparse.positions import tile_classes
from workloads.layer import conv

FORMATS = [{"ranks": [{"UOP": 4}, {"CP": 3}]}, {"ranks": ["B", "B"]}, {"ranks": [{"RLE": 2}]},
           {"ranks": ["U", {"CP": 2}]}, {"ranks": [{"RLE": 1}, "B"]}, {"ranks": [{"UOP": 3}, {"RLE": 1}, {"CP": 2}]},
           {"ranks": [{"UOP": 4}, {"CP": 4}], "inner": ["C"]}, {"ranks": [{"UOP": 4}]},
           {"ranks": [{"CP": 3}], "packing": [3, 64]}]
ADAPTIVE = {"ranks": [{"RLE": 1}], "packing": [3, 64], "adaptive": True}


def _tiles(problem, ext, role):
    """Every tile position's per-axis coordinate arrays (brute force)."""
    coords = problem.tensor(role).coords
    runs = {d: [np.arange(t, min(t + max(1, min(ext[d], problem.size(d))), problem.size(d)))
                for t in range(0, problem.size(d), max(1, min(ext[d], problem.size(d))))] for d in problem.dim_names}
    rel = sorted(problem.relevant(role))
    out = []
    for combo in itertools.product(*[runs[d] for d in rel]):
        at = dict(zip(rel, combo))
        axes = []
        for c in coords:
            grids = np.meshgrid(*[at[d] for d, _ in c.terms], indexing="ij")
            v = np.unique(sum(k * g for (_, k), g in zip(c.terms, grids)).ravel() + c.offset)
            axes.append(v[(v >= 0) & (v < c.size)])
        out.append(axes)
    return out


def _random_masks(problem, role, d, n, seed):
    """``n`` random tensors of ``role`` with exactly round(d x size) nonzeros each: (n, *shape) bool."""
    shape = tuple(c.size for c in problem.tensor(role).coords)
    size = math.prod(shape)
    picks = np.random.default_rng(seed).random((n, size)).argsort(axis=1)[:, :Uniform(d).nnz(size)]
    masks = np.zeros((n, size), dtype=bool)
    np.put_along_axis(masks, picks, True, axis=1)
    return masks.reshape((n,) + shape)


def _rho_on_masks(problem, ext, role, fmt, masks, wb):
    """Per mask, sum over the level's tile positions (brute force) of the format's (payload, metadata
    words) over the sum of their elements: (n, 2)."""
    tiles = _tiles(problem, ext, role)
    got = np.zeros((masks.shape[0], 2))
    for axes in tiles:
        if all(len(a) for a in axes):
            p, m = tile_measure(fmt, masks[(slice(None),) + np.ix_(*axes)], wb)
            got[:, 0] += p
            got[:, 1] += m / wb
    return got / sum(math.prod(len(a) for a in axes) for axes in tiles)


def _assert_within(got, want):
    for k in range(2):
        se = got[:, k].std() / math.sqrt(len(got))
        assert abs(got[:, k].mean() - want[k]) <= 4 * se + 1e-9 * abs(want[k]), (k, got[:, k].mean(), want[k], se)


CASES = [
    # (layer, per-dim extents at the level, role, density): ceil edges and padding
    (conv("pad", C=4, K=4, H=8, R=3, pad=1), dict(N=1, G=1, K=2, C=4, P=4, Q=8, R=3, S=3), IFMAP, 0.3),
    (conv("edge", C=5, K=6, H=7, R=3, pad=1), dict(N=1, G=1, K=4, C=3, P=3, Q=2, R=3, S=2), IFMAP, 0.3),
    (conv("stride", C=3, K=5, H=11, R=3, stride=2, pad=1), dict(N=1, G=1, K=2, C=2, P=2, Q=3, R=2, S=3), IFMAP, 0.25),
    (conv("dil", C=4, K=3, H=9, R=3, dilation=2, pad=2), dict(N=1, G=1, K=3, C=3, P=4, Q=3, R=2, S=3), IFMAP, 0.3),
    (conv("w", C=5, K=7, H=6, R=3), dict(N=1, G=1, K=3, C=2, P=4, Q=4, R=2, S=3), WEIGHT, 0.4),
    (conv("o", C=3, K=7, H=7, R=3, pad=1), dict(N=1, G=1, K=3, C=3, P=4, Q=2, R=3, S=3), PSUM, 0.35),
]


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: str(f).replace(" ", ""))
@pytest.mark.parametrize("case", range(len(CASES)), ids=[c[0].name for c in CASES])
def test_uniform_words_per_dense_word_of_a_level_equal_the_mean_over_random_masks(case, fmt):
    layer, ext, role, d = CASES[case]
    problem = from_layer(layer)
    if role == PSUM and "inner" in fmt:
        fmt = {**fmt, "inner": ["K"]}
    f = parse_format(fmt, "t", "f").on(axis_names(problem.tensor(role)), "inner")
    got = _rho_on_masks(problem, ext, role, f, _random_masks(problem, role, d, 400, case), 16)
    _assert_within(got, ratio_of(parse_format(fmt, "t", "f"), problem, ext, role, Uniform(d), 16))


@pytest.mark.parametrize("d", [0.3, 0.4, 0.7, 0.95])
@pytest.mark.parametrize("case", [1, 4, 5], ids=["edge", "w", "o"])
def test_an_adaptive_format_stores_a_tensor_compressed_or_dense_as_the_mean_over_masks(case, d):
    """``adaptive``: one choice per (level, tensor), made on the density (``sparse.model.level_format``):
    here checked on the masks themselves: the mean over 400 masks of the whole tensor's compressed words
    (RLE(1) x3/64b, the choice's input) against its elements decides (away from the crossover, where the
    mean cannot land on the other side), then each mask's words per dense word are the level's tiles
    measured without ``adaptive``, or 1 and no metadata, and the model's rho equals their mean within 4
    standard errors. A choice per tile (the model before) missed by 5 standard errors on 'w' at d 0.4."""
    layer, ext, role, _ = CASES[case]
    problem = from_layer(layer)
    f = parse_format(ADAPTIVE, "t", "f")
    plain = parse_format({k: v for k, v in ADAPTIVE.items() if k != "adaptive"}, "t", "f")
    wb, n = 16, 400
    masks = _random_masks(problem, role, d, n, case)
    size = math.prod(masks.shape[1:])
    p, m = tile_measure(plain, masks.reshape(n, size), wb)
    whole = p * wb + m
    assert abs(whole.mean() - size * wb) > 6 * whole.std() / math.sqrt(n), "too near the crossover to decide"
    want = ratio_of(f, problem, ext, role, Uniform(d), wb)
    if whole.mean() >= size * wb:
        assert want == (1.0, 0.0)
        return
    _assert_within(_rho_on_masks(problem, ext, role, plain, masks, wb), want)


def test_the_classes_count_every_tile_position_and_the_backing_store_is_one_tile():
    """Per case the classes' counts add up to the product of ceil(size / ext) over the relevant dims, and
    their elements to the brute-force tiles'; the whole tensor is one class, its shape."""
    for layer, ext, role, _ in CASES:
        problem = from_layer(layer)
        classes = tile_classes(problem, ext, role)
        rel = problem.relevant(role)
        assert sum(n for _, n in classes) == math.prod(-(-problem.size(d) // min(ext[d], problem.size(d))) for d in rel)
        assert sum(n * math.prod(e) for e, n in classes) == sum(math.prod(len(a) for a in axes)
                                                               for axes in _tiles(problem, ext, role))
        whole = tile_classes(problem, dict(problem.dims), role)
        assert whole == ((tuple(c.size for c in problem.tensor(role).coords), 1),)


def _gemm_case():
    from accelsim.hierarchy import Fanout, Hierarchy, Storage
    from accelsim.loopnest import LevelMap, LoopNest
    from accelsim.names import ROLES
    from accelsim.problem import gemm

    p = gemm("g", 4, 4, 8)
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES, fanout=Fanout(2, 1, "bus")), Storage("rf", ROLES)))
    nest = LoopNest((LevelMap("dram", (("N", 2),), ("N", "K", "M"), ROLES),
                     LevelMap("glb", (("K", 4), ("M", 2)), ("N", "K", "M"), ROLES, x=(("N", 2),)),
                     LevelMap("rf", (("K", 2), ("M", 2)), ("K", "M", "N"), ROLES)))
    return p, h, nest


def test_an_adaptive_level_that_chose_dense_is_an_uncompressed_level_for_its_hop_and_its_capacity():
    """Review rev23: an adaptive RF ifmap that chooses uncompressed (d 0.9) takes the GLB's words down as
    an uncompressed level does (in the parent's bitmask: 58 data + 4 metadata of 64 dense, not 64 + 0 in
    the RF's would-be format); an adaptive GLB bitmask that chooses compressed (d 0.3) is checked under
    ``capacity: worst`` in its format (34 words, the plain bitmask's, not the 32 dense words)."""
    from accelsim.cost.actions import count_actions
    from accelsim.sparse.model import analyze, compressed_tiles
    from accelsim.sparse.spec import spec_from_dict

    p, h, nest = _gemm_case()
    dense = count_actions(p, h, nest)
    got = []
    for rf in (ADAPTIVE, "uncompressed"):
        spec = spec_from_dict({"name": "t", "formats": {"glb": {"ifmap": "bitmask"}, "rf": {"ifmap": rf}}}, "t")
        sa = analyze(p, h, nest, dense, spec, {IFMAP: Uniform(0.9)})
        key = ("glb", IFMAP, "down")
        got.append((sa.data.network[key], sa.metadata.network[key]))
    assert got[0] == got[1] == (pytest.approx(58.0), pytest.approx(4.0))
    tiles = []
    for fmt in ({"ranks": ["B"], "adaptive": True}, {"ranks": ["B"]}):
        spec = spec_from_dict({"name": "t", "capacity": "worst", "formats": {"glb": {"ifmap": fmt}}}, "t")
        tiles.append(compressed_tiles(p, h, nest, spec, {IFMAP: Uniform(0.3)})[("glb", IFMAP)])
    assert tiles == [34.0, 34.0]


def test_a_tensor_no_point_reads_moves_its_dense_words():
    """Review rev23: an ifmap whose every coordinate lies in the padding (Q + 2 S - 1 in {-1, 1} of W 1):
    no tile position holds an element; rho is 1 and no metadata, as on a mask (``exact.mask_ratio``),
    never a division by zero."""
    problem = from_layer(conv("x", C=1, K=1, H=1, R=2, dilation=2, pad=1))
    f = parse_format({"ranks": [{"RLE": 2}]}, "t", "f")
    assert ratio_of(f, problem, dict(problem.dims), IFMAP, Uniform(0.5), 16) == (1.0, 0.0)
