"""VGG-16 (configuration D) at 224x224, batch 1: 13 CONV layers and 3 FC layers.

Source: Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR 2015, Table 1 column D (all CONV 3x3, stride 1, pad 1; 2x2/2 max-pooling after each block).
The zoo lists MAC layers only: the five max-pool layers are in the graph (``Workload.graph``), not in ``layers``.
"""

from workloads.graph import GraphBuilder
from workloads.layer import Workload, conv, fc
from workloads.zoo._blocks import pool

# (block, output channels, number of 3x3 convs) -- Table 1, column D
_BLOCKS = ((1, 64, 2), (2, 128, 2), (3, 256, 3), (4, 512, 3), (5, 512, 3))


def vgg16() -> Workload:
    g = GraphBuilder()
    c, h = 3, 224
    for block, k, repeats in _BLOCKS:
        for i in range(1, repeats + 1):
            g.add(conv(f"conv{block}_{i}", C=c, K=k, H=h, R=3, pad=1))
            c = k
        g.add(pool(f"pool{block}", C=c, H=h, R=2, stride=2))  # 2x2/2 max-pool
        h //= 2
    g.add(fc("fc6", C=512, K=4096, H=h))  # 7x7x512 -> 4096
    g.add(fc("fc7", C=4096, K=4096))
    g.add(fc("fc8", C=4096, K=1000))
    return g.workload("vgg16")


NETWORKS = {"vgg16": vgg16}
