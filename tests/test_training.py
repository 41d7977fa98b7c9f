"""Training scale-out: the zoo's GoogLeNet and NiN, the communication formulas (hand-computed), the
K20's achieved rate (derived from Caffe's measurement), and FireCaffe's published speedups."""

from __future__ import annotations

import math

import pytest

from accelsim.errors import ConfigError
from accelsim.roofline.hardware import Hardware, load_hardware
from accelsim.training.compute import achieved_fraction, parameters, training_macs
from accelsim.training.interconnect import Interconnect, interconnect_from_dict, load_interconnect
from accelsim.training.published import FIRECAFFE_BATCH, FIRECAFFE_SPEEDUP, FIRECAFFE_WORKERS
from accelsim.training.scaleout import scale_out
from accelsim.training.strategies import STRATEGIES
from workloads import zoo
from workloads.layer import Workload, fc

WORKERS = (1, 2, 4, 8, 16, 32, 64, 128)


# ---------------------------------------------------------------------------------------------
# zoo networks

def _googlenet_rows(w: Workload) -> dict[str, int]:
    rows: dict[str, int] = {}
    for layer in w.layers:
        key = "_".join(layer.name.split("_")[:2]) if layer.name.startswith("inception") else layer.name.split("_")[0]
        rows[key] = rows.get(key, 0) + layer.macs
    return rows


def test_googlenet_macs_match_table1():
    """Szegedy et al. 2015, Table 1 "ops" column (millions of multiply-adds): every row within 1%, but
    inception 5a: the table says 54M while its own widths (256, 160->320, 32->128, 128 on a 7x7x832
    input) give 49 x 1,042,432 = 51,079,168 (-5.4%). Whole network 1,582,671,872 = the table's row sum
    1,586M within 0.3%, and the text's "1.5 billion multiply-adds" within 6%."""
    table1 = {"conv1": 118, "conv2": 360, "inception_3a": 128, "inception_3b": 304, "inception_4a": 73,
              "inception_4b": 88, "inception_4c": 100, "inception_4d": 119, "inception_4e": 170,
              "inception_5a": 54, "inception_5b": 71, "loss3": 1}
    w = zoo.get("googlenet")
    rows = _googlenet_rows(w)
    assert set(rows) == set(table1)
    for name, mops in table1.items():
        if name == "inception_5a":
            assert abs(rows[name] / (mops * 1e6) - 1) < 0.06
        else:   # 1%, or half a unit of the table's rounding to millions (the 1.024M linear layer)
            assert abs(rows[name] - mops * 1e6) <= max(0.5e6, 0.01 * mops * 1e6), name
    assert rows["inception_5a"] == 49 * 1_042_432
    assert w.macs == 1_582_671_872
    assert abs(w.macs / 1586e6 - 1) < 0.003 and abs(w.macs / 1.5e9 - 1) < 0.06


def test_googlenet_train_adds_auxiliary_classifiers():
    """Sec. 5: two auxiliary heads (1x1 conv 128, FC 2048->1024, FC 1024->1000) on 4a (512 ch) and 4d
    (528 ch): (512 + 528) x 128 + 2 x (2048 x 1024 + 1024 x 1000) = 6,376,448 more weights."""
    base, train = zoo.get("googlenet"), zoo.get("googlenet_train")
    assert parameters(train) - parameters(base) == (512 + 528) * 128 + 2 * (2048 * 1024 + 1024 * 1000)


def test_nin_shapes():
    """NiN ImageNet model, per layer (map 54, 27, 13, 6): conv1 54^2 x 96 x 3 x 121 = 101,616,768;
    cccp1, cccp2 54^2 x 96 x 96 = 26,873,856 each; conv2 27^2 x 256 x 96 x 25 = 447,897,600; cccp3,
    cccp4 27^2 x 256^2 = 47,775,744 each; conv3 13^2 x 384 x 256 x 9 = 149,520,384; cccp5, cccp6
    13^2 x 384^2 = 24,920,064 each; conv4 6^2 x 1024 x 384 x 9 = 127,401,984; cccp7 6^2 x 1024^2 =
    37,748,736; cccp8 6^2 x 1000 x 1024 = 36,864,000. Total 1,100,188,800. Weights 7,589,920 (30.4 MB)."""
    w = zoo.get("nin")
    assert [l.P for l in w.layers] == [54] * 3 + [27] * 3 + [13] * 3 + [6] * 3
    assert w.macs == (101_616_768 + 2 * 26_873_856 + 447_897_600 + 2 * 47_775_744 + 149_520_384
                      + 2 * 24_920_064 + 127_401_984 + 37_748_736 + 36_864_000) == 1_100_188_800
    assert parameters(w) == 7_589_920


