"""The network zoo against published or hand-computed MAC counts (reference/workloads.md).

Tolerances as reference/workloads.md gives them: counts computed from the layer shapes match to the
unit; a paper's or a reference implementation's "mult-adds" within 2%. Where a hand computation is
the only ground truth (RetinaFace, PoseNet, fast style transfer: their papers print no MAC count),
it is written out below layer by layer from the source's architecture, independently of the zoo code.
"""

from __future__ import annotations

import pytest

from workloads import zoo
from workloads.layer import LayerKind

# ---- exact counts (reference/workloads.md) --------------------------------------------------------

EXACT = {
    "alexnet": 724_406_816,             # CONV 665,784,864 + FC 58,621,952
    "vgg16": 15_470_264_320,            # CONV 15,346,630,656 + FC
    "bert_base": 11_173_625_856,        # 12 x 931,135,488
}

# ---- published counts, 2% tolerance ---------------------------------------------------------------

PUBLISHED = {
    # He et al. CVPR 2016, Table 1: 1.8 x 10^9 FLOPs (multiply-adds)
    "resnet18": 1.8e9,
    # reference/workloads.md "~4.1 G" (torchvision ResNet-50, stride on the 3x3: v1.5); see
    # test_resnet50_paper_count_is_the_v1_stride_placement for the paper's 3.8 G
    "resnet50": 4.1e9,
    # Howard et al. 2017, Table 4: 1.0 MobileNet-224, 569 million mult-adds
    "mobilenet_v1": 569e6,
    # Sandler et al. CVPR 2018, Table 3: MobileNetV2 (1.0, 224) 300 M multiply-adds
    "mobilenet_v2": 300e6,
    # Zhang et al. CVPR 2018, Table 2: ShuffleNet 1x 140 MFLOPs (mult-adds), 0.5x 38 MFLOPs
    "shufflenet_1x_g3": 140e6,
    "shufflenet_1x_g8": 140e6,
    "shufflenet_0.5x_g3": 38e6,
    # 0.5x g8: the paper's 38 M is missed by 6.5% (we count 40.47 M); its reference implementation
    # (megvii-model/ShuffleNet-Series, ShuffleNetV1 README) lists 40 M for this model, because it needs
    # a 16-channel stem (not 12) so that the first unit's 192 - 16 = 176 branch outputs divide by 8.
    # Checked against the reference implementation's 40 M here; see test_shufflenet_reference_readme.
    "shufflenet_0.5x_g8": 40e6,
    # Darknet's YOLOv2 table: "YOLOv2 416x416, VOC 2007+2012, 34.90 Bn FLOPs", 2 FLOPs per MAC
    "yolov2": 34.90e9 / 2,
}


def _hand_retinaface() -> int:
    """RetinaFace MobileNet-0.25 at 640x640, from Pytorch_Retinaface models/net.py, written out."""
    dw_pw = lambda a, c, k: a * c * 9 + a * c * k  # noqa: E731 - depthwise 3x3 then 1x1, output area a
    backbone = (
        320 * 320 * 3 * 8 * 9                      # conv_bn(3, 8, 2): 640 -> 320
        + dw_pw(320 * 320, 8, 16)                  # conv_dw(8, 16, 1)
        + dw_pw(160 * 160, 16, 32)                 # conv_dw(16, 32, 2): -> 160
        + dw_pw(160 * 160, 32, 32)
        + dw_pw(80 * 80, 32, 64)                   # -> 80 (stage1 out: 80x80x64)
        + dw_pw(80 * 80, 64, 64)
        + dw_pw(40 * 40, 64, 128)                  # -> 40 (stage2)
        + 5 * dw_pw(40 * 40, 128, 128)
        + dw_pw(20 * 20, 128, 256)                 # -> 20 (stage3)
        + dw_pw(20 * 20, 256, 256)
    )
    fpn = (80 * 80 * 64 * 64 + 40 * 40 * 128 * 64 + 20 * 20 * 256 * 64     # 1x1 laterals to 64
           + 40 * 40 * 64 * 64 * 9 + 80 * 80 * 64 * 64 * 9)                  # merge2, merge1 (3x3)
    area = 80 * 80 + 40 * 40 + 20 * 20                                       # 8400 cells in all levels
    ssh = area * (64 * 32 * 9 + 64 * 16 * 9 + 3 * 16 * 16 * 9)
    heads = area * 64 * (2 * 2 + 2 * 4 + 2 * 10)                             # 2 anchors x (2, 4, 10)
    return backbone + fpn + ssh + heads


