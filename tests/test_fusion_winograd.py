"""Fusion (bias/activation epilogues; tiled conv chains with halo) and Winograd F(m x m, r x r)."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from accelsim.errors import ConfigError
from accelsim.roofline.fusion import choose_tile, epilogue_fusion, model_epilogue_fusion, tile_chain
from accelsim.roofline.hardware import Hardware, load_hardware
from accelsim.roofline.model import layer_point, operator_cost
from accelsim.roofline.winograd import eligible, matrices, tile_cost, winograd_layer
from workloads import zoo
from workloads.layer import Layer, Workload, conv, fc

FP32 = 4.0


# ---------------------------------------------------------------------------------------------
# epilogue fusion

def test_bias_relu_fusion_saves_one_write_and_read_per_operator():
    """56x56x256 output = 802,816 floats. Separate bias and ReLU each read and write it:
    2 x 2 x 802,816 x 4 B = 12,845,056 B more than the fused conv (the bias vector, 256 floats, is
    read either way)."""
    layer = conv("c", C=256, K=256, H=56, R=3, pad=1)
    f = epilogue_fusion(layer, ("bias", "relu"), FP32)
    assert f.saved_bytes == 2 * 2 * 802_816 * 4 == 12_845_056
    assert f.fused.bytes == operator_cost(layer, FP32).bytes + 256 * 4
    assert f.separate.flops == f.fused.flops == 3_699_376_128 + 2 * 802_816
    one = epilogue_fusion(layer, ("bias",), FP32)
    assert one.saved_bytes == 2 * 802_816 * 4


def test_model_fusion_raises_intensity_and_attainable():
    """Over a workload the saving is the sum over MAC layers of 2 x (ops) x output x element bytes; the
    fused model has higher intensity and, on a memory-bound device, proportionally higher attainable."""
    w = zoo.get("mobilenet_v1")
    rpi3 = load_hardware("rpi3")
    mf = model_epilogue_fusion(w, rpi3, ("bias", "relu"))
    expected = sum(2 * 2 * l.output_elems * 4 for l in w.layers if l.kind.has_macs)
    assert mf.separate_cost.bytes - mf.fused_cost.bytes == expected
    assert mf.fused_cost.intensity > mf.separate_cost.intensity
    assert mf.fused_time_s < mf.separate_time_s
    with pytest.raises(ConfigError, match="unknown epilogue operator.*allowed: bias, bn, relu"):
        epilogue_fusion(w.layers[0], ("gelu",))


# ---------------------------------------------------------------------------------------------
# tiled fusion: the halo against a brute-force count

def _needed(layers, r0, r1, c0, c1):
    """Brute force: the set of output positions each layer must produce so the last layer produces
    rows [r0, r1) x cols [c0, c1): walk back tap by tap; positions in the padding are not outputs."""
    need = [None] * len(layers)
    need[-1] = {(p, q) for p in range(r0, r1) for q in range(c0, c1)}
    for i in range(len(layers) - 1, 0, -1):
        l, prev = layers[i], layers[i - 1]
        need[i - 1] = {(p * l.stride_h - l.pad_h + r * l.dil_h, q * l.stride_w - l.pad_w + s * l.dil_w)
                       for p, q in need[i] for r in range(l.R) for s in range(l.S)
                       if 0 <= p * l.stride_h - l.pad_h + r * l.dil_h < prev.P
                       and 0 <= q * l.stride_w - l.pad_w + s * l.dil_w < prev.Q}
    first = layers[0]
    inputs = {(p * first.stride_h - first.pad_h + r * first.dil_h, q * first.stride_w - first.pad_w + s * first.dil_w)
              for p, q in need[0] for r in range(first.R) for s in range(first.S)}
    inputs = {(y, x) for y, x in inputs if 0 <= y < first.H and 0 <= x < first.W}
    return need, inputs


def _brute(layers, th, tw):
    last = layers[-1]
    counts = [0] * len(layers)
    input_reads = 0
    for r0 in range(0, last.P, th):
        for c0 in range(0, last.Q, tw):
            need, inputs = _needed(layers, r0, min(r0 + th, last.P), c0, min(c0 + tw, last.Q))
            for i, s in enumerate(need):
                counts[i] += len(s)
            input_reads += len(inputs)
    recomputed = [l.N * l.K * (c - l.P * l.Q) for c, l in zip(counts, layers)]
    return recomputed, layers[0].N * layers[0].C * input_reads


CHAINS = {
    "two 3x3 pad 1 on 16x16": ([conv("c1", C=2, K=3, H=16, R=3, pad=1), conv("c2", C=3, K=2, H=16, R=3, pad=1)],
                               [(8, 8), (5, 5), (16, 16), (3, 7)]),
    "3x3/2, 3x3, 1x1": ([conv("a", C=2, K=4, H=15, R=3, stride=2, pad=1), conv("b", C=4, K=4, H=8, R=3, pad=1),
                         conv("c", C=4, K=3, H=8, R=1)], [(3, 3), (2, 5), (1, 1)]),
    "5x5 pad 2 then 3x3 valid": ([conv("a", C=1, K=2, H=13, R=5, pad=2), conv("b", C=2, K=2, H=13, R=3)],
                                 [(4, 3), (11, 11), (2, 2)]),
    "three 3x3 on 12x10": ([conv("a", C=1, K=2, H=12, W=10, R=3, pad=1), conv("b", C=2, K=2, H=12, W=10, R=3, pad=1),
                            conv("c", C=2, K=1, H=12, W=10, R=3, pad=1)], [(5, 5), (4, 3), (12, 10)]),
}


@pytest.mark.parametrize("name", CHAINS)
def test_halo_equals_brute_force(name):
    """For chains whose filters cover their stride (R >= stride, no dilation) the bands from
    accelsim.halo are exactly the positions the later tiles need: the recomputed outputs of every layer
    and the first layer's input reads equal a brute-force enumeration of taps."""
    layers, tiles = CHAINS[name]
    for th, tw in tiles:
        t = tile_chain(layers, th, tw)
        recomputed, reads = _brute(layers, th, tw)
        assert list(t.recomputed_outputs) == recomputed, (th, tw)
        assert t.input_reads == reads, (th, tw)
        assert t.recomputed_outputs[-1] == 0
        assert t.recomputed_macs == sum(r * l.Cg * l.R * l.S for r, l in zip(recomputed, layers))


