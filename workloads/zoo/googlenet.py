"""GoogLeNet (Inception v1) at 224x224, batch 1: MAC layers only.

Source: Szegedy et al., "Going Deeper with Convolutions", CVPR 2015, Table 1 (per-layer output size,
#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj; 7x7/2 stem, 3x3 stem conv with its 1x1 reduce,
3x3/2 max-pools to 56, 28, 14 and 7; 7x7 average pool; one linear layer 1024 -> 1000). Table 1 also
lists the multiply-adds ("ops") of every layer: conv1 118M, conv2 360M, 3a 128M, 3b 304M, 4a 73M,
4b 88M, 4c 100M, 4d 119M, 4e 170M, 5a 54M, 5b 71M, linear 1M; the text quotes "a computational budget
of 1.5 billion multiply-adds at inference time" (the table rows sum to 1586M).

Each inception module is six MAC layers: ``<m>_1x1``, ``<m>_3x3_reduce``, ``<m>_3x3``,
``<m>_5x5_reduce``, ``<m>_5x5`` and ``<m>_pool_proj`` (the 1x1 after the 3x3/1 max-pool, same map
size). Pooling, concatenation, LRN and dropout do no MACs and are not listed.

``googlenet_train`` adds the two auxiliary classifiers used only during training (paper Sec. 5:
5x5/3 average pool -> 4x4, 1x1 conv with 128 filters, FC 1024, FC 1000), fed from 4a (512 channels)
and 4d (528 channels). They add ~6.4 M weights (about as many as the main network) for ~8 M MACs.
"""

from workloads.layer import Layer, Workload, conv, fc

# name, input channels, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj  (Table 1)
_INCEPTION = (
    ("inception_3a", 192, 64, 96, 128, 16, 32, 32),
    ("inception_3b", 256, 128, 128, 192, 32, 96, 64),
    ("inception_4a", 480, 192, 96, 208, 16, 48, 64),
    ("inception_4b", 512, 160, 112, 224, 24, 64, 64),
    ("inception_4c", 512, 128, 128, 256, 24, 64, 64),
    ("inception_4d", 512, 112, 144, 288, 32, 64, 64),
    ("inception_4e", 528, 256, 160, 320, 32, 128, 128),
    ("inception_5a", 832, 256, 160, 320, 32, 128, 128),
    ("inception_5b", 832, 384, 192, 384, 48, 128, 128),
)
# map size each inception module runs at (after the 3x3/2 max-pools of Table 1)
_SIZE = {"3": 28, "4": 14, "5": 7}


def _inception(name: str, c: int, n1: int, n3r: int, n3: int, n5r: int, n5: int, proj: int,
               h: int) -> list[Layer]:
    return [
        conv(f"{name}_1x1", C=c, K=n1, H=h, R=1),
        conv(f"{name}_3x3_reduce", C=c, K=n3r, H=h, R=1),
        conv(f"{name}_3x3", C=n3r, K=n3, H=h, R=3, pad=1),
        conv(f"{name}_5x5_reduce", C=c, K=n5r, H=h, R=1),
        conv(f"{name}_5x5", C=n5r, K=n5, H=h, R=5, pad=2),
        conv(f"{name}_pool_proj", C=c, K=proj, H=h, R=1),  # after a 3x3/1 pad 1 max-pool
    ]


def _aux(prefix: str, c: int) -> list[Layer]:
    """Auxiliary classifier (Sec. 5): 14x14 -> 5x5/3 avg pool -> 4x4, 1x1x128 conv, FC 1024, FC 1000."""
    return [
        conv(f"{prefix}_conv", C=c, K=128, H=4, R=1),
        fc(f"{prefix}_fc", C=128, K=1024, H=4),
        fc(f"{prefix}_classifier", C=1024, K=1000),
    ]


def _layers(with_aux: bool) -> list[Layer]:
    layers = [
        conv("conv1", C=3, K=64, H=224, R=7, stride=2, pad=3),       # 112x112x64
        conv("conv2_reduce", C=64, K=64, H=56, R=1),                  # after 3x3/2 max-pool: 56
        conv("conv2", C=64, K=192, H=56, R=3, pad=1),                 # 56x56x192
    ]
    for name, c, *widths in _INCEPTION:
        layers += _inception(name, c, *widths, h=_SIZE[name[len("inception_")]])
        if with_aux and name == "inception_4a":
            layers += _aux("loss1", 512)
        if with_aux and name == "inception_4d":
            layers += _aux("loss2", 528)
    layers.append(fc("loss3_classifier", C=1024, K=1000))            # after 7x7 average pool
    return layers


def googlenet() -> Workload:
    return Workload("googlenet", tuple(_layers(with_aux=False)))


def googlenet_train() -> Workload:
    return Workload("googlenet_train", tuple(_layers(with_aux=True)))


NETWORKS = {"googlenet": googlenet, "googlenet_train": googlenet_train}
