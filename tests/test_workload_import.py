"""Workload importers: YAML workload files, SCALE-Sim topology CSVs and ONNX models.

Good inputs are checked against MACs computed by hand in the test; bad inputs must raise one
ConfigError whose single line names the file, the layer/key and what is allowed.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

from accelsim.errors import ConfigError
from workloads.layer import LayerKind
from workloads.loader import load_workload
from workloads.scalesim_csv import load_topology_csv
from workloads.yaml_file import load_yaml_workload

DATA = Path(__file__).parent / "data" / "workloads"
CSV_HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"


# ---- good inputs -----------------------------------------------------------------------------------

def test_yaml_round_trip_hand_macs():
    w = load_yaml_workload(DATA / "three_layers.yaml")
    assert w.name == "three_layers"
    conv1, dw2, head = w.layers
    # conv1: 32x32 in, 5x5, pad 2, stride 1 -> 32x32 out; 16 filters of 3x5x5
    assert (conv1.kind, conv1.P, conv1.Q) == (LayerKind.CONV, 32, 32)
    assert conv1.macs == 32 * 32 * 16 * 3 * 5 * 5 == 1_228_800
    # dw2: (32 + 2 - 3) // 2 + 1 = 16; one 3x3 filter per channel
    assert (dw2.kind, dw2.groups, dw2.K, dw2.P, dw2.Q) == (LayerKind.DEPTHWISE, 16, 16, 16, 16)
    assert dw2.macs == 16 * 16 * 16 * 3 * 3 == 36_864
    # head: (64 x 256) @ (256 x 10)
    assert head.kind is LayerKind.GEMM and head.macs == 64 * 10 * 256 == 163_840
    assert w.macs == 1_228_800 + 36_864 + 163_840


def test_yaml_defaults_and_pairs(tmp_path):
    f = tmp_path / "pairs.yaml"
    f.write_text("layers:\n"
                 "  - {name: c, kind: conv, C: 4, K: 8, H: 10, W: 12, R: 3, S: 5, stride: [1, 2], padding: [1, 2],"
                 " groups: 2, N: 2}\n"
                 "  - {name: fc6, kind: fc, C: 256, K: 4096, H: 6}\n"
                 "  - {name: pool, kind: pool, C: 8, H: 10, W: 6, R: 2, stride: 2}\n"
                 "  - {name: add, kind: eltwise, C: 8, H: 5, W: 3}\n")
    c, fc6, pool, add = load_yaml_workload(f).layers
    assert load_yaml_workload(f).name == "pairs"                 # defaults to the file stem
    # P = (10 + 2 - 3)//1 + 1 = 10, Q = (12 + 4 - 5)//2 + 1 = 6; per group 4 filters of 2x3x5; batch 2
    assert (c.P, c.Q, c.groups, c.N) == (10, 6, 2, 2)
    assert c.macs == 2 * 10 * 6 * 8 * (4 // 2) * 3 * 5 == 28_800
    assert fc6.macs == 4096 * 256 * 6 * 6 == 37_748_736 and (fc6.P, fc6.Q) == (1, 1)
    assert (pool.macs, pool.P, pool.Q, pool.S) == (0, 5, 3, 2)   # S defaults to R, W given
    assert (add.operands, add.ifmap_elems) == (2, 2 * 8 * 5 * 3)


def test_csv_round_trip_hand_macs():
    w = load_topology_csv(DATA / "topology.csv")
    assert w.name == "topology"
    conv1, dp, conv3, fc = w.layers
    assert (conv1.pad_h, conv1.P) == (0, 224)                     # IFMAP already padded
    assert conv1.macs == 224 * 224 * 64 * 3 * 9 == 86_704_128
    assert (dp.kind, dp.groups, dp.K) == (LayerKind.DEPTHWISE, 32, 32)   # "DP" in the name: depthwise
    assert dp.macs == 112 * 112 * 32 * 9 == 3_612_672
    assert conv3.P == (57 - 3) // 2 + 1 == 28 and conv3.macs == 28 * 28 * 64 * 32 * 9 == 14_450_688
    assert (fc.P, fc.macs) == (1, 1000 * 512 * 7 * 7)
    assert w.macs == 86_704_128 + 3_612_672 + 14_450_688 + 25_088_000


def test_csv_with_and_without_trailing_commas_are_identical():
    a = load_topology_csv(DATA / "topology.csv")
    b = load_topology_csv(DATA / "topology_no_trailing_comma.csv")
    assert a.layers == b.layers


def test_csv_gemm_topology():
    w = load_topology_csv(DATA / "gemm_topology.csv")
    qk, ffn = w.layers
    assert qk.kind is LayerKind.GEMM and qk.macs == 128 * 128 * 64
    assert ffn.macs == 128 * 3072 * 768 and ffn.P == 128 and ffn.K == 3072


def test_csv_v2_per_axis_strides(tmp_path):
    f = tmp_path / "v2.csv"
    f.write_text("Layer name,IFMAP height,IFMAP width,Filter height,Filter width,Channels,Num filter,"
                 "Stride height,Stride width,\nc1,9,20,3,4,2,5,2,4,\n")
    (c1,) = load_topology_csv(f).layers
    assert (c1.P, c1.Q) == ((9 - 3) // 2 + 1, (20 - 4) // 4 + 1) == (4, 5)
    assert c1.macs == 4 * 5 * 5 * 2 * 3 * 4


def test_csv_byte_order_mark_is_ignored(tmp_path):
    f = tmp_path / "bom.csv"
    f.write_text("\ufeff" + CSV_HEADER + "c1, 5, 5, 3, 3, 2, 4, 1,\n", encoding="utf-8")
    assert load_topology_csv(f).macs == 3 * 3 * 4 * 2 * 3 * 3


def test_loader_dispatches_by_suffix_and_applies_batch():
    assert load_workload(str(DATA / "three_layers.yaml"), batch=4).macs == 4 * 1_429_504
    assert load_workload(str(DATA / "topology.csv")).macs == 129_855_488


# ---- bad inputs ------------------------------------------------------------------------------------

GOOD_CONV = "{name: c1, kind: conv, C: 3, K: 8, H: 8, R: 3}"

BAD_YAML = {
    "unknown_kind": ("layers:\n  - {name: c1, kind: convolution, C: 3, K: 8, H: 8, R: 3}\n",
                     ["layers[0] (c1).kind", "'convolution'", "allowed:", "depthwise"]),
    "missing_C": ("layers:\n  - {name: c1, kind: conv, K: 8, H: 8, R: 3}\n",
                  ["layers[0] (c1).C", "missing required key"]),
    "negative_stride": ("layers:\n  - {name: c1, kind: conv, C: 3, K: 8, H: 8, R: 3, stride: -2}\n",
                        ["layers[0] (c1).stride", "-2", "must be >= 1"]),
    "filter_larger_than_padded_input": (
        "layers:\n  - {name: c1, kind: conv, C: 3, K: 8, H: 5, R: 7, padding: 0}\n",
        ["layers[0] (c1).R", "R=7", "larger than the padded input", "must be <= 5"]),
    "groups_not_dividing_C": ("layers:\n  - {name: c1, kind: conv, C: 6, K: 8, H: 8, R: 3, groups: 4}\n",
                              ["layers[0] (c1).groups", "value 4", "must divide C=6 and K=8"]),
    "depthwise_K_not_C": ("layers:\n  - {name: d, kind: depthwise, C: 32, K: 64, H: 8, R: 3}\n",
                          ["layers[0] (d).K", "value 64", "must equal C=32"]),
    "unknown_key_hint": ("layers:\n  - {name: c1, kind: conv, C: 3, K: 8, H: 8, R: 3, strid: 2}\n",
                         ["layers[0] (c1).strid", "unknown key", "did you mean 'stride'", "allowed here:"]),
    "duplicate_names": (f"layers:\n  - {GOOD_CONV}\n  - {GOOD_CONV}\n",
                        ["layers[1] (c1).name", "duplicate layer name 'c1'", "first at layers[0]", "unique"]),
    "empty_file": ("", ["file is empty"]),
    "yaml_syntax_error": ("layers:\n  - {name: c1, kind: conv\n  - oops: [\n", ["YAML syntax error", "line"]),
    "no_layers": ("layers: []\n", ["layers", "at least 1 item"]),
    "bad_version": (f"version: 2\nlayers:\n  - {GOOD_CONV}\n", ["version", "unsupported version 2", "allowed: 1"]),
    "stride_triple": ("layers:\n  - {name: c1, kind: conv, C: 3, K: 8, H: 8, R: 3, stride: [1, 2, 3]}\n",
                      ["layers[0] (c1).stride", "[1, 2, 3]", "[h, w] pair"]),
    "padding_not_below_filter": ("layers:\n  - {name: c1, kind: conv, C: 3, K: 8, H: 8, R: 3, padding: 3}\n",
                                 ["layers[0] (c1).padding", "value 3", "smaller than the filter extent 3"]),
    "non_integer_C": ("layers:\n  - {name: c1, kind: conv, C: three, K: 8, H: 8, R: 3}\n",
                      ["layers[0] (c1).C", "expected an integer", "'three'"]),
    "top_level_list": (f"- {GOOD_CONV}\n", ["expected a mapping"]),
    "gemm_conv_key": ("layers:\n  - {name: g, kind: gemm, m: 4, n: 4, k: 4, R: 3}\n",
                      ["layers[0] (g).R", "unknown key", "allowed here:", "m, n"]),
    "unknown_top_key": (f"layer:\n  - {GOOD_CONV}\n", ["layer", "did you mean 'layers'"]),
}


@pytest.mark.parametrize("case", sorted(BAD_YAML))
def test_bad_yaml_workloads(tmp_path, case):
    text, fragments = BAD_YAML[case]
    f = tmp_path / f"{case}.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_yaml_workload(f)
    message = str(info.value)
    assert "\n" not in message
    for fragment in [f.name, *fragments]:
        assert fragment in message, f"{fragment!r} not in {message!r}"


BAD_CSV = {
    "non_integer_field": (CSV_HEADER + "Conv1, 224, 224, 3, 3, 3x, 64, 1,\n",
                          ["line 2 (layer 'Conv1')", "column 'Channels'", "expected a positive integer", "'3x'"]),
    "decimal_field": (CSV_HEADER + "Conv1, 224, 224, 3, 3, 3, 64, 1.5,\n",
                      ["column 'Strides'", "positive integer", "'1.5'"]),
    "missing_column_in_header": (
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Num Filter, Strides,\n"
        "Conv1, 224, 224, 3, 3, 64, 1,\n",
        ["line 1", "missing column(s) Channels", "expected 'Layer name, IFMAP Height"]),
    "missing_field_in_row": (CSV_HEADER + "Conv1, 224, 224, 3, 3, 3, 64,\n",
                             ["line 2 (layer 'Conv1')", "expected 8 fields", "got 7"]),
    "zero": (CSV_HEADER + "Conv1, 224, 224, 3, 3, 0, 64, 1,\n", ["column 'Channels'", "value 0", "must be >= 1"]),
    "negative": (CSV_HEADER + "Conv1, 224, 224, 3, 3, 3, 64, -1,\n", ["column 'Strides'", "value -1", ">= 1"]),
    "filter_larger_than_ifmap": (CSV_HEADER + "Conv1, 2, 224, 3, 3, 3, 64, 1,\n",
                                 ["column 'Filter Height'", "value 3", "larger than IFMAP Height 2", "must be <= 2"]),
    "empty_file": ("", ["file is empty"]),
    "header_only": (CSV_HEADER, ["no layers", "only a header"]),
    "duplicate_names": (CSV_HEADER + "C1, 8, 8, 3, 3, 3, 4, 1,\nC1, 8, 8, 3, 3, 3, 4, 1,\n",
                        ["line 3 (layer 'C1')", "duplicate layer name 'C1'", "first on line 2"]),
    "unknown_header": ("name, h, w\nC1, 8, 8\n", ["line 1", "unrecognised header 'name, h, w'", "Layer, M, N, K"]),
    "gemm_missing_column": ("Layer, M, N,\nG, 4, 4,\n", ["line 1", "missing column(s) K"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_bad_csv_topologies(tmp_path, case):
    text, fragments = BAD_CSV[case]
    f = tmp_path / f"{case}.csv"
    f.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_topology_csv(f)
    message = str(info.value)
    assert "\n" not in message
    for fragment in [f.name, *fragments]:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_loader_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_workload(str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="unknown workload 'vgg17'.*vgg16"):
        load_workload("vgg17")
    with pytest.raises(ConfigError, match="batch must be a positive integer"):
        load_workload("vgg16", batch=0)
    # a zoo name with a dot is not mistaken for a file suffix; 37,589,856 per image (test_zoo)
    assert load_workload("shufflenet_0.5x_g3", batch=2).macs == 2 * 37_589_856


# ---- ONNX --------------------------------------------------------------------------------------------

def _build_onnx(path: Path, symbolic_batch: bool = False, extra_nodes: tuple = ()) -> None:
    """A small model built with onnx.helper (no downloads). Shapes in comments are the model's."""
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    def const(name, *shape):
        return numpy_helper.from_array(np.zeros(shape, dtype=np.float32), name)

    inits = [const("w1", 8, 3, 3, 3), const("w_dw", 8, 1, 3, 3), const("w_pw", 8, 8, 1, 1),
             const("w_asym", 16, 8, 3, 3), const("w_fc", 10, 16), const("b_fc", 10), const("w_mm", 10, 5),
             numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales")]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),      # 1x8x16x16
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w_dw"], ["dw"], name="dw", group=8, strides=[2, 2],
                         pads=[1, 1, 1, 1]),                                                  # 1x8x8x8
        helper.make_node("Conv", ["dw", "w_pw"], ["pw"], name="pw"),                          # 1x8x8x8
        helper.make_node("Add", ["dw", "pw"], ["sum"], name="add"),
        helper.make_node("MaxPool", ["sum"], ["mp"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),  # 4x4
        helper.make_node("Resize", ["mp", "", "scales"], ["up"], name="resize", mode="nearest"),         # 8x8
        helper.make_node("Conv", ["up", "w_asym"], ["ca"], name="asym", strides=[2, 2],
                         pads=[0, 0, 1, 1]),                                                  # 1x16x4x4
        helper.make_node("GlobalAveragePool", ["ca"], ["gap"], name="gap"),                   # 1x16x1x1
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),                       # 1x16
        helper.make_node("Gemm", ["flat", "w_fc", "b_fc"], ["fc"], name="fc", transB=1),      # 1x10
        helper.make_node("MatMul", ["fc", "w_mm"], ["mm"], name="mm"),                        # 1x5
        helper.make_node("Softmax", ["mm"], ["prob"], name="softmax"),
        helper.make_node("MatMul", ["q", "k"], ["att"], name="bmm"),                          # 2x4x3
        helper.make_node("MyCustomOp", ["att"], ["custom"], name="custom", domain="com.example"),
        *extra_nodes,
    ]
    batch = "N" if symbolic_batch else 1
    graph = helper.make_graph(
        nodes, "test_net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 16, 16]),
         helper.make_tensor_value_info("q", TensorProto.FLOAT, [2, 4, 6]),
         helper.make_tensor_value_info("k", TensorProto.FLOAT, [2, 6, 3])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("custom", TensorProto.FLOAT, None),
         *[helper.make_tensor_value_info(n.output[0], TensorProto.FLOAT, None) for n in extra_nodes]],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("com.example", 1)])
    onnx.save(model, str(path))