def test_halo_with_gaps_is_a_hull():
    """A 1x1 stride-2 layer reads only even rows: a tile of 3 rows needs rows 0, 2, 4 of its input, but
    a tiled kernel computes the contiguous band 0..4 (accelsim.halo's hull). So with gaps the band's
    count is an upper bound on the brute-force need -- here strictly larger."""
    layers = [conv("a", C=1, K=1, H=12, R=3, pad=1), conv("b", C=1, K=1, H=12, R=1, stride=2)]
    t = tile_chain(layers, 3, 3)
    recomputed, _ = _brute(layers, 3, 3)
    assert t.recomputed_outputs[0] > recomputed[0]


def test_reference_example_16x16_as_four_8x8_tiles():
    """reference/roofline.md: a 16x16 conv2 output as four 8x8 tiles, 3x3 convs (pad 1), 8 channels.
    Each conv1 tile is 9x9 (8 + one halo row/col on the inner side): 4 x 81 - 256 = 68 recomputed
    outputs per channel, 544 for 8 channels, x 72 MACs each = 39,168 MACs. Input reads: each tile reads
    a 10x10 input band: 4 x 100 x 8 = 3,200 floats. DRAM bytes: unfused 2 x (2048 + 576 + 2048) floats
    = 37,376 B; fused 3,200 + 1,152 weights + 2,048 output floats = 25,600 B: the intermediate's write
    and read (16,384 B) saved, less 1,152 floats (4,608 B) of input halo read again."""
    layers = [conv("c1", C=8, K=8, H=16, R=3, pad=1), conv("c2", C=8, K=8, H=16, R=3, pad=1)]
    t = tile_chain(layers, 8)
    assert t.tiles == 4 and t.recomputed_outputs == (544, 0)
    assert t.recomputed_macs == 39_168
    assert t.input_reads == 3_200
    assert t.unfused_bytes == 37_376 and t.fused_bytes == 25_600
    assert t.saved_bytes == 16_384 - 4_608
    whole = tile_chain(layers, 16)
    assert whole.recomputed_macs == 0 and whole.fused_bytes == (2048 + 1152 + 2048) * 4


def test_choose_tile_fits_buffer():
    """Footprint of a tile = both layers' weights (2 x 576 = 1,152 floats) + the largest input+output
    pair of one layer. Tile 8 (corner tile: conv1 band 9x9, input band 10x10): 800 + 648 = 1,448 ->
    2,600 floats = 10,400 B. Tile 7's interior tile (rows 7..13) needs conv1 rows 6..14 (9) and input
    rows 5..15 (11): 968 + 648 = 1,616 -> 11,072 B, more than tile 8. Tile 6's worst tile (6..11): conv1
    8x8, input 10x10: 800 + 512 -> 2,464 floats = 9,856 B. So a 10,400 B buffer takes tile 8, one byte
    less takes tile 6, and 4,608 B (the weights alone) fits nothing."""
    layers = [conv("c1", C=8, K=8, H=16, R=3, pad=1), conv("c2", C=8, K=8, H=16, R=3, pad=1)]
    assert tile_chain(layers, 8).onchip_bytes == 10_400
    assert tile_chain(layers, 7).onchip_bytes == 11_072
    assert tile_chain(layers, 6).onchip_bytes == 9_856
    assert choose_tile(layers, 10_400).tile_h == 8
    assert choose_tile(layers, 10_399).tile_h == 6
    with pytest.raises(ConfigError, match="no tile of chain c1 -> c2 fits"):
        choose_tile(layers, 4_608)


