"""Every zoo network carries a connected graph whose MAC nodes hold the layer list's MACs (issue 17,
item 1), and the graphs of the nine networks built last keep their layer lists unchanged and have
the edges of their published architectures (named concatenations, branches, residual adds)."""

from __future__ import annotations

import hashlib

import pytest

from accelsim.errors import ConfigError
from workloads import zoo
from workloads.graph import Graph
from workloads.layer import Layer, LayerKind, conv

# MAC nodes a graph holds beyond the layer list: CoDL's conv list leaves out Fast Style Transfer's two
# transposed convs (workloads/zoo/codl.py), which connect its residual blocks to its last conv.
GRAPH_ONLY = {"codl_fast_style_transfer": ("deconv1", "deconv2")}

# sha256 (first 16 hex digits) of repr(workload.layers) at 45e4279, before these networks had graphs:
# the graphs must not change a layer (shape, order, name), which the CoDL planner relies on.
LAYERS_AT_45E4279 = {
    "codl_fast_style_transfer": "75afc7a59679c6d5", "codl_posenet": "e36e2b9acd3b613f",
    "codl_retinaface": "dd9829ff0d582017", "codl_vgg16": "121cd4cf7ef59935", "codl_yolov2": "53fceb1d8e256312",
    "fast_style_transfer": "3b4155a36e70ab8e", "nin": "9bb663e42e24b9fa", "posenet": "239fc1dfec046a7f",
    "retinaface": "d94c9f9fd2c1832a",
}


def _connected(graph) -> bool:
    """One weakly connected component over the edges (producer -> consumer)."""
    names = [n.name for n in graph.nodes]
    nbrs: dict[str, set] = {n: set() for n in names}
    for a, b in graph.edges():
        nbrs[a].add(b)
        nbrs[b].add(a)
    seen, todo = {names[0]}, [names[0]]
    while todo:
        for m in nbrs[todo.pop()] - seen:
            seen.add(m)
            todo.append(m)
    return len(seen) == len(names)


def _out_channels(layer: Layer) -> int:
    return layer.K if layer.kind.has_macs else layer.C


@pytest.mark.parametrize("name", zoo.names())
def test_zoo_network_has_a_connected_graph_with_its_macs(name):
    w = zoo.get(name)
    assert w.graph is not None
    assert _connected(w.graph)
    extra = sum(w.graph.node(n).macs for n in GRAPH_ONLY.get(name, ()))
    assert sum(n.macs for n in w.graph.nodes if n.kind.has_macs) == w.macs + extra
    assert all(w.graph.node(n).name not in {x.name for x in w.layers} for n in GRAPH_ONLY.get(name, ()))


@pytest.mark.parametrize("name", sorted(LAYERS_AT_45E4279))
def test_new_graphs_keep_the_layers_and_agree_shape_for_shape(name):
    """Stronger than the graph's element counts: every non-FC node's producers have its (pre-padded)
    rows and columns and their channels sum to its input channels (an add: each operand's)."""
    w = zoo.get(name)
    assert hashlib.sha256(repr(tuple(w.layers)).encode()).hexdigest()[:16] == LAYERS_AT_45E4279[name]
    g = w.graph
    for node in g.nodes:
        ins = [g.node(p) for p in g.producers(node.name)]
        if not ins or node.kind is LayerKind.FC:
            continue
        rows, cols = g.padding(node.name)
        assert {(p.P + rows, p.Q + cols) for p in ins} == {(node.H, node.W)}, node.name
        if node.kind is LayerKind.ELTWISE:
            assert {_out_channels(p) for p in ins} == {node.C}, node.name
        else:
            assert sum(_out_channels(p) for p in ins) == node.C, node.name


def _reads(w, node: str) -> tuple[str, ...]:
    return w.graph.producers(node)


def test_retinaface_fpn_and_ssh_edges():
    w = zoo.get("retinaface")
    g = w.graph
    assert _reads(w, "ssh1_relu") == ("ssh1_conv3x3", "ssh1_conv5x5_2", "ssh1_conv7x7_3")
    assert g.node("ssh1_relu").C == 32 + 16 + 16 == 64
    assert _reads(w, "ssh2_conv7x7_2") == ("ssh2_conv5x5_1",)
    assert _reads(w, "fpn_add2") == ("fpn_output2", "fpn_up3")
    assert (g.node("fpn_up3").P, g.node("fpn_up3").H) == (40, 20)
    assert _reads(w, "fpn_merge1") == ("fpn_add1",) and _reads(w, "ssh3_conv3x3") == ("fpn_output3",)
    assert {c for c in g.consumers("ssh3_relu")} == {"class_head3", "bbox_head3", "landmark_head3"}
    assert _reads(w, "fpn_output2") == ("body11_pw",)      # stage 2 ends at 40x40x128


def test_posenet_heads_branch_from_the_body_and_nin_pools():
    w = zoo.get("posenet")
    assert set(w.graph.consumers("conv14_pw")) == {"heatmap", "offset", "displacement_fwd", "displacement_bwd"}
    n = zoo.get("nin").graph
    assert [(x.name, x.P) for x in n.nodes if x.kind is LayerKind.POOL] == \
        [("pool1", 27), ("pool2", 13), ("pool3", 6), ("pool4", 1)]
    assert n.producers("conv2") == ("pool1",) and n.producers("pool4") == ("cccp8_1024",)


