"""Transformer blocks (accelsim.attention.transformer / block), their ONNX import and the CLI path."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from accelsim.attention.block import run_network, run_nodes
from accelsim.attention.cascade import AttentionShape
from accelsim.attention.model import machine
from accelsim.attention.transformer import Node, TransformerSpec, block, macs, network, preset
from accelsim.cli import main
from accelsim.errors import ConfigError
from accelsim.hierarchy import load_architecture
from accelsim.vector_ops import VectorOp


def test_bert_base_macs_equal_the_zoo_gemms_plus_attention():
    from workloads.zoo import get

    spec = preset("bert_base")
    zoo = get("bert_base")
    assert macs(network(spec)) == zoo.macs == 12 * 931_135_488


def test_block_counts_by_hand():
    s = TransformerSpec("t", layers=1, width=16, heads=2, head_size=8, ffn=32, seq=8, batch=2)
    nodes = block(s)
    t = 16                                                     # tokens = batch x seq
    assert macs(nodes) == 4 * t * 16 * 16 + 2 * t * 16 * 32 + 2 * 2 * 8 * 8 * (8 + 8)
    ops = Counter()
    for n in nodes:
        if isinstance(n.work, VectorOp):
            ops[n.work.op] += n.work.ops
    assert ops == {"add": 2 * t * 16, "mean": 2 * t * 16, "var": 2 * t * 16, "normalize": 2 * t * 16,
                   "gelu": t * 32}
    names = [n.name for n in nodes]
    assert all(p in names[:i] for i, n in enumerate(nodes) for p in n.inputs)


def test_decode_attention_shape_and_errors():
    s = preset("gpt2", mode="decode", cache=1024, batch=4)
    assert s.attention() == AttentionShape(4, 12, 1, 1024, 64, 64)
    assert s.tokens == 4
    with pytest.raises(ConfigError, match="decode mode needs a KV cache length"):
        preset("gpt2", mode="decode")
    with pytest.raises(ConfigError, match="heads x head size = 12 x 60 = 720 must equal the width 768"):
        preset("bert_base", head_size=60)


def test_fused_dataflows_move_less_and_finish_sooner():
    h = load_architecture("tpu_like")
    spec = preset("bert_base", seq=1024, layers=1)
    r = {d: run_network(h, spec, d) for d in ("unfused", "flat", "fusemax")}
    attn = {d: next(n for n in r[d].nodes if n.kind.startswith("attention")) for d in r}
    # unfused moves the 12 x 1024 x 1024 scores four times (16-bit words), the fused ones never; in units
    # of a head-sized tensor (12 x 1024 x 64): unfused Q, K, V, O once, FLAT (tpu_like's setting: Q once
    # per 256 keys, K and V once per 256 query rows, O once) 4 + 4 + 4 + 1, FuseMax-style 4
    unit, scores = 12 * 1024 * 64, 12 * 1024 * 1024
    assert attn["unfused"].dram_words == 4 * unit + 4 * scores
    assert attn["flat"].dram_words == 13 * unit
    assert attn["fusemax"].dram_words == 4 * unit
    assert r["fusemax"].cycles < r["flat"].cycles < r["unfused"].cycles
    gemms = [n for n in r["flat"].nodes if n.kind == "gemm"]
    assert gemms == [n for n in r["fusemax"].nodes if n.kind == "gemm"]


def test_cli_runs_named_attention_dataflow(capsys):
    assert main(["run", "tpu_like", "-w", "bert_base", "--dataflow", "flat", "--seq", "256", "--json"]) == 0
    import json

    doc = json.loads(capsys.readouterr().out)
    assert doc["macs"] == macs(network(preset("bert_base", seq=256)))
    assert doc["keys"] == doc["queries"] == 256
    assert doc["ops"]["vector.exp"] == 12 * 12 * 256 * 256          # layers x heads x M x L


def test_cli_shows_the_flat_plan_used_and_its_fallback(capsys):
    """tpu_like asks FLAT for head granularity with only the scores on chip; at L = 4K a head's
    4,096 x 4,096 scores (16,777,216 words) do not fit the 8,388,608-word buffer, so the plan takes
    8,388,608 // 4,096 = 2,048 query rows per tile: the printed run and --json say so."""
    import json

    argv = ["run", "tpu_like", "-w", "bert_base", "--dataflow", "flat", "--seq", "4096", "--heads", "1",
            "--head-size", "64", "--width", "64", "--ffn", "64", "--no-sim"]
    assert main(argv + ["--json"]) == 0
    plan = next(r for r in json.loads(capsys.readouterr().out)["nodes"] if r["node"] == "attn")["plan"]
    assert (plan["granularity"], plan["rows_per_tile"], plan["onchip"]) == ("head", 8_388_608 // 4096, [])
    assert "16,777,216 words on chip, the buffer holds 8,388,608" in plan["fallback"]
    assert main(argv) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("attn plan:"))
    assert "granularity head, 2,048 query rows per tile" in line and "fallback: head granularity" in line
    assert main(argv[:-1] + ["--seq", "1024", "--no-sim", "--json"]) == 0       # 1K: the head fits, no fallback
    plan = next(r for r in json.loads(capsys.readouterr().out)["nodes"] if r["node"] == "attn")["plan"]
    assert (plan["granularity"], plan["rows_per_tile"], plan["fallback"]) == ("head", 1024, "")