def _import(path: Path):
    from workloads.onnx_file import load_onnx

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        w = load_onnx(path)
    return w, [str(c.message) for c in caught]


def test_onnx_small_net_shapes_macs_and_warnings(tmp_path):
    path = tmp_path / "small.onnx"
    _build_onnx(path)
    w, messages = _import(path)
    by = {l.name: l for l in w.layers}
    assert list(by) == ["conv1", "relu1", "dw", "pw", "add", "pool", "asym", "gap", "fc", "mm", "softmax", "bmm"]
    # conv1: 16x16 out (pad 1), 8 filters of 3x3x3
    assert (by["conv1"].P, by["conv1"].macs) == (16, 16 * 16 * 8 * 3 * 9)
    # dw: group 8 == C == K -> depthwise; (16 + 2 - 3)//2 + 1 = 8
    assert (by["dw"].kind, by["dw"].groups, by["dw"].P) == (LayerKind.DEPTHWISE, 8, 8)
    assert by["dw"].macs == 8 * 8 * 8 * 9
    assert by["pw"].macs == 8 * 8 * 8 * 8
    assert (by["add"].kind, by["add"].operands, by["add"].C, by["add"].H) == (LayerKind.ELTWISE, 2, 8, 8)
    assert (by["relu1"].kind, by["softmax"].kind) == (LayerKind.ACTIVATION, LayerKind.SOFTMAX)
    assert (by["pool"].kind, by["pool"].P, by["pool"].R) == (LayerKind.POOL, 4, 2)
    # asym pads [0, 0, 1, 1]: the begin pad (0) is used: (8 - 3)//2 + 1 = 3, not the model's 4
    assert (by["asym"].pad_h, by["asym"].P) == (0, 3) and by["asym"].macs == 3 * 3 * 16 * 8 * 9
    assert (by["gap"].R, by["gap"].S, by["gap"].P) == (4, 4, 1)        # over the model's 4x4 map
    # Gemm with weights 10x16 (transB): fc 16 -> 10
    assert (by["fc"].kind, by["fc"].C, by["fc"].K, by["fc"].macs) == (LayerKind.FC, 16, 10, 160)
    assert (by["mm"].kind, by["mm"].macs) == (LayerKind.GEMM, 1 * 10 * 5)
    # batched MatMul [2, 4, 6] @ [2, 6, 3]: 2 groups of (4 x 6) @ (6 x 3)
    assert (by["bmm"].groups, by["bmm"].P, by["bmm"].Cg, by["bmm"].Kg) == (2, 4, 6, 3)
    assert by["bmm"].macs == 2 * 4 * 6 * 3
    assert w.macs == 16 * 16 * 8 * 27 + 8 * 8 * 8 * 9 + 8 * 8 * 64 + 9 * 16 * 72 + 160 + 50 + 144
    skipped = [m for m in messages if "skipped" in m]
    assert len(skipped) == 1
    assert "small.onnx" in skipped[0] and "skipped 3 ONNX node(s)" in skipped[0]
    for op in ("Flatten x1", "MyCustomOp x1", "Resize x1"):
        assert op in skipped[0]
    assert any("asymmetric pads" in m and "asym" in m for m in messages)


