"""Alwani et al., "Fused-layer CNN accelerators", MICRO'16: VGGNet-E's first five conv layers with their
two pools, fused, fp32 (reference/fusion.md). Printed with ``pytest -s``."""

from __future__ import annotations

import pytest

from accelsim.cost.fused import count_group
from accelsim.fused import FusedGroup
from workloads import zoo

VGG_BLOCK = ("conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2", "pool2", "conv3_1")


def test_alwani_fused_feature_map_traffic_is_exact():
    """Fused traffic = block input + block output: 3x224x224 + 256x56x56 words = 3,813,376 bytes in
    fp32 = 3.64 MiB; the paper: 3.6 MB. Exact for every mode and tile (only the mode's reread halo of
    the input adds, and 'keep' rereads nothing)."""
    graph = zoo.get("vgg16").graph
    counts = count_group(FusedGroup(VGG_BLOCK, rows=1, cols=1, mode="keep"), graph)
    assert counts.feature_map_words == 3 * 224 * 224 + 256 * 56 * 56 == 953_344
    assert round(counts.feature_map_words * 4 / 2**20, 2) == 3.64
    assert counts.macs == sum(graph.node(n).macs for n in VGG_BLOCK)       # keep: no recomputation


def test_alwani_layer_by_layer_and_storage_against_the_paper():
    """Layer by layer, every operator reads its input and writes its output once (the network
    mapper's baseline; no weights): 22,629,376 words = 86.3 MiB in fp32 against the paper's 77 MB;
    the pools folded into the next conv's read give 63.4 MiB. Line-buffered pyramid (keep, 1x1 tiles
    of conv3_1): feature-map storage 457 KiB static / 420 KiB live at the peak, against 362 KB.
    Both misses are strict xfails below with these numbers."""
    graph = zoo.get("vgg16").graph
    nodes = [graph.node(n) for n in VGG_BLOCK]
    every_op = sum(n.ifmap_elems + n.output_elems for n in nodes)
    assert every_op == 22_629_376 and round(every_op * 4 / 2**20, 1) == 86.3
    keep = count_group(FusedGroup(VGG_BLOCK, rows=1, cols=1, mode="keep"), graph)
    features = keep.capacity_total - keep.capacity["weights"]
    assert (features, keep.peak - keep.capacity["weights"]) == (116_940, 107_392)
    fused = count_group(FusedGroup(VGG_BLOCK, rows=1, cols=1, mode="keep"), graph).feature_map_words
    print(f"\nAlwani VGGNet-E block, fp32: fused {fused:,} words = {fused * 4 / 2**20:.2f} MiB (paper 3.6 MB); "
          f"layer by layer {every_op:,} words = {every_op * 4 / 2**20:.1f} MiB (paper 77 MB); storage "
          f"{(keep.peak - keep.capacity['weights']) * 4 / 1024:.0f} KiB live, {features * 4 / 1024:.0f} KiB static "
          f"(paper 362 KB)")


@pytest.mark.xfail(strict=True, reason="layer-by-layer convention (every op reads its input and writes its output "
                                       "once, fp32) gives 86.3 MiB (90.5 MB), not the paper's 77 MB (+12% in MiB); "
                                       "the paper's own convention is not stated")
def test_alwani_layer_by_layer_77_mb():
    graph = zoo.get("vgg16").graph
    words = sum(graph.node(n).ifmap_elems + graph.node(n).output_elems for n in VGG_BLOCK)
    assert abs(words * 4 / 2**20 - 77) / 77 < 0.05


@pytest.mark.xfail(strict=True, reason="line-buffered pyramid (keep, 1x1 tiles): 420 KiB live feature maps at the "
                                       "peak (457 KiB static buffers) vs the paper's 362 KB (+16%): our tile buffers "
                                       "hold each layer's whole input and output band of the step, and line buffers "
                                       "span the full width")
def test_alwani_storage_362_kb():
    graph = zoo.get("vgg16").graph
    keep = count_group(FusedGroup(VGG_BLOCK, rows=1, cols=1, mode="keep"), graph)
    assert abs((keep.peak - keep.capacity["weights"]) * 4 / 1024 - 362) / 362 < 0.05
