"""CoDL's kernel-time form, its least-squares fit and the +-10% accuracy metric."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.errors import ConfigError
from accelsim.partition.calibrate import fit
from accelsim.partition.measurements import Measurement, read_csv, split, write_csv
from accelsim.partition.predictor import KernelModel, fit_flops, fit_kernel, processors, within
from accelsim.partition.shape import OpShape
from accelsim.partition.soc import Tile, load_soc
from workloads.layer import LayerKind


def _conv(C, K, H, W, R=3, stride=1, N=1):
    pad = R // 2
    P = (H + 2 * pad - R) // stride + 1
    Q = (W + 2 * pad - R) // stride + 1
    return OpShape(LayerKind.CONV, N, C, K, H, W, P, Q, R, R, stride, stride)


def test_codl_form_by_hand():
    """Output 10 channels x 7 x 9, item 4 oc x 1 row x 4 cols: ceil(10/4)*7*ceil(9/4) = 3*7*3 = 63 items.
    Block 8 items, unit 2 items, 3 cores: rounds ceil(63/24) = 3, units per block ceil(8/2) = 4.
    t_unit = 100 + 2*IC(6) + 0.5*red(6*9=54) = 139 ns -> T = 3 * 4 * 139 ns = 1668 ns."""
    s = _conv(C=6, K=10, H=7, W=9)
    assert (s.P, s.Q, s.red) == (7, 9, 54)
    m = KernelModel("k", Tile(4, 1, 4), block=8, unit=2, coef_ns=(100.0, 0.0, 0.0, 2.0, 0.0, 0.5))
    assert m.counts(s, cores=3) == (3, 4)
    assert m.time_ms(s, cores=3) == pytest.approx(1668e-6)


def test_input_channels_in_blocks_pay_for_the_whole_block():
    """An item reading input channels 4 at a time (``ic: 4``, a GPU texel) computes a 3-channel
    convolution as a 4-channel one: 5x5 filter, so red = 4*25 = 100, not 75; t_unit = 10 + 2*IC(4) +
    0.5*red(100) = 68 ns; items ceil(8/4)*6*ceil(6/4) = 24 on 1 core, T = 24 * 68 ns. 8 channels (a whole
    number of blocks), a depthwise layer and a pooling layer are read as they are."""
    coef = (10.0, 0.0, 0.0, 2.0, 0.0, 0.5)
    blocked = KernelModel("k", Tile(4, 1, 4, ic=4), 1, 1, coef)
    thin = _conv(C=3, K=8, H=6, W=6, R=5)
    assert blocked.time_ms(thin, 1) == pytest.approx(24 * 68e-6, rel=1e-12)
    assert KernelModel("k", Tile(4, 1, 4), 1, 1, coef).time_ms(thin, 1) == pytest.approx(24 * 53.5e-6, rel=1e-12)
    four = _conv(C=4, K=8, H=6, W=6, R=5)
    assert blocked.time_ms(thin, 1) == blocked.time_ms(four, 1)
    eight = _conv(C=8, K=8, H=6, W=6, R=5)
    assert blocked.regressors(eight) == (1.0, 6.0, 6.0, 8.0, 8.0, 200.0)
    grouped = OpShape(LayerKind.CONV, 1, 6, 6, 8, 8, 8, 8, 1, 1, 1, 1, groups=2)   # 3 channels per group -> 4
    assert blocked.regressors(grouped)[3:] == (8.0, 6.0, 4.0)
    for kind in (LayerKind.DEPTHWISE, LayerKind.POOL):
        s = OpShape(kind, 1, 3, 3, 8, 8, 6, 6, 3, 3, 1, 1, groups=3 if kind is LayerKind.DEPTHWISE else 1)
        assert blocked.regressors(s)[3] == 3.0


def test_shipped_gpus_read_input_channels_in_texels_of_four():
    """MACE's OpenCL convolutions round the input channels up to 4 (an image texel; the buffer path pads
    the input): every shipped GPU's direct kernel says so, no CPU kernel does."""
    for name in ("sd855", "sd865", "sd888", "kirin990"):
        soc = load_soc(name)
        assert soc.gpu.kernel("direct").item.ic == 4, name
        assert {k.item.ic for k in soc.cpu.kernels} == {1}, name


