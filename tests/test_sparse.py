"""Sparsity (issue 16): density models, formats, gating/skipping, against independent ground truths.

- actual masks: the mask reduction (``accelsim.sparse.masks``) equals the functional mode executing
  a random loop nest on the masks and a walk over every MAC of the brute-force interpreter's schedule;
- uniform: the hypergeometric tile emptiness and the formats' expected payload/metadata agree with
  the mean over many random masks within sampling error (4 standard errors);
- a skipping compute on uniform data does MACs x d_in x d_w effective MACs (the MACs whose operands
  are elements: one on padding reads a zero), and one skipping unit takes dense cycles x that fraction;
- the dense table is never changed; gated + data (+ skipped) words add back to the dense words.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelsim.cost.actions import count_actions
from accelsim.errors import ConfigError
from accelsim.functional_general import execute
from accelsim.interp_general import BruteForce
from accelsim.loopnest import flatten
from accelsim.names import IFMAP, PSUM, WEIGHT
from accelsim.problem import from_layer, gemm
from accelsim.sparse.density import Structured, Uniform, expected_max_binomial, parse_cli, parse_model
from accelsim.sparse.formats import parse_format
from accelsim.sparse.lockstep_expect import TOL
from accelsim.sparse.masks import effective_macs
from accelsim.sparse.model import analyze
from accelsim.sparse.spec import spec_from_dict
from tests.core_strategies import hierarchies, nests, problems
from workloads.layer import conv

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


def _mask(rng, shape, d):
    return (rng.random(shape) < d).astype(np.int64)


def _walk(problem, ifm, wm) -> int:
    """Every MAC of the schedule, by the brute-force interpreter's point list: both operands nonzero."""
    flat = flatten(problem, _trivial_nest(problem))
    bf = BruteForce(problem, flat)
    n = 0
    for _, pts in bf.active:
        for _, idx in pts:
            xi = bf._coords(IFMAP, idx)
            wi = bf._coords(WEIGHT, idx)
            ok = all(0 <= v < s for v, s in zip(xi, ifm.shape)) and all(0 <= v < s for v, s in zip(wi, wm.shape))
            n += bool(ok and ifm[xi] and wm[wi])
    return n


def _trivial_nest(problem):
    from accelsim.hierarchy import Hierarchy, Storage
    from accelsim.loopnest import LevelMap, LoopNest
    from accelsim.names import ROLES

    h = Hierarchy("t", (Storage("dram", ROLES),))
    return LoopNest((LevelMap("dram", tuple((d, problem.size(d)) for d in problem.dim_names), problem.dim_names,
                              ROLES),)) if h else None


@SETTINGS
@given(st.data())
def test_actual_masks_effective_macs_equal_functional_mode_and_interpreter(data):
    problem = data.draw(problems())
    hierarchy = data.draw(hierarchies())
    nest = data.draw(nests(problem, hierarchy))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    shape = {r: tuple(c.size for c in problem.tensor(r).coords) for r in (IFMAP, WEIGHT)}
    ifm = _mask(rng, shape[IFMAP], data.draw(st.sampled_from([0.0, 0.3, 0.7, 1.0])))
    wm = _mask(rng, shape[WEIGHT], data.draw(st.sampled_from([0.2, 0.5, 1.0])))
    got = effective_macs(problem, ifm, wm)
    assert got == int(execute(problem, nest, ifm, wm).sum())      # functional mode on the masks
    assert got == _walk(problem, ifm, wm)                         # every MAC visited


def test_effective_macs_on_a_padded_strided_conv_by_hand():
    """1 channel, 3x3 input of ones, 2x2 filter with one nonzero tap (top-left), pad 1, stride 1:
    outputs 4x4; the top-left tap meets input (p-1, q-1), inside for p, q in 1..3: 9 MACs."""
    problem = from_layer(conv("c", C=1, K=1, H=3, R=2, pad=1))
    w = np.zeros((1, 1, 1, 2, 2), dtype=np.int64)
    w[0, 0, 0, 0, 0] = 1
    x = np.ones((1, 1, 1, 3, 3), dtype=np.int64)
    assert effective_macs(problem, x, w) == 9