# ---------------------------------------------------------------------------------------------
# constants

def test_k20_achieved_fraction_from_caffe_measurement():
    """Caffe (docs/performance_hardware.md): K20 trains the reference ImageNet model (AlexNet MACs,
    724,406,816 forward) at 5,120 images / 36.0 s. A training step is 3 passes per layer, 2 for CONV1
    (105,415,200 MACs, no input gradient): 3 x 724,406,816 - 105,415,200 = 2,067,805,248 MACs =
    4,135,610,496 FLOPs per image -> 5,120 x that / 36 s = 588.2 GFLOP/s = 16.71% of the K20's
    3.52 TFLOP/s. On the K20X (3.95 TFLOP/s) that is 660.0 GFLOP/s."""
    k20 = load_hardware("k20")
    alexnet = zoo.get("alexnet")
    assert training_macs(alexnet) == 3 * 724_406_816 - 105_415_200 == 2_067_805_248
    expected = 2 * 2_067_805_248 * 5120 / 36.0 / 3.52e12
    assert achieved_fraction(k20) == pytest.approx(expected, rel=1e-12)
    assert round(expected * 3.95e12 / 1e9, 1) == 660.0
    assert achieved_fraction(load_hardware("rpi3")) == 1.0


def test_presets_carry_their_cited_constants():
    """configs/hw/k20.yaml: K20X 3.95 TFLOP/s, 250 GB/s (NVIDIA). configs/hw/gemini.yaml: 6 GB/s
    sustained per direction, 1.4 us (Gemini, van der Steen / Alverson et al.), PCIe Gen2 x16 8 GB/s."""
    k20 = load_hardware("k20")
    assert (k20.peak_flops, k20.bandwidth, k20.element_bytes) == (3.95e12, 250e9, 4.0)
    g = load_interconnect("gemini")
    assert (g.bandwidth, g.latency_s, g.host_bandwidth) == (6e9, pytest.approx(1.4e-6), 8e9)
    assert g.message_time(6e6) == pytest.approx(1.4e-6 + 1e-3 + 2 * 0.75e-3)
    assert g.message_time(6e6, staged=False) == pytest.approx(1.4e-6 + 1e-3)


# ---------------------------------------------------------------------------------------------
# FireCaffe

def _firecaffe(name: str, staged: bool = True):
    return scale_out(zoo.get(name), load_hardware("k20"), load_interconnect("gemini"), WORKERS,
                     ["ps", "tree"], global_batch=FIRECAFFE_BATCH, staged=staged)


@pytest.mark.parametrize("name", ["googlenet", "nin"])
def test_firecaffe_reduction_tree_128_gpus(name):
    """FireCaffe (CVPR 2016): 47x (GoogLeNet) and 39x (NiN) on 128 GPUs with reduction trees; the
    parameter server far below. Modelled from documented constants only: K20X peak 3.95 TFLOP/s x the
    16.7% Caffe reaches (its own K20 measurement), 250 GB/s; Gemini 6 GB/s, 1.4 us; PCIe Gen2 x16 8 GB/s
    staging at both ends of every message; fp32 gradients of the zoo network's weights; global batch
    1024 (8 images per GPU at 128). Result: GoogLeNet 52.2x (+11%), NiN 39.0x (0%); parameter server
    20.1x and 13.5x. See the next tests for what changes these numbers."""
    r = _firecaffe(name)
    published = FIRECAFFE_SPEEDUP[name]
    tree = r.point("tree", FIRECAFFE_WORKERS).speedup
    ps = r.point("ps", FIRECAFFE_WORKERS).speedup
    assert abs(tree / published - 1) <= 0.20, tree
    assert ps < 0.5 * published and ps < 0.5 * tree


