"""The five networks as CoDL (Jia et al., MobiSys 2022) ran them: op chains of conv, pooling and FC.

Source: the CoDL artifact's operator lists (csu-eis/CoDL, ``codl-eval-tools/codl-lat-collect-and-eval/
op_datasets/dataset_{conv2d,pooling}_large_cnn.csv`` and ``dataset_fully_connected_cnn.csv``): every
conv, pooling and FC operator with its input size, channels, filter, stride and padding, in execution
order; reference/codl.md. No batch norm, activation, concat, add or upsample operator is listed (CoDL's
models have none of them as separate ops). fp32, batch 1.

Padding: the inputs are **pre-padded** and every convolution is VALID. An op listed with MACE's SAME
padding type gets the SAME total padding added to its input (``(ceil(H/s) - 1) s + R - H`` rows, 0 if
negative), an op listed VALID with explicit paddings gets those (VGG-16: 2 rows and columns), and an op
listed VALID with an already padded input keeps it (RetinaFace's 646x646 stem, its 162/82/42 strided
3x3 convs). So ``H`` here is the padded input and ``pad`` is 0 everywhere: a band of rows split off for
the CPU reads its halo from the padded buffer, as on the device.

Pooling: 2x2 stride 2 max pooling (dataset_pooling_large_cnn.csv), placed where the map shrinks;
RetinaFace's four poolings are the stem's pool and the subsampling shortcuts of its ResNet-50 blocks
1-3 (TF-slim ResNet v1 order: the stride sits in the *last* unit of a block, the shortcut of that unit
subsamples), each placed after the block's last conv.

Graphs (``Workload.graph``; the op lists give no edges, so these are the published architectures
read against every op's input channels and size): ``layers`` stay CoDL's op list in its order; the
graph adds the non-MAC operators CoDL does not list (residual adds, FPN upsamplings and adds) and
marks every conv's padding as ``prepad`` (``workloads.graph``: the conv reads its producer's output
zero-padded to its pre-padded ``H x W``). Per network:
- YOLOv2: a chain, except that ``conv21`` reads 1536 = 512 + 1024 channels at 13x13: ``pool5`` (the
  passthrough's source map, conv13's 26x26x512, pooled) and ``conv20``. The paper's passthrough
  reorganises conv13's map into 2048 channels (3072 in all, the zoo's ``yolov2``); the only 13x13x512
  tensors before ``conv21`` in the op list are ``pool5``, ``conv15`` and ``conv17``;
- VGG-16: a chain;
- PoseNet (Zimmermann-Brox, CPM-like): a chain to the score map ``conv5_2``; each refinement stage's
  first conv reads the concatenation of the previous score map (21) and the trunk's ``conv4_7`` (128);
- Fast Style Transfer: the residual adds ``res<b>_add``; between ``res5_add`` (128 at 120x160) and
  ``conv4`` (32 at 480x640) the two transposed convs of the model, absent from CoDL's conv list, are
  graph-only nodes: ``deconv<i>_up`` (nearest x2) and ``deconv<i>`` (3x3, pad 1: the zoo's
  ``fast_style_transfer`` convention, which counts the MACs of the inserted rows), so the graph holds
  more MACs than ``layers``;
- RetinaFace (ResNet-50): per bottleneck unit ``b<k>u<u>_add`` = its ``conv3`` + the shortcut (the
  projection ``_shortcut`` in unit 1, the block's ``_subsample`` pool in a strided last unit, the
  unit's input otherwise); FPN features: ``b1u2_add`` (160x160x256), ``b1u3_add`` (80x80x256),
  ``b2u4_add`` (40x40x512), ``b4u3_add`` (20x20x2048), as the laterals' channels require; each
  ``fpn_p<l>_conv`` 3x3 reads the coarser level upsampled (``fpn_p<l>_up``: it runs before the
  lateral in the op list, so it is on the top-down path) and ``fpn_p<l>_add`` = it + the lateral;
  heads per level: ``head_p<l>_1..3`` read the level, ``head_p<l>_4`` their concatenation (128 + 64 + 64
  = 256), ``_5`` and ``_6`` read ``_4``; ``p6_down`` reads P5 (``fpn_p5_lateral``).

Names: ``codl_<net>``; the zoo's own ``yolov2``, ``vgg16``, ``posenet``, ``retinaface`` and
``fast_style_transfer`` are different variants (Darknet padding, MobileNet backbones, 256x256 with
upsampling convs) and keep their names.
"""

from __future__ import annotations

from workloads.graph import GraphBuilder
from workloads.layer import Layer, LayerKind, Workload, conv, fc
from workloads.zoo._blocks import add, upsample