def _hand_posenet() -> int:
    """MobileNet v1 1.0 body at 257x257 (257 -> 129 -> 65 -> 33 -> 17 -> 9), then four 1x1 heads."""
    dw_pw = lambda a, c, k: a * c * 9 + a * c * k  # noqa: E731
    a129, a65, a33, a17, a9 = 129 ** 2, 65 ** 2, 33 ** 2, 17 ** 2, 9 ** 2
    body = (a129 * 3 * 32 * 9
            + dw_pw(a129, 32, 64)
            + dw_pw(a65, 64, 128) + dw_pw(a65, 128, 128)
            + dw_pw(a33, 128, 256) + dw_pw(a33, 256, 256)
            + dw_pw(a17, 256, 512) + 5 * dw_pw(a17, 512, 512)
            + dw_pw(a9, 512, 1024) + dw_pw(a9, 1024, 1024))
    heads = a9 * 1024 * (17 + 34 + 32 + 32)
    return body + heads


def _hand_fast_style_transfer() -> int:
    """Johnson et al. transformer net at 256x256 (pytorch/examples transformer_net.py), written out."""
    return (256 * 256 * 3 * 32 * 81          # conv1 9x9
            + 128 * 128 * 32 * 64 * 9        # conv2 3x3/2
            + 64 * 64 * 64 * 128 * 9         # conv3 3x3/2
            + 10 * 64 * 64 * 128 * 128 * 9   # 5 residual blocks x 2 convs
            + 128 * 128 * 128 * 64 * 9       # upsample to 128x128, conv 128 -> 64
            + 256 * 256 * 64 * 32 * 9        # upsample to 256x256, conv 64 -> 32
            + 256 * 256 * 32 * 3 * 81)       # conv 9x9 -> 3


HAND = {
    "retinaface": _hand_retinaface,
    "posenet": _hand_posenet,
    "fast_style_transfer": _hand_fast_style_transfer,
}

REQUIRED = {"vgg16", "resnet18", "resnet50", "mobilenet_v1", "mobilenet_v2", "shufflenet_1x_g3",
            "shufflenet_0.5x_g3", "shufflenet_1x_g8", "shufflenet_0.5x_g8", "yolov2", "bert_base",
            "retinaface", "posenet", "fast_style_transfer", "alexnet"}


def test_every_required_network_has_a_checked_count():
    """Networks other modules add to the zoo (e.g. for training studies) are checked by their owners."""
    assert REQUIRED <= set(zoo.names())
    unchecked = REQUIRED - set(EXACT) - set(PUBLISHED) - set(HAND)
    assert not unchecked, f"zoo networks without a MAC check: {sorted(unchecked)}"


@pytest.mark.parametrize("name", sorted(EXACT))
def test_exact_mac_counts(name):
    assert zoo.get(name).macs == EXACT[name]


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_mac_counts_within_2_percent(name):
    macs = zoo.get(name).macs
    assert macs == pytest.approx(PUBLISHED[name], rel=0.02), f"{name}: {macs:,} vs {PUBLISHED[name]:,.0f}"


@pytest.mark.parametrize("name", sorted(HAND))
def test_hand_computed_mac_counts(name):
    assert zoo.get(name).macs == HAND[name]()


def test_alexnet_conv_and_ungrouped_counts():
    w = zoo.get("alexnet")
    assert sum(l.macs for l in w.layers if l.kind is LayerKind.CONV) == 665_784_864
    assert [l.macs for l in w.layers[:5]] == [105_415_200, 223_948_800, 149_520_384, 112_140_288, 74_760_192]
    u = zoo.get("alexnet_ungrouped")
    assert sum(l.macs for l in u.layers if l.kind is LayerKind.CONV) == 1_076_634_144


def test_vgg16_conv_layers_exact():
    w = zoo.get("vgg16")
    convs = [l for l in w.layers if l.kind is LayerKind.CONV]
    assert len(convs) == 13 and len(w.layers) == 16
    assert sum(l.macs for l in convs) == 15_346_630_656


def test_bert_base_per_layer_exact():
    """(q, k, v, out) 4 x 128*768*768 + 2 x 12*128*128*64 + 2 x 128*768*3072 = 931,135,488."""
    w = zoo.get("bert_base")
    layer1 = [l for l in w.layers if l.name.startswith("l1_")]
    assert len(layer1) == 8
    assert sum(l.macs for l in layer1) == 4 * 128 * 768 * 768 + 2 * 12 * 128 * 128 * 64 + 2 * 128 * 768 * 3072
    assert sum(l.macs for l in layer1) == 931_135_488
    scores = next(l for l in layer1 if l.name == "l1_attn_scores")
    assert scores.groups == 12 and scores.Cg == 64 and scores.Kg == 128 and scores.P == 128