@pytest.mark.parametrize("name", ["googlenet", "nin"])
def test_firecaffe_without_staging_overshoots(name):
    """Documented miss: the reference's plain alpha-beta model (the Gemini link only, no PCIe copies)
    predicts 80.9x for GoogLeNet and 66.9x for NiN, +72% over both published figures. The PCIe staging
    (an assumption: that FireCaffe did not overlap the copies with the transfers) is what brings the
    model down to the published figures; a pipelined implementation lies between the two models."""
    tree = _firecaffe(name, staged=False).point("tree", FIRECAFFE_WORKERS).speedup
    assert 1.5 < tree / FIRECAFFE_SPEEDUP[name] < 2.0


def test_firecaffe_googlenet_with_auxiliary_heads():
    """Documented miss: Caffe's training graph of GoogLeNet (bvlc_googlenet train_val) has the two
    auxiliary classifiers, 6.4 M more weights to exchange (13.37 M in all), and FireCaffe, built on Caffe,
    presumably exchanged them too. With them the same model gives 34.0x staged (-28%) and 60.8x
    unstaged (+29%): the published 47x lies between. Compute is unchanged (the heads cost ~8 M MACs)."""
    r = scale_out(zoo.get("googlenet_train"), load_hardware("k20"), load_interconnect("gemini"), (1, 128),
                  ["tree"], global_batch=FIRECAFFE_BATCH)
    staged = r.point("tree", 128).speedup
    unstaged = scale_out(zoo.get("googlenet_train"), load_hardware("k20"), load_interconnect("gemini"),
                         (1, 128), ["tree"], global_batch=FIRECAFFE_BATCH, staged=False).point("tree", 128).speedup
    assert 0.65 < staged / 47 < 0.80 and 1.2 < unstaged / 47 < 1.4


@pytest.mark.parametrize("staged, first_win", [(False, 8), (True, 32)])
def test_tree_beats_parameter_server_beyond_a_few_workers(staged, first_win):
    """FireCaffe's claim, in the model: reduction-tree communication grows with 2 log2 p messages, the
    parameter server's with p, so past a few workers the tree is faster and the gap widens. Unstaged the
    tree wins once p > 2 log2 p (from 8 workers: 6 messages against 8); staged, each of the tree's
    messages also pays two PCIe copies while the server pays them once, so the tree wins from 32."""
    r = _firecaffe("nin", staged=staged)
    ps = {p: r.point("ps", p).comm_s for p in WORKERS[1:]}
    tree = {p: r.point("tree", p).comm_s for p in WORKERS[1:]}
    assert all((tree[p] < ps[p]) == (p >= first_win) for p in WORKERS[1:])
    ratios = [ps[p] / tree[p] for p in WORKERS[3:]]          # from 8 workers on, the gap only widens
    assert ratios == sorted(ratios) and ratios[-1] > 3


# ---------------------------------------------------------------------------------------------
# the communication formulas, hand-computed on round numbers

NET = Interconnect("test", bandwidth=1e9, latency_s=1e-6)
HW = Hardware("test", peak_flops=1e12, bandwidth=None)
W1M = Workload("fc1m", (fc("fc", C=1000, K=1000),))   # |W| = 10^6 weights, S = 4 MB


def _one(strategy: str, p: int, *, net=NET, batch=8, compute_s=0.8, shards=4):
    r = scale_out(W1M, HW, net, (1, p), [strategy], global_batch=batch, shards=shards, compute_s=compute_s)
    return r.point(strategy, p)


def test_formulas_by_hand():
    """|W| = 10^6 weights -> S = 4 MB; beta = 1 GB/s (S/beta = 4 ms); alpha = 1 us; given compute
    0.8 s for the global batch 8, so 0.1 s per worker at p = 8.
    ps:         2 alpha + p S / beta          = 2 us + 32 ms            = 0.032002 s
    sharded_ps: 2 s alpha + (p / s) S / beta  = 8 us + 8 ms (s = 4)     = 0.008008 s
    tree:       2 log2(p) (alpha + S / beta)  = 6 x 4.001 ms            = 0.024006 s
    ring:       2 (p - 1) (alpha + S / (p beta)) = 14 x 0.501 ms        = 0.007014 s
    async:      max(0.1 + 2 alpha + 2 S / beta, p S / beta) - compute = 0.108002 - 0.1, stale 7"""
    assert _one("ps", 8).comm_s == pytest.approx(0.032002)
    assert _one("sharded_ps", 8).comm_s == pytest.approx(0.008008)
    assert _one("tree", 8).comm_s == pytest.approx(0.024006)
    assert _one("ring", 8).comm_s == pytest.approx(0.007014)
    a = _one("async", 8)
    assert a.compute_s == pytest.approx(0.1) and a.iteration_s == pytest.approx(0.108002)
    assert a.stale_updates == 7
    # 64 workers, batch 64: the server link (64 x 4 ms = 0.256 s) bounds the asynchronous throughput
    assert _one("async", 64, batch=64).iteration_s == pytest.approx(0.256)
    # speedup = 0.8 s / iteration
    assert _one("tree", 8).speedup == pytest.approx(0.8 / 0.124006)