def test_style_transfer_residuals_and_upsampling():
    g = zoo.get("fast_style_transfer").graph
    assert g.producers("res1_add") == ("res1_conv2", "conv3")
    assert g.producers("res2_add") == ("res2_conv2", "res1_add")
    assert g.producers("deconv1_up") == ("res5_add",) and g.producers("deconv1") == ("deconv1_up",)
    up = g.node("deconv2_up")
    assert (up.kind, up.C, up.P, up.Q, up.vector_ops) == (LayerKind.UPSAMPLE, 64, 256, 256, 0)


def test_codl_graph_edges():
    y = zoo.get("codl_yolov2").graph
    assert y.producers("conv21") == ("pool5", "conv20") and y.node("conv21").C == 512 + 1024
    assert y.padding("conv21") == (2, 2) and y.padding("conv22") == (0, 0)
    p = zoo.get("codl_posenet").graph
    assert p.producers("stage6_1") == ("conv5_2", "conv4_7") and p.node("stage6_1").C == 21 + 128
    assert p.producers("stage7_1") == ("stage6_7", "conv4_7") and p.padding("stage7_1") == (6, 6)
    r = zoo.get("codl_retinaface").graph
    assert r.producers("head_p2_4") == ("head_p2_1", "head_p2_2", "head_p2_3")
    assert r.node("head_p2_4").C == 128 + 64 + 64
    assert r.producers("b1u3_add") == ("b1u3_conv3", "b1_subsample")
    assert r.producers("b1u1_add") == ("b1u1_conv3", "b1u1_shortcut")
    assert r.producers("b2u2_add") == ("b2u2_conv3", "b2u1_add")
    assert r.producers("fpn_p4_lateral") == ("b2u4_add",) and r.producers("fpn_p2_lateral") == ("b1u2_add",)
    assert r.producers("fpn_p3_add") == ("fpn_p3_conv", "fpn_p3_lateral")
    assert r.producers("p6_down") == ("fpn_p5_lateral",) and r.padding("p6_down") == (1, 1)
    assert r.padding("b1u3_conv2") == (2, 2) and r.padding("stem") == (0, 0)     # 646: the input itself
    f = zoo.get("codl_fast_style_transfer").graph
    assert f.producers("conv4") == ("deconv2",) and f.padding("conv4") == (8, 8)
    assert f.padding("conv2") == (1, 1)          # SAME 3x3/2 on 480x640: one row and column
    v = zoo.get("codl_vgg16").graph
    assert v.producers("conv2_1") == ("pool1",) and v.padding("conv2_1") == (2, 2)


def test_prepad_is_checked():
    a = conv("a", C=2, K=4, H=8, R=3, pad=1)
    b = conv("b", C=4, K=4, H=10, R=3)                 # reads a's 8x8 padded to 10x10
    assert Graph((a, b), ((), ("a",)), (("b", 2, 2),)).padding("b") == (2, 2)
    with pytest.raises(ConfigError, match=r"output 256 = 256 elements; this conv reads 324 .*less its prepad 1x1"):
        Graph((a, b), ((), ("a",)), (("b", 1, 1),))
    with pytest.raises(ConfigError, match="reads 400"):
        Graph((a, b), ((), ("a",)))
    with pytest.raises(ConfigError, match=r"prepad rows: 3 zeros in all; allowed 0\.\.2"):
        Graph((a, b), ((), ("a",)), (("b", 3, 2),))
    with pytest.raises(ConfigError, match="only a conv or depthwise without padding"):
        Graph((a, b), ((), ("a",)), (("a", 2, 2),))
    with pytest.raises(ConfigError, match="'z', not a node"):
        Graph((a, b), ((), ("a",)), (("z", 2, 2),))


def test_upsample_layer_and_yaml(tmp_path):
    up = Layer("u", LayerKind.UPSAMPLE, C=3, K=3, H=5, W=7, stride_h=2, stride_w=3)
    assert (up.P, up.Q, up.output_elems, up.macs) == (10, 21, 630, 0)
    with pytest.raises(ConfigError, match="an upsample takes no window"):
        Layer("u", LayerKind.UPSAMPLE, C=3, K=3, H=5, R=2)
    from workloads.yaml_file import load_yaml_workload

    p = tmp_path / "w.yaml"
    p.write_text("layers:\n  - {name: c, kind: conv, C: 3, K: 4, H: 6, R: 1}\n"
                 "  - {name: u, kind: upsample, C: 4, H: 6, scale: 2}\n"
                 "  - {name: d, kind: conv, C: 4, K: 4, H: 12, R: 3, padding: 1, inputs: [u]}\n")
    w = load_yaml_workload(p)
    assert w.graph.node("u").P == 12 and w.graph.producers("d") == ("u",)
    p.write_text("layers:\n  - {name: u, kind: upsample, C: 4, H: 6}\n")
    with pytest.raises(ConfigError, match=r"scale.*missing required key"):
        load_yaml_workload(p)
