"""OC and H partitions (and H chains) are exact: the parts, each computed from only the input it
reads, join into the whole operator's output. The oracle is ``accelsim.functional.reference_conv``
(an independent direct convolution) on integer tensors, so equality is exact."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelsim.errors import ConfigError
from accelsim.functional import reference_conv
from accelsim.halo import input_band
from accelsim.partition.execute import join, run_chain, run_layer, run_part
from accelsim.partition.split import chain_parts, chain_view, chainable, ratio_count, split, split_h, split_oc
from workloads.layer import Layer, LayerKind, conv


def _tensors(layer: Layer, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.integers(-4, 5, size=(layer.N, layer.C, layer.H, layer.W)).astype(np.int64)
    w = rng.integers(-3, 4, size=(layer.K, layer.Cg, layer.R, layer.S)).astype(np.int64)
    return x, w


def _maxpool_reference(layer: Layer, x: np.ndarray) -> np.ndarray:
    """Brute-force max pooling (no padding) for the chain test."""
    out = np.empty((x.shape[0], x.shape[1], layer.P, layer.Q), dtype=x.dtype)
    for p in range(layer.P):
        for q in range(layer.Q):
            win = x[:, :, p * layer.stride_h:p * layer.stride_h + layer.R, q * layer.stride_w:q * layer.stride_w + layer.S]
            out[:, :, p, q] = win.max(axis=(2, 3))
    return out


LAYERS = [
    conv("s1p1", C=5, K=7, H=11, W=9, R=3, stride=1, pad=1),
    conv("s2p1", C=4, K=6, H=13, W=10, R=3, stride=2, pad=1),
    conv("s2p2k5", C=3, K=5, H=15, W=12, R=5, stride=2, pad=2),
    conv("s1p0", C=6, K=4, H=8, W=8, R=3, stride=1, pad=0),
    conv("s1k1", C=6, K=9, H=7, W=5, R=1),
    conv("grouped", C=8, K=12, H=9, W=9, R=3, stride=1, pad=1, groups=4),
    conv("depthwise", C=6, K=6, H=10, W=10, R=3, stride=2, pad=1, groups=6),
    conv("dilated", C=3, K=4, H=12, W=12, R=3, stride=1, pad=2, dilation=2),
]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda l: l.name)
@pytest.mark.parametrize("dim", ["OC", "H"])
@pytest.mark.parametrize("tenths", [0, 1, 3, 5, 7, 10])
def test_split_parts_join_to_the_full_convolution(layer, dim, tenths):
    x, w = _tensors(layer, seed=tenths)
    full = reference_conv(layer, x, w)
    cpu, gpu = split(layer, dim, tenths)
    out = join(dim, [run_part(layer, cpu, x, w), run_part(layer, gpu, x, w)])
    assert out.shape == full.shape
    assert np.array_equal(out, full)


def test_run_layer_matches_reference_with_batch():
    layer = conv("b", C=3, K=4, H=9, R=3, stride=2, pad=1, N=2)
    x, w = _tensors(layer, 7)
    assert np.array_equal(run_layer(layer, x, w), reference_conv(layer, x, w))


def test_h_band_reads_only_its_halo_rows():
    """Hand computation: 3x3, stride 2, pad 1, H=13 -> P=7. The CPU takes round(0.4*7)=3 output rows
    (0..2): input rows 0*2-1 = -1 .. 2*2-1+2 = 5, i.e. [-1, 6) -> one padding row on top, rows [0, 6).
    The GPU takes rows 3..6: input [3*2-1, 6*2-1+3) = [5, 14) -> clipped [5, 13) plus one padding row
    at the bottom. Row 5 is read by both: the halo."""
    layer = conv("l", C=2, K=2, H=13, R=3, stride=2, pad=1)
    assert layer.P == 7
    cpu, gpu = split_h(layer, 4)
    assert (cpu.p0, cpu.p1, cpu.h0, cpu.h1, cpu.pad_top, cpu.pad_bottom) == (0, 3, 0, 6, 1, 0)
    assert (gpu.p0, gpu.p1, gpu.h0, gpu.h1, gpu.pad_top, gpu.pad_bottom) == (3, 7, 5, 13, 0, 1)
    # the shared halo function gives the same band
    assert input_band(3, 7, R=3, stride=2, pad=1, H=13) == (5, 13)


def test_oc_split_of_grouped_conv_splits_whole_groups():
    """4 groups of 3 output channels: 0.5 -> 2 groups = 6 channels, reading input channels 0..3."""
    layer = conv("g", C=8, K=12, H=6, R=3, pad=1, groups=4)
    cpu, gpu = split_oc(layer, 5)
    assert (cpu.k0, cpu.k1, cpu.c0, cpu.c1) == (0, 6, 0, 4)
    assert (gpu.k0, gpu.k1, gpu.c0, gpu.c1) == (6, 12, 4, 8)


def test_ratio_count_rounds_half_up_in_integers():
    # 7 rows x 0.5 = 3.5 -> 4; 13 x 0.3 = 3.9 -> 4; 10 x 0.25 is not a step; 5 x 0.1 = 0.5 -> 1
    assert ratio_count(7, 5) == 4
    assert ratio_count(13, 3) == 4
    assert ratio_count(5, 1) == 1
    assert ratio_count(9, 0) == 0 and ratio_count(9, 10) == 9
    with pytest.raises(ConfigError):
        ratio_count(9, 11)


CHAINS = {
    "stride1_padded": [conv("a", C=3, K=4, H=14, W=11, R=3, pad=1),
                       conv("b", C=4, K=5, H=14, W=11, R=3, pad=1),
                       conv("c", C=5, K=3, H=14, W=11, R=3, pad=1)],
    "stride2_mixed": [conv("a", C=3, K=4, H=17, W=9, R=3, stride=2, pad=1),
                      conv("b", C=4, K=4, H=9, W=5, R=5, stride=1, pad=2),
                      conv("c", C=4, K=6, H=9, W=5, R=3, stride=2, pad=0)],
    "with_pool": [conv("a", C=2, K=4, H=16, W=16, R=3, pad=1),
                  Layer("pool", kind=LayerKind.POOL, C=4, K=4, H=16, W=16, R=2, S=2, stride_h=2, stride_w=2),
                  conv("c", C=4, K=3, H=8, W=8, R=3, pad=1)],
}


def _chain_reference(layers, x, weights):
    cur = x
    for layer, w in zip(layers, weights):
        cur = _maxpool_reference(layer, cur) if layer.kind is LayerKind.POOL else reference_conv(layer, cur, w)
    return cur


@pytest.mark.parametrize("name", sorted(CHAINS))
@pytest.mark.parametrize("tenths", [1, 3, 5, 8])
def test_chain_bands_with_halos_join_to_the_full_three_operator_result(name, tenths):
    layers = CHAINS[name]
    rng = np.random.default_rng(tenths)
    x = rng.integers(-4, 5, size=(1, layers[0].C, layers[0].H, layers[0].W)).astype(np.int64)
    weights = [None if l.kind is LayerKind.POOL else
               rng.integers(-3, 4, size=(l.K, l.Cg, l.R, l.S)).astype(np.int64) for l in layers]
    full = _chain_reference(layers, x, weights)
    parts = chain_parts(layers, tenths)
    cpu = run_chain(layers, [p[0] for p in parts], x, weights)
    gpu = run_chain(layers, [p[1] for p in parts], x, weights)
    assert np.array_equal(join("H", [cpu, gpu]), full)
    # the tail is split exactly (no overlap); earlier operators overlap by their halos
    tail_cpu, tail_gpu = parts[-1]
    assert tail_cpu.p1 == tail_gpu.p0 == ratio_count(layers[-1].P, tenths)


def test_chain_halo_grows_towards_the_head():
    """Three 3x3 stride-1 pad-1 convs on 14 rows, tail split at row 7: the CPU's bands are rows
    [0, 7) at the tail, [0, 8) before it and [0, 9) at the head (one halo row per operator); the GPU's
    [7, 14), [6, 14), [5, 14)."""
    layers = CHAINS["stride1_padded"]
    parts = chain_parts(layers, 5)
    assert [(c.p0, c.p1) for c, _ in parts] == [(0, 9), (0, 8), (0, 7)]
    assert [(g.p0, g.p1) for _, g in parts] == [(5, 14), (6, 14), (7, 14)]


def test_a_chain_through_pre_padded_valid_convolutions_is_exact():
    """CoDL's layers read a pre-padded copy of the previous output with a VALID conv: a 3x3 on 16 rows
    after a conv that writes 14 (a border of 1), then a 5x5 on 18 (border 2). The chain runs on the
    padded view and joins to the pipeline that pads explicitly."""
    a = conv("a", C=3, K=4, H=14, W=12, R=3, pad=1)
    b = conv("b", C=4, K=5, H=16, W=14, R=3)
    c = conv("c", C=5, K=2, H=18, W=16, R=5)
    assert chainable(a, b) and chainable(b, c)
    assert not chainable(a, conv("x", C=4, K=5, H=15, W=13, R=3))           # odd border: no
    assert not chainable(a, conv("x", C=4, K=5, H=20, W=18, R=3))           # border 3 >= the filter
    rng = np.random.default_rng(1)
    x = rng.integers(-4, 5, size=(1, 3, 14, 12)).astype(np.int64)
    weights = [rng.integers(-3, 4, size=(l.K, l.C, l.R, l.S)).astype(np.int64) for l in (a, b, c)]
    full = reference_conv(a, x, weights[0])
    full = reference_conv(b, np.pad(full, ((0, 0), (0, 0), (1, 1), (1, 1))), weights[1])
    full = reference_conv(c, np.pad(full, ((0, 0), (0, 0), (2, 2), (2, 2))), weights[2])
    view = chain_view([a, b, c])
    assert [(l.H, l.pad_h, l.P) for l in view] == [(14, 1, 14), (14, 1, 14), (14, 2, 14)]
    assert [l.macs for l in view] == [a.macs, b.macs, c.macs]
    for tenths in (2, 5, 9):
        parts = chain_parts([a, b, c], tenths)
        cpu = run_chain(view, [p[0] for p in parts], x, weights)
        gpu = run_chain(view, [p[1] for p in parts], x, weights)
        assert np.array_equal(join("H", [cpu, gpu]), full)


def test_chainable_requires_the_next_layer_to_read_this_output():
    a = conv("a", C=3, K=4, H=14, R=3, pad=1)
    assert chainable(a, conv("b", C=4, K=4, H=14, R=3, pad=1))
    assert not chainable(a, conv("b", C=5, K=4, H=14, R=3, pad=1))     # channels differ
    assert not chainable(a, conv("b", C=4, K=4, H=12, R=3, pad=1))     # rows differ
    with pytest.raises(ConfigError):
        chain_parts([a, conv("b", C=5, K=4, H=14, R=3, pad=1)], 5)


@given(C=st.integers(1, 4), K=st.integers(1, 5), H=st.integers(3, 12), W=st.integers(3, 8),
       R=st.sampled_from([1, 2, 3, 5]), stride=st.integers(1, 3), tenths=st.integers(0, 10),
       dim=st.sampled_from(["OC", "H"]), data=st.data())
def test_any_split_is_exact(C, K, H, W, R, stride, tenths, dim, data):
    R = min(R, H, W)
    pad = data.draw(st.integers(0, R - 1))
    layer = conv("p", C=C, K=K, H=H, W=W, R=R, stride=stride, pad=pad)
    x, w = _tensors(layer, tenths)
    cpu, gpu = split(layer, dim, tenths)
    assert np.array_equal(join(dim, [run_part(layer, cpu, x, w), run_part(layer, gpu, x, w)]),
                          reference_conv(layer, x, w))