def test_uniform_tile_emptiness_agrees_with_random_masks():
    """Hypergeometric P(tile empty) and E[nonzeros] vs 4000 random masks with exactly round(d*size) nonzeros."""
    rng = np.random.default_rng(1)
    size, d, t, n = 200, 0.03, 16, 4000
    u = Uniform(d)
    nnz = u.nnz(size)
    empty = []
    for _ in range(n):
        m = np.zeros(size, dtype=bool)
        m[rng.choice(size, nnz, replace=False)] = True
        empty.append(not m[:t].any())
    p = u.p_empty(t, size)
    se = math.sqrt(p * (1 - p) / n)
    assert abs(np.mean(empty) - p) <= 4 * se, (np.mean(empty), p)
    pmf = u.occupancy(t, size)
    assert math.fsum(pmf) == pytest.approx(1.0)
    assert (np.arange(t + 1) * pmf).sum() == pytest.approx(t * nnz / size)   # exact mean by linearity
    assert pmf[0] == pytest.approx(p)


def _csr_meta_bits(mask2d: np.ndarray, uop_bits: int, cp_bits: int) -> tuple[int, int]:
    rows = mask2d.shape[0]
    return int(mask2d.sum()), (rows + 1) * uop_bits + int(mask2d.sum()) * cp_bits


@pytest.mark.parametrize("fmt,exact", [
    ("bitmask", lambda m: (int(m.sum()), m.size)),
    ({"ranks": [{"CP": 7}]}, lambda m: (int(m.sum()), 7 * int(m.sum()))),
    ({"ranks": [{"UOP": 5}, {"CP": 4}]}, lambda m: _csr_meta_bits(m, 5, 4)),
    ({"ranks": ["B", "B"]}, lambda m: (int(m.sum()), m.shape[0] + int(m.any(axis=1).sum()) * m.shape[1])),
])
def test_format_expectation_agrees_with_random_masks(fmt, exact):
    """A 6 x 10 tile of a 60-element tensor at density 0.15: the format's expected (payload, metadata
    bits) vs the mean over 3000 random masks with exactly 9 nonzeros (4 standard errors)."""
    f = parse_format(fmt, "t", "f")
    u = Uniform(0.15)
    rng = np.random.default_rng(2)
    got = []
    for _ in range(3000):
        m = np.zeros(60, dtype=bool)
        m[rng.choice(60, u.nnz(60), replace=False)] = True
        got.append(exact(m.reshape(6, 10)))
    got = np.array(got, dtype=float)
    payload, meta = f.per_tile([6, 10], u, 60, 16)
    for k, want in ((0, payload), (1, meta)):
        se = got[:, k].std() / math.sqrt(len(got)) + 1e-12
        assert abs(got[:, k].mean() - want) <= 4 * se + 1e-9, (k, got[:, k].mean(), want)


@pytest.mark.parametrize("fmt", [{"ranks": [{"RLE": 1}]}, {"ranks": [{"RLE": 2}]}, {"ranks": [{"RLE": 1}, "U"]},
                                 {"ranks": [{"UOP": 3}, {"RLE": 1}, {"CP": 2}]}])
def test_rle_expectation_on_short_fibers_agrees_with_random_masks(fmt):
    """RLE's extra entries on short fibers (a 6 x 10 tile of a 6000-element tensor at density 0.05, where
    a fiber's first gap is bounded by its start and trailing zeros need no entry): the expected payload
    and metadata bits against the mean of the exact measure (``sparse.exact.tile_measure``, itself equal
    to a fibertree walk in test_sparse_exact.py) over 2000 random masks, within 4 standard errors. The
    unbounded-stream rate q/(1-q) per nonzero expected 30.8 payload words for RLE(1) here (mean 21.9)."""
    from accelsim.sparse.exact import tile_measure

    f = parse_format(fmt, "t", "f")
    u, size = Uniform(0.05), 6000
    rng = np.random.default_rng(4)
    tiles = np.zeros((2000, 60), dtype=bool)
    for i in range(len(tiles)):
        tiles[i] = np.isin(np.arange(60), rng.choice(size, u.nnz(size), replace=False))
    payload, meta = tile_measure(f, tiles.reshape(-1, 6, 10), 16)
    want = f.per_tile([6, 10], u, size, 16)
    for got, w in ((payload, want[0]), (meta, want[1])):
        se = got.std() / math.sqrt(len(got)) + 1e-12
        assert abs(got.mean() - w) <= 4 * se + 1e-9, (got.mean(), w)


