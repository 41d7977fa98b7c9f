"""Eyeriss's RS mapping parameters (dataflows/rs_params.py) and the chip timing effects they meet:
per-PE-pair psum links (noc/eyeriss_v1.py) and RF prefetch of input refills (accelsim/sim/timing.py).

The chip's own parameters (JSSC'17 Table III) are checked in tests/validation/test_eyeriss_chip.py;
here: the rule's mappings are legal and say what they are, and the timing effects match hand counts.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from accelsim.arch import load_arch
from accelsim.cost.counts import busy_pes
from accelsim.cost.model import evaluate
from accelsim.legality import problems_of
from accelsim.mapping import GLB, RF
from accelsim.sim import pass_flows, simulate_layer, unlimited
from accelsim.sim.timing import prefetch_share
from dataflows import registry
from dataflows.rs_params import RsParams, choose, params_of, to_mapping
from noc import registry as noc_registry
from workloads.layer import DIMS
from workloads.loader import load_workload

V1 = load_arch("eyeriss_v1")
ALEXNET = {layer.name: layer for layer in load_workload("alexnet", 4).layers}
VGG = {layer.name: layer for layer in load_workload("vgg16", 3).layers}


@pytest.mark.parametrize("name", ["CONV1", "CONV2", "CONV3", "CONV4", "CONV5", "FC6", "conv1_1", "conv3_1", "conv5_1"])
def test_rule_gives_a_legal_mapping_that_names_its_parameters(name):
    layer = ALEXNET.get(name) or VGG[name]
    prm, m = choose(layer, V1)
    assert not problems_of(layer, m, V1)
    assert params_of(layer, m) == prm                      # the text explain prints is the mapping's
    assert m == registry.get("rs").named(layer, V1)        # the default run's mapping
    # within the chip's scratchpads: p·q·S filter words, q·S ifmap words, p psums
    s = layer.S
    assert prm.p * prm.q * s <= 224 and prm.q * s <= 12 and prm.p <= 24
    # the psums of m channels of n images, e output rows of Q pixels fit the 100 kB ifmap/psum part
    assert prm.m <= layer.K // layer.groups
    assert prm.m * prm.n * prm.e * layer.Q <= 100 * 1024 // 2


def test_table_iii_rows_as_mappings():
    """JSSC'17 Table III's CONV1 row by hand: 11 x 7 sets, two of them side by side for 2 x 16 filters,
    one channel each (the 11-tap window fills 11 of 12 ifmap words), 96 filters' psums in the GLB."""
    layer = ALEXNET["CONV1"]
    m = to_mapping(layer, V1, RsParams(96, 1, 7, 16, 1, 1, 2, t_cols=2), keep_weight_in_glb=False)
    assert m.compact() == "dram:N4C3P8 glb:K3Q55 rows:R11 cols:K2P7 rf:K16S11"
    assert busy_pes(layer, m) == 154 and not problems_of(layer, m, V1)
    # the filters of a pass (2 x 16 x 11 x 11 = 3872 words) fit the 8 kB filter part, three passes' do not
    with_w = to_mapping(layer, V1, RsParams(96, 1, 7, 16, 1, 1, 2, t_cols=2), keep_weight_in_glb=True)
    assert [(p.kind, p.tensors, p.need, p.limit) for p in problems_of(layer, with_w, V1)] == [
        ("glb_capacity", ("weight",), 3 * 3872, 4096)]


def test_folded_set_busy_pes():
    """CONV2's 5 x 27 set folded in two onto 10 x 14 PEs: 140 placed, 135 ever busy (the chip's figure)."""
    layer = ALEXNET["CONV2"]
    m = to_mapping(layer, V1, RsParams(64, 1, 27, 16, 2, 1, 1, fold=2))
    assert m.active_pes == 140 and busy_pes(layer, m) == 135
    assert params_of(layer, m) == RsParams(64, 1, 27, 16, 2, 1, 1, fold=2)


def test_rule_only_where_the_arch_declares_the_chips_mapping_space():
    """Without constraints.unsplit.rf [N, Q, R] (e.g. the flat 192-PE comparison array) the rule does
    not apply and the RS named mapping stays the generic one."""
    flat = load_arch("eyeriss_v1_flat192")
    assert choose(ALEXNET["CONV3"], flat) is None
    assert choose(ALEXNET["CONV3"], replace(V1, constraints=flat.constraints)) is None
    assert choose(ALEXNET["CONV3"], load_arch("isca16/rs")) is None      # a shared RF: no per-tensor spads


