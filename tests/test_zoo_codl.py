"""The five networks as CoDL ran them (workloads/zoo/codl.py) against reference/codl.md.

FLOP convention: 2 FLOPs per MAC of the convolution layers only (pooling and FC excluded; VGG-16's
three FC layers would add 0.247 GFLOP), in units of 1e9. Tolerance: the reference prints one decimal,
so within 0.05 GFLOP of 30.1 / 30.7 / 60.3 / 71.8; RetinaFace's "~185" within 0.5%.
"""

from __future__ import annotations

import pytest

from workloads import zoo
from workloads.layer import LayerKind

# name: (reference conv GFLOP, tolerance GFLOP, convs, poolings, FC) -- reference/codl.md
REFERENCE = {
    "codl_yolov2": (30.1, 0.05, 22, 5, 0),
    "codl_vgg16": (30.7, 0.05, 13, 5, 3),
    "codl_posenet": (60.3, 0.05, 31, 3, 0),
    "codl_fast_style_transfer": (71.8, 0.05, 14, 0, 0),
    "codl_retinaface": (185.0, 0.925, 91, 4, 0),
}


def _count(w, kind):
    return sum(1 for l in w.layers if l.kind is kind)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_conv_gflop_and_op_counts(name):
    gflop, tol, convs, pools, fcs = REFERENCE[name]
    w = zoo.get(name)
    measured = sum(2 * l.macs for l in w.layers if l.kind is LayerKind.CONV) / 1e9
    print(f"{name}: {measured:.3f} conv GFLOP (reference {gflop})")
    assert abs(measured - gflop) <= tol
    assert (_count(w, LayerKind.CONV), _count(w, LayerKind.POOL), _count(w, LayerKind.FC)) == (convs, pools, fcs)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_inputs_are_pre_padded_and_convs_valid(name):
    w = zoo.get(name)
    assert all(l.pad_h == l.pad_w == 0 for l in w.layers)


def test_hand_counted_yolov2_and_fst():
    """Written out from the artifact's op list, independently of the zoo code (MACs)."""
    yolo = (416 ** 2 * 3 * 32 * 9 + 208 ** 2 * 32 * 64 * 9
            + 104 ** 2 * (64 * 128 * 9 * 2 + 128 * 64)
            + 52 ** 2 * (128 * 256 * 9 * 2 + 256 * 128)
            + 26 ** 2 * (256 * 512 * 9 * 3 + 512 * 256 * 2)
            + 13 ** 2 * (512 * 1024 * 9 * 3 + 1024 * 512 * 2 + 1024 * 1024 * 9 * 2 + 1536 * 1024 * 9 + 1024 * 125))
    assert zoo.get("codl_yolov2").macs == yolo
    fst = (480 * 640 * 3 * 32 * 81 + 240 * 320 * 32 * 64 * 9 + 120 * 160 * 64 * 128 * 9
           + 10 * 120 * 160 * 128 * 128 * 9 + 480 * 640 * 32 * 3 * 81)
    assert zoo.get("codl_fast_style_transfer").macs == fst


def test_shapes_named_in_the_reference():
    """PoseNet: ten 7x7 convs at 32x32; FST: two 9x9 at full resolution, two 3x3/2, ten 3x3 at
    120x160x128; RetinaFace: 7x7/2 stem on the 646x646 pre-padded input to 320x320."""
    pose = zoo.get("codl_posenet")
    assert sum(1 for l in pose.layers if l.R == 7 and l.P == l.Q == 32) == 10
    fst = zoo.get("codl_fast_style_transfer")
    assert [(l.R, l.stride_h, l.P, l.Q) for l in fst.layers if l.R == 9] == [(9, 1, 480, 640)] * 2
    assert sum(1 for l in fst.layers if l.stride_h == 2) == 2
    assert sum(1 for l in fst.layers if (l.R, l.C, l.P, l.Q) == (3, 128, 120, 160)) == 10
    stem = zoo.get("codl_retinaface").layers[0]
    assert (stem.H, stem.R, stem.stride_h, stem.P) == (646, 7, 2, 320)


def test_the_zoo_variants_keep_their_names():
    assert {"yolov2", "vgg16", "posenet", "retinaface", "fast_style_transfer"} <= set(zoo.names())
    assert zoo.get("yolov2").macs != zoo.get("codl_yolov2").macs
