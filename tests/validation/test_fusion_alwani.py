"""Alwani et al., "Fused-layer CNN accelerators", MICRO'16: VGGNet-E's first five conv layers with their
two pools, fused, fp32 (reference/fusion.md). Printed with ``pytest -s``.

Units: the paper's "MB" and "KB" are read as 2^20 and 2^10 bytes, the reading under which its fused
traffic is 3.6 (3.64 MiB; 3.81 in 10^6 bytes)."""

from __future__ import annotations

import pytest

from accelsim.cost.fused import count_group
from accelsim.fused import FusedGroup, Geometry, channels_out, check_group
from workloads import zoo

VGG_BLOCK = ("conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2", "pool2", "conv3_1")
# layer by layer with each pool run inside the conv that reads its output: that conv's input read
# pools the full-resolution map on the fly (so it reads it whole), every conv reads its input and
# writes its output through DRAM once
POOL_IN_READER = (("conv1_1",), ("conv1_2",), ("pool1", "conv2_1"), ("conv2_2",), ("pool2", "conv3_1"))
MIB = 2 ** 20


def _feature_words(groups, graph) -> int:
    """DRAM words without weights of a plan of whole-map groups (``count_group``, tile = the map)."""
    return sum(count_group(FusedGroup(g, rows=graph.node(g[-1]).P, mode="keep"), graph).feature_map_words
               for g in groups)


def test_alwani_fused_feature_map_traffic_is_exact():
    """Fused traffic = block input + block output: 3x224x224 + 256x56x56 words = 3,813,376 bytes in
    fp32 = 3.64 MiB; the paper: 3.6 MB. Exact for every mode and tile (only the mode's reread halo of
    the input adds, and 'keep' rereads nothing)."""
    graph = zoo.get("vgg16").graph
    counts = count_group(FusedGroup(VGG_BLOCK, rows=1, cols=1, mode="keep"), graph)
    assert counts.feature_map_words == 3 * 224 * 224 + 256 * 56 * 56 == 953_344
    assert round(counts.feature_map_words * 4 / MIB, 2) == 3.64
    assert counts.macs == sum(graph.node(n).macs for n in VGG_BLOCK)       # keep: no recomputation


def test_alwani_layer_by_layer_77_mb_with_pools_in_their_readers():
    """The paper does not state its layer-by-layer convention. Three natural ones, fp32, from the
    model's counts; the first is asserted against the paper because it is the one that matches (it was
    picked after seeing all three, so this is a consistency check, not an independent prediction):
    pools in their readers (below) 20,220,928 words = 77.14 MiB (paper 77 MB: 0.2%);
    every operator alone (the network mapper's baseline: a pool reads and writes DRAM too)
    22,629,376 = 86.3 MiB; pools in their producers (a conv writes the pooled map) 12,995,584 =
    49.6 MiB. (The 63.4 MiB printed before for "pools folded into the next read" let the reader
    read only the pooled size while pooling on the read: not a schedule.)"""
    graph = zoo.get("vgg16").graph
    words = _feature_words(POOL_IN_READER, graph)
    # by hand: conv inputs 3x224^2 + 64x224^2 + 64x224^2 (pool1 in conv2_1) + 128x112^2 + 128x112^2
    # (pool2 in conv3_1), outputs 2 x 64x224^2 + 2 x 128x112^2 + 256x56^2
    assert words == (3 * 224**2 + 2 * 64 * 224**2 + 2 * 128 * 112**2) + \
        (2 * 64 * 224**2 + 2 * 128 * 112**2 + 256 * 56**2) == 20_220_928
    assert abs(words * 4 / MIB - 77) / 77 < 0.005
    every_op = _feature_words([(n,) for n in VGG_BLOCK], graph)
    in_producer = _feature_words((("conv1_1",), ("conv1_2", "pool1"), ("conv2_1",), ("conv2_2", "pool2"),
                                  ("conv3_1",)), graph)
    # by hand (input + output of each group): alone conv1_1 150,528 + 3,211,264; conv1_2 2 x 3,211,264;
    # pool1 3,211,264 + 802,816; conv2_1 802,816 + 1,605,632; conv2_2 2 x 1,605,632; pool2 1,605,632 +
    # 401,408; conv3_1 401,408 + 802,816 = 22,629,376. Pools in their producers: conv1_2+pool1
    # 3,211,264 + 802,816, conv2_2+pool2 1,605,632 + 401,408, the rest as alone = 12,995,584
    assert (every_op, in_producer) == (22_629_376, 12_995_584)
    print(f"\nAlwani VGGNet-E block layer by layer, fp32: pools in their readers {words * 4 / MIB:.2f} MiB, every "
          f"op alone {every_op * 4 / MIB:.1f} MiB, pools in their producers {in_producer * 4 / MIB:.1f} MiB (paper 77 MB)")


def test_alwani_storage_decomposition():
    """Line-buffered pyramid (keep, 1x1 tiles of conv3_1): the line buffers alone (the overlap of
    consecutive row bands, 2 rows for every 3x3 conv's input, x full width x channels) are 87,360
    words = 341.25 KiB, below the paper's 362 KB; with the tile buffers the model's storage is
    107,392 words = 419.5 KiB live at the peak (116,940 = 456.8 KiB static buffers)."""
    graph = zoo.get("vgg16").graph
    group = FusedGroup(VGG_BLOCK, rows=1, cols=1, mode="keep")
    layers = check_group(group, graph)
    geo = Geometry(layers, group)
    line = sum((layers[0].C * layers[0].W if i < 0 else channels_out(layers[i]) * layers[i].Q) * geo.rows(i).overlap
               for i in range(-1, len(layers) - 1))
    assert line == 3 * 224 * 2 + 64 * 224 * 2 + 64 * 112 * 2 + 128 * 112 * 2 + 128 * 56 * 2 == 87_360
    keep = count_group(group, graph)
    features = keep.capacity_total - keep.capacity["weights"]
    assert (features, keep.peak - keep.capacity["weights"]) == (116_940, 107_392)
    print(f"\nAlwani storage: line buffers {line * 4 / 1024:.2f} KiB, live peak "
          f"{(keep.peak - keep.capacity['weights']) * 4 / 1024:.1f} KiB, static {features * 4 / 1024:.1f} KiB (paper 362 KB)")


@pytest.mark.xfail(strict=True, reason="line-buffered pyramid (keep, 1x1 tiles): 107,392 words = 419.5 KiB live "
                                       "feature maps at the peak (116,940 = 456.8 KiB static) vs the paper's 362 KB "
                                       "(+16%); its line buffers alone are 87,360 words = 341.25 KiB (-6%): our tile "
                                       "buffers hold each step's whole input and output band, and the paper's buffer "
                                       "organisation for the rest (about 21 KiB) is not stated")
def test_alwani_storage_362_kb():
    graph = zoo.get("vgg16").graph
    keep = count_group(FusedGroup(VGG_BLOCK, rows=1, cols=1, mode="keep"), graph)
    assert abs((keep.peak - keep.capacity["weights"]) * 4 / 1024 - 362) / 362 < 0.05
