"""BERT-base encoder at sequence length 128, batch 1: the GEMMs of 12 encoder layers.

Source: Devlin, Chang, Lee, Toutanova, "BERT: Pre-training of Deep Bidirectional Transformers for
Language Understanding", NAACL 2019 (BERT-base: L = 12 layers, hidden 768, A = 12 heads of 64,
feed-forward 4 x 768 = 3072) and the reference implementation google-research/bert modeling.py
(attention_layer: separate query/key/value dense layers, per-head Q K^T and softmax(.) V, an output
dense layer; then intermediate 768 -> 3072 and output 3072 -> 768 dense layers).

Per encoder layer (s = 128 tokens, d = 768, h = 12 heads of 64), with gemm (m x k) @ (k x n):
  q, k, v      3 x (128 x 768) @ (768 x 768)                     3 x 75,497,472
  scores       12 heads of (128 x 64) @ (64 x 128), groups = 12       12,582,912
  context      12 heads of (128 x 128) @ (128 x 64), groups = 12      12,582,912
  attn_out     (128 x 768) @ (768 x 768)                              75,497,472
  ffn1, ffn2   (128 x 768) @ (768 x 3072), (128 x 3072) @ (3072 x 768)  2 x 301,989,888
  total                                                              931,135,488
Softmax, layer norms, GELU and residual adds do no MACs and are not listed; the embeddings and the
pooler are not part of the encoder.
"""

from workloads.layer import Workload, gemm
from workloads.zoo._blocks import grouped_gemm

SEQ, HIDDEN, HEADS, FFN, LAYERS = 128, 768, 12, 3072, 12


def bert_base() -> Workload:
    head = HIDDEN // HEADS
    layers = []
    for i in range(1, LAYERS + 1):
        p = f"enc{i}"
        layers += [
            gemm(f"{p}_q", m=SEQ, n=HIDDEN, k=HIDDEN),
            gemm(f"{p}_k", m=SEQ, n=HIDDEN, k=HIDDEN),
            gemm(f"{p}_v", m=SEQ, n=HIDDEN, k=HIDDEN),
            grouped_gemm(f"{p}_scores", m=SEQ, n=SEQ, k=head, groups=HEADS),     # Q K^T per head
            grouped_gemm(f"{p}_context", m=SEQ, n=head, k=SEQ, groups=HEADS),    # softmax(.) V per head
            gemm(f"{p}_attn_out", m=SEQ, n=HIDDEN, k=HIDDEN),
            gemm(f"{p}_ffn1", m=SEQ, n=FFN, k=HIDDEN),
            gemm(f"{p}_ffn2", m=SEQ, n=HIDDEN, k=FFN),
        ]
    return Workload("bert_base", tuple(layers))


NETWORKS = {"bert_base": bert_base}
