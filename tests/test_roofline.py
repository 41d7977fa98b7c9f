"""Roofline arithmetic against reference/roofline.md: the four worked rows (exact), the whole-model
figures (within 15%, or the documented assumption that differs), presets and arch-derived hardware."""

from __future__ import annotations

import math

import pytest

from accelsim.arch import load_arch
from accelsim.errors import ConfigError
from accelsim.roofline.hardware import Hardware, hardware_from_arch, hardware_from_dict, load_hardware
from accelsim.roofline.model import layer_point, model_roofline, operator_cost
from workloads import zoo
from workloads.layer import Layer, LayerKind, Workload, conv, gemm

FP32 = 4.0


# ---------------------------------------------------------------------------------------------
# the four rows of reference/roofline.md (fp32, every operator reads inputs and writes outputs)

def test_matmul_1000():
    """C = A.B, 1000 x 1000: 2 x 10^9 FLOPs; A, B and C are 10^6 floats each = 12 MB; ~167 FLOP/B."""
    cost = operator_cost(gemm("mm", m=1000, n=1000, k=1000), FP32)
    assert cost.flops == 2 * 1000 ** 3
    assert cost.bytes == 3 * 1000 * 1000 * 4 == 12_000_000
    assert round(cost.intensity) == 167


def test_matvec_1000():
    """y = A.x: 2 x 10^6 FLOPs; A (10^6 floats) + x + y (10^3 each) = 4,008,000 B ~ 4 MB; ~0.5 FLOP/B."""
    cost = operator_cost(gemm("mv", m=1, n=1000, k=1000), FP32)
    assert cost.flops == 2 * 1000 * 1000
    assert cost.bytes == (1000 * 1000 + 1000 + 1000) * 4 == 4_008_000
    assert round(cost.intensity, 1) == 0.5


def test_conv3x3_56x56_256():
    """3x3 conv, 56x56, 256 -> 256 (pad 1): MACs = 56*56*256*256*9 = 1,849,688,064 -> 3.7 GFLOP;
    input and output 256*56*56 = 802,816 floats each, weights 256*256*9 = 589,824:
    2,195,456 floats = 8,781,824 B ~ 8.8 MB; intensity ~420 (421.2)."""
    cost = operator_cost(conv("c", C=256, K=256, H=56, R=3, pad=1), FP32)
    assert cost.flops == 2 * 1_849_688_064 == 3_699_376_128
    assert cost.bytes == (802_816 * 2 + 589_824) * 4 == 8_781_824
    assert round(cost.flops / 1e9, 1) == 3.7 and round(cost.bytes / 1e6, 1) == 8.8
    assert abs(cost.intensity - 420) / 420 < 0.01


def test_resnet_bottleneck():
    """1x1 256->64, 3x3 64->64, 1x1 64->256 on 56x56: MACs 51,380,224 + 115,605,504 + 51,380,224 =
    218,365,952 -> 0.437 GFLOP ("0.43 G"); bytes per operator (in + w + out, floats):
    802,816+16,384+200,704 = 1,019,904; 200,704+36,864+200,704 = 438,272; 200,704+16,384+802,816 =
    1,019,904; total 2,478,080 floats = 9,912,320 B ~ 9.9 MB; intensity ~44 (44.06)."""
    block = Workload("bottleneck", (
        conv("a", C=256, K=64, H=56, R=1),
        conv("b", C=64, K=64, H=56, R=3, pad=1),
        conv("c", C=64, K=256, H=56, R=1),
    ))
    m = model_roofline(block, Hardware("fp32", 1e12, 1e11, FP32))
    assert m.flops == 2 * 218_365_952
    assert m.bytes == 2_478_080 * 4 == 9_912_320
    assert 0.43e9 <= m.flops < 0.44e9 and round(m.bytes / 1e6, 1) == 9.9
    assert round(m.intensity) == 44
    # the reference's lesson: ~10x fewer FLOPs than the plain 3x3 conv, no fewer bytes, lower intensity
    plain = operator_cost(conv("c", C=256, K=256, H=56, R=3, pad=1), FP32)
    assert plain.flops / m.flops > 8 and m.bytes > plain.bytes and m.intensity < plain.intensity / 9


# ---------------------------------------------------------------------------------------------
# hardware presets and the roof

def test_presets_match_reference_table():
    """reference/roofline.md: V100 120-125 TFLOP/s (fp16 tensor cores), 900 GB/s; Xavier ~30 TOPS,
    137 GB/s; Raspberry Pi 3 38.4 GFLOP/s (4 cores x 1.2 GHz x 8 FLOPs/cycle), 3.6 GB/s, 512 kB L2."""
    v100, xavier, rpi3 = (load_hardware(n) for n in ("v100", "xavier", "rpi3"))
    assert 120e12 <= v100.peak_flops <= 125e12 and v100.bandwidth == 900e9 and v100.element_bytes == 2
    assert xavier.peak_flops == 30e12 and xavier.bandwidth == 137e9 and xavier.element_bytes == 1
    assert rpi3.peak_flops == pytest.approx(4 * 1.2e9 * 8) and rpi3.bandwidth == 3.6e9
    assert rpi3.on_chip_bytes == 512 * 1024 and rpi3.element_bytes == 4
    assert rpi3.ridge == pytest.approx(38.4 / 3.6)


