"""GoogLeNet (Inception v1) at 224x224, batch 1: MAC layers only.

Source: Szegedy et al., "Going Deeper with Convolutions", CVPR 2015, Table 1 (per-layer output size,
#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj; 7x7/2 stem, 3x3 stem conv with its 1x1 reduce,
3x3/2 max-pools to 56, 28, 14 and 7; 7x7 average pool; one linear layer 1024 -> 1000). Table 1 also
lists the multiply-adds ("ops") of every layer: conv1 118M, conv2 360M, 3a 128M, 3b 304M, 4a 73M,
4b 88M, 4c 100M, 4d 119M, 4e 170M, 5a 54M, 5b 71M, linear 1M; the text quotes "a computational budget
of 1.5 billion multiply-adds at inference time" (the table rows sum to 1586M).

Each inception module is six MAC layers: ``<m>_1x1``, ``<m>_3x3_reduce``, ``<m>_3x3``,
``<m>_5x5_reduce``, ``<m>_5x5`` and ``<m>_pool_proj`` (the 1x1 after the 3x3/1 max-pool, same map
size). Pooling, concatenation, LRN and dropout do no MACs and are not in ``layers``; the graph
(``Workload.graph``) has the pools, and a module's concatenation is its readers listing the four
branch outputs as producers.

``googlenet_train`` adds the two auxiliary classifiers used only during training (paper Sec. 5:
5x5/3 average pool -> 4x4, 1x1 conv with 128 filters, FC 1024, FC 1000), fed from 4a (512 channels)
and 4d (528 channels). They add ~6.4 M weights (about as many as the main network) for ~8 M MACs.
"""

from workloads.graph import GraphBuilder
from workloads.layer import Workload, conv, fc
from workloads.zoo._blocks import pool

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


def _inception(g: GraphBuilder, x: tuple[str, ...], name: str, c: int, n1: int, n3r: int, n3: int, n5r: int,
               n5: int, proj: int, h: int) -> tuple[str, ...]:
    """Four branches reading ``x`` (the producers whose outputs are concatenated); returns the
    module's own four outputs, the next reader's producers (concatenated in this order)."""
    b1 = g.add(conv(f"{name}_1x1", C=c, K=n1, H=h, R=1), *x)
    g.add(conv(f"{name}_3x3_reduce", C=c, K=n3r, H=h, R=1), *x)
    b3 = g.add(conv(f"{name}_3x3", C=n3r, K=n3, H=h, R=3, pad=1))
    g.add(conv(f"{name}_5x5_reduce", C=c, K=n5r, H=h, R=1), *x)
    b5 = g.add(conv(f"{name}_5x5", C=n5r, K=n5, H=h, R=5, pad=2))
    g.add(pool(f"{name}_pool", C=c, H=h, R=3, stride=1, pad=1), *x)
    bp = g.add(conv(f"{name}_pool_proj", C=c, K=proj, H=h, R=1))  # after a 3x3/1 pad 1 max-pool
    return (b1, b3, b5, bp)


def _aux(g: GraphBuilder, x: tuple[str, ...], prefix: str, c: int) -> None:
    """Auxiliary classifier (Sec. 5): 14x14 -> 5x5/3 avg pool -> 4x4, 1x1x128 conv, FC 1024, FC 1000."""
    g.add(pool(f"{prefix}_pool", C=c, H=14, R=5, stride=3), *x)
    g.add(conv(f"{prefix}_conv", C=c, K=128, H=4, R=1))
    g.add(fc(f"{prefix}_fc", C=128, K=1024, H=4))
    g.add(fc(f"{prefix}_classifier", C=1024, K=1000))


def _graph(with_aux: bool) -> GraphBuilder:
    """Max-pools 3x3/2 (pad 1, floor) after conv1 (112 -> 56), conv2 (56 -> 28), 3b (28 -> 14) and 4e
    (14 -> 7); LRN is left out (no MACs, same shape)."""
    g = GraphBuilder()
    g.add(conv("conv1", C=3, K=64, H=224, R=7, stride=2, pad=3))        # 112x112x64
    g.add(pool("pool1", C=64, H=112, R=3, stride=2, pad=1))
    g.add(conv("conv2_reduce", C=64, K=64, H=56, R=1))                   # after 3x3/2 max-pool: 56
    g.add(conv("conv2", C=64, K=192, H=56, R=3, pad=1))                  # 56x56x192
    x: tuple[str, ...] = (g.add(pool("pool2", C=192, H=56, R=3, stride=2, pad=1)),)
    for name, c, *widths in _INCEPTION:
        stage = name[len("inception_")]
        h = _SIZE[stage]
        if name in ("inception_4a", "inception_5a"):
            x = (g.add(pool(f"pool{stage}", C=c, H=2 * h, R=3, stride=2, pad=1), *x),)
        x = _inception(g, x, name, c, *widths, h=h)
        if with_aux and name == "inception_4a":
            _aux(g, x, "loss1", 512)
        if with_aux and name == "inception_4d":
            _aux(g, x, "loss2", 528)
    g.add(pool("avgpool", C=1024, H=7, R=7, stride=1), *x)
    g.add(fc("loss3_classifier", C=1024, K=1000))                       # after 7x7 average pool
    return g


def googlenet() -> Workload:
    return _graph(with_aux=False).workload("googlenet")


def googlenet_train() -> Workload:
    return _graph(with_aux=True).workload("googlenet_train")


NETWORKS = {"googlenet": googlenet, "googlenet_train": googlenet_train}