def test_chain_rejects_non_chains():
    a = conv("a", C=3, K=8, H=16, R=3, pad=1)
    with pytest.raises(ConfigError, match="do not form a chain"):
        tile_chain([a, conv("b", C=4, K=8, H=16, R=3, pad=1)], 4)
    with pytest.raises(ConfigError, match="tile height must be an integer in 1..16"):
        tile_chain([a], 0)


# ---------------------------------------------------------------------------------------------
# Winograd

def test_winograd_multiply_savings():
    """(m + r - 1)^2 multiplies per m x m tile instead of m^2 r^2: F(2x2,3x3) 16 vs 36 = 2.25x,
    F(4x4,3x3) 36 vs 144 = 4x (reference/roofline.md)."""
    f2, f4 = tile_cost(2, 3), tile_cost(4, 3)
    assert (f2.multiplies, f2.direct_multiplies, f2.reduction) == (16, 36, 2.25)
    assert (f4.multiplies, f4.direct_multiplies, f4.reduction) == (36, 144, 4.0)


def test_winograd_f2x2_3x3_transform_additions():
    """Lavin & Gray (CVPR 2016, Sec. 4): F(2x2,3x3)'s input transform B^T d B takes 32 additions and
    the output transform A^T M A 24 (their B^T and A^T have only 0/+-1 entries)."""
    f2 = tile_cost(2, 3)
    assert f2.input_transform_ops == 32 and f2.output_transform_ops == 24
    mats = matrices(2, 3)
    assert all(abs(c) in (0, 1) for row in mats.BT + mats.AT for c in row)


def _mat(a, b):
    return [[sum(a[i][k] * b[k][j] for k in range(len(b))) for j in range(len(b[0]))] for i in range(len(a))]


def _t(a):
    return [list(col) for col in zip(*a)]


@pytest.mark.parametrize("m, r", [(2, 3), (4, 3), (3, 2), (2, 5), (6, 3)])
def test_winograd_2d_equals_direct_correlation(m, r):
    """Y = A^T [(G g G^T) (.) (B^T d B)] A equals the direct 2-D correlation of an (m+r-1)^2 input tile
    with an r x r filter, exactly (rational arithmetic, random integer data)."""
    rng = random.Random(m * 100 + r)
    mats = matrices(m, r)
    n = m + r - 1
    d = [[Fraction(rng.randint(-9, 9)) for _ in range(n)] for _ in range(n)]
    g = [[Fraction(rng.randint(-9, 9)) for _ in range(r)] for _ in range(r)]
    U = _mat(_mat(mats.G, g), _t(mats.G))
    V = _mat(_mat(mats.BT, d), _t(mats.BT))
    M = [[U[i][j] * V[i][j] for j in range(n)] for i in range(n)]
    Y = _mat(_mat(mats.AT, M), _t(mats.AT))
    direct = [[sum(g[a][b] * d[i + a][j + b] for a in range(r) for b in range(r)) for j in range(m)]
              for i in range(m)]
    assert Y == direct


def test_winograd_layer_counts():
    """56x56x256 -> 256 3x3 conv with F(2x2,3x3): 28 x 28 = 784 tiles. Elementwise stage
    2 x 784 x 16 x 256 x 256 = 1,644,167,168 FLOPs = direct 3,699,376,128 / 2.25 exactly; transforms
    784 x (256 x 32 + 256 x 24) = 11,239,424; total 1,655,406,592 (2.235x fewer than direct)."""
    layer = conv("c", C=256, K=256, H=56, R=3, pad=1)
    w = winograd_layer(layer, 2)
    assert w.tiles == 784
    assert w.elementwise_flops == 1_644_167_168 and w.elementwise_flops * 2.25 == w.direct_flops
    assert w.transform_flops == 11_239_424
    assert w.flops == 1_655_406_592
    assert not eligible(conv("s2", C=8, K=8, H=16, R=3, stride=2, pad=1))
    assert not eligible(conv("p", C=8, K=8, H=16, R=1))
    with pytest.raises(ConfigError, match="cannot use Winograd"):
        winograd_layer(fc("f", C=8, K=8), 2)