def test_rle_extra_entries_equal_the_enumerated_expectation_over_every_placement():
    """formats.rle_extra_under against every placement of a uniform tensor's nonzeros, in exact
    fractions: a tensor of ``size`` elements holding exactly ``nnz``, a fiber of ``length`` coordinates of
    ``under`` consecutive elements each (its first length x under elements); a nonempty coordinate after g
    empty ones needs g // run extra entries, trailing empty ones none. The coordinates are not independent
    (a uniform tensor's nonzeros are drawn without replacement): the closed form with independent
    coordinates at the marginal density (the model before) misses by more than 1e-3 relative here."""
    import itertools
    from fractions import Fraction

    from accelsim.sparse.formats import rle_extra_under

    for size, nnz, length, under, run in [(12, 3, 10, 1, 2), (12, 6, 12, 1, 3), (14, 4, 7, 2, 2), (15, 2, 5, 3, 2),
                                          (10, 5, 9, 1, 4), (9, 1, 9, 1, 2), (8, 8, 8, 1, 2), (11, 0, 11, 1, 2)]:
        want, count = Fraction(0), 0
        for nz in itertools.combinations(range(size), nnz):
            on = set(nz)
            extra, gap = 0, 0
            for c in range(length):
                if any(c * under + e in on for e in range(under)):
                    extra, gap = extra + gap // run, 0
                else:
                    gap += 1
            want += extra
            count += 1
        want /= count
        got = rle_extra_under(length, under, Uniform(nnz / size), size, run)
        assert abs(got - want) <= 1e-12 * max(1, want), (size, nnz, length, under, run, got, float(want))
    # the independent-coordinates form is off on a short tensor: p = 1 - E(1), sum_j p (1-p)^(run j) (L - run j)
    size, nnz, length, run = 12, 3, 10, 2
    p = nnz / size
    indep = sum(p * (1 - p) ** (run * j) * (length - run * j) for j in range(1, (length - 1) // run + 1))
    assert abs(indep - rle_extra_under(length, 1, Uniform(p), size, run)) > 1e-3 * indep


def test_rle_extra_entries_agree_with_random_streams():
    """RLE with a 2-bit run (gaps up to 3): the extra zero entries of a whole 400-element tensor with
    exactly 80 nonzeros (d 0.2) against 2000 random placements, within 4 standard errors."""
    f = parse_format({"ranks": [{"RLE": 2}]}, "t", "f")
    d, n, L = 0.2, 2000, 400
    u = Uniform(d)
    rng = np.random.default_rng(3)
    entries = []
    for _ in range(n):
        m = np.zeros(L, dtype=bool)
        m[rng.choice(L, u.nnz(L), replace=False)] = True
        e, gap = 0, 0
        for v in m:
            if v:             # a run field holds 0..3: each 4 zeros before a nonzero need an entry of their own
                e += 1 + gap // 4
                gap = 0
            else:
                gap += 1      # trailing zeros end with the fiber: no entry
        entries.append(e)
    payload, meta = f.per_tile([L], u, L, 16)
    assert meta == pytest.approx(2 * payload)
    se = np.std(entries) / math.sqrt(n)
    assert abs(np.mean(entries) - payload) <= 4 * se, (np.mean(entries), payload, se)


@pytest.mark.parametrize("fmt, shape, d", [({"ranks": [{"RLE": 2}]}, (240,), 0.05),
                                           ({"ranks": ["U", {"RLE": 2}]}, (4, 60), 0.1),
                                           ({"ranks": [{"RLE": 2}]}, (6, 40), 0.1)])
def test_rle_words_of_a_whole_uniform_tensor_agree_with_the_mean_over_masks(fmt, shape, d):
    """A tile that is the whole tensor (exactly round(d x size) nonzeros, drawn without replacement):
    ``per_tile``'s payload and metadata against the mean of ``sparse.exact.tile_measure`` over 20,000
    random placements, within 4 standard errors (about 0.03 payload words here). With coordinates taken as
    independent at the marginal density (the model before) the payload was 59.958 / 60.928 / 67.569
    against means of 60.255 / 61.213 / 67.677: 6 to 10 standard errors off."""
    from accelsim.sparse.exact import tile_measure

    f = parse_format(fmt, "t", "f")
    size, u, n = math.prod(shape), Uniform(d), 20000
    rng = np.random.default_rng(11)
    picks = rng.random((n, size)).argsort(axis=1)[:, :u.nnz(size)]
    masks = np.zeros((n, size), dtype=bool)
    np.put_along_axis(masks, picks, True, axis=1)
    payload, meta = tile_measure(f, masks.reshape(n, *shape), 16)
    want = f.per_tile(list(shape), u, size, 16)
    for got, w in ((payload, want[0]), (meta, want[1])):
        se = got.std() / math.sqrt(n)
        assert abs(got.mean() - w) <= 4 * se, (got.mean(), w, se)


def test_structured_2_4_emptiness_by_enumeration():
    s = Structured(2, 4)
    # all 6 placements of 2 nonzeros in a block of 4: a 1-element tile is empty in 3, a 2-element in 1
    assert s.p_empty(1, 4) == pytest.approx(3 / 6)
    assert s.p_empty(2, 4) == pytest.approx(1 / 6)
    assert s.p_empty(3, 4) == 0.0
    assert s.density == 0.5
    assert (np.arange(9) * s.occupancy(8, 64)).sum() == pytest.approx(4.0)


def test_expected_max_of_binomials_equals_the_exact_rational_value():
    """E[max of A Binomial(t, p)] = sum_{k<t} (1 - F(k)^A), against the same sum in exact integers (p a
    binary fraction, exact as a float): within 1e-15 relative, also where F(k) comes within 2^-53 of 1
    for many k (t = 1000, A = 64: a running float cdf stops moving there, and powering it is off by about
    1e-11; sparse.density.binomial_logcdf keeps P(X > k) instead), and with a tiny p, where every term is
    under 2^-64 (they were once left out: 0 for p = 2^-70, t = 10, A = 2, against about 2e-20)."""
    from fractions import Fraction

    for t, p, units in [(1, Fraction(1, 4), 2), (6, Fraction(1, 4), 3), (40, Fraction(1, 2), 17),
                        (300, Fraction(1, 4), 50), (1000, Fraction(1, 2), 64), (200, Fraction(3, 4), 2),
                        (10, Fraction(1, 2 ** 40), 2), (10, Fraction(1, 2 ** 70), 2), (30, Fraction(1, 2 ** 30), 700)]:
        m = p.denominator ** t                # P(X = k) = c_k / m
        cum, total = 0, 0
        for k in range(t):
            cum += math.comb(t, k) * p.numerator ** k * (p.denominator - p.numerator) ** (t - k)
            total += m ** units - cum ** units
        want = Fraction(total, m ** units)
        got = expected_max_binomial(t, float(p), units)
        assert abs(got - want) <= 1e-15 * want, (t, units, got, float(want))
    assert expected_max_binomial(50, 0.3, 1) == 50 * 0.3          # one copy: the mean
    assert expected_max_binomial(50, 1.0, 9) == 50.0 and expected_max_binomial(50, 0.0, 9) == 0.0


def test_expected_max_of_binomials_against_simulation():
    rng = np.random.default_rng(4)
    t, p, units = 20, 0.3, 12
    sim = rng.binomial(t, p, size=(20000, units)).max(axis=1)
    want = expected_max_binomial(t, p, units)
    assert abs(sim.mean() - want) <= 4 * sim.std() / math.sqrt(len(sim))


def _shape(problem, role: str) -> tuple[int, ...]:
    return tuple(c.size for c in problem.tensor(role).coords)


SKIP_BOTH = {"name": "s", "skip": [{"level": "mac", "on_zero": ["ifmap", "weight"]}]}


@SETTINGS
@given(st.data())
def test_skipping_on_uniform_data_does_macs_times_densities(data):
    problem = data.draw(problems())
    hierarchy = data.draw(hierarchies())
    nest = data.draw(nests(problem, hierarchy))
    di, dw = data.draw(st.sampled_from([0.1, 0.5, 0.9])), data.draw(st.sampled_from([0.25, 0.4, 1.0]))
    dense = count_actions(problem, hierarchy, nest)
    before = (dict(dense.storage), dict(dense.network), dense.macs, dense.cycles)
    sa = analyze(problem, hierarchy, nest, dense, spec_from_dict(SKIP_BOTH, "t"),
                 {IFMAP: Uniform(di), WEIGHT: Uniform(dw)})
    assert (dict(dense.storage), dict(dense.network), dense.macs, dense.cycles) == before   # dense untouched
    # the MACs whose operands are both elements (a MAC on padding reads a zero no density describes),
    # counted by the mask reduction on all-ones masks
    real = effective_macs(problem, np.ones(_shape(problem, IFMAP), bool), np.ones(_shape(problem, WEIGHT), bool))
    assert sa.effective_macs == pytest.approx(real * di * dw)
    if real == dense.macs:              # no MAC on padding: the issue's MACs x d_in x d_w
        assert sa.effective_macs == pytest.approx(dense.macs * di * dw)
    assert sa.effective_macs + sa.skipped_macs == pytest.approx(dense.macs)
    kept = real / dense.macs * di * dw
    if dense.active == 1:
        assert sa.cycles == pytest.approx(dense.cycles * kept)
    else:   # lockstep units wait for the busiest (the expected maximum over random masks, sampled to a
        # standard error of TOL): never faster than the units sharing the effective MACs evenly, never
        # slower than dense
        assert sa.effective_macs / dense.active * (1 - 5 * TOL) <= sa.cycles <= dense.cycles + 1e-9
    # the psum read-modify-writes feeding the compute are skipped with the MACs; words add back
    for key, w in dense.storage.items():
        assert sa.data.storage[key] + sa.skipped.storage.get(key, 0.0) == pytest.approx(w)


def _gemm_in_one_buffer():
    """An 8x8x8 GEMM held whole in one buffer below DRAM, no register: (problem, hierarchy, nest, dense)."""
    from accelsim.hierarchy import Hierarchy, Storage
    from accelsim.loopnest import LevelMap, LoopNest
    from accelsim.names import ROLES

    problem = gemm("g", 8, 8, 8)
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("buf", ROLES)))
    nest = LoopNest((LevelMap("dram", (), problem.dim_names, ROLES),
                     LevelMap("buf", tuple((d, problem.size(d)) for d in problem.dim_names), problem.dim_names,
                              ROLES)))
    return problem, h, nest, count_actions(problem, h, nest)