def test_attainable_and_bound_on_rpi3():
    """Matmul (167 FLOP/B) is past the Pi's ridge (10.7): compute-bound at 38.4 GFLOP/s; matvec
    (0.499 FLOP/B) is memory-bound at 3.6 GB/s x 0.499 = 1.796 GFLOP/s."""
    rpi3 = load_hardware("rpi3")
    mm = layer_point(gemm("mm", m=1000, n=1000, k=1000), rpi3)
    mv = layer_point(gemm("mv", m=1, n=1000, k=1000), rpi3)
    assert mm.bound == "compute" and mm.attainable_flops == 38.4e9
    assert mm.time_s == pytest.approx(2e9 / 38.4e9)
    assert mv.bound == "memory"
    assert mv.attainable_flops == pytest.approx(3.6e9 * 2e6 / 4_008_000)
    assert mv.time_s == pytest.approx(4_008_000 / 3.6e9)


def test_hardware_from_arch():
    """Eyeriss v1: 12 x 14 PEs at 200 MHz x 2 FLOPs/MAC = 67.2 GFLOP/s; 0.72 GB/s DRAM; 16-bit words."""
    hw = load_hardware("eyeriss_v1")
    assert hw.peak_flops == 168 * 200e6 * 2
    assert hw.bandwidth == pytest.approx(0.72e9) and hw.element_bytes == 2
    assert hw.ridge == pytest.approx(67.2 / 0.72)


def test_unlimited_bandwidth_arch():
    """An arch whose dram.bandwidth_gb_per_s is None: no memory roof, ridge 0, every layer compute-bound
    at peak -- even the matvec at 0.5 FLOP/B."""
    hw = hardware_from_arch(load_arch("eyeriss_v1").with_dram_unlimited())
    assert hw.bandwidth is None and hw.ridge == 0.0
    p = layer_point(gemm("mv", m=1, n=1000, k=1000), hw)
    assert p.bound == "compute" and p.attainable_flops == hw.peak_flops
    assert p.time_s == pytest.approx(2e6 / hw.peak_flops)
    assert "unlimited" in hw.describe()


def test_bad_hardware_inputs():
    with pytest.raises(ConfigError, match="unknown hardware 'nosuch'.*v100"):
        load_hardware("nosuch")
    with pytest.raises(ConfigError, match="not roofline hardware"):
        load_hardware("gemini")
    base = {"kind": "hardware", "name": "x", "peak_gflops": 1, "bandwidth_gb_per_s": 1}
    with pytest.raises(ConfigError, match="exactly one of peak_gflops, peak_tflops"):
        hardware_from_dict({**base, "peak_tflops": 1}, "x.yaml")
    with pytest.raises(ConfigError, match="x.yaml: bandwidth_gb_per_s: value -1"):
        hardware_from_dict({**base, "bandwidth_gb_per_s": -1}, "x.yaml")
    with pytest.raises(ConfigError, match="unknown key.*peak_gflop"):
        hardware_from_dict({**base, "peak_gflop": 3}, "x.yaml")
    assert hardware_from_dict({**base, "bandwidth_gb_per_s": None}).bandwidth is None


# ---------------------------------------------------------------------------------------------
# whole-model figures of the reference

def _intensity(layers, eb=FP32) -> float:
    flops = sum(l.flops for l in layers)
    return flops / sum(operator_cost(l, eb).bytes for l in layers)


def _pool(name: str, C: int, H: int, R: int, stride: int, pad: int = 0) -> Layer:
    return Layer(name, LayerKind.POOL, C=C, K=C, H=H, W=H, R=R, S=R, stride_h=stride, stride_w=stride,
                 pad_h=pad, pad_w=pad)


def test_large_models_sit_around_30_to_50():
    """"Large models such as VGG-16, ResNet and Inception sit around 30-50 FLOPs/B" (MAC layers, fp32).
    Ours: VGG-16 48.0, ResNet-50 43.2 inside; GoogLeNet (Inception v1) 53.2, 6% above the band's top
    (its many 1x1 reductions make small operators); all within the 15% allowance on the band."""
    values = {name: model_roofline(zoo.get(name), Hardware("fp32", 1e12, 1e11, FP32)).intensity
              for name in ("vgg16", "resnet50", "googlenet")}
    assert 30 <= values["vgg16"] <= 50 and 30 <= values["resnet50"] <= 50
    assert all(30 * 0.85 <= v <= 50 * 1.15 for v in values.values()), values


