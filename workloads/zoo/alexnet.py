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


# Eyeriss v1 on AlexNet CONV1-5 (JSSC'17, measured): zeros in the input feature maps 0.01% / 38.7% /
# 72.5% / 79.3% / 77.6%; Sparseloop's (MICRO'22) reproduction of the chip adds the densities of a pruned
# AlexNet's weights and of the outputs (reference/sparsity.md). FC layers: none published (dense).
EYERISS_ZEROS_IN_IFMAPS = {"CONV1": 0.0001, "CONV2": 0.387, "CONV3": 0.725, "CONV4": 0.793, "CONV5": 0.776}
SPARSELOOP_WEIGHT_DENSITY = {"CONV1": 0.710, "CONV2": 0.385, "CONV3": 0.346, "CONV4": 0.372, "CONV5": 0.369}
SPARSELOOP_OUTPUT_DENSITY = {"CONV1": 0.378, "CONV2": 0.169, "CONV3": 0.303, "CONV4": 0.304, "CONV5": 0.1}


def alexnet_sparse() -> Workload:
    """``alexnet`` with the published densities of the Eyeriss v1 reproduction (uniform models)."""
    from accelsim.sparse.density import Uniform

    dense = alexnet()
    per = tuple((name, (("ifmap", Uniform(round(1 - z, 6))), ("weight", Uniform(SPARSELOOP_WEIGHT_DENSITY[name])),
                        ("psum", Uniform(SPARSELOOP_OUTPUT_DENSITY[name]))))
                for name, z in EYERISS_ZEROS_IN_IFMAPS.items())
    return Workload("alexnet_sparse", dense.layers, dense.graph, per)


NETWORKS = {"alexnet": alexnet, "alexnet_ungrouped": alexnet_ungrouped, "alexnet_sparse": alexnet_sparse}