def test_cli_shape_flags_build_the_transformer(capsys):
    """--heads, --head-size, --width and --ffn override the preset; MACs by hand: 12 layers x (Q, K, V and the
    output projection 4 x T x D x D, the FFN 2 x T x D x FFN, QK and AV 2 x heads x T x T x head size)."""
    import json

    argv = ["run", "tpu_like", "-w", "bert_base", "--dataflow", "flat", "--seq", "64", "--heads", "16",
            "--head-size", "48", "--ffn", "1024", "--json", "-q"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    t, d = 64, 768
    assert doc["macs"] == 12 * (4 * t * d * d + 2 * t * d * 1024 + 2 * 16 * t * t * 48)


@pytest.mark.parametrize("argv, needle", [
    (["-w", "gpt2", "--dataflow", "fusemax", "--decode"], "decode mode needs a KV cache length"),
    (["-w", "resnet50", "--dataflow", "flat"], "is an attention dataflow: it runs a transformer"),
    (["-w", "bert_base", "--dataflow", "flat", "--head-size", "60"],
     "transformer 'bert_base': heads x head size = 12 x 60 = 720 must equal the width 768"),
    (["-w", "bert_base", "--dataflow", "flat", "--heads", "8", "--head-size", "96", "--width", "512"],
     "heads x head size = 8 x 96 = 768 must equal the width 512"),
    (["-w", "alexnet", "--seq", "128"], "--seq, --decode, --cache-len, --heads, --head-size, --width and --ffn run "
                                        "transformers"),
    (["-w", "alexnet", "--heads", "4"], "run transformers: give --dataflow"),
    (["-w", "gpt2", "--dataflow", "flat", "--cache-len", "10"], "add --decode"),
])
def test_cli_bad_input_is_one_line_exit_2(capsys, argv, needle):
    assert main(["run", "tpu_like"] + argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


# ---- ONNX ------------------------------------------------------------------------------------------

def _bert_like_onnx(path, unsupported: str | None = None, b=1, t=8, d=16, heads=2, ffn=32, bias=False,
                    scale_op="Mul", mask=None):
    """A BERT-like block as an export has it. ``bias``: FFN1's bias Add (a [ffn] constant broadcast over
    the tokens); ``scale_op``: Mul by 1/sqrt(E) or Div by sqrt(E) (HF BERT, GPT-2); ``mask``: None,
    "padding" (HF BERT: Add of the extended mask [b, 1, 1, t], a graph input), "causal_add" (an Add of
    a [1, 1, t, t] causal mask constant), "causal_where" (HF GPT-2: Where(causal [1, 1, t, t], S, min))."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    e = d // heads
    rng = np.random.default_rng(0)
    inits = []

    def w(name, shape):
        inits.append(numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name))
        return name

    def const(name, values):
        inits.append(numpy_helper.from_array(np.array(values, dtype=np.int64), name))
        return name

    nodes = []
    const("split_shape", [b, t, heads, e])
    const("merge_shape", [b, t, d])
    for p in ("q", "k", "v"):
        nodes.append(helper.make_node("MatMul", ["x", w(f"w{p}", (d, d))], [p], name=f"{p}_proj"))
        nodes.append(helper.make_node("Reshape", [p, "split_shape"], [f"{p}_4d"], name=f"{p}_reshape"))
        perm = [0, 2, 3, 1] if p == "k" else [0, 2, 1, 3]
        nodes.append(helper.make_node("Transpose", [f"{p}_4d"], [f"{p}_h"], perm=perm, name=f"{p}_transpose"))
    scale = np.sqrt(e) if scale_op == "Div" else 1 / np.sqrt(e)
    inits.append(numpy_helper.from_array(np.array(scale, dtype=np.float32), "scale"))
    nodes += [
        helper.make_node("MatMul", ["q_h", "k_h"], ["scores"], name="qk"),
        helper.make_node(scale_op, ["scores", "scale"], ["scaled"], name="scale"),
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [b, t, d])]
    causal = np.tril(np.ones((1, 1, t, t), dtype=bool))
    if mask == "padding":
        inputs.append(helper.make_tensor_value_info("mask", TensorProto.FLOAT, [b, 1, 1, t]))
        nodes.append(helper.make_node("Add", ["scaled", "mask"], ["masked"], name="mask_add"))
    elif mask == "causal_add":
        inits.append(numpy_helper.from_array(np.where(causal, 0.0, -1e4).astype(np.float32), "causal"))
        nodes.append(helper.make_node("Add", ["scaled", "causal"], ["masked"], name="mask_add"))
    elif mask == "causal_where":
        inits.append(numpy_helper.from_array(causal, "causal"))
        inits.append(numpy_helper.from_array(np.array(-3.4e38, dtype=np.float32), "min"))
        nodes.append(helper.make_node("Where", ["causal", "scaled", "min"], ["masked"], name="causal_where"))
    h1 = "h1raw" if bias else "h1"
    nodes += [
        helper.make_node("Softmax", ["masked" if mask else "scaled"], ["probs"], axis=-1, name="softmax"),
        helper.make_node("MatMul", ["probs", "v_h"], ["ctx_h"], name="av"),
        helper.make_node("Transpose", ["ctx_h"], ["ctx_t"], perm=[0, 2, 1, 3], name="ctx_transpose"),
        helper.make_node("Reshape", ["ctx_t", "merge_shape"], ["ctx"], name="ctx_reshape"),
        helper.make_node("MatMul", ["ctx", w("wo", (d, d))], ["attn_out"], name="out_proj"),
        helper.make_node("Add", ["attn_out", "x"], ["res1"], name="res1"),
        helper.make_node("LayerNormalization", ["res1", w("g1", (d,)), w("b1", (d,))], ["ln1"], axis=-1,
                         name="ln1"),
        helper.make_node("MatMul", ["ln1", w("w1", (d, ffn))], [h1], name="ffn1"),
        *([helper.make_node("Add", ["h1raw", w("bias1", (ffn,))], ["h1"], name="ffn1_bias")] if bias else []),
        helper.make_node(unsupported or "Gelu", ["h1"], ["g"], name="gelu"),
        helper.make_node("MatMul", ["g", w("w2", (ffn, d))], ["h2"], name="ffn2"),
        helper.make_node("Add", ["h2", "ln1"], ["res2"], name="res2"),
        helper.make_node("LayerNormalization", ["res2", w("g2", (d,)), w("b2", (d,))], ["y"], axis=-1, name="ln2"),
    ]
    graph = helper.make_graph(nodes, "bert_like", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [b, t, d])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    onnx.save(model, str(path))
    return path


def _signature(nodes):
    out = []
    for n in nodes:
        w = n.work
        if isinstance(w, VectorOp):
            out.append((w.op, w.ops, w.writes))
        elif isinstance(w, AttentionShape):
            out.append(("attention", w))
        else:
            out.append(("gemm", w.macs, tuple(sorted(w.dims))))
    return out


def test_onnx_import_builds_the_same_graph(tmp_path):
    from accelsim.attention.onnx_import import nodes_from_onnx

    nodes = nodes_from_onnx(_bert_like_onnx(tmp_path / "bert_like.onnx"))
    spec = TransformerSpec("bert_like", layers=1, width=16, heads=2, head_size=8, ffn=32, seq=8, batch=1)
    assert _signature(nodes) == _signature(block(spec))
    by = {n.name: n for n in nodes}
    assert set(by["qk"].inputs) == {"q_proj", "k_proj", "v_proj"}
    assert by["out_proj"].inputs == ("qk",)
    assert by["res2"].inputs == ("ffn2", "ln1")
    h = load_architecture("tpu_like")
    a, b = run_nodes(h, nodes, "flat", "onnx"), run_network(h, spec, "flat")
    # the export's scale is counted (the built block folds it into Q): one Mul per score, 2 heads x 8 x 8
    # = 128 on the 256 lanes (one cycle), and its one word read
    assert (a.macs, a.dram_words, a.cycles) == (b.macs, b.dram_words + 1, b.cycles + 1)
    assert a.ops()[(machine(h).vector, "mul")] == 128 and (machine(h).vector, "mul") not in b.ops()


def test_onnx_broadcast_add_reads_each_input_at_its_size(tmp_path):
    """FFN1's bias Add (h1raw [1, 64, 32] + bias1 [32]): the bias is read at its 32 words, not 2,048."""
    from accelsim.attention.onnx_import import nodes_from_onnx

    nodes = nodes_from_onnx(_bert_like_onnx(tmp_path / "bias.onnx", t=64, bias=True))
    add = next(n for n in nodes if n.name == "ffn1_bias")
    assert add.work.reads() == {"h1raw": 64 * 32, "bias1": 32}
    assert (add.work.ops, add.work.writes) == (64 * 32, 64 * 32)
    r = next(n for n in run_nodes(load_architecture("tpu_like"), nodes, "flat", "b").nodes if n.name == "ffn1_bias")
    assert r.dram_words == 64 * 32 + 32 + 64 * 32              # both inputs read, the sum written, once


@pytest.mark.parametrize("scale_op, mask, mask_words", [("Div", "padding", 2 * 8), ("Div", "causal_add", 8 * 8),
                                                          ("Mul", None, 0)])
def test_onnx_export_scale_and_mask_are_the_attentions_ops(tmp_path, scale_op, mask, mask_words):
    """A real HF export's Div by sqrt(E) and mask Add between Q K^T and the Softmax: one node, the two
    ops once per score (batch 2 x 2 heads x 8 x 8 = 256) on the vector unit, the mask read at its own
    size (BERT's [2, 1, 1, 8] padding mask: 16 words; a [1, 1, 8, 8] causal mask: 64), the scale 1 word."""
    from accelsim.attention.onnx_import import nodes_from_onnx

    path = _bert_like_onnx(tmp_path / "m.onnx", b=2, scale_op=scale_op, mask=mask)
    nodes = nodes_from_onnx(path)
    att = next(n for n in nodes if isinstance(n.work, AttentionShape))
    assert att.work == AttentionShape(2, 2, 8, 8, 8, 8)
    assert [f.op for f in att.fused] == ["mul"] + (["add"] if mask else [])
    h = load_architecture("tpu_like")
    got = next(n for n in run_nodes(h, nodes, "fusemax", "m").nodes if n.name == "qk")
    plain = run_nodes(h, [Node("qk", att.work, ())], "fusemax", "p").nodes[0]
    vec = machine(h).vector
    extra = {(vec, "mul"): 256, **({(vec, "add"): 256} if mask else {})}
    assert got.ops == {**plain.ops, **{k: plain.ops.get(k, 0) + v for k, v in extra.items()}}
    assert got.dram_words == plain.dram_words + 1 + mask_words
    # after the dataflow, bound by the vector unit: 256 or 512 ops over its 256 lanes (the mask's words
    # take one DRAM cycle at 400 GiB/s)
    assert got.cycles == plain.cycles + -(-sum(extra.values()) // machine(h).vector_lanes)


def test_onnx_causal_where_is_one_line(tmp_path, capsys):
    path = _bert_like_onnx(tmp_path / "gpt2.onnx", scale_op="Div", mask="causal_where")
    assert main(["run", "tpu_like", "-w", str(path), "--dataflow", "fusemax"]) == 2
    err = capsys.readouterr().err
    assert "node 'causal_where' (Where)" in err and "export the mask as an Add" in err and err.count("\n") == 1


def test_onnx_unsupported_op_is_one_line_exit_2(tmp_path, capsys):
    path = _bert_like_onnx(tmp_path / "bad.onnx", unsupported="Relu")
    assert main(["run", "tpu_like", "-w", str(path), "--dataflow", "fusemax"]) == 2
    err = capsys.readouterr().err
    assert "unsupported ONNX op 'Relu' at node 'gelu'" in err and err.count("\n") == 1


def test_onnx_cli_runs(tmp_path, capsys):
    path = _bert_like_onnx(tmp_path / "tiny.onnx")
    assert main(["run", "tpu_like", "-w", str(path), "--dataflow", "unfused"]) == 0
    out = capsys.readouterr().out
    assert "tiny on tpu_like, attention dataflow unfused" in out and "attention[unfused]" in out