def test_onnx_symbolic_batch_is_one(tmp_path):
    path = tmp_path / "dyn.onnx"
    _build_onnx(path, symbolic_batch=True)
    w, _ = _import(path)
    assert w.layers[0].N == 1 and w.layers[0].macs == 16 * 16 * 8 * 3 * 9


def test_onnx_unknown_shape_is_a_config_error(tmp_path):
    from onnx import helper

    path = tmp_path / "opaque.onnx"
    _build_onnx(path, extra_nodes=(helper.make_node("Relu", ["custom"], ["after"], name="after_custom"),))
    from workloads.onnx_file import load_onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ConfigError) as info:
            load_onnx(path)
    message = str(info.value)
    for fragment in ("opaque.onnx", "node[15] (after_custom, Relu)", "'after'", "unknown or not static"):
        assert fragment in message


def test_onnx_garbage_file(tmp_path):
    pytest.importorskip("onnx")
    from workloads.onnx_file import load_onnx

    path = tmp_path / "junk.onnx"
    path.write_bytes(b"this is not a protobuf \xff\xfe")
    with pytest.raises(ConfigError, match=r"junk\.onnx.*not a readable ONNX model"):
        load_onnx(path)


def test_onnx_not_installed_names_the_extra(tmp_path, monkeypatch):
    from workloads.onnx_file import load_onnx

    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    with pytest.raises(ConfigError, match=r"model\.onnx.*pip install accelsim\[onnx\]"):
        load_onnx(tmp_path / "model.onnx")
