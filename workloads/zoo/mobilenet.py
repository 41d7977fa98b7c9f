"""MobileNet v1 (1.0, 224) and MobileNet v2 (1.0, 224), batch 1 (``layers``: MAC layers; the graph
adds the global pool and v2's residual adds ``<block>_add``).

MobileNet v1 -- Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
Applications", arXiv:1704.04861, Table 1 (569 M mult-adds, Table 4). Strides follow the reference
implementation (TF-slim mobilenet_v1.py, MOBILENETV1_CONV_DEFS): the 13th separable layer (512 -> 1024)
is the stride-2 one and the last (1024 -> 1024) runs at stride 1 on 7x7; Table 1 of the paper prints
"s2" on the last one too, which cannot be (its input and output are both 7x7).

MobileNet v2 -- Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018,
Table 2 (t, c, n, s per stage; 300 M multiply-adds, Table 3) with torchvision.models.mobilenet_v2's
layer details: no expansion 1x1 when t = 1, a final 1x1 conv to 1280 channels, FC 1280 -> 1000.
"""

from workloads.graph import GraphBuilder
from workloads.layer import Workload, conv, fc
from workloads.zoo._blocks import add, dw_separable, global_pool

# MobileNet v1 separable layers after the stem: (output channels, stride of the depthwise conv)
_V1 = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
       (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))

# MobileNet v2 bottleneck stages: (expansion t, output channels c, repeats n, first stride s)
_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
       (6, 320, 1, 1))


def mobilenet_v1_body(H: int = 224, width: float = 1.0, prefix: str = "") -> tuple[list, int, int]:
    """Stem plus the 13 separable layers: (layers, output channels, output size). Used by PoseNet too."""
    def ch(c: int) -> int:
        return int(c * width)

    stem = conv(f"{prefix}conv1", C=3, K=ch(32), H=H, R=3, stride=2, pad=1)
    layers, c, h = [stem], ch(32), stem.P
    for i, (k, stride) in enumerate(_V1, start=2):
        dw, pw = dw_separable(f"{prefix}conv{i}", C=c, K=ch(k), H=h, stride=stride)
        layers += [dw, pw]
        c, h = ch(k), pw.P
    return layers, c, h


def mobilenet_v1() -> Workload:
    layers, c, h = mobilenet_v1_body()
    g = GraphBuilder()
    for layer in layers:
        g.add(layer)
    g.add(global_pool("avgpool", C=c, H=h))
    g.add(fc("fc", C=c, K=1000))  # after the 7x7 global average pool
    return g.workload("mobilenet_v1")


def mobilenet_v2() -> Workload:
    g = GraphBuilder()
    stem = conv("conv1", C=3, K=32, H=224, R=3, stride=2, pad=1)
    g.add(stem)
    c, h = 32, stem.P
    block = 0
    for t, k, n, s in _V2:
        for i in range(n):
            block += 1
            name = f"block{block}"
            hidden = c * t
            x = g.last
            if t != 1:
                g.add(conv(f"{name}_expand", C=c, K=hidden, H=h, R=1))
            stride = s if i == 0 else 1
            dw = conv(f"{name}_dw", C=hidden, K=hidden, H=h, R=3, stride=stride, pad=1, groups=hidden)
            g.add(dw)
            last = g.add(conv(f"{name}_project", C=hidden, K=k, H=dw.P, R=1))
            if stride == 1 and c == k:      # the inverted residual's shortcut
                g.add(add(f"{name}_add", C=k, H=dw.P), last, x)
            c, h = k, dw.P
    g.add(conv("conv_last", C=c, K=1280, H=h, R=1))
    g.add(global_pool("avgpool", C=1280, H=h))
    g.add(fc("fc", C=1280, K=1000))
    return g.workload("mobilenet_v2")


# Eyeriss v2's sparse MobileNet (JETCAS'19): MobileNet v1 with width multiplier 0.5 at 128 x 128 input
# (49 M mult-adds, Howard et al. Table 7's "0.50 MobileNet-128"), pruned. The per-layer densities are the
# ones Sparseloop's artifact uses for its Eyeriss v2 PE validation on this network
# (Accelergy-Project/micro22-sparseloop-artifact, evaluation_setups/fig12_eyerissv2_pe_setup/workload/
# mobilenet0.5-sparse/uniform/LNN.yaml: hypergeometric densities of Inputs and Weights, derived from the
# network's actual data); its layer L07 (64 -> 64 at 32 x 32) is conv4_pw here, L27 conv14_pw. Only these
# eight pointwise layers are published there; every other layer's tensors are taken as dense (an
# assumption: it makes the modelled v2 slower and costlier than the chip, not faster).
EYERISS_V2_MOBILENET_DENSITY = {      # layer -> (ifmap, weight)
    "conv4_pw": (0.73, 0.52), "conv5_pw": (0.86, 0.82), "conv7_pw": (0.83, 0.64), "conv10_pw": (0.61, 0.55),
    "conv11_pw": (0.64, 0.60), "conv12_pw": (0.61, 0.70), "conv13_pw": (0.68, 0.65), "conv14_pw": (0.58, 0.30)}


def mobilenet_v1_05_128() -> Workload:
    """MobileNet v1, width 0.5, 128 x 128 input (dense)."""
    layers, c, h = mobilenet_v1_body(H=128, width=0.5)
    g = GraphBuilder()
    for layer in layers:
        g.add(layer)
    g.add(global_pool("avgpool", C=c, H=h))
    g.add(fc("fc", C=c, K=1000))
    return g.workload("mobilenet_v1_05_128")


def mobilenet_v1_05_128_sparse() -> Workload:
    """``mobilenet_v1_05_128`` with Eyeriss v2's sparse-MobileNet densities (uniform models; see above)."""
    from accelsim.sparse.density import Uniform

    dense = mobilenet_v1_05_128()
    per = tuple((name, (("ifmap", Uniform(i)), ("weight", Uniform(w))))
                for name, (i, w) in EYERISS_V2_MOBILENET_DENSITY.items())
    return Workload("mobilenet_v1_05_128_sparse", dense.layers, dense.graph, per)


NETWORKS = {"mobilenet_v1": mobilenet_v1, "mobilenet_v2": mobilenet_v2, "mobilenet_v1_05_128": mobilenet_v1_05_128,
            "mobilenet_v1_05_128_sparse": mobilenet_v1_05_128_sparse}
