"""Workload graphs (workloads/graph.py): zoo edges, the YAML ``inputs:`` key, ONNX edges, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from accelsim.errors import ConfigError
from workloads import zoo
from workloads.graph import Graph
from workloads.layer import Layer, LayerKind
from workloads.loader import load_workload

DATA = Path(__file__).parent / "data" / "workloads"


def test_zoo_graphs_hold_the_mac_layers_in_order_and_their_shortcuts():
    for name in ("resnet18", "resnet50", "mobilenet_v2", "vgg16", "yolov2", "googlenet", "shufflenet_1x_g3",
                 "alexnet", "mobilenet_v1"):
        w = zoo.get(name)
        assert w.graph is not None and w.graph.mac_layers() == w.layers, name
    r18 = zoo.get("resnet18").graph
    # identity shortcut from the max-pool, projection shortcut where the stage downsamples
    assert r18.producers("conv2_1_add") == ("conv2_1b", "pool1")
    assert r18.producers("conv3_1_add") == ("conv3_1b", "conv3_1_proj")
    assert r18.producers("conv3_1_proj") == ("conv2_2_add",)
    assert sum(n.kind is LayerKind.ELTWISE for n in r18.nodes) == 8          # 2 blocks x 4 stages
    assert r18.consumers("conv2_2_add") == ("conv3_1a", "conv3_1_proj")
    # MobileNet v2: 10 inverted residuals (stride 1 and same width), Sandler et al. Table 2
    assert sum(n.kind is LayerKind.ELTWISE for n in zoo.get("mobilenet_v2").graph.nodes) == 10
    # YOLOv2 passthrough: conv28 reads conv16 (26x26x512) and conv24 (13x13x1024)
    assert zoo.get("yolov2").graph.producers("conv28") == ("conv16", "conv24")
    # Inception concatenation: every branch of 3b reads the four outputs of 3a
    g = zoo.get("googlenet").graph
    four = ("inception_3a_1x1", "inception_3a_3x3", "inception_3a_5x5", "inception_3a_pool_proj")
    assert g.producers("inception_3b_1x1") == four and g.producers("inception_3b_pool") == four
    assert g.producers("pool4") == tuple(f.replace("3a", "3b") for f in four)
    # ShuffleNet: stride-2 unit = avg-pool shortcut concatenated with the branch; stride 1 = add
    s = zoo.get("shufflenet_1x_g3").graph
    assert s.producers("stage2_2_gconv1") == ("stage2_1_shortcut", "stage2_1_gconv2")
    assert s.producers("stage2_2_add") == ("stage2_2_gconv2", "stage2_1_shortcut", "stage2_1_gconv2")


def test_graph_checks_sizes_of_every_edge():
    a = Layer("a", C=3, K=8, H=8, W=8, R=3, S=3, pad_h=1, pad_w=1)                       # 8x8x8
    p = Layer("p", kind=LayerKind.POOL, C=8, K=8, H=8, W=8, R=2, S=2, stride_h=2, stride_w=2)   # 8x4x4
    wrong = Layer("b", C=8, K=4, H=8, W=8, R=1)                                      # reads 8x8x8, not 8x4x4
    with pytest.raises(ConfigError, match=r"nodes\[2\] \(b\).inputs: producers \['p'\] output 128 = 128 "
                                          r"elements; this conv reads 512"):
        Graph((a, p, wrong), ((), ("a",), ("p",)))
    with pytest.raises(ConfigError, match=r"'b' is not an earlier node"):
        Graph((a, wrong), (("b",), ("a",)))
    add = Layer("s", kind=LayerKind.ELTWISE, C=8, K=8, H=8, W=8, operands=2)
    with pytest.raises(ConfigError, match="an add of 2 operands takes 1..2 operands of 512"):
        Graph((a, p, add), ((), ("a",), ("a", "p")))
    g = Graph((a, p, add), ((), ("a",), ("a",)))     # the second operand from outside the network
    assert g.edges() == (("a", "p"), ("a", "s"))
    assert g.with_batch(4).node("s").N == 4


def test_vector_ops_per_element():
    # a 2x2/2 pool on 8x8x8: 8*4*4 outputs, 4 taps each; an add of 2 operands: 512 outputs x 2
    p = Layer("p", kind=LayerKind.POOL, C=8, K=8, H=8, W=8, R=2, S=2, stride_h=2, stride_w=2)
    assert (p.vector_ops, p.macs) == (8 * 4 * 4 * 4, 0)
    assert Layer("s", kind=LayerKind.ELTWISE, C=8, K=8, H=8, W=8, operands=2).vector_ops == 1024
    assert Layer("c", C=3, K=8, H=8, W=8, R=3, S=3).vector_ops == 0


def test_yaml_inputs_make_the_graph():
    w = load_workload(str(DATA / "residual_block.yaml"))
    g = w.graph
    assert [n.name for n in w.layers] == ["stem", "pool", "a", "relu_a", "b", "sum", "cat"]   # as before
    assert g.producers("stem") == () and g.producers("a") == ("pool",)
    assert g.producers("b") == ("relu_a",) and g.producers("sum") == ("b", "pool")
    assert g.producers("cat") == ("sum", "a") and g.consumers("pool") == ("a", "sum")
    assert load_workload(str(DATA / "three_layers.yaml")).graph is None     # no inputs: no graph
    assert w.with_batch(2).graph.node("sum").N == 2


@pytest.mark.parametrize("edit, message", [
    ("inputs: [b, pool]", "layers[5] (sum).inputs: 'nope' is not a layer of this workload"),
    ("inputs: [sum, a]", "layers[6] (cat).inputs: 'later' is a later layer"),
])
def test_yaml_bad_inputs_one_line(tmp_path, edit, message):
    text = (DATA / "residual_block.yaml").read_text()
    bad = {"inputs: [b, pool]": "inputs: [b, nope]", "inputs: [sum, a]": "inputs: [sum, later]"}[edit]
    text = text.replace(edit, bad)
    if "later" in bad:
        text += "  - {name: later, kind: activation, C: 4, H: 8}\n"
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_workload(str(path))


def test_yaml_size_mismatch_exits_2_with_one_line(tmp_path):
    path = tmp_path / "mismatch.yaml"
    path.write_text((DATA / "residual_block.yaml").read_text().replace("inputs: [sum, a]", "inputs: [sum]"))
    proc = subprocess.run([sys.executable, "-m", "accelsim", "run", "--workload", str(path), "--no-sim", "-q"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "mismatch.yaml: layers[6] (cat).inputs: producers ['sum'] output 512" in lines[0]
    assert "this conv reads 1024" in lines[0]


def test_onnx_import_keeps_edges(tmp_path):
    from tests.test_workload_import import _build_onnx, _import

    path = tmp_path / "small.onnx"
    _build_onnx(path)
    w, messages = _import(path)
    g = w.graph
    assert g.producers("relu1") == ("conv1",) and g.producers("dw") == ("relu1",)
    assert g.producers("add") == ("dw", "pw")
    assert g.producers("fc") == ("gap",)            # through the skipped Flatten (same elements)
    assert g.producers("asym") == ()                # Resize changes the element count: the edge ends
    assert g.producers("bmm") == ()                 # two graph inputs
    # asym's rounded pad makes it 16x3x3, not the model's 16x4x4: the edge into gap is dropped, said so
    assert g.producers("gap") == ()
    assert any("edges into gap" in m and "144" in m for m in messages)


# md5 of repr(Workload.layers) printed by main at e9742db, before the zoo carried graphs: the MAC
# layer lists (and so every per-layer table of a run) are unchanged by building them as graphs
_BEFORE_GRAPHS = {
    "alexnet": "759bbaeef6", "alexnet_ungrouped": "570238cc4b", "googlenet": "2c0daa934c",
    "googlenet_train": "cd007ed36e", "mobilenet_v1": "73275bde9e", "mobilenet_v2": "d561379dc4",
    "resnet18": "c0521c6d33", "resnet50": "7b76d02aa9", "shufflenet_0.5x_g3": "82e32cc8b2",
    "shufflenet_0.5x_g8": "71f1943962", "shufflenet_1x_g3": "2144513d7b", "shufflenet_1x_g8": "8bf5f0212b",
    "vgg16": "72b1a421c4", "yolov2": "4cead8c641",
}


@pytest.mark.parametrize("name", sorted(_BEFORE_GRAPHS))
def test_zoo_mac_layers_unchanged_by_graphs(name):
    import hashlib

    assert hashlib.md5(repr(zoo.get(name).layers).encode()).hexdigest()[:10] == _BEFORE_GRAPHS[name]