def test_staging_and_shards_by_hand():
    """With a 2 GB/s host link every message of n bytes adds 2 n / (2 GB/s): tree at p = 8 becomes
    6 x (1 us + 4 ms + 4 ms) = 0.048006 s; the parameter server adds one worker's copies, 4 ms.
    More shards than workers: a worker's own link still carries S (max(p/s, 1) = 1)."""
    staged = Interconnect("test", bandwidth=1e9, latency_s=1e-6, host_bandwidth=2e9)
    assert _one("tree", 8, net=staged).comm_s == pytest.approx(0.048006)
    assert _one("ps", 8, net=staged).comm_s == pytest.approx(0.032002 + 0.004)
    assert _one("sharded_ps", 8, shards=16).comm_s == pytest.approx(32e-6 + 0.004)


def test_model_parallel_by_hand():
    """Two FC layers 1000 -> 1000 -> 1000, batch 8, p = 2, given compute 0.8 s (0.4 s per worker).
    Activations per layer output: 8 x 1000 floats = 32 kB. Forward all-gather of each output: (p-1)
    messages of 16 kB: 1 us + 16 us each, two layers -> 34 us. Backward all-reduce of the second layer's
    input gradient (32 kB): 2 (p-1) messages of 16 kB = 34 us. Total 68 us."""
    w = Workload("two", (fc("a", C=1000, K=1000), fc("b", C=1000, K=1000)))
    r = scale_out(w, HW, NET, (1, 2), ["model"], global_batch=8, compute_s=0.8)
    p = r.point("model", 2)
    assert p.compute_s == pytest.approx(0.4)
    assert p.comm_s == pytest.approx(68e-6)


def test_one_worker_and_bounds():
    """One worker communicates nothing (speedup 1 whatever the strategy); speedup never exceeds p."""
    r = scale_out(zoo.get("nin"), load_hardware("k20"), load_interconnect("gemini"), WORKERS, list(STRATEGIES))
    for s in STRATEGIES:
        one = r.point(s, 1)
        assert one.comm_s == 0 and one.speedup == 1.0
        assert all(p.efficiency <= 1 + 1e-12 for p in r.curve(s))
    assert r.point("async", 128).stale_updates == 127 and r.point("tree", 128).stale_updates == 0
    # tree communication grows by exactly two messages per doubling of p
    tree = [r.point("tree", p).comm_s for p in WORKERS[1:]]
    steps = [b - a for a, b in zip(tree, tree[1:])]
    assert max(steps) == pytest.approx(min(steps))
    assert math.isclose(tree[0], 2 * load_interconnect("gemini").message_time(4 * parameters(zoo.get("nin"))))


def test_bad_inputs():
    with pytest.raises(ConfigError, match="unknown strategy bogus; allowed: ps, sharded_ps, tree"):
        scale_out(W1M, HW, NET, (1, 2), ["bogus"], compute_s=1.0)
    with pytest.raises(ConfigError, match="worker counts must be positive"):
        scale_out(W1M, HW, NET, (0, 2), ["tree"], compute_s=1.0)
    with pytest.raises(ConfigError, match="unknown interconnect 'nosuch'; presets: gemini"):
        load_interconnect("nosuch")
    with pytest.raises(ConfigError, match="is not an interconnect"):
        load_interconnect("k20")
    with pytest.raises(ConfigError, match="net.yaml: link_bandwidth_gb_per_s: value 0"):
        interconnect_from_dict({"kind": "interconnect", "name": "n", "link_bandwidth_gb_per_s": 0,
                                "latency_us": 1}, "net.yaml")
