"""BERT-base encoder at sequence length 128, batch 1: the GEMMs of 12 encoder layers as ``layers``,
and the whole encoder (softmax, residual adds, layer norms, GELU and their edges) as the graph.

Source: Devlin, Chang, Lee, Toutanova, "BERT: Pre-training of Deep Bidirectional Transformers for
Language Understanding", NAACL 2019 (BERT-base: L = 12 layers, hidden 768, A = 12 heads of 64,
feed-forward 4 x 768 = 3072) and the reference implementation google-research/bert modeling.py
(attention_layer: separate query/key/value dense layers, per-head Q K^T and softmax(.) V, an output
dense layer; then intermediate 768 -> 3072 and output 3072 -> 768 dense layers).

Per encoder layer i (s = 128 tokens, d = 768, h = 12 heads of 64), with gemm (m x k) @ (k x n):
  li_q, li_k, li_v   3 x (128 x 768) @ (768 x 768)                     3 x 75,497,472
  li_attn_scores     12 heads of (128 x 64) @ (64 x 128), groups = 12       12,582,912
  li_attn            12 heads of (128 x 128) @ (128 x 64), groups = 12      12,582,912
  li_proj            (128 x 768) @ (768 x 768)                              75,497,472
  li_ffn1, li_ffn2   (128 x 768) @ (768 x 3072), (128 x 3072) @ (3072 x 768)  2 x 301,989,888
  total                                                                    931,135,488
The graph adds, per layer, li_attn_softmax, li_res1, li_ln1 (layer norm), li_gelu, li_res2 and
li_ln2, which do no MACs; the embeddings and the pooler are not part of the encoder.
"""

from workloads.layer import Workload

SEQ, HIDDEN, HEADS, FFN, LAYERS = 128, 768, 12, 3072, 12


def bert_base() -> Workload:
    """The 96 GEMMs (8 per layer) as ``layers``, the whole encoder as the graph: the transformer
    builder's BERT-base (``accelsim.attention.transformer``, post-norm) as a workload graph."""
    from accelsim.attention.transformer import network, preset, to_graph

    g = to_graph(network(preset("bert_base", layers=LAYERS, width=HIDDEN, heads=HEADS, head_size=HIDDEN // HEADS,
                                 ffn=FFN, seq=SEQ)))
    return Workload("bert_base", g.mac_layers(), graph=g)


NETWORKS = {"bert_base": bert_base}