def test_gating_keeps_cycles_and_moves_words_to_gated():
    problem, h, nest, dense = _gemm_in_one_buffer()
    spec = spec_from_dict({"name": "g", "gate": [{"level": "buf", "tensor": "weight", "on_zero": ["ifmap"]},
                                                 {"level": "mac", "on_zero": ["ifmap"]}]}, "t")
    sa = analyze(problem, h, nest, dense, spec, {IFMAP: Uniform(0.25)})
    assert sa.cycles == dense.cycles
    assert sa.gated_macs == pytest.approx(0.75 * dense.macs)
    w = dense.storage[("buf", WEIGHT, "read")]
    assert w == dense.macs          # no register: one weight read per MAC
    assert sa.gated.storage[("buf", WEIGHT, "read")] == pytest.approx(0.75 * w)
    assert sa.data.storage[("buf", IFMAP, "read")] == dense.storage[("buf", IFMAP, "read")]   # not gated
    assert sa.gated.storage[("buf", PSUM, "update")] == pytest.approx(0.75 * dense.storage[("buf", PSUM, "update")])


def test_gated_macs_keep_their_cycles_when_others_are_skipped():
    """Gate the MACs on zero ifmaps (d 0.25), then skip them on zero weights (d 0.5), one compute unit:
    by hand, 75% of the MACs are gated and still take their slot, 0.25 x 0.5 = 12.5% are skipped, so the
    cycles are 87.5% of dense (not the 12.5% effective fraction)."""
    problem, h, nest, dense = _gemm_in_one_buffer()
    spec = spec_from_dict({"name": "gs", "gate": [{"level": "mac", "on_zero": ["ifmap"]}],
                           "skip": [{"level": "mac", "on_zero": ["weight"]}]}, "t")
    sa = analyze(problem, h, nest, dense, spec, {IFMAP: Uniform(0.25), WEIGHT: Uniform(0.5)})
    assert dense.active == 1 and dense.cycles == 512
    assert sa.gated_macs == pytest.approx(0.75 * 512)
    assert sa.skipped_macs == pytest.approx(0.125 * 512)
    assert sa.cycles == pytest.approx(0.875 * 512)