def test_vgg16_without_fc():
    """Reference: VGG-16 without its FC layers ~160 FLOP/B. Counting only the zoo's 13 conv layers gives
    205.5 (+28%): conv FLOPs 30,693,261,312 over 37,339,840 floats (22,629,376 activations, each conv's
    input and output, + 14,710,464 weights). The assumption that differs: the talk's count still has the
    five 2x2/2 max-pools, which BN/activation fusion does not remove; each reads its input and writes a
    quarter of it (7,651,840 floats in all). With them, 170.5: +6.6%, within 15%."""
    convs = [l for l in zoo.get("vgg16").layers if l.kind is LayerKind.CONV]
    assert sum(l.flops for l in convs) == 30_693_261_312
    mac_only = _intensity(convs)
    assert sum(operator_cost(l, 1).bytes for l in convs) == 22_629_376 + 14_710_464
    assert mac_only == pytest.approx(30_693_261_312 / (37_339_840 * 4))
    assert 1.20 < mac_only / 160 < 1.35
    pools = [_pool(f"pool{i}", C=c, H=h, R=2, stride=2)
             for i, (c, h) in enumerate(((64, 224), (128, 112), (256, 56), (512, 28), (512, 14)), start=1)]
    assert sum(p.ifmap_elems + p.output_elems for p in pools) == 7_651_840
    with_pools = _intensity(convs + pools)
    assert abs(with_pools / 160 - 1) < 0.15


def _shufflenet_glue(w: Workload) -> list[Layer]:
    """The data-moving operators of ShuffleNet v1 the MAC-only zoo leaves out (reference code
    megvii-model/ShuffleNet-Series ShuffleNetV1): 3x3/2 max-pool after the stem; in every stage's first
    unit a 3x3/2 average-pool shortcut (concat in place); in every other unit a residual add (two
    tensors read, one written; the ReLU after it fused); the global 7x7 average pool before the FC."""
    by_name = {l.name: l for l in w.layers}
    stem = w.layers[0]
    glue = [_pool("maxpool", C=stem.K, H=stem.P, R=3, stride=2, pad=1)]
    for l in w.layers:
        if not l.name.endswith("_gconv1"):
            continue
        unit = l.name[: -len("_gconv1")]
        out = by_name[f"{unit}_gconv2"]
        if unit.endswith("_1"):
            glue.append(_pool(f"{unit}_shortcut", C=l.C, H=l.H, R=3, stride=2, pad=1))
        else:
            glue.append(Layer(f"{unit}_add", LayerKind.ELTWISE, C=out.K, H=out.P, W=out.Q, operands=2))
    last = w.layers[-2]
    glue.append(_pool("globalpool", C=last.K, H=last.P, R=last.P, stride=1))
    return glue


@pytest.mark.parametrize("groups, published", [(3, 3.61), (8, 2.91)])
def test_shufflenet_half_brackets_the_reference(groups, published):
    """Reference: ShuffleNet 0.5x reaches only 3.61 FLOP/B with 3 groups, 2.91 with 8. Not reproduced
    for both: MAC layers only give 4.99 (g=3, +38%) and 3.52 (g=8, +21%); adding the operators the
    zoo leaves out (pools, average-pool shortcuts, unfused residual adds, global pool; an add counted
    as Layer.flops counts it, 2 ops per output) gives 3.09 (g=3, -14%, within 15%) and 2.18 (g=8, -25%).
    The talk's figures lie between the two counts, so its operator set is in between (e.g. residual adds
    fused into the last 1x1 conv, which the talk does not say). Asserted: the bracket, each bound within
    40% / 30% of the published figure, and an intensity 5-50x below VGG-16's."""
    w = zoo.get(f"shufflenet_0.5x_g{groups}")
    mac_only = _intensity(w.layers)
    with_glue = _intensity(list(w.layers) + _shufflenet_glue(w))
    assert with_glue < published < mac_only
    assert mac_only / published - 1 < 0.40 and 1 - with_glue / published < 0.30
    vgg = _intensity(zoo.get("vgg16").layers)
    assert 5 < vgg / mac_only < 50


def test_shufflenet_more_groups_lower_intensity():
    g3, g8 = (_intensity(zoo.get(f"shufflenet_0.5x_g{g}").layers) for g in (3, 8))
    assert g3 > g8


def test_model_attainable_and_time():
    """Model attainable = roof at the aggregate intensity; time = sum of per-layer roofline times, so
    the achieved rate (FLOPs / time) never exceeds the aggregate attainable rate."""
    rpi3 = load_hardware("rpi3")
    m = model_roofline(zoo.get("alexnet"), rpi3)
    assert m.attainable_flops == pytest.approx(min(rpi3.peak_flops, rpi3.bandwidth * m.intensity))
    assert m.time_s == pytest.approx(sum(max(p.flops / rpi3.peak_flops, p.bytes / rpi3.bandwidth)
                                         for p in m.layers))
    assert m.achieved_flops <= m.attainable_flops * (1 + 1e-12)
    # AlexNet's FC layers at batch 1 are 0.5 FLOP/B: memory-bound on any of the presets
    assert all(p.bound == "memory" for p in m.layers if p.kind == "fc")
    assert math.isclose(m.layers[-1].intensity, 2 * 4096 * 1000 / ((4096 + 4096 * 1000 + 1000) * 4))