def test_thin_band_pays_for_whole_items():
    """A 6-row-tile (Winograd F(6,3)) item: a 2-row band costs as many items as a 6-row band."""
    m = KernelModel("w", Tile(8, 6, 6), 1, 1, (0.0, 0.0, 0.0, 0.0, 0.0, 1.0))
    two = OpShape(LayerKind.CONV, 1, 16, 16, 4, 12, 2, 12, 3, 3, 1, 1)    # 2 output rows
    six = OpShape(LayerKind.CONV, 1, 16, 16, 8, 12, 6, 12, 3, 3, 1, 1)    # 6 output rows
    # items: ceil(16/8) channel blocks x ceil(rows/6) x ceil(12/6) = 2 x 1 x 2 = 4 either way
    assert m.counts(two, 1) == m.counts(six, 1) == (4, 1)


def test_fit_recovers_known_coefficients_from_synthetic_data():
    """Times generated in the test from known coefficients with the CoDL formula written out here
    (items, rounds, units) are fitted back to those coefficients."""
    truth = np.array([250.0, 1.5, 0.75, 3.0, 0.2, 0.9])   # const, H, W, IC, OC, red (ns per unit)
    item, block, unit = Tile(4, 1, 8), 6, 2
    rng = np.random.default_rng(1)
    shapes, cores, seconds = [], [], []
    for _ in range(60):
        s = _conv(C=int(rng.integers(3, 200)), K=int(rng.integers(4, 160)), H=int(rng.integers(5, 60)),
                  W=int(rng.integers(5, 60)), R=int(rng.choice([1, 3, 5])), stride=int(rng.choice([1, 2])))
        c = int(rng.integers(1, 5))
        items = -(-s.K // 4) * s.P * -(-s.Q // 8)
        rounds = -(-items // (block * c))
        per_block = -(-min(block, items) // unit)
        t_unit = truth @ np.array([1, s.H, s.W, s.C, s.K, s.red], dtype=float)
        shapes.append(s)
        cores.append(c)
        seconds.append(rounds * per_block * t_unit * 1e-9)
    model = fit_kernel("synthetic", item, block, unit, shapes, cores, seconds)
    assert np.allclose(model.coef_ns, truth, rtol=1e-6)
    assert all(model.time_ms(s, c) / 1e3 == pytest.approx(t, rel=1e-9) for s, c, t in zip(shapes, cores, seconds))


def test_fit_with_noise_is_within_ten_percent():
    """2% multiplicative noise: the fit predicts nearly every point within +-10%."""
    truth = np.array([50.0, 0.0, 0.0, 1.0, 0.0, 0.4])
    rng = np.random.default_rng(2)
    shapes = [_conv(int(rng.integers(8, 128)), int(rng.integers(8, 128)), int(rng.integers(7, 40)),
                    int(rng.integers(7, 40))) for _ in range(40)]
    model0 = KernelModel("k", Tile(4, 1, 4), 1, 1, tuple(truth))
    seconds = [model0.time_ms(s, 2) / 1e3 * (1 + rng.normal(0, 0.02)) for s in shapes]
    fitted = fit_kernel("k", Tile(4, 1, 4), 1, 1, shapes, [2] * 40, seconds)
    assert within([fitted.time_ms(s, 2) / 1e3 for s in shapes], seconds) >= 0.95


def test_flops_fit_recovers_a_line():
    flops = [1e8, 3e8, 7e8, 2e9]
    ms = [0.2 + 1.5 * f / 1e9 for f in flops]
    m = fit_flops(flops, ms)
    assert m.intercept_ms == pytest.approx(0.2) and m.ms_per_gflop == pytest.approx(1.5)


def test_within_ten_percent_by_hand():
    # |pred - meas| <= 0.1 * meas: 1.05 vs 1 yes, 0.85 vs 1 no, 2.15 vs 2 yes, 0.5 vs 0.4 no -> 2 of 4
    assert within([1.05, 0.85, 2.15, 0.5], [1.0, 1.0, 2.0, 0.4]) == 0.5


def test_sd855_priors_are_the_spec_rooflines():
    """Hand arithmetic from the spec numbers in configs/soc/sd855.yaml:
    CPU core = 4 lanes x 2 FMA pipes x 2.42 GHz = 19.36 GMAC/s; GPU compute unit = 768 / 2 lanes x
    0.585 GHz = 224.64 GMAC/s; memory 34.1 GB/s."""
    cpu, gpu = processors(load_soc("sd855"))
    red = {m.name: m.coef_ns[5] for m in cpu.models}
    const = {m.name: m.coef_ns[0] for m in cpu.models}
    assert red["direct"] == pytest.approx(16 / 19.36)                     # 4x1x4 outputs per item
    assert red["general"] == pytest.approx(16 / (2 * 2.42))                # the same item, scalar: 2 FMAs/cycle
    assert red["gemm"] == pytest.approx(64 / 19.36)                       # 8x8 outputs per item
    # F(6x6,3x3): 8 channels x 8x8 multiplies per tile per input channel, red = 9 IC
    assert red["winograd_f6"] == pytest.approx(8 * 64 / 9 / 19.36)
    # transforms per item: 8 channels x (2*8^3 + 6*8^2 + 36*8) MACs
    assert const["winograd_f6"] == pytest.approx(8 * (1024 + 384 + 288) / 19.36)
    assert red["gemv"] == pytest.approx(4 * 4 / (34.1 / 4))               # 16 B of weights per red, 1/4 of DRAM
    gred = {m.name: m.coef_ns[5] for m in gpu.models}
    assert gred["direct"] == pytest.approx(64 * 16 / 224.64)              # a wave of 64 items x 16 outputs
    assert gred["gemv"] == pytest.approx(64 * 4 * 4 / (34.1 / 2))


def test_processor_picks_codl_kernel_implementations():
    cpu, gpu = processors(load_soc("sd855"))
    assert cpu.impl(_conv(64, 64, 56, 56, R=3)) == "winograd_f6"
    assert cpu.impl(_conv(64, 64, 14, 14, R=3)) == "winograd_f2"
    assert cpu.impl(_conv(64, 64, 56, 56, R=1)) == "gemm"
    assert cpu.impl(_conv(64, 64, 56, 56, R=3, stride=2)) == "direct"
    assert cpu.impl(_conv(3, 32, 224, 224, R=3)) == "direct"          # fewer than 8 input channels
    # MACE's NEON direct kernels: 3x3 s1/s2, 5x5 s1, 7x7 s1-s3; anything else is Conv2dGeneral (scalar)
    assert cpu.impl(_conv(128, 128, 38, 38, R=7)) == "direct"
    assert cpu.impl(_conv(3, 32, 488, 648, R=9)) == "general"         # FST's 9x9 (priced so: impl's docstring)
    assert cpu.impl(_conv(64, 128, 56, 56, R=1, stride=2)) == "gemm"  # CoDL's Conv2dK1x1S2
    assert cpu.impl(_conv(64, 128, 56, 56, R=1, stride=3)) == "general"
    assert cpu.impl(_conv(64, 64, 56, 56, R=5, stride=2)) == "general"
    assert gpu.impl(_conv(3, 32, 488, 648, R=9)) == "direct"
    assert gpu.impl(_conv(64, 64, 56, 56, R=3)) == "direct"


def _measurement(impl, shape, threads, seconds, group=0):
    return Measurement(impl, Tile(4, 1, 16), 1, 1, threads, shape, seconds, 3, group)


def test_measurements_csv_round_trip_and_split_by_convolution(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(20):
        s = _conv(int(rng.integers(4, 64)), int(rng.integers(4, 64)), 8 + i, 9)
        for t in (1, 2):
            rows.append(_measurement("direct", s, t, 1e-4 * (i + 1) / t, group=i))
    path = write_csv(tmp_path / "m.csv", rows)
    back = read_csv(path)
    assert back == rows
    train, test = split(back, seed=3)
    assert {m.group for m in train}.isdisjoint({m.group for m in test})
    assert len({m.group for m in test}) == 6              # round(0.3 * 20)
    assert split(back, seed=3) == (train, test)           # seeded: same split every time
    assert split(back, seed=4) != (train, test)


def test_calibrate_scores_held_out_rows(tmp_path):
    """Synthetic measurements that follow the CoDL form exactly: held-out accuracy is 100% for the
    CoDL form; a FLOPs line cannot follow the thread-count and tile effects as well."""
    model = KernelModel("direct", Tile(4, 1, 16), 1, 1, (400.0, 0.0, 0.0, 0.0, 0.0, 9.0))
    rng = np.random.default_rng(5)
    rows = []
    for g in range(30):
        s = _conv(int(rng.integers(4, 128)), int(rng.integers(4, 128)), int(rng.integers(5, 40)),
                  int(rng.integers(5, 40)), R=3, stride=1)
        for t in (1, 2):
            rows.append(_measurement("direct", s, t, model.time_ms(s, t) / 1e3, group=g))
    report = fit(write_csv(tmp_path / "m.csv", rows))
    assert report.codl_accuracy == 1.0
    assert report.flops_accuracy < 1.0
    assert report.model("direct_k3s1_t1").coef_ns[0] == pytest.approx(400.0, rel=1e-6)
    # with R fixed at 3, red = 9 IC: only the per-input-channel cost 9 * 9 ns = 81 ns is identifiable
    c = report.model("direct_k3s1_t2").coef_ns
    assert c[3] + 9 * c[5] == pytest.approx(81.0, rel=1e-6)


def test_bad_measurements_csv_is_one_line_config_error(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("impl,threads\ndirect,1\n")
    with pytest.raises(ConfigError) as e:
        read_csv(p)
    assert "missing column" in str(e.value) and "\n" not in str(e.value)
    rows = [_measurement("direct", _conv(4, 4, 8, 8), 1, 1e-3)]
    good = write_csv(tmp_path / "ok.csv", rows).read_text()
    (tmp_path / "neg.csv").write_text(good.replace("0.001", "-0.001"))
    with pytest.raises(ConfigError, match="line 2, column seconds"):
        read_csv(tmp_path / "neg.csv")


def test_slowed_processor_scales_every_kernel_time():
    """The what-if slow-down multiplies every basic unit's time, so every part's time, by the factor."""
    cpu, _ = processors(load_soc("sd855"))
    s = _conv(64, 96, 28, 28, R=3)
    assert cpu.slowed(4.0).time_ms(s) == pytest.approx(4.0 * cpu.time_ms(s))
    with pytest.raises(ConfigError):
        cpu.slowed(0.0)


def test_measured_coefficients_giving_a_part_no_time_fail_naming_the_soc_kernel_and_shape(tmp_path):
    """``t_unit_ns: {const: -1, red: 0.5}`` on the CPU's gemm: a 1x1 convolution of C input channels costs
    0.5*C - 1 ns per unit. C=4: 1 ns; 8x8x16 outputs in items of 8 oc x 8 px on 4 cores: 2*8 = 16 items, 4
    rounds of 1 unit -> 4 ns at efficiency 1. C=2 gives 0 ns: a ConfigError naming the file, the key, the
    value and the part, not a free part."""
    import yaml

    import configs

    doc = yaml.safe_load(configs.find("soc/sd855").read_text())
    doc["cpu"]["kernels"]["gemm"]["t_unit_ns"] = {"const": -1, "red": 0.5}
    path = tmp_path / "neg.yaml"
    path.write_text(yaml.safe_dump(doc))
    cpu, _ = processors(load_soc(str(path)), calibrated=False)
    assert cpu.impl(_conv(C=4, K=16, H=8, W=8, R=1)) == "gemm"
    assert cpu.class_ms(_conv(C=4, K=16, H=8, W=8, R=1)) == (("conv", "k1", "thin"), pytest.approx(4e-6), 0.0)
    with pytest.raises(ConfigError) as e:
        cpu.time_ms(_conv(C=2, K=16, H=8, W=8, R=1))
    assert str(e.value) == (
        f"{path}: cpu.kernels.gemm.t_unit_ns: gives a non-positive time (0 ns per basic unit) for a conv "
        "part N=1 C=2 K=16 H=8 W=8 P=8 Q=8 R=1 S=1 on cpu kernel gemm; the coefficients must give every part a "
        "positive time")
