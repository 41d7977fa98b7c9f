"""ShuffleNet v1 at 224x224, batch 1: scales 1x and 0.5x, groups 3 and 8 (MAC layers only).

Source: Zhang, Zhou, Lin, Sun, "ShuffleNet: An Extremely Efficient Convolutional Neural Network for
Mobile Devices", CVPR 2018, Table 1 (stage output channels: g=3 240/480/960, g=8 384/768/1536;
repeats 4/8/4; 3x3/2 conv of 24 channels and a 3x3/2 max-pool before stage 2; global pool; FC 1000)
and its reference implementation, megvii-model/ShuffleNet-Series, ShuffleNetV1/network.py + blocks.py:
  * each unit: grouped 1x1 (groups g) -> channel shuffle -> depthwise 3x3 (stride 1 or 2) -> grouped
    1x1 (groups g); the bottleneck has 1/4 of the *stage* output channels;
  * the first unit of a stage has stride 2 and a 3x3/2 average-pool shortcut that is concatenated,
    so its branch produces (stage output - unit input) channels;
  * the first 1x1 of stage 2 is not grouped ("the input channel number is relatively small");
  * 0.5x halves every count; the reference implementation uses a 16-channel stem for 0.5x g=8
    (12 = 24/2 would leave 192 - 12 = 180 branch outputs, not divisible by 8), 12 for 0.5x g=3.
Pooling and the channel shuffle move data but do no MACs, so they are not in ``layers``; the graph has
the pools, the shortcut concatenations (a reader lists the pool and the branch) and the adds.

Published complexity: 1x ~140 MFLOPs and 0.5x ~38 MFLOPs (paper, Table 2; its "FLOPs" are
multiply-adds). The reference implementation's README lists 138 M for 1x (g=3 and g=8), 38 M for
0.5x g=3 and 40 M for 0.5x g=8 (the 16-channel stem and its wider first unit cost the extra 2 M).
"""

from functools import partial

from workloads.graph import GraphBuilder
from workloads.layer import Workload, conv, fc
from workloads.zoo._blocks import add, global_pool, pool

# (stem channels, stage 2, stage 3, stage 4 output channels) per (scale, groups), reference code
_CHANNELS = {
    ("1x", 3): (24, 240, 480, 960),
    ("1x", 8): (24, 384, 768, 1536),
    ("0.5x", 3): (12, 120, 240, 480),
    ("0.5x", 8): (16, 192, 384, 768),
}
_REPEATS = (4, 8, 4)


def shufflenet_v1(scale: str, groups: int) -> Workload:
    stem_c, *stage_c = _CHANNELS[(scale, groups)]
    g = GraphBuilder()
    g.add(conv("conv1", C=3, K=stem_c, H=224, R=3, stride=2, pad=1))
    x: tuple[str, ...] = (g.add(pool("pool1", C=stem_c, H=112, R=3, stride=2, pad=1)),)
    c, h = stem_c, 56  # 112 -> 56 after the 3x3/2 pad 1 max-pool
    for stage, (out, repeats) in enumerate(zip(stage_c, _REPEATS), start=2):
        mid = out // 4
        for unit in range(1, repeats + 1):
            name = f"stage{stage}_{unit}"
            stride = 2 if unit == 1 else 1
            branch_out = out - c if stride == 2 else out
            g1 = 1 if (stage == 2 and unit == 1) else groups
            g.add(conv(f"{name}_gconv1", C=c, K=mid, H=h, R=1, groups=g1), *x)
            dw = conv(f"{name}_dw", C=mid, K=mid, H=h, R=3, stride=stride, pad=1, groups=mid)
            g.add(dw)           # the channel shuffle before it is a permutation: no node
            branch = g.add(conv(f"{name}_gconv2", C=mid, K=branch_out, H=dw.P, R=1, groups=groups))
            if stride == 2:     # 3x3/2 average-pool shortcut, concatenated before the branch
                x = (g.add(pool(f"{name}_shortcut", C=c, H=h, R=3, stride=2, pad=1), *x), branch)
            else:
                x = (g.add(add(f"{name}_add", C=out, H=dw.P), branch, *x),)
            c, h = out, dw.P
    g.add(global_pool("avgpool", C=c, H=h), *x)
    g.add(fc("fc", C=c, K=1000))
    return g.workload(f"shufflenet_{scale}_g{groups}")


NETWORKS = {f"shufflenet_{scale}_g{g}": partial(shufflenet_v1, scale, g) for scale, g in _CHANNELS}