def test_skipped_metadata_read_keeps_the_skipped_reads_coordinates():
    """A buffer holding the weight as a 4-bit coordinate list, its reads skipped on zero ifmaps (d 0.25):
    by default the skipped reads' coordinates are skipped too; with ``skipped_metadata: read`` (Sparseloop's
    accounting) every coordinate is still read and only the data is skipped. By hand, per weight read:
    d_w = 0.5 words of data, 0.5 x 4 / 16 metadata words; 75% of the reads skipped."""
    problem, h, nest, dense = _gemm_in_one_buffer()
    doc = {"name": "s", "formats": {"buf": {"weight": {"ranks": [{"CP": 4}]}}},
           "skip": [{"level": "buf", "tensor": "weight", "on_zero": ["ifmap"]}]}
    models = {IFMAP: Uniform(0.25), WEIGHT: Uniform(0.5)}
    key = ("buf", WEIGHT, "read")
    w = dense.storage[key]
    skip = analyze(problem, h, nest, dense, spec_from_dict(doc, "s.yaml"), models)
    read = analyze(problem, h, nest, dense, spec_from_dict({**doc, "skipped_metadata": "read"}, "s.yaml"), models)
    for sa in (skip, read):
        assert sa.data.storage[key] == pytest.approx(w * 0.5 * 0.25)
    assert skip.metadata.storage[key] == pytest.approx(w * 0.5 * 4 / 16 * 0.25)
    assert skip.skipped.storage[key] == pytest.approx(w * 0.5 * 0.75 * (1 + 4 / 16))
    assert read.metadata.storage[key] == pytest.approx(w * 0.5 * 4 / 16)
    assert read.skipped.storage[key] == pytest.approx(w * 0.5 * 0.75)
    with pytest.raises(ConfigError, match=r"s.yaml: skipped_metadata: .*'maybe'") as e:
        spec_from_dict({**doc, "skipped_metadata": "maybe"}, "s.yaml")
    assert len(str(e.value).splitlines()) == 1