def same_pad(h: int, r: int, stride: int) -> int:
    """MACE's SAME total padding of one axis: ``(ceil(h / s) - 1) * s + r - h``, at least 0."""
    return max(0, (-(-h // stride) - 1) * stride + r - h)


def conv_same(name: str, C: int, K: int, H: int, R: int, stride: int = 1, W: int | None = None) -> Layer:
    """A SAME convolution of an ``H x W`` map as CoDL runs it: the input pre-padded, the conv VALID."""
    W = H if W is None else W
    return Layer(name=name, kind=LayerKind.CONV, C=C, K=K, H=H + same_pad(H, R, stride),
                 W=W + same_pad(W, R, stride), R=R, S=R, stride_h=stride, stride_w=stride)


def conv_valid(name: str, C: int, K: int, H: int, R: int, stride: int = 1, W: int | None = None) -> Layer:
    """A VALID convolution of an (already padded) ``H x W`` input."""
    return Layer(name=name, kind=LayerKind.CONV, C=C, K=K, H=H, W=H if W is None else W, R=R, S=R,
                 stride_h=stride, stride_w=stride)


def pool2(name: str, C: int, H: int, W: int | None = None) -> Layer:
    """2x2 stride-2 max pooling (VALID)."""
    return Layer(name=name, kind=LayerKind.POOL, C=C, K=C, H=H, W=H if W is None else W, R=2, S=2,
                 stride_h=2, stride_w=2)


class _Net:
    """A graph over CoDL's layers: :meth:`add` sets a conv's ``prepad`` to its pre-padded input size
    minus its producers' output size (the SAME or explicit padding folded into ``H x W``)."""

    def __init__(self) -> None:
        self.g = GraphBuilder()
        self.out: dict[str, tuple[int, int]] = {}      # node -> (P, Q)

    def add(self, layer: Layer, *producers: str) -> str:
        ins = producers or ((self.g.last,) if self.g.nodes else ())
        pad = (0, 0)
        if ins and layer.kind is LayerKind.CONV:
            p, q = self.out[ins[0]]
            pad = (layer.H - p, layer.W - q)
        self.g.add(layer, *(ins or ((),)), prepad=pad)
        self.out[layer.name] = (layer.P, layer.Q)
        return layer.name

    def chain(self, layers) -> None:
        for layer in layers:
            self.add(layer)


def codl_yolov2() -> Workload:
    """YOLOv2-VOC at 416x416: 22 convs (3x3 SAME, 1x1) and 5 poolings; the 13x13 head reads 1536 channels."""
    stages = (  # (input size, [(C, K, R), ...]); a pooling follows every stage but the last
        (416, [(3, 32, 3)]),
        (208, [(32, 64, 3)]),
        (104, [(64, 128, 3), (128, 64, 1), (64, 128, 3)]),
        (52, [(128, 256, 3), (256, 128, 1), (128, 256, 3)]),
        (26, [(256, 512, 3), (512, 256, 1), (256, 512, 3), (512, 256, 1), (256, 512, 3)]),
        (13, [(512, 1024, 3), (1024, 512, 1), (512, 1024, 3), (1024, 512, 1), (512, 1024, 3),
              (1024, 1024, 3), (1024, 1024, 3), (1536, 1024, 3), (1024, 125, 1)]),
    )
    layers: list[Layer] = []
    for s, (h, convs) in enumerate(stages):
        for c, k, r in convs:
            layers.append(conv_same(f"conv{len([l for l in layers if l.kind is LayerKind.CONV]) + 1}", c, k, h, r))
        if s < len(stages) - 1:
            layers.append(pool2(f"pool{s + 1}", convs[-1][1], h))
    net = _Net()
    for layer in layers:
        net.add(layer, *(("pool5", "conv20") if layer.name == "conv21" else ()))
    return net.g.workload("codl_yolov2", tuple(layers))


def codl_vgg16() -> Workload:
    """VGG-16 at 224x224: 13 convs (3x3, VALID on inputs padded by 2), 5 poolings, 3 FC."""
    blocks = ((224, 64, 2), (112, 128, 2), (56, 256, 3), (28, 512, 3), (14, 512, 3))
    layers: list[Layer] = []
    c = 3
    for b, (h, k, n) in enumerate(blocks, start=1):
        for i in range(1, n + 1):
            layers.append(conv_valid(f"conv{b}_{i}", c, k, h + 2, 3))
            c = k
        layers.append(pool2(f"pool{b}", k, h))
    layers += [fc("fc6", C=512, K=4096, H=7), fc("fc7", C=4096, K=4096), fc("fc8", C=4096, K=1000)]
    net = _Net()
    net.chain(layers)
    return net.g.workload("codl_vgg16", tuple(layers))


def codl_posenet() -> Workload:
    """The Zimmermann-Brox hand-pose net (CPM-like) at 256x256: a VGG-like trunk with 3 poolings to
    32x32, a 21-keypoint score map, then two refinement stages of five 7x7 convs on 128 + 21 = 149
    channels, a 1x1 and a 1x1 to 21 maps. 31 convs, 3 poolings."""
    trunk = ((256, [(3, 64), (64, 64)]), (128, [(64, 128), (128, 128)]),
             (64, [(128, 256), (256, 256), (256, 256), (256, 256)]))
    layers: list[Layer] = []
    for s, (h, convs) in enumerate(trunk, start=1):
        for i, (c, k) in enumerate(convs, start=1):
            layers.append(conv_same(f"conv{s}_{i}", c, k, h, 3))
        layers.append(pool2(f"pool{s}", convs[-1][1], h))
    for i, (c, k) in enumerate(((256, 512), (512, 512), (512, 256), (256, 256), (256, 256), (256, 256),
                                (256, 128)), start=1):
        layers.append(conv_same(f"conv4_{i}", c, k, 32, 3))
    layers += [conv_same("conv5_1", 128, 512, 32, 1), conv_same("conv5_2", 512, 21, 32, 1)]
    for stage in (6, 7):
        layers.append(conv_same(f"stage{stage}_1", 128 + 21, 128, 32, 7))
        layers += [conv_same(f"stage{stage}_{i}", 128, 128, 32, 7) for i in range(2, 6)]
        layers += [conv_same(f"stage{stage}_6", 128, 128, 32, 1), conv_same(f"stage{stage}_7", 128, 21, 32, 1)]
    net = _Net()
    score = "conv5_2"
    for layer in layers:
        if layer.name.endswith("_1") and layer.name.startswith("stage"):
            net.add(layer, score, "conv4_7")      # CPM: the previous score map + the trunk's features
        else:
            net.add(layer)
        if layer.name.endswith("_7") and layer.name.startswith("stage"):
            score = layer.name
    return net.g.workload("codl_posenet", tuple(layers))


def codl_fast_style_transfer() -> Workload:
    """Johnson et al.'s transformation net at 480x640 without its deconvolutions: 9x9 3 -> 32, two 3x3
    stride-2 convs, ten 3x3 128 -> 128 at 120x160, 9x9 32 -> 3 at 480x640 (14 convs, SAME)."""
    layers = [conv_same("conv1", 3, 32, 480, 9, W=640),
              conv_same("conv2", 32, 64, 480, 3, stride=2, W=640),
              conv_same("conv3", 64, 128, 240, 3, stride=2, W=320)]
    for b in range(1, 6):
        layers += [conv_same(f"res{b}_conv{i}", 128, 128, 120, 3, W=160) for i in (1, 2)]
    layers.append(conv_same("conv4", 32, 3, 480, 9, W=640))
    net = _Net()
    net.chain(layers[:3])
    for b in range(1, 6):
        x = net.g.last
        net.chain(layers[1 + 2 * b: 3 + 2 * b])
        net.add(add(f"res{b}_add", 128, 120, W=160), net.g.last, x)
    net.add(upsample("deconv1_up", 128, 120, W=160))                    # graph-only: the transposed convs
    net.add(conv("deconv1", C=128, K=64, H=240, W=320, R=3, pad=1))
    net.add(upsample("deconv2_up", 64, 240, W=320))
    net.add(conv("deconv2", C=64, K=32, H=480, W=640, R=3, pad=1))
    net.add(layers[-1])
    return net.g.workload("codl_fast_style_transfer", tuple(layers))


def _bottleneck_block(block: int, c_in: int, depth: int, units: int, h: int, last_stride: int) -> tuple[list[Layer], int]:
    """One ResNet-50 block in TF-slim v1 order: unit 1 has a 1x1 projection shortcut (listed first),
    the last unit carries the stride on its 3x3 (pre-padded VALID); returns (layers, output size)."""
    out = 4 * depth
    layers: list[Layer] = []
    c = c_in
    for u in range(1, units + 1):
        p = f"b{block}u{u}"
        if u == 1:
            layers.append(conv_same(f"{p}_shortcut", c, out, h, 1))
        layers.append(conv_same(f"{p}_conv1", c, depth, h, 1))
        if u == units and last_stride > 1:
            layers.append(conv_valid(f"{p}_conv2", depth, depth, h + 2, 3, stride=last_stride))
            h_out = h // last_stride
        else:
            layers.append(conv_same(f"{p}_conv2", depth, depth, h, 3))
            h_out = h
        layers.append(conv_same(f"{p}_conv3", depth, out, h_out, 1))
        c = out
    if last_stride > 1:  # the last unit's shortcut subsamples the block's input map
        layers.append(pool2(f"b{block}_subsample", out, h))
    return layers, h_out


def codl_retinaface() -> Workload:
    """RetinaFace with a ResNet-50 backbone at 640x640: 91 convs, 4 poolings.

    Stem 7x7/2 on the 646x646 pre-padded input, 2x2 pooling; blocks of 3, 4, 6, 3 bottleneck units
    (depth 64, 128, 256, 512; the stride in the last unit of blocks 1-3, so the maps are 160, 80, 40, 20);
    FPN: 1x1 2048 -> 256 at 20x20, then per level 40, 80, 160 a 3x3 256 -> 256 and a 1x1 lateral
    (512, 256, 256 -> 256), in the artifact's order; heads (3x3, 256 in) of 128, 64, 64, 256 and 12
    outputs on the 160, 80, 40, 20 maps, a 3x3/2 to a 10x10 level with its own heads, and one 3x3
    256 -> 6 per level at the end."""
    layers = [conv_valid("stem", 3, 64, 646, 7, stride=2), pool2("pool1", 64, 320)]
    c, h = 64, 160
    for block, (depth, units, stride) in enumerate(((64, 3, 2), (128, 4, 2), (256, 6, 2), (512, 3, 1)), start=1):
        more, h = _bottleneck_block(block, c, depth, units, h, stride)
        layers += more
        c = 4 * depth
    layers.append(conv_valid("fpn_p5_lateral", 2048, 256, 20, 1))
    for level, size, lateral_c in ((4, 40, 512), (3, 80, 256), (2, 160, 256)):
        layers.append(conv_same(f"fpn_p{level}_conv", 256, 256, size, 3))
        layers.append(conv_valid(f"fpn_p{level}_lateral", lateral_c, 256, size, 1))

    def heads(level: int, size: int) -> list[Layer]:
        return [conv_same(f"head_p{level}_{i}", 256, k, size, 3) for i, k in enumerate((128, 64, 64, 256, 12), 1)]

    for level, size in ((2, 160), (3, 80), (4, 40), (5, 20)):
        layers += heads(level, size)
    layers.append(conv_same("p6_down", 256, 256, 20, 3, stride=2))
    layers += heads(6, 10)
    layers += [conv_same(f"head_p{level}_6", 256, 6, size, 3)
               for level, size in ((2, 160), (3, 80), (4, 40), (5, 20), (6, 10))]
    return _retinaface_graph(layers).workload("codl_retinaface", tuple(layers))


def _retinaface_graph(layers: list[Layer]) -> GraphBuilder:
    """The edges of :func:`codl_retinaface` (module docstring)."""
    by = {layer.name: layer for layer in layers}
    net = _Net()
    net.chain((by["stem"], by["pool1"]))
    for block, units in ((1, 3), (2, 4), (3, 6), (4, 3)):
        for u in range(1, units + 1):
            x, p = net.g.last, f"b{block}u{u}"
            shortcut = net.add(by[f"{p}_shortcut"], x) if u == 1 else x
            net.add(by[f"{p}_conv1"], x)
            net.chain((by[f"{p}_conv2"], by[f"{p}_conv3"]))
            if u == units and f"b{block}_subsample" in by:
                shortcut = net.add(by[f"b{block}_subsample"], x)
            conv3 = by[f"{p}_conv3"]
            net.add(add(f"{p}_add", conv3.K, conv3.P), f"{p}_conv3", shortcut)
    level = {5: net.add(by["fpn_p5_lateral"], "b4u3_add")}
    for lv, feature in ((4, "b2u4_add"), (3, "b1u3_add"), (2, "b1u2_add")):
        top = by[f"fpn_p{lv}_conv"]
        net.add(upsample(f"fpn_p{lv}_up", 256, net.out[level[lv + 1]][0]), level[lv + 1])
        net.add(top)
        net.add(by[f"fpn_p{lv}_lateral"], feature)
        level[lv] = net.add(add(f"fpn_p{lv}_add", 256, top.P), f"fpn_p{lv}_conv", f"fpn_p{lv}_lateral")

    def heads(lv: int) -> None:
        h = f"head_p{lv}"
        for i in (1, 2, 3):
            net.add(by[f"{h}_{i}"], level[lv])
        net.add(by[f"{h}_4"], f"{h}_1", f"{h}_2", f"{h}_3")
        net.add(by[f"{h}_5"])

    for lv in (2, 3, 4, 5):
        heads(lv)
    level[6] = net.add(by["p6_down"], level[5])
    heads(6)
    for lv in (2, 3, 4, 5, 6):
        net.add(by[f"head_p{lv}_6"], f"head_p{lv}_4")
    return net.g


NETWORKS = {
    "codl_retinaface": codl_retinaface,
    "codl_yolov2": codl_yolov2,
    "codl_vgg16": codl_vgg16,
    "codl_posenet": codl_posenet,
    "codl_fast_style_transfer": codl_fast_style_transfer,
}