def test_winograd_helps_compute_bound_layers_only():
    """On the Raspberry Pi 3 (ridge 10.7 FLOP/B) the 56x56x256 conv (421 FLOP/B) is compute-bound: time
    falls by direct / Winograd FLOPs = 3,699,376,128 / 1,655,406,592 = 2.235x (still compute-bound after:
    188 FLOP/B). A 3 -> 3 channel 3x3 conv on 224x224 moves 1,204,548 B for 8,128,512 FLOPs (6.75 FLOP/B):
    memory-bound, so Winograd's fewer FLOPs buy nothing (bytes are unchanged)."""
    rpi3 = load_hardware("rpi3")
    big = conv("c", C=256, K=256, H=56, R=3, pad=1)
    w = winograd_layer(big, 2)
    direct = layer_point(big, rpi3)
    assert direct.bound == "compute"
    fast_time = rpi3.time(w.flops, operator_cost(big, FP32).bytes)
    assert direct.time_s / fast_time == pytest.approx(3_699_376_128 / 1_655_406_592)
    small = conv("s", C=3, K=3, H=224, R=3, pad=1)
    cost = operator_cost(small, FP32)
    assert cost.flops == 8_128_512 and cost.bytes == (2 * 3 * 224 * 224 + 81) * 4 == 1_204_548
    assert layer_point(small, rpi3).bound == "memory"
    ws = winograd_layer(small, 2)
    assert rpi3.time(ws.flops, cost.bytes) == rpi3.time(cost.flops, cost.bytes)


def test_streamed_weights_trade_off():
    """Streaming the weights frees the buffer of them but reads them again per tile: with T tiles the
    fused DRAM bytes grow by (T - 1) x the chain's weights, and the footprint shrinks by the weights."""
    layers = [conv("c1", C=8, K=8, H=16, R=3, pad=1), conv("c2", C=8, K=8, H=16, R=3, pad=1)]
    resident, streamed = tile_chain(layers, 8), tile_chain(layers, 8, weights="streamed")
    assert streamed.fused_bytes - resident.fused_bytes == 3 * 1152 * 4
    assert resident.onchip_bytes - streamed.onchip_bytes == 1152 * 4
    # the whole 16x16 map as one tile: input 2,048 + output 2,048 floats = 16,384 B, no weights on chip
    assert choose_tile(layers, 16_384, weights="streamed").tile_h == 16
    assert choose_tile(layers, 16_384).tile_h < 16
    with pytest.raises(ConfigError, match="unknown weight placement"):
        tile_chain(layers, 8, weights="cached")


def test_report_chain_and_winograd_tables():
    """The CLI's bundle: VGG-16's conv1_1 -> conv1_2 on the Pi's 512 kB L2 (weights 154 kB resident)
    picks the largest tile that fits, saves DRAM bytes and recomputes some MACs; the fused chain's
    intensity is higher than the unfused one's. conv3_1 -> conv3_2 has 3.4 MB of weights: only streamed."""
    from accelsim.roofline.report import analyze

    rpi3 = load_hardware("rpi3")
    rep = analyze(zoo.get("vgg16"), rpi3, chain=["conv1_1", "conv1_2"], winograd_m=2)
    c = rep.chain
    assert c.chosen.onchip_bytes <= 512 * 1024 < tile_chain(c.layers, c.chosen.tile_h + 1).onchip_bytes
    assert c.chosen.saved_bytes > 0 and c.chosen.recomputed_macs > 0
    assert c.after.intensity > c.before.intensity
    with pytest.raises(ConfigError, match="stream the weights"):
        analyze(zoo.get("vgg16"), rpi3, chain=["conv3_1", "conv3_2"])
    streamed = analyze(zoo.get("vgg16"), rpi3, chain=["conv3_1", "conv3_2"], weights="streamed").chain
    assert streamed.chosen.onchip_bytes <= 512 * 1024
    assert {r.layer.name for r in rep.winograd} == {l.name for l in zoo.get("vgg16").layers if eligible(l)}
    hw = Hardware("x", 1e12, None, FP32)
    assert all(p.bound == "compute" for p in analyze(Workload("w", (fc("f", C=8, K=8),)), hw).model.layers)


def test_layer_pool_is_not_fused():
    pool = Layer("pool", "pool", C=8, K=8, H=8, W=8, R=2, S=2, stride_h=2, stride_w=2)
    with pytest.raises(ConfigError, match="only conv, depthwise, fc and gemm"):
        tile_chain([pool], 1)