@pytest.mark.parametrize("text,why", [
    ("ifmap=1.5", "outside [0, 1]"), ("weight=3:2", "1 <= N <= M"), ("colour=0.3", "unknown tensor role"),
    ("ifmap", "ROLE=VALUE"), ("ifmap=abc", "bad density"),
    ("ifmap=0.3,ifmap=0.9", "--density: ifmap given twice in 'ifmap=0.3,ifmap=0.9'; give each role once"),
    ("weight=mask:", "--density: weight: {mask: FILE.npy} needs a file name, got ''")])
def test_bad_density_is_one_line(text, why):
    with pytest.raises(ConfigError) as e:
        parse_cli(text)
    assert why in str(e.value) and "\n" not in str(e.value)


def test_a_condition_listed_twice_is_one_line():
    """on_zero [ifmap, ifmap] would count the ifmap's zero probability twice (squared): refused."""
    doc = {"name": "d", "gate": [{"level": "rf", "tensor": "weight", "on_zero": ["ifmap", "ifmap"]}]}
    with pytest.raises(ConfigError) as e:
        spec_from_dict(doc, "d.yaml")
    assert str(e.value) == "d.yaml: gate[0].on_zero: 'ifmap' listed twice in ['ifmap', 'ifmap']; list each role once"


def test_mask_shape_mismatch_and_format_on_unkept_tensor_are_one_line(tmp_path):
    problem = gemm("g", 4, 4, 4)
    with pytest.raises(ConfigError, match=r"mask shape \(3, 4\) does not match ifmap"):
        effective_macs(problem, np.ones((3, 4)), np.ones((4, 4)))
    from accelsim.sparse.spec import check

    spec = spec_from_dict({"name": "x", "formats": {"glb": {"weight": "bitmask"}}}, "x.yaml")
    with pytest.raises(ConfigError, match=r"x.yaml: formats.glb.weight: level 'glb' does not keep 'weight'"):
        check(spec, {"dram": ("ifmap", "weight", "psum"), "glb": ("ifmap", "psum")}, "mac")
    np.save(tmp_path / "m.npy", np.ones((2, 2)))
    assert parse_model({"mask": str(tmp_path / "m.npy")}, "w.yaml", "density.ifmap").density == 1.0
    with pytest.raises(ConfigError, match="cannot read mask"):
        parse_model({"mask": str(tmp_path / "none.npy")}, "w.yaml", "density.ifmap")


