"""Transformer nodes as a workload graph (workloads.graph, the fusion work's representation)."""

from __future__ import annotations

from dataclasses import astuple

from accelsim.attention.transformer import network, preset, to_graph
from workloads.layer import LayerKind


def _shape(layer):
    return astuple(layer)[1:]          # everything but the name


def test_bert_base_graph_has_the_zoos_mac_layers_and_every_non_mac_node():
    from workloads.zoo import get

    g = to_graph(network(preset("bert_base")))
    assert [_shape(x) for x in g.mac_layers()] == [_shape(x) for x in get("bert_base").layers]
    kinds = [n.kind for n in g.nodes]
    per_layer = {LayerKind.SOFTMAX: 1, LayerKind.ELTWISE: 2, LayerKind.LAYERNORM: 2, LayerKind.ACTIVATION: 1}
    for kind, n in per_layer.items():
        assert kinds.count(kind) == 12 * n
    # the scores GEMM takes both operands from producers (Q and K), the context GEMM the softmax and V
    assert g.producers("l1_attn_scores") == ("l1_q", "l1_k")
    assert g.producers("l1_attn") == ("l1_attn_softmax", "l1_v")
    assert g.producers("l2_q") == ("l1_ln2",)
    assert g.producers("l1_res2") == ("l1_ffn2", "l1_ln1")          # post-norm: the residual is the first norm


def test_decode_graph_reads_the_kv_cache_from_outside():
    g = to_graph(network(preset("gpt2", mode="decode", cache=1024, batch=2)))
    assert g.producers("l1_attn_scores") == ("l1_q",)
    assert g.producers("l1_attn") == ("l1_attn_softmax",)
    assert g.consumers("l1_k") == () and g.consumers("l1_v") == ()
    assert g.producers("l1_res1") == ("l1_proj",)                    # pre-norm: block 1's input is the network's
    assert g.producers("l2_ln1") == ("l1_res2",)


def test_onnx_import_gives_the_same_graph(tmp_path):
    from accelsim.attention.onnx_import import nodes_from_onnx
    from accelsim.attention.transformer import TransformerSpec, block
    from tests.test_attention_transformer import _bert_like_onnx

    imported = to_graph(nodes_from_onnx(_bert_like_onnx(tmp_path / "m.onnx")))
    built = to_graph(block(TransformerSpec("m", layers=1, width=16, heads=2, head_size=8, ffn=32, seq=8)))
    assert [_shape(n) for n in imported.nodes] == [_shape(n) for n in built.nodes]
    pos_i = {n.name: i for i, n in enumerate(imported.nodes)}
    pos_b = {n.name: i for i, n in enumerate(built.nodes)}
    assert sorted((pos_i[a], pos_i[b]) for a, b in imported.edges()) == \
        sorted((pos_b[a], pos_b[b]) for a, b in built.edges())


def test_layernorm_and_softmax_nodes_count_their_vector_ops(tmp_path):
    from workloads.yaml_file import load_yaml_workload

    path = tmp_path / "net.yaml"
    path.write_text("name: t\nlayers:\n"
                    "  - {name: fc, kind: fc, C: 16, K: 16}\n"
                    "  - {name: ln, kind: layernorm, C: 16, H: 8, W: 1}\n"
                    "  - {name: sm, kind: softmax, C: 16, H: 8, W: 1}\n")
    layers = {x.name: x for x in load_yaml_workload(str(path)).layers}
    assert layers["ln"].vector_ops == 3 * 16 * 8          # mean, var, normalize per element
    assert layers["sm"].vector_ops == 4 * 16 * 8          # max, exp, sum, divide per element


def test_the_two_onnx_views_read_the_same_model(tmp_path):
    """One reader (workloads.onnx_file.read_onnx, one op table): the layer view (load_onnx) and the
    transformer view (nodes_from_onnx) of a BERT-like export give the same MAC layers, and the layer
    view now keeps the layer norms and the GELU as graph nodes."""
    import warnings

    from accelsim.attention.onnx_import import nodes_from_onnx
    from tests.test_attention_transformer import _bert_like_onnx
    from workloads.onnx_file import OPS, load_onnx

    path = _bert_like_onnx(tmp_path / "m.onnx")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer_view = load_onnx(path)
    transformer_view = to_graph(nodes_from_onnx(path))
    assert [_shape(x) for x in layer_view.graph.mac_layers()] == [_shape(x) for x in transformer_view.mac_layers()]
    kinds = [n.kind for n in layer_view.graph.nodes]
    assert kinds.count(LayerKind.LAYERNORM) == 2 and kinds.count(LayerKind.ACTIVATION) == 1
    assert kinds.count(LayerKind.SOFTMAX) == 1
    # what the layer view skips is exactly the ops without a layer mapper (layout and the score scale)
    skipped = " ".join(str(c.message) for c in caught if "skipped" in str(c.message))
    for op in ("Reshape", "Transpose", "Mul"):
        assert op in skipped and OPS[op].layer is None and OPS[op].transformer is not None
