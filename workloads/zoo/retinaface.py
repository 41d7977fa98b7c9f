"""RetinaFace with the MobileNet-0.25 backbone at 640x640, batch 1 (MAC layers only).

Source: Deng et al., "RetinaFace: Single-stage Dense Face Localisation in the Wild", CVPR 2020, as
implemented in the public biubug6/Pytorch_Retinaface (models/net.py, models/retinaface.py,
data/config.py cfg_mnet: in_channel 32, out_channel 64, image_size 640), the mobile-sized RetinaFace
for the CoDL analysis (reference/codl.md names RetinaFace without the variant). Input 640x640 (the
training size of cfg_mnet); feature strides 8, 16, 32 give
80x80, 40x40 and 20x20 maps and 2 anchors per cell: 2 x (6400 + 1600 + 400) = 16,800 anchors.

  backbone  MobileNetV1 x0.25: 3x3/2 conv 3 -> 8, then 13 depthwise-separable layers
            (stage1 ends at 80x80x64, stage2 at 40x40x128, stage3 at 20x20x256)
  FPN       1x1 convs 64/128/256 -> 64 on the three maps, nearest-upsample + add (no MACs),
            3x3 "merge" convs on the 40x40 and 80x80 maps
  SSH       per level: 3x3 64 -> 32; 3x3 64 -> 16; 3x3 16 -> 16; 3x3 16 -> 16; 3x3 16 -> 16
  heads     per level 1x1 convs 64 -> 4 (class), 64 -> 8 (box), 64 -> 20 (landmarks)
Batch norm, leaky ReLU, upsampling, adds and concatenations do no MACs and are not listed.

The graph (models/net.py's forward passes): FPN ``output3`` is upsampled (nearest, x2: ``fpn_up3``)
and added to ``output2`` (``fpn_add2``), ``merge2`` reads the sum; ``merge2`` upsampled
(``fpn_up2``) plus ``output1`` (``fpn_add1``) feeds ``merge1``. SSH level 1, 2, 3 reads ``merge1``,
``merge2``, ``output3``: ``conv3x3`` and ``conv5x5_1`` read the level, ``conv5x5_2`` and
``conv7x7_2`` read ``conv5x5_1``, ``conv7x7_3`` reads ``conv7x7_2``; ``ssh<l>_relu`` reads the
concatenation of ``conv3x3``, ``conv5x5_2``, ``conv7x7_3`` (32 + 16 + 16 = 64 channels) and the
three heads of the level read it.
"""

from workloads.graph import GraphBuilder
from workloads.layer import Layer, LayerKind, Workload, conv
from workloads.zoo._blocks import add, dw_separable, upsample

INPUT = 640
# backbone separable layers after the stem: (stage, output channels, stride) -- net.py MobileNetV1
_BODY = ((1, 16, 1), (1, 32, 2), (1, 32, 1), (1, 64, 2), (1, 64, 1),
         (2, 128, 2), (2, 128, 1), (2, 128, 1), (2, 128, 1), (2, 128, 1), (2, 128, 1),
         (3, 256, 2), (3, 256, 1))
OUT = 64      # cfg_mnet out_channel
ANCHORS = 2   # anchors per cell (min_sizes has two sizes per level)


def retinaface() -> Workload:
    layers, levels, stage_end = _layers()
    by = {layer.name: layer for layer in layers}
    g = GraphBuilder()
    for layer in layers:
        if layer.name.startswith(("stem", "body")):
            g.add(layer)
    for lvl in (1, 2, 3):
        g.add(by[f"fpn_output{lvl}"], stage_end[lvl])
    g.add(upsample("fpn_up3", C=OUT, H=levels[3][1]), "fpn_output3")
    g.add(add("fpn_add2", C=OUT, H=levels[2][1]), "fpn_output2", "fpn_up3")
    g.add(by["fpn_merge2"])
    g.add(upsample("fpn_up2", C=OUT, H=levels[2][1]), "fpn_merge2")
    g.add(add("fpn_add1", C=OUT, H=levels[1][1]), "fpn_output1", "fpn_up2")
    g.add(by["fpn_merge1"])
    for lvl, feature in ((1, "fpn_merge1"), (2, "fpn_merge2"), (3, "fpn_output3")):
        p = f"ssh{lvl}"
        g.add(by[f"{p}_conv3x3"], feature)
        g.add(by[f"{p}_conv5x5_1"], feature)
        g.add(by[f"{p}_conv5x5_2"], f"{p}_conv5x5_1")
        g.add(by[f"{p}_conv7x7_2"], f"{p}_conv5x5_1")
        g.add(by[f"{p}_conv7x7_3"], f"{p}_conv7x7_2")
        lh = levels[lvl][1]
        g.add(Layer(f"{p}_relu", LayerKind.ACTIVATION, C=OUT, K=OUT, H=lh, W=lh),
              f"{p}_conv3x3", f"{p}_conv5x5_2", f"{p}_conv7x7_3")
    for layer in layers:
        if "_head" in layer.name:
            g.add(layer, f"ssh{layer.name[-1]}_relu")
    return g.workload("retinaface", tuple(layers))


def _layers() -> tuple[list[Layer], dict[int, tuple[int, int]], dict[int, str]]:
    """The MAC layers in the zoo's order; per stage its (channels, size) and its last layer's name."""
    stem = conv("stem", C=3, K=8, H=INPUT, R=3, stride=2, pad=1)
    layers, c, h = [stem], 8, stem.P
    levels = {}  # stage -> (channels, size) of its output
    stage_end = {}
    for i, (stage, k, stride) in enumerate(_BODY, start=1):
        layers += dw_separable(f"body{i}", C=c, K=k, H=h, stride=stride)
        c, h = k, layers[-1].P
        levels[stage] = (c, h)
        stage_end[stage] = layers[-1].name
    # FPN: 1x1 lateral convs, then merge convs top-down (output3 has no merge conv)
    for lvl in (1, 2, 3):
        lc, lh = levels[lvl]
        layers.append(conv(f"fpn_output{lvl}", C=lc, K=OUT, H=lh, R=1))
    layers.append(conv("fpn_merge2", C=OUT, K=OUT, H=levels[2][1], R=3, pad=1))
    layers.append(conv("fpn_merge1", C=OUT, K=OUT, H=levels[1][1], R=3, pad=1))
    for lvl in (1, 2, 3):
        lh = levels[lvl][1]
        layers += [
            conv(f"ssh{lvl}_conv3x3", C=OUT, K=OUT // 2, H=lh, R=3, pad=1),
            conv(f"ssh{lvl}_conv5x5_1", C=OUT, K=OUT // 4, H=lh, R=3, pad=1),
            conv(f"ssh{lvl}_conv5x5_2", C=OUT // 4, K=OUT // 4, H=lh, R=3, pad=1),
            conv(f"ssh{lvl}_conv7x7_2", C=OUT // 4, K=OUT // 4, H=lh, R=3, pad=1),
            conv(f"ssh{lvl}_conv7x7_3", C=OUT // 4, K=OUT // 4, H=lh, R=3, pad=1),
        ]
    for head, per_anchor in (("class", 2), ("bbox", 4), ("landmark", 10)):
        for lvl in (1, 2, 3):
            layers.append(conv(f"{head}_head{lvl}", C=OUT, K=ANCHORS * per_anchor, H=levels[lvl][1], R=1))
    return layers, levels, stage_end


NETWORKS = {"retinaface": retinaface}
