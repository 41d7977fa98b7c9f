"""AlexNet, as the Eyeriss papers run it (grouped CONV2/4/5) and the ungrouped single-tower variant.

Shapes: Chen, Emer, Sze, ISCA 2016 (and JSSC 2017) -- CONV1 227/11/4/3/96, CONV2 27(+2 pad)/5/1/48x2
groups/256, CONV3 13(+1)/3/1/256/384, CONV4 13(+1)/3/1/192x2/384, CONV5 13(+1)/3/1/192x2/256,
FC6 6x6x256->4096, FC7 4096->4096, FC8 4096->1000.
"""

from workloads.graph import GraphBuilder
from workloads.layer import Workload, conv, fc
from workloads.zoo._blocks import pool


def _alexnet(name: str, groups: int) -> Workload:
    """The graph: 3x3/2 max-pools after CONV1 (55 -> 27), CONV2 (27 -> 13) and CONV5 (13 -> 6)."""
    g = GraphBuilder()
    g.add(conv("CONV1", C=3, K=96, H=227, R=11, stride=4))
    g.add(pool("POOL1", C=96, H=55, R=3, stride=2))
    g.add(conv("CONV2", C=96, K=256, H=27, R=5, pad=2, groups=groups))
    g.add(pool("POOL2", C=256, H=27, R=3, stride=2))
    g.add(conv("CONV3", C=256, K=384, H=13, R=3, pad=1))
    g.add(conv("CONV4", C=384, K=384, H=13, R=3, pad=1, groups=groups))
    g.add(conv("CONV5", C=384, K=256, H=13, R=3, pad=1, groups=groups))
    g.add(pool("POOL5", C=256, H=13, R=3, stride=2))
    g.add(fc("FC6", C=256, K=4096, H=6))
    g.add(fc("FC7", C=4096, K=4096))
    g.add(fc("FC8", C=4096, K=1000))
    return g.workload(name)


def alexnet() -> Workload:
    return _alexnet("alexnet", groups=2)


def alexnet_ungrouped() -> Workload:
    return _alexnet("alexnet_ungrouped", groups=1)


NETWORKS = {"alexnet": alexnet, "alexnet_ungrouped": alexnet_ungrouped}
