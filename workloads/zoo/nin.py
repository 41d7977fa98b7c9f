"""Network-in-Network (ImageNet model) at 224x224, batch 1: MAC layers only.

Source: Lin, Chen, Yan, "Network In Network", ICLR 2014 (mlpconv layers = a spatial convolution
followed by two 1x1 "cccp" convolutions; global average pooling instead of FC layers). The paper gives
no ImageNet layer table; the shapes are those of its reference ImageNet model in the Caffe Model Zoo
("NIN-Imagenet", 224x224 crops; also converted in ethereon/caffe-tensorflow, examples/imagenet/models/nin.py):

  conv1 11x11/4 96 -> cccp1 96 -> cccp2 96 -> 3x3/2 max-pool -> conv2 5x5 pad 2 256 -> cccp3 256 ->
  cccp4 256 -> 3x3/2 max-pool -> conv3 3x3 pad 1 384 -> cccp5 384 -> cccp6 384 -> 3x3/2 max-pool ->
  dropout -> conv4-1024 3x3 pad 1 1024 -> cccp7-1024 1024 -> cccp8-1024 1000 -> 6x6 average pool.

Map sizes: 224 -> 54 (conv1) -> 27 (Caffe rounds pooled sizes up) -> 13 -> 6. About 1.1 G
multiply-adds and 7.59 M weights (30.4 MB in fp32, the size of the published caffemodel).

The graph is the chain with its three max-pools and the final 6x6 average pool (``pool1`` ..
``pool4``). Caffe's ceil-rounded 3x3/2 pool on 54x54 gives 27; a Layer floors, so ``pool1`` takes
padding 1 for the same 27x27 output and the same taps per output (its windows start one row and
column earlier than Caffe's, whose last window hangs over the edge instead); 27 -> 13 and 13 -> 6
floor and ceil alike.
"""

from workloads.graph import GraphBuilder
from workloads.layer import Workload, conv
from workloads.zoo._blocks import global_pool, pool

_POOL_AFTER = {"cccp2": ("pool1", 1), "cccp4": ("pool2", 0), "cccp6": ("pool3", 0)}  # name, padding


def nin() -> Workload:
    g = GraphBuilder()
    layers = _layers()
    for layer in layers:
        g.add(layer)
        if layer.name in _POOL_AFTER:
            name, pad = _POOL_AFTER[layer.name]
            g.add(pool(name, C=layer.K, H=layer.P, R=3, stride=2, pad=pad))
    g.add(global_pool("pool4", C=layers[-1].K, H=layers[-1].P))
    return g.workload("nin", layers)


def _layers() -> tuple:
    return (
        conv("conv1", C=3, K=96, H=224, R=11, stride=4),           # 54x54
        conv("cccp1", C=96, K=96, H=54, R=1),
        conv("cccp2", C=96, K=96, H=54, R=1),
        conv("conv2", C=96, K=256, H=27, R=5, pad=2),              # pool 54 -> 27 (ceil)
        conv("cccp3", C=256, K=256, H=27, R=1),
        conv("cccp4", C=256, K=256, H=27, R=1),
        conv("conv3", C=256, K=384, H=13, R=3, pad=1),             # pool 27 -> 13
        conv("cccp5", C=384, K=384, H=13, R=1),
        conv("cccp6", C=384, K=384, H=13, R=1),
        conv("conv4_1024", C=384, K=1024, H=6, R=3, pad=1),        # pool 13 -> 6
        conv("cccp7_1024", C=1024, K=1024, H=6, R=1),
        conv("cccp8_1024", C=1024, K=1000, H=6, R=1),              # then 6x6 average pool
    )


NETWORKS = {"nin": nin}
