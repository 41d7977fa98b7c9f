"""ResNet-18 and ResNet-50 at 224x224, batch 1 (``layers``: MAC layers; the graph adds pools and the
residual adds ``<block>_add`` of the block output and its shortcut).

Source: He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016, Table 1
(stage widths, block counts; 1.8 GFLOPs for ResNet-18, 3.8 GFLOPs for ResNet-50, "FLOPs" meaning
multiply-adds), with the layer details of the reference implementation torchvision.models.resnet:
  * stem: 7x7/2 pad 3 conv, then a 3x3/2 pad 1 max-pool (not listed: 112 -> 56);
  * projection shortcuts (1x1 conv, stride 2 where the stage downsamples) on the first block of each
    stage whose input shape differs from its output -- listed as ``<block>_proj``, and counted;
  * ResNet-50 bottlenecks put the stride-2 on the 3x3 conv (torchvision's "ResNet v1.5"), which costs
    4.09 G MACs; the paper's 3.8 G comes from the original v1 placement of the stride on the first
    1x1 conv, which makes the 3x3 conv of every downsampling block run on the smaller map;
  * global average pool (not listed), then FC to 1000 classes.
"""

from workloads.graph import GraphBuilder
from workloads.layer import Workload, conv, fc
from workloads.zoo._blocks import add, global_pool, pool


def _stem() -> tuple[GraphBuilder, int]:
    g = GraphBuilder()
    g.add(conv("conv1", C=3, K=64, H=224, R=7, stride=2, pad=3))
    g.add(pool("pool1", C=64, H=112, R=3, stride=2, pad=1))
    return g, 56  # 112 -> 56 after the 3x3/2 pad 1 max-pool


def _head(g: GraphBuilder, c: int, h: int) -> None:
    g.add(global_pool("avgpool", C=c, H=h))
    g.add(fc("fc", C=c, K=1000))


def resnet18() -> Workload:
    g, h = _stem()
    c = 64
    for stage, (width, blocks) in enumerate(((64, 2), (128, 2), (256, 2), (512, 2)), start=2):
        for b in range(1, blocks + 1):
            stride = 2 if (b == 1 and stage > 2) else 1
            name = f"conv{stage}_{b}"
            x = g.last
            a = conv(f"{name}a", C=c, K=width, H=h, R=3, stride=stride, pad=1)
            g.add(a, x)
            last = g.add(conv(f"{name}b", C=width, K=width, H=a.P, R=3, pad=1))
            shortcut = x
            if stride != 1 or c != width:
                shortcut = g.add(conv(f"{name}_proj", C=c, K=width, H=h, R=1, stride=stride), x)
            g.add(add(f"{name}_add", C=width, H=a.P), last, shortcut)
            c, h = width, a.P
    _head(g, c, h)
    return g.workload("resnet18")


def resnet50() -> Workload:
    g, h = _stem()
    c = 64
    for stage, (width, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), start=2):
        out = 4 * width
        for b in range(1, blocks + 1):
            stride = 2 if (b == 1 and stage > 2) else 1
            name = f"conv{stage}_{b}"
            x = g.last
            g.add(conv(f"{name}a", C=c, K=width, H=h, R=1), x)
            mid = conv(f"{name}b", C=width, K=width, H=h, R=3, stride=stride, pad=1)  # v1.5: stride here
            g.add(mid)
            last = g.add(conv(f"{name}c", C=width, K=out, H=mid.P, R=1))
            shortcut = x
            if stride != 1 or c != out:
                shortcut = g.add(conv(f"{name}_proj", C=c, K=out, H=h, R=1, stride=stride), x)
            g.add(add(f"{name}_add", C=out, H=mid.P), last, shortcut)
            c, h = out, mid.P
    _head(g, c, h)
    return g.workload("resnet50")


NETWORKS = {"resnet18": resnet18, "resnet50": resnet50}