def test_params_of_rejects_non_rs_shapes():
    layer = ALEXNET["CONV3"]
    m = registry.get("ws").named(layer, load_arch("isca16/ws"))
    assert params_of(layer, m) is None


def _conv5():
    layer = ALEXNET["CONV5"]
    m = registry.get("rs").named(layer, V1)
    return layer, m, evaluate(layer, V1, m)


def _with_noc(arch, **params):
    noc = replace(arch.noc, params=tuple(sorted({**dict(arch.noc.params), **params}.items())))
    return replace(arch, noc=noc)


def test_psum_links_one_per_pe_pair():
    """CONV5 (rows K2 x C2 x R3, 13 columns): per innermost pass 2,496 psums leave the PEs, 416 of them
    reduced (two chains of 6 PEs per column, 26 chain tops); 2,080 are passed to the PE above over 130
    links (156 PEs - 26 tops): 16 cycles at 1 word per cycle. One link per column: 2,080 / 13 = 160."""
    layer, m, r = _conv5()
    flow = pass_flows(layer, V1, m, r.counts).flows["psum_out"]
    assert (flow.delivered, flow.unique) == (2496, 416)
    model = noc_registry.model("eyeriss_v1")
    pair = noc_registry.settings(V1.noc)
    assert pair["local_links"] == "pe_pair"
    assert model.delivery_cycles(flow, pair) == pytest.approx(max(416 / 4, 2080 / 130))
    column = {**pair, "local_links": "column"}
    assert model.delivery_cycles(flow, column) == pytest.approx(2080 / 13)


def test_filter_refill_prefetched_into_the_free_scratchpad():
    """CONV5's PE holds 16 x 3 x 3 = 144 of its 224 filter words: 80 / 144 of the next pass's filters
    arrive during the current processing pass, the rest when the filters are replaced. The words are
    the same (the cost model's), only when they move: no faster than unlimited bandwidth, no slower
    than without the prefetch, and a scratchpad with room for two passes' filters hides the refill.
    (Without the PE input FIFOs, which add their words to the room: next test.)"""
    layer, m, r = _conv5()
    V1 = _with_fifo(load_arch("eyeriss_v1"))          # noqa: N806 (the chip without its FIFOs)
    assert prefetch_share(layer, m, V1, "weight") == pytest.approx(80 / 144)
    assert prefetch_share(layer, m, V1, "psum") == 0.0
    with_prefetch = simulate_layer(layer, V1, m, r.counts).cycles
    no_room = replace(V1, rf=replace(V1.rf, weight=144))
    assert prefetch_share(layer, m, no_room, "weight") == 0.0
    without = simulate_layer(layer, no_room, m, evaluate(layer, no_room, m).counts).cycles
    two = replace(V1, rf=replace(V1.rf, weight=288))
    doubled = simulate_layer(layer, two, m, evaluate(layer, two, m).counts)
    ideal = simulate_layer(layer, unlimited(V1), m, r.counts).cycles
    assert ideal < doubled.cycles < with_prefetch < without
    # with room for two tiles the innermost passes never wait for filters: only the psum adds remain
    assert doubled.stall_cycles["noc"] < simulate_layer(layer, V1, m, r.counts).stall_cycles["noc"]


