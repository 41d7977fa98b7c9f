"""AlexNet, as the Eyeriss papers run it (grouped CONV2/4/5) and the ungrouped single-tower variant.

Shapes: Chen, Emer, Sze, ISCA 2016 (and JSSC 2017) -- CONV1 227/11/4/3/96, CONV2 27(+2 pad)/5/1/48x2
groups/256, CONV3 13(+1)/3/1/256/384, CONV4 13(+1)/3/1/192x2/384, CONV5 13(+1)/3/1/192x2/256,
FC6 6x6x256->4096, FC7 4096->4096, FC8 4096->1000.
"""

from workloads.layer import Workload, conv, fc


def alexnet() -> Workload:
    return Workload("alexnet", (
        conv("CONV1", C=3, K=96, H=227, R=11, stride=4),
        conv("CONV2", C=96, K=256, H=27, R=5, pad=2, groups=2),
        conv("CONV3", C=256, K=384, H=13, R=3, pad=1),
        conv("CONV4", C=384, K=384, H=13, R=3, pad=1, groups=2),
        conv("CONV5", C=384, K=256, H=13, R=3, pad=1, groups=2),
        fc("FC6", C=256, K=4096, H=6),
        fc("FC7", C=4096, K=4096),
        fc("FC8", C=4096, K=1000),
    ))


def alexnet_ungrouped() -> Workload:
    return Workload("alexnet_ungrouped", (
        conv("CONV1", C=3, K=96, H=227, R=11, stride=4),
        conv("CONV2", C=96, K=256, H=27, R=5, pad=2),
        conv("CONV3", C=256, K=384, H=13, R=3, pad=1),
        conv("CONV4", C=384, K=384, H=13, R=3, pad=1),
        conv("CONV5", C=384, K=256, H=13, R=3, pad=1),
        fc("FC6", C=256, K=4096, H=6),
        fc("FC7", C=4096, K=4096),
        fc("FC8", C=4096, K=1000),
    ))


NETWORKS = {"alexnet": alexnet, "alexnet_ungrouped": alexnet_ungrouped}
