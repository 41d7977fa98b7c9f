"""The fixed shape's batch scorer (accelsim.cost.fast: fixed-shape mappings counted by the general numba
kernel as nests over ``hierarchy.from_arch``) returns exactly the integers of the plain-Python model
(accelsim.cost.counts.count), which is itself tested against the brute-force interpreter; on tiny
layers it is also checked against the interpreter directly; its energy and latency bound equal the
model's bit for bit on every shipped arch; the coupled-axis tile sums (accelsim.cost.axis_sums) equal
counts.py's. Every expected value is either the Python model's / the interpreter's output or written
out by hand below."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelsim.arch import NocSpec, load_arch
from accelsim.cost import counts as py
from accelsim.cost.counts import count
from accelsim.cost.encode import MappingArrays, decode, encode, encode_batch, encode_layer
from accelsim.cost.fast import COLUMNS, NCOLS, FixedBatch, count_batch, count_fast, counts_of_row
from accelsim.cost.model import evaluate
from accelsim.errors import ConfigError
from accelsim.interpreter import interpret
from accelsim.legality import problems_of
from accelsim.mapping import COLS, DRAM, GLB, RELEVANT, RF, ROWS, Mapping
from workloads import zoo
from workloads.layer import Layer, gemm

TENSORS = ("ifmap", "weight", "psum")


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def legal_mapping(layer: Layer, factor, orders, keeps) -> Mapping:
    """Factors drawn inner level first (RF, COLS, ROWS, GLB), each at most what the dim has left
    (so never over-tiling); DRAM takes the rest. ``factor(hi)`` draws one factor in [1, hi]."""
    fac = [[1] * 8 for _ in range(5)]
    for d, D in enumerate(layer.dims):
        span = 1
        for lv in (RF, COLS, ROWS, GLB):
            f = factor(ceil_div(D, span))
            fac[lv][d] = f
            span *= f
        fac[DRAM][d] = ceil_div(D, span)
    glb, rf, reg = keeps
    # the RF-bypass rule of problems_of: a tensor that bypasses the RF cannot have one of its dims
    # both spatial and an RF loop; keep it in the RF instead
    rf = tuple(rf[t] or any(RELEVANT[TENSORS[t]][d] and fac[RF][d] > 1 and (fac[ROWS][d] > 1 or fac[COLS][d] > 1)
                            for d in range(8)) for t in range(3))
    m = Mapping(tuple(tuple(f) for f in fac), orders, glb, rf, reg)
    assert problems_of(layer, m) == []
    return m


def random_mapping(layer: Layer, rng: random.Random) -> Mapping:
    return legal_mapping(layer, lambda hi: rng.randint(1, hi) if rng.random() < 0.6 else 1,
                         tuple(tuple(rng.sample(range(8), 8)) for _ in range(3)),
                         [tuple(rng.random() < 0.7 for _ in range(3)) for _ in range(3)])


@st.composite
def layers(draw, tiny: bool = False) -> Layer:
    """Small conv layers: strides 1-3, dilation 1-2, padding up to the filter extent, groups, batch."""
    g = draw(st.sampled_from([1, 1, 2]))
    top = 2 if tiny else 3
    R, S = draw(st.integers(1, top)), draw(st.integers(1, top))
    dil_h, dil_w = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    eff_r, eff_s = dil_h * (R - 1) + 1, dil_w * (S - 1) + 1
    pad_h = draw(st.integers(0, min(2, eff_r - 1)))
    pad_w = draw(st.integers(0, min(2, eff_s - 1)))
    extra = 3 if tiny else 8
    H = draw(st.integers(max(1, eff_r - 2 * pad_h), max(1, eff_r - 2 * pad_h) + extra))
    W = draw(st.integers(max(1, eff_s - 2 * pad_w), max(1, eff_s - 2 * pad_w) + extra))
    return Layer(name="x", N=draw(st.integers(1, 1 if tiny else 2)), C=g * draw(st.integers(1, 2 if tiny else 3)),
                 K=g * draw(st.integers(1, 2 if tiny else 3)), H=H, W=W, R=R, S=S,
                 stride_h=draw(st.integers(1, 3)), stride_w=draw(st.integers(1, 3)),
                 pad_h=pad_h, pad_w=pad_w, dil_h=dil_h, dil_w=dil_w, groups=g)


@st.composite
def layer_and_mapping(draw, tiny: bool = False) -> tuple[Layer, Mapping]:
    layer = draw(layers(tiny))
    orders = tuple(tuple(draw(st.permutations(range(8)))) for _ in range(3))
    keeps = [tuple(draw(st.booleans()) for _ in range(3)) for _ in range(3)]
    return layer, legal_mapping(layer, lambda hi: draw(st.integers(1, hi)), orders, keeps)


PROPERTY = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY
@given(layer_and_mapping())
def test_fast_equals_python_model(case):
    layer, m = case
    assert count_fast(layer, m) == count(layer, m)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(layer_and_mapping(tiny=True))
def test_fast_equals_brute_force_interpreter(case):
    layer, m = case
    assert count_fast(layer, m) == interpret(layer, m)


def test_axis_sums_equal_python_on_random_grid():
    """The kernel's axis_sums (closed forms for interior tiles, lattice counts for the sparse cases)
    against counts.axis_sums, over strides/dilations that make every lattice kind appear."""
    from accelsim.cost.axis_sums import _axis_sums

    rng = random.Random(7)
    for _ in range(3000):
        s0, d0 = rng.randint(1, 5), rng.randint(1, 4)
        Dp, Dr = rng.randint(1, 12), rng.randint(1, 5)
        Tp, Tr = rng.randint(1, Dp), rng.randint(1, Dr)
        pad = rng.randint(0, d0 * (Dr - 1))
        size = max(1, (Dp - 1) * s0 + (Dr - 1) * d0 + 1 - 2 * pad + rng.randint(0, s0 - 1))
        slide = rng.choice((0, 1, 2))
        m = rng.randint(1, 3)
        f = rng.randint(2, 4)
        g = math.gcd(s0, d0)
        fast = _axis_sums(Dp, Tp, Dr, Tr, s0, d0, g, s0 // g, d0 // g, pad, size, slide, m, f)
        assert fast == py.axis_sums(Dp, Tp, Dr, Tr, s0, d0, pad, size, slide, m, f), \
            (Dp, Tp, Dr, Tr, s0, d0, pad, size, slide, m, f)


def test_lattice_counts_equal_python_sets():
    """|{p*stride + r*dil} in [lo, hi)| and its overlap with a shifted lattice, in every closed-form
    branch (interval, blocks, blocks of one period, enumeration) against counts._count_in/_overlap_in."""
    from accelsim.cost.axis_sums import _lat_count, _lat_overlap

    rng = random.Random(3)
    for _ in range(4000):
        s0, d0 = rng.randint(1, 6), rng.randint(1, 6)
        g = math.gcd(s0, d0)
        a, b, a2, b2 = (rng.randint(1, 5) for _ in range(4))
        lo = rng.randint(-8, 10)
        hi = lo + rng.randint(-2, 30)
        delta = rng.choice((s0, d0)) * rng.randint(0, 4)
        assert _lat_count(a, b, g, s0 // g, d0 // g, lo, hi) == py._count_in(a, b, s0, d0, lo, hi)
        assert (_lat_overlap(a, b, a2, b2, delta, g, s0 // g, d0 // g, lo, hi)
                == py._overlap_in(a, b, a2, b2, delta, s0, d0, lo, hi)), (a, b, a2, b2, delta, s0, d0, lo, hi)


ALEXNET_CONV2 = zoo.get("alexnet").layers[1]


def test_batch_equals_per_item_and_python():
    layer = ALEXNET_CONV2
    rng = random.Random(11)
    ms = [random_mapping(layer, rng) for _ in range(40)]
    _, batch = encode_batch(layer, ms)
    rows = count_batch(layer, batch)
    assert rows.shape == (40, NCOLS) and rows.dtype == np.int64
    for i, m in enumerate(ms):
        expected = count(layer, m)
        assert counts_of_row(rows[i]) == expected
        assert count_fast(layer, m) == expected
        assert decode(batch, i) == m


def test_batch_nests_are_from_fixed():
    """The batch's nests are ``loopnest.from_fixed`` of each mapping over the arch's hierarchy, array
    for array (the numba pass the mapper's legality filter writes its survivors with)."""
    from accelsim.cost.nest_arrays import encode_nests
    from accelsim.loopnest import from_fixed

    layer = ALEXNET_CONV2
    rng = random.Random(12)
    ms = [random_mapping(layer, rng) for _ in range(30)]
    _, batch = encode_batch(layer, ms)
    for name in ("isca16/rs", "eyeriss_v1", "systolic_32x32_is"):
        fx = FixedBatch(layer, load_arch(name))
        expected = encode_nests(fx.layout, [from_fixed(m, fx.hierarchy) for m in ms])
        got = fx.nests(batch)
        assert all(np.array_equal(a, b) for a, b in zip(got, expected)), name
        take = np.array([29, 3, 3, 0, 17])          # the mapper's survivors: any rows, in any order
        assert all(np.array_equal(a, b) for a, b in zip(fx.nests(batch, take), expected.take(take))), name
        assert np.array_equal(fx.counts(fx.rows(fx.nests(batch))), count_batch(layer, batch))


def test_memo_across_calls_changes_nothing():
    """The scorer's kernel memo, reused over many small batches, gives the rows of fresh calls."""
    layer = ALEXNET_CONV2
    rng = random.Random(21)
    _, batch = encode_batch(layer, [random_mapping(layer, rng) for _ in range(60)])
    fresh = count_batch(layer, batch)
    fx = FixedBatch(layer, load_arch("isca16/rs"))
    for start in (0, 20, 40, 0, 40):             # revisits hit the memo
        part = MappingArrays(*(a[start:start + 20] for a in batch))
        assert np.array_equal(fx.counts(fx.rows(fx.nests(part))), fresh[start:start + 20])
    assert (fx.memo.keys >= 0).any()


def test_columns_are_the_documented_counts():
    layer = ALEXNET_CONV2
    m = random_mapping(layer, random.Random(5))
    _, one = encode(layer, m)
    row = count_batch(layer, MappingArrays(*(a[None] for a in one)))[0]
    c = count(layer, m)
    levels = ("dram", "glb", "noc", "rf")
    expected = {"macs": c.macs, "cycles": c.cycles, "active_pes": c.active_pes}
    for kind, table in (("reads", c.reads), ("writes", c.writes)):
        for li, lv in enumerate(levels):
            for ti, t in enumerate(TENSORS):
                expected[f"{kind}.{lv}.{t}"] = table[li][ti]
    for ti, t in enumerate(TENSORS):
        expected[f"noc_transfers.{t}"] = c.noc_transfers[ti]
    assert list(COLUMNS) == list(expected)
    assert [int(v) for v in row] == list(expected.values())


# ---- exactness at any size -----------------------------------------------------------------------

def test_gpt3_gemm_exact():
    """A GPT-3-size GEMM (2048 tokens x 12288 -> 49152, batch 64): 64*2048*49152*12288 =
    79,164,837,199,872 MACs (~2^46); its counts reach ~10^15, far past int32, all exact."""
    layer = gemm("g", m=2048, n=49152, k=12288, batch=64)
    I = tuple(range(8))
    # K = 192 x 16 (GLB) x 16 (rows), C = 48 x 16 (cols) x 16 (RF); psums bypass the RF
    tiled = Mapping(((64, 1, 192, 48, 2048, 1, 1, 1), (1, 1, 16, 1, 1, 1, 1, 1), (1, 1, 16, 1, 1, 1, 1, 1),
                     (1, 1, 1, 16, 1, 1, 1, 1), (1, 1, 1, 16, 1, 1, 1, 1)),
                    ((0, 2, 3, 4, 1, 5, 6, 7), (4, 0, 1, 2, 3, 5, 6, 7), I), (True,) * 3, (True, True, False),
                    (True,) * 3)
    flat = Mapping((layer.dims, (1,) * 8, (1,) * 8, (1,) * 8, (1,) * 8), (I, I, I), (False,) * 3, (False,) * 3,
                   (False,) * 3)
    assert problems_of(layer, tiled) == [] and problems_of(layer, flat) == []
    rng = random.Random(2)
    ms = [tiled, flat] + [random_mapping(layer, rng) for _ in range(3)]
    _, batch = encode_batch(layer, ms)
    rows = count_batch(layer, batch)
    for i, m in enumerate(ms):
        expected = count(layer, m)
        assert expected.macs == 79_164_837_199_872
        assert counts_of_row(rows[i]) == expected
    # no buffers and no operand registers: every MAC reads its ifmap, weight and psum from DRAM
    assert count(layer, flat).reads[0] == (79_164_837_199_872,) * 3
    assert counts_of_row(rows[1]).reads[0] == (79_164_837_199_872,) * 3
    assert rows.max() > 2 ** 46


def test_exact_near_the_int64_limit_and_refused_beyond():
    """N*G*K*C*P*Q*R*S = 2^16 * 2^20 * 2^20 * 4 = 2^58: counts up to ~2^60, still exact; 2^61 and a
    dim >= 2^31 are refused with a ConfigError instead of wrapping."""
    layer = gemm("big", m=4, n=2 ** 20, k=2 ** 20, batch=2 ** 16)
    rng = random.Random(4)
    ms = [random_mapping(layer, rng) for _ in range(6)]
    rows = count_batch(layer, encode_batch(layer, ms)[1])
    for i, m in enumerate(ms):
        assert counts_of_row(rows[i]) == count(layer, m)
    assert rows.max() >= 2 ** 58
    with pytest.raises(ConfigError, match="2\\*\\*60"):
        encode_layer(gemm("huge", m=8, n=2 ** 20, k=2 ** 20, batch=2 ** 18))
    with pytest.raises(ConfigError, match="2\\*\\*31"):
        encode_layer(gemm("wide", m=2 ** 31, n=1, k=1))


@pytest.mark.parametrize(("where", "slot"), [
    (GLB, "temporal factor at level glb"),
    (ROWS, "spatial x factor of the fanout below glb"),
    (COLS, "spatial y factor of the fanout below glb"),
])
def test_structurally_bad_mappings_are_refused_by_index_and_loop_slot(where, slot):
    layer = ALEXNET_CONV2
    good = random_mapping(layer, random.Random(9))
    f = [list(good.factors[DRAM])] + [[1] * 8 for _ in range(4)]
    f[DRAM] = list(layer.dims)
    f[RF][4], f[where][4], f[DRAM][4] = 27, 2, 1     # P = 27 at the RF, and 2 more outside it: (2 - 1) * 27 >= 27
    over = Mapping(tuple(map(tuple, f)), good.orders, good.glb_keep, good.rf_keep, good.reg_keep)
    _, batch = encode_batch(layer, [good, over])
    with pytest.raises(ConfigError, match=f"^nest 1 of the batch: {slot}, dim P: factor over-tiles"):
        count_batch(layer, batch)
    first = MappingArrays(*(a[:1] for a in batch))
    assert len(first) == 1
    bad_order = first._replace(orders=np.zeros_like(first.orders))
    with pytest.raises(ConfigError, match="not a permutation"):
        count_batch(layer, bad_order)
    with pytest.raises(ConfigError, match="encode_batch"):
        count_batch(layer, MappingArrays(*(a[0] for a in batch)))


# ---- scores in arrays ----------------------------------------------------------------------------

def test_energy_is_the_models_energy_bit_for_bit():
    """The batch energy (count columns in the table's canonical order) on every shipped arch (every NoC model's hop coefficients, every
    energy preset), with a non-zero hop energy even where the preset charges none."""
    import configs

    layer = ALEXNET_CONV2
    rng = random.Random(13)
    ms = [random_mapping(layer, rng) for _ in range(25)]
    batch = encode_batch(layer, ms)[1]
    names = configs.arch_names()
    assert len(names) > 10
    hop_models = set()
    mesh = replace(load_arch("isca16/rs"), noc=NocSpec("mesh"))           # no shipped config uses a mesh
    for cfg in names + [mesh]:
        arch = load_arch(cfg) if isinstance(cfg, str) else cfg
        hop_models.add(arch.noc.type)
        for a in (arch, replace(arch, energy=replace(arch.energy, noc_hop_pj=0.37))):
            fx = FixedBatch(layer, a)
            energy = fx.energy(fx.rows(fx.nests(batch)))
            assert energy.dtype == np.float64
            assert energy.tolist() == [evaluate(layer, a, m, validate=False).energy_pj for m in ms], cfg
    assert {"bus", "mesh", "eyeriss_v1", "eyeriss_v2", "systolic"} <= hop_models


def test_latency_bound_is_the_mappers():
    from accelsim.cost.bound import latency_bound

    layer = ALEXNET_CONV2
    rng = random.Random(17)
    ms = [random_mapping(layer, rng) for _ in range(20)]
    batch = encode_batch(layer, ms)[1]
    for name in ("isca16/rs", "eyeriss_v1", "eyeriss_v2_flat", "systolic_32x32_is"):
        arch = load_arch(name)
        for a in (arch, arch.with_dram_unlimited()):
            fx = FixedBatch(layer, a)
            assert fx.cycles(fx.rows(fx.nests(batch))).tolist() == [latency_bound(count(layer, m), a) for m in ms], name