def test_capacity_by_compressed_size_expected_and_worst():
    """An 8 x 8 weight tile (64 words) in a 40-word buffer: at density 0.25 in a coordinate list (4-bit
    coordinates) it takes 16 + 16 x 4/16 = 20 words expected and fits; worst case (all nonzero) it takes
    64 + 16 = 80 words and does not; uncompressed it never fits."""
    from accelsim.hierarchy import Hierarchy, Storage
    from accelsim.loopnest import LevelMap, LoopNest
    from accelsim.names import ROLES
    from accelsim.sparse.model import capacity_problems, compressed_tiles

    problem = gemm("g", 1, 8, 8)
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("buf", (WEIGHT,), (((WEIGHT,), 40),))))
    nest = LoopNest((LevelMap("dram", (), problem.dim_names, ROLES),
                     LevelMap("buf", tuple((d, problem.size(d)) for d in problem.dim_names), problem.dim_names,
                              (WEIGHT,))))
    models = {WEIGHT: Uniform(0.25)}
    fmt = {"buf": {"weight": {"ranks": [{"CP": 4}]}}}
    exp = spec_from_dict({"name": "e", "formats": fmt}, "t")
    worst = spec_from_dict({"name": "w", "formats": fmt, "capacity": "worst"}, "t")
    assert compressed_tiles(problem, h, nest, exp, models)[("buf", WEIGHT)] == pytest.approx(20.0)
    assert capacity_problems(problem, h, nest, exp, models) == []
    assert compressed_tiles(problem, h, nest, worst, models)[("buf", WEIGHT)] == pytest.approx(80.0)
    assert [o.level for o in capacity_problems(problem, h, nest, worst, models)] == ["buf"]
    assert [o.level for o in capacity_problems(problem, h, nest, spec_from_dict({"name": "u"}, "t"), models)] == ["buf"]


def test_a_dense_sparse_view_prices_exactly_as_the_dense_run():
    """No formats, no features, every density 1: the sparse view's energy equals the pipeline's dense
    energy (one energy function, the same table), and its words equal the dense words."""
    from accelsim import pipeline
    from accelsim.arch import load_arch
    from accelsim.sparse.layer import Sparsity
    from workloads.layer import Workload

    w = Workload("t", (conv("c", C=8, K=16, H=10, R=3, pad=1),))
    run = pipeline.run(load_arch("eyeriss_v1"), w, sparsity=Sparsity(spec_from_dict({"name": "none"}, "t")))
    lr = run.layers[0]
    assert lr.sparse.energy_pj == pytest.approx(lr.result.energy_pj, rel=1e-12)
    assert lr.sparse.dense_energy_pj == lr.result.energy_pj
    assert lr.sparse.actions.gated.storage == {} and lr.sparse.actions.effective_macs == lr.result.macs


def test_the_simulator_sees_the_sparse_counts():
    """A simulated run with sparsity also simulates the same schedule on the sparse view's counts
    (compressed + metadata + gated words, the sparse ideal cycles): with every density 1 under the
    eyeriss_v1 preset (adaptive RLC stores uncompressed; gating removes only the MACs and weight reads on
    padding, and a gated action keeps its slot) it is the dense simulation exactly; with CSC + skipping at
    ifmap 0.3 / weight 0.4 its compute part is the sparse ideal cycles rounded up, it adds up to its
    stalls, and it is faster than the dense one."""
    from accelsim import pipeline
    from accelsim.arch import load_arch
    from accelsim.sparse.layer import Sparsity
    from accelsim.sparse.spec import load_spec
    from workloads.layer import Workload

    w = Workload("t", (conv("c", C=16, K=32, H=14, R=3, pad=1, N=2),))
    arch = load_arch("eyeriss_v1")
    ones = tuple((r, Uniform(1.0)) for r in ("ifmap", "weight", "psum"))
    lr = pipeline.run(arch, w, simulate=True, sparsity=Sparsity(load_spec("eyeriss_v1"), ones)).layers[0]
    assert lr.sparse_sim is not None and lr.sparse_sim.cycles == lr.sim.cycles
    assert lr.sparse_sim.stall_cycles == lr.sim.stall_cycles
    dens = (("ifmap", Uniform(0.3)), ("weight", Uniform(0.4)))
    lr = pipeline.run(arch, w, simulate=True, sparsity=Sparsity(load_spec("eyeriss_v2"), dens)).layers[0]
    s = lr.sparse_sim
    assert s.ideal_cycles == math.ceil(lr.sparse.actions.cycles) < lr.sim.ideal_cycles
    assert s.cycles == s.ideal_cycles + sum(s.stall_cycles.values())
    assert s.cycles < lr.sim.cycles