def test_resnet50_paper_count_is_the_v1_stride_placement():
    """The paper's 3.8 G vs our 4.09 G (torchvision v1.5): in v1 the first 1x1 of each downsampling
    block (stages 3, 4, 5) has the stride 2, so its output map is 4x smaller. Per stage that 1x1 costs
    56*56*256*128 = 28*28*512*256 = 14*14*1024*512 = 102,760,448 MACs at full size: v1 saves 3/4 of it
    three times. v1 = 4,089,184,256 - 231,211,008 = 3,857,973,248, within 2% of the paper's 3.8 G."""
    v15 = zoo.get("resnet50").macs
    saved = 3 * (3 * 102_760_448 // 4)
    assert v15 - saved == pytest.approx(3.8e9, rel=0.02)
    assert v15 == pytest.approx(4.1e9, rel=0.02)


def test_shufflenet_reference_readme():
    """megvii-model/ShuffleNet-Series ShuffleNetV1 README: 1.0x g3 138M, 1.0x g8 138M, 0.5x g3 38M,
    0.5x g8 40M FLOPs (mult-adds) -- the implementation the zoo follows, within 2%."""
    readme = {"shufflenet_1x_g3": 138e6, "shufflenet_1x_g8": 138e6, "shufflenet_0.5x_g3": 38e6,
              "shufflenet_0.5x_g8": 40e6}
    for name, macs in readme.items():
        assert zoo.get(name).macs == pytest.approx(macs, rel=0.02), name
    # the paper's single 0.5x figure (38 M) is missed by g8 -- documented in the module and above
    assert zoo.get("shufflenet_0.5x_g8").macs / 38e6 - 1 == pytest.approx(0.065, abs=0.005)


def test_shufflenet_grouping_rules():
    w = zoo.get("shufflenet_1x_g3")
    by = {l.name: l for l in w.layers}
    assert by["stage2_1_gconv1"].groups == 1             # first 1x1 of stage 2 not grouped
    assert by["stage2_2_gconv1"].groups == 3
    assert by["stage3_1_gconv1"].groups == 3
    assert by["stage2_1_gconv2"].K == 240 - 24           # concat shortcut: branch gives out - in
    assert by["stage4_4_gconv2"].K == 960 and by["stage4_4_gconv2"].P == 7


def test_yolov2_shapes():
    w = zoo.get("yolov2")
    by = {l.name: l for l in w.layers}
    assert by["conv28"].C == 3072 and by["conv28"].P == 13      # 13x13x(1024 + 2048 passthrough)
    assert by["conv29"].K == 125 and by["conv29"].P == 13
    assert len(w.layers) == 22                                 # 18 Darknet-19 convs + 4 detection convs


def test_retinaface_anchor_count():
    """Pytorch_Retinaface at 640x640 produces 16,800 priors (2 per cell on 80x80, 40x40, 20x20)."""
    w = zoo.get("retinaface")
    cls = [l for l in w.layers if l.name.startswith("class_head")]
    assert sum(l.P * l.Q * l.K // 2 for l in cls) == 16_800


def test_posenet_and_style_transfer_output_shapes():
    w = zoo.get("posenet")
    heads = {l.name: (l.K, l.P, l.Q) for l in w.layers[-4:]}
    assert heads == {"heatmap": (17, 9, 9), "offset": (34, 9, 9), "displacement_fwd": (32, 9, 9),
                     "displacement_bwd": (32, 9, 9)}
    last = zoo.get("fast_style_transfer").layers[-1]
    assert (last.K, last.P, last.Q) == (3, 256, 256)           # an image the size of the input


@pytest.mark.parametrize("name", sorted(REQUIRED | set(zoo.names())))
def test_structure(name):
    w = zoo.get(name)
    names = [l.name for l in w.layers]
    assert len(names) == len(set(names))
    for l in w.layers:
        assert l.N == 1, l.name
        assert l.P >= 1 and l.Q >= 1, l.name
        # MAC layers only in the zoo, except the 2x2 poolings of CoDL's op chains (workloads/zoo/codl.py)
        assert (l.kind.has_macs and l.macs > 0) or (name.startswith("codl_") and l.kind is LayerKind.POOL), l.name
        if l.kind is LayerKind.DEPTHWISE:
            assert l.groups == l.C == l.K, l.name


def test_builders_are_deterministic():
    for name in zoo.names():
        assert zoo.get(name) == zoo.get(name)