def test_rs_parameters_printed_by_explain_and_mapping_text(capsys, tmp_path):
    from accelsim.cli import main

    assert main(["explain", "eyeriss_v1", "-b", "4", "--layer", "CONV1"]) == 0
    assert "RS parameters (JSSC'17): m=96 n=1 e=7 p=16 q=1 r=1 t=2" in capsys.readouterr().out
    assert main(["run", "eyeriss_v1", "-b", "4", "--layers", "CONV4", "-q", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "mapping.txt").read_text()
    assert "# RS parameters (JSSC'17): m=64 n=4 e=13 p=16 q=3 r=2 t=2" in text


def test_glb_holds_m_channels_of_psums_across_the_channel_passes():
    """The schedule of the chip: DRAM loops (G, N/n, K/m, P/e, C/(q·r)) with C innermost, so the GLB
    keeps the psums of m channels while every channel group passes; GLB loops K m/(p·t), N n, Q."""
    layer = ALEXNET["CONV4"]
    m = registry.get("rs").named(layer, V1)
    dram_order = [DIMS[d] for d in m.orders[0] if m.factors[0][d] > 1]
    glb_order = [DIMS[d] for d in m.orders[GLB] if m.factors[GLB][d] > 1]
    assert dram_order == ["G", "K", "C"] and glb_order == ["K", "N", "Q"]
    assert m.factors[RF][DIMS.index("K")] == 16


def _with_fifo(arch, **words):
    return replace(arch, pe_array=replace(arch.pe_array, input_fifo=tuple(words.items())))


def test_pe_input_fifo_lets_conv1_slides_overlap():
    """CONV1 (stride 4) keeps an 11-word window in the 12-word ifmap scratchpad: one free word, and
    each slide brings 4 new words per PE (one output pixel: 16 filters x 11 taps = 176 MACs). The
    slide can arrive during the compute only when the free word plus the ifmap FIFO hold those 4:
    exposed with a FIFO of 0-2 words, overlapped with 3 or more (the config's 4)."""
    layer = ALEXNET["CONV1"]
    m = registry.get("rs").named(layer, V1)
    r = evaluate(layer, V1, m)
    assert V1.pe_array.fifo_words("ifmap") == 4 and V1.pe_array.fifo_words("weight") == 4
    exposed = {d: simulate_layer(layer, a, m, r.counts).exposed["ifmap"]
               for d, a in ((d, _with_fifo(V1, ifmap=d, weight=4)) for d in range(5))}
    assert exposed == {0: True, 1: True, 2: True, 3: False, 4: False}
    no_fifo = simulate_layer(layer, _with_fifo(V1), m, r.counts)
    fifo = simulate_layer(layer, V1, m, r.counts)
    assert fifo.cycles < no_fifo.cycles and fifo.stall_cycles["noc"] < no_fifo.stall_cycles["noc"]


def test_pe_input_fifo_adds_to_the_filter_prefetch():
    """CONV5's PE holds 144 of 224 filter words: with the 4-word filter FIFO, 80 + 4 = 84 words of
    the next pass's 144 wait beside the current ones (84 / 144 of the refill is prefetched)."""
    layer, m, _ = _conv5()
    assert prefetch_share(layer, m, V1, "weight") == pytest.approx(84 / 144)
    assert prefetch_share(layer, m, _with_fifo(V1), "weight") == pytest.approx(80 / 144)
    assert prefetch_share(layer, m, _with_fifo(V1, weight=200), "weight") == 1.0


def test_conv1_filters_pass_through_the_filter_part_per_pass():
    """JSSC'17: the 8 kB filter part holds the filters of the current processing pass. CONV1 (batch 4):
    the rule's pass is p·t = 32 filters of one channel, 32 x 11 x 11 = 3,872 words (<= 4,096), where
    all three filter groups of a tile (11,616) would not fit. By hand: the tile is refilled at every
    step of the filter-group loop under the DRAM loops, 4 images x 8 strips x 3 channels x 3 groups =
    288 times, 288 x 3,872 = 1,115,136 words (each filter 32 times: 34,848 x 32), once written into
    the GLB from DRAM and once read from it to the PEs; the DRAM words are those of the filters
    bypassing the GLB. The mapping's YAML and text forms carry the per-pass tile."""
    from accelsim.cost.counts import L_DRAM, L_GLB
    from accelsim.mapping import mapping_from_dict
    from accelsim.tiles import tile_words

    arch = load_arch("eyeriss_v1")
    layer = [x for x in load_workload("alexnet", 4).layers if x.name == "CONV1"][0]
    m = registry.get("rs").named(layer, arch)
    assert m.glb_pass == (False, True, False) and tile_words(layer, m)["glb"][1] == 3872
    assert problems_of(layer, replace(m, glb_pass=(False, False, False)), arch)      # 11,616 > 4,096
    c = evaluate(layer, arch, m).counts
    assert (c.reads[L_GLB][1], c.writes[L_GLB][1], c.reads[L_DRAM][1]) == (1_115_136,) * 3
    bypass = evaluate(layer, arch, replace(m, glb_pass=(False, False, False), glb_keep=(True, False, True))).counts
    assert bypass.reads[L_DRAM][1] == 1_115_136 and bypass.reads[L_GLB][1] == 0
    assert mapping_from_dict(m.to_dict()) == m
    assert "weight per pass" in m.loop_nest() and "[weight/pass]" in m.compact()


def test_per_pass_of_a_tensor_the_glb_does_not_keep_is_one_clear_error():
    from accelsim.errors import ConfigError
    from accelsim.mapping import mapping_from_dict

    with pytest.raises(ConfigError, match=r"m\.yaml: glb\.per_pass: 'weight' is not a tensor the GLB keeps; "
                                          r"allowed: ifmap, psum"):
        mapping_from_dict({"glb": {"keep": ["ifmap", "psum"], "per_pass": ["weight"]}}, "m.yaml")