@pytest.mark.parametrize("y,size,nnz", [(40, 2_000, 600), (7, 12, 5), (30, 1_501, 1), (5, 9, 9)])
def test_subset_pmf_equals_the_exact_ratio_of_binomials(y, size, nnz):
    """P(a tensor's nonzeros among y given elements are exactly a given j of them) against
    C(size - y, nnz - j) / C(size, nnz) in exact integers, to 1e-12."""
    from fractions import Fraction

    from accelsim.sparse.model import subset_pmf

    got = subset_pmf(y, size, nnz)
    for j in range(y + 1):
        want = Fraction(math.comb(size - y, nnz - j), math.comb(size, nnz)) if 0 <= nnz - j <= size - y else 0
        assert (got[j] == 0) if want == 0 else abs(got[j] / float(want) - 1) < 1e-12, (j, got[j], float(want))


def test_a_box_overhanging_its_tensor_takes_the_product_of_unions_not_a_nan():
    """An interior box whose window coordinates run over padding (a 1-D conv, H 4, R 3, pad 1: the box of
    every p and r touches ifmap rows -1..4, 6 "elements" of a tensor of 4) has no meaning as an
    enumeration over that side: ``subset_pmf`` of 6 elements among 4 was NaN, which ``min(1.0, nan)`` turned
    into 1.0 in one condition order (0.0 in the other, enumerating the weight). ``_pair_table_dead`` now
    refuses to enumerate a side with more elements than its tensor, so that order takes the product of the
    unions, each clipped to its tensor (``Uniform.p_empty``: computed here on its own), as the other order's
    enumeration gives; ``subset_pmf`` raises on more elements than the tensor holds."""
    from accelsim.sparse.model import Served, box_dead, subset_pmf
    from workloads.layer import Layer, LayerKind

    p = from_layer(Layer(name="c", kind=LayerKind.CONV, N=1, C=1, K=2, H=4, W=1, R=3, S=1, pad_h=1, pad_w=0))
    models = {"ifmap": Uniform(0.5), "weight": Uniform(0.5)}
    box = Served({d: p.size(d) for d in p.dim_names})
    lower = 1.0 - math.prod(1.0 - models[r].p_empty(t, p.elements(r)) for r, t in (("ifmap", 6), ("weight", 6)))
    assert box_dead(p, box, ("weight", "ifmap"), models) == box_dead(p, box, ("ifmap", "weight"), models) == lower
    with pytest.raises(ValueError, match="6 given elements of a tensor of 4"):
        subset_pmf(6, 4, 2)


def test_subset_pmf_stays_exact_on_a_tensor_of_ten_million_elements():
    """On 10 M elements (nnz 3 M, 40 elements in the box) against the same ratio as exact rationals
    (the binomials there have millions of digits: the ratio's y factors instead): relative error below
    1e-11, where the lgamma differences it replaces were off by 2e-9 to 5.5e-8 on such tensors."""
    from fractions import Fraction

    from accelsim.sparse.model import subset_pmf

    y, size, nnz = 40, 10_000_000, 3_000_000
    got = subset_pmf(y, size, nnz)
    for j in range(y + 1):
        want = Fraction(math.prod(range(nnz - j + 1, nnz + 1)) * math.prod(range(size - nnz - (y - j) + 1, size - nnz + 1)),
                        math.prod(range(size - y + 1, size + 1)))
        assert abs(got[j] / float(want) - 1) < 1e-11, (j, got[j], float(want))


def test_a_condition_at_density_0_or_1_is_exact_in_the_pair_enumeration():
    """A tensor with no nonzeros leaves exactly one subset (j = 0) and one with every element nonzero
    exactly the whole box (j = y): probability 1, not 1 - 1e-15; a box with a condition at density 0 is
    dead with probability exactly 1."""
    from accelsim.sparse.model import Served, box_dead, subset_pmf

    for y, size in ((25, 3_211_264), (3, 3)):
        assert subset_pmf(y, size, 0)[0] == 1.0 and subset_pmf(y, size, size)[y] == 1.0
    p = gemm("g", 4, 4, 8)
    box = Served({"M": 4, "N": 1, "K": 4})
    models = {IFMAP: Uniform(0.5), WEIGHT: Uniform(0.0)}
    assert box_dead(p, box, (IFMAP, WEIGHT), models) == 1.0
