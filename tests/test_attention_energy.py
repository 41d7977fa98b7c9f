"""Data movement and GEMM mappings of transformer runs (issue 18): every node's action table
(accelsim.attention.movement) priced once by cost.energy.energy_of; GEMMs under the named mapping.

The hand-priced cases use tpu_like with the normalized preset (DRAM 200, buffer 6, registers 0, MAC 1,
non-MAC op 1 pJ) and the systolic network priced 0, so the energy is 200 x DRAM words + 6 x buffer
accesses + MACs + ops, each count derived below by hand."""

from __future__ import annotations

import json

import pytest
import yaml

from accelsim.attention.block import run_network, run_nodes
from accelsim.attention.cascade import AttentionShape
from accelsim.attention.model import evaluate
from accelsim.attention.movement import named_nests
from accelsim.attention.transformer import Node, TransformerSpec, network
from accelsim.cost.actions import add_actions, count_actions
from accelsim.cost.bound import hierarchy_bound
from accelsim.cost.energy import energy_of
from accelsim.energy_table import table_for
from accelsim.hierarchy import hierarchy_from_dict, load_architecture
from accelsim.problem import gemm
from accelsim.vector_ops import VectorOp
from tests.conftest import REPO

NO_NET = {"preset": "normalized", "pj": {"buffer.net": {"down": 0, "down_dest": 0, "up": 0, "up_src": 0}}}


def _tpu():
    doc = yaml.safe_load((REPO / "configs" / "hierarchy" / "tpu_like.yaml").read_text())
    doc["energy"] = NO_NET
    return hierarchy_from_dict(doc, "tpu.yaml")


# B = H = 1, M = 2 query rows, L = 4 keys, E = F = 2: Q 4, K 8, V 8, S = A 8, O 4 words
SHAPE = AttentionShape(1, 1, 2, 4, e=2, f=2)


def test_unfused_attention_priced_by_hand():
    """DRAM: Q 4 + K 8 + V 8 read, S 8 written and read, A 8 written and read, O 4 written = 56 words.
    Buffer: the 36 words read from DRAM are filled, the 20 written are drained; the softmax reads
    S 8 (max), S 8 + row max 2 (exp), 8 (sum), 8 + row sum 2 (divide) = 36 and writes 2 + 8 + 2 + 8 = 20;
    the einsums (the whole K^T / V held in the 256 x 256 array, each word read once): QK reads Q 4 and
    K 8, updates S 8; AV reads A 8 and V 8, updates O 4 = 40. Buffer 36 + 20 + 36 + 20 + 40 = 152.
    MACs 2*4*(2+2) = 32, softmax ops 4 * 8 = 32."""
    h = _tpu()
    r = evaluate(h, SHAPE, "unfused")
    e = energy_of(r.actions, h, table_for(h))
    parts = e.by_component()
    assert parts["dram"] == 200 * 56
    assert parts["buffer"] == 6 * 152
    assert parts["mac"] == 32 and parts["vector"] == 32
    assert e.total_pj == 11_200 + 912 + 64 == 12_176


def test_flat_attention_priced_by_hand():
    """tpu_like's FLAT setting (the FuseMax artifact's: only the scores on chip; Q, K, V, O stream
    between DRAM and the array): DRAM Q, K, V read and O written once (one 256 x 256 pass covers the
    2 x 4 scores) = 4 + 8 + 8 + 4 = 24 words. Buffer: no fills or drains; QK updates S 8, the
    softmax's 36 reads and 20 writes, AV reads A 8 = 72. Without the setting (all four on chip): 20
    filled, 4 drained, the einsums' 40 as above, 120."""
    h = _tpu()
    e = energy_of(evaluate(h, SHAPE, "flat").actions, h, table_for(h))
    assert e.by_component()["dram"] == 200 * 24
    assert e.by_component()["buffer"] == 6 * 72
    assert e.total_pj == 4_800 + 432 + 64
    doc = yaml.safe_load((REPO / "configs" / "hierarchy" / "tpu_like.yaml").read_text())
    doc["energy"] = NO_NET
    del doc["flat"]
    h = hierarchy_from_dict(doc, "tpu.yaml")
    e = energy_of(evaluate(h, SHAPE, "flat").actions, h, table_for(h))
    assert e.by_component()["dram"] == 200 * 24
    assert e.by_component()["buffer"] == 6 * 120
    assert e.total_pj == 4_800 + 720 + 64


def test_vector_node_streamed_by_hand():
    """A residual add of two 4 x 4 operands: DRAM reads 32, writes 16; the buffer fills and reads 32,
    updates and drains 16; 16 add ops."""
    h = _tpu()
    add = VectorOp("a", "add", (("T", 4), ("D", 4)), (("x", ("T", "D")), ("y", ("T", "D"))), "a")
    r = run_nodes(h, [Node("a", add, ())], "flat", "t")
    assert r.nodes[0].dram_words == 48
    assert r.energy.total_pj == 200 * 48 + 6 * (2 * 32 + 2 * 16) + 16 == 10_192


def test_gemm_nodes_are_the_named_mapping_counts_and_bound():
    h = load_architecture("tpu_like")
    spec = TransformerSpec("t", layers=1, width=512, heads=8, head_size=64, ffn=1024, seq=256)
    r = run_network(h, spec, "fusemax")
    label, nest_of = named_nests(h)
    assert label == "named ws"
    work = {n.name: n.work for n in network(spec)}
    gemms = [n for n in r.nodes if n.kind == "gemm"]
    assert len(gemms) == 6
    for n in gemms:
        p = work[n.name]
        acts = count_actions(p, h, nest_of(p))
        assert n.actions == acts
        assert n.cycles == -(-hierarchy_bound(acts, h) // 1)
        assert n.dram_words == sum(v for (lv, _, _), v in acts.storage.items() if lv == "dram")
        # the named ws mapping streams the inputs from DRAM once per 256-column weight tile: more
        # words and cycles than the ideal (each word once, every unit busy), never fewer
        assert n.dram_words > sum(p.elements(t.role) for t in p.tensors)
        assert n.cycles > n.ideal_cycles
    assert r.cycles > r.ideal_cycles


def test_the_run_is_priced_once_and_nodes_add_up():
    h = load_architecture("tpu_like")
    spec = TransformerSpec("t", layers=2, width=64, heads=2, head_size=32, ffn=128, seq=32, batch=2)
    r = run_network(h, spec, "unfused")
    whole = energy_of(add_actions([n.actions for n in r.nodes]), h, table_for(h))
    assert r.energy == whole
    assert r.energy.total_pj == pytest.approx(sum(n.energy_pj for n in r.nodes), rel=1e-12)
    assert r.dram_words == sum(n.dram_words for n in r.nodes)
    attn = next(n for n in r.nodes if n.kind.startswith("attention"))
    assert attn.dram_words == evaluate(h, spec.attention(), "unfused").dram_words


def test_cli_out_writes_stats_json_with_the_breakdown(tmp_path, capsys):
    from accelsim.cli import main

    out = tmp_path / "run"
    assert main(["run", "tpu_like", "-w", "bert_base", "--dataflow", "flat", "--seq", "128", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    doc = json.loads((out / "stats.json").read_text())
    assert doc["energy_pj"] == pytest.approx(sum(doc["energy_pj_by_component"].values()), rel=1e-12)
    assert doc["energy_pj_by_component"]["dram"] == 200 * doc["dram_words"]          # normalized: DRAM 200 pJ
    assert doc["action_counts"]["dram.ifmap.read"] + doc["action_counts"]["dram.weight.read"] + \
        doc["action_counts"]["dram.psum.update"] + doc["action_counts"].get("dram.psum.read", 0) == doc["dram_words"]
    assert f"energy: {doc['energy_pj'] / 1e6:,.3f} uJ (dram " in text
    assert doc["gemm_mapping"] == "named ws" and doc["cycles"] > doc["ideal_gemm_cycles"]


def test_gemm_alone_equals_the_hierarchy_pipeline():
    """The block maps a GEMM as `accelsim run` maps it alone (the hierarchy pipeline's named mapping)."""
    from accelsim.pipeline_hierarchy import run_hierarchy
    from workloads.problems import ProblemLayer, ProblemWorkload

    h = load_architecture("eyeriss_v2_vector")
    p = gemm("g", 64, 96, 128)
    run = run_hierarchy(h, ProblemWorkload("w", (ProblemLayer("g", "gemm", p),)))
    r = run_nodes(h, [Node("g", p, ())], "flat", "w")
    assert r.nodes[0].actions == run.layers[0].actions
    assert r.energy.total_pj == pytest.approx(run.layers[0].energy_pj, rel=1e-12)


def test_searched_gemms_are_never_worse_than_named_and_deterministic():
    from accelsim.mapper.search import SearchSpec

    h = load_architecture("tpu_like")
    spec = TransformerSpec("t", layers=1, width=512, heads=8, head_size=64, ffn=1024, seq=256)
    named = run_network(h, spec, "flat")
    search = SearchSpec("cycles", 60, 3)
    a, b = run_network(h, spec, "flat", search), run_network(h, spec, "flat", search)
    assert a == b and a.mapping == "searched (cycles, budget 60, seed 3)"
    for n, m in zip(a.nodes, named.nodes):
        if n.kind == "gemm":
            assert n.cycles <= m.cycles and n.ideal_cycles == m.ideal_cycles
    # started from the named ws mapping, which streams inputs per weight tile: the search does better here
    assert a.cycles < named.cycles


def test_attention_latency_is_bounded_by_the_buffer_bandwidth():
    """The cascade's latency is the one bound (cost.bound.bound_parts) on each phase's action table, so a
    slow buffer limits it. tpu_like with its buffer at 1 word per cycle (one port): the buffer accesses
    counted by hand above, per phase. Unfused: QK fills Q 4 + K 8, drains S 8 and the einsum reads Q 4,
    K 8 and updates S 8 = 40; the softmax fills S 8, drains A 8, reads 36 and writes 20 = 72; AV fills
    A 8 + V 8, drains O 4, reads A 8, V 8 and updates O 4 = 40: 152 cycles. FLAT-style under tpu_like's
    setting (Q, K, V, O past the buffer), one phase: 72.
    Every other part is far less (DRAM 56 words at 228 per cycle: 1; 32 ops on 256 lanes: 1)."""
    from accelsim.sim.attention_tiles import simulate

    doc = yaml.safe_load((REPO / "configs" / "hierarchy" / "tpu_like.yaml").read_text())
    doc["levels"][1]["bandwidth"] = 1
    h = hierarchy_from_dict(doc, "tpu.yaml")
    for dataflow, phases in (("unfused", [40, 72, 40]), ("flat", [72])):
        r = evaluate(h, SHAPE, dataflow)
        assert [p.cycles for p in r.phases] == phases
        assert [p.limit for p in r.phases] == ["buffer"] * len(phases)
        assert r.limit == "buffer" and r.busy()["buffer"] == sum(phases)
        s = simulate(r)
        assert s.limit == "buffer" and s.busy["buffer"] == sum(phases) and s.cycles >= r.cycles
    # the stock tpu_like gives the buffer no bandwidth: the same cascade is bound by DRAM and the vector unit
    assert evaluate(load_architecture("tpu_like"), SHAPE, "unfused").cycles == 1 + 1 + 1


def _small(vector: bool):
    """dram (4 words per cycle, one port) -> buf -> 2 x 2 MACs; a 2-lane vector unit below buf or
    none; normalized prices (DRAM 200, buf 6, MAC 1, non-MAC op 1 pJ), the array network priced 0."""
    doc = {"name": "small", "word_bits": 16, "dataflow": "ws",
           "levels": [{"name": "dram", "keeps": ["ifmap", "weight", "psum"], "bandwidth": 4},
                      {"name": "buf", "keeps": ["ifmap", "weight", "psum"], "capacity": 1024,
                       "fanout": {"x": 2, "y": 2, "network": "systolic"}},
                      {"name": "reg", "keeps": ["ifmap", "weight", "psum"],
                       "capacity": {"ifmap": 1, "weight": 1, "psum": 1}}],
           "compute": {"name": "mac"},
           "energy": {"preset": "normalized", "pj": {"buf.net": {"down": 0, "down_dest": 0, "up": 0, "up_src": 0}}}}
    if vector:
        doc["vector"] = {"name": "vector", "lanes": 2, "below": "buf"}
    return hierarchy_from_dict(doc, "small.yaml")


@pytest.mark.parametrize("vector, cycles", [
    # 64 ops on 2 vector lanes: 32 cycles (DRAM: 32 words at 4 per cycle = 8)
    (True, 32),
    # no vector unit: the 64 ops on the 4 MACs, 16 compute cycles (DRAM 8)
    (False, 16),
])
def test_lone_softmax_node_in_the_network_mapper_priced_by_hand(vector, cycles):
    """A softmax node alone (8 x 2 scores in, 8 x 2 out) in the network mapper: its words streamed
    once (DRAM 16 read + 16 written = 32 words; buf filled, read, updated, drained 16 each = 64
    accesses) and its ops counted as the attention cascade counts them: max, exp, sum, divide, one each
    per score = 4 x 16 = 64 ops at 1 pJ. Energy 200 x 32 + 6 x 64 + 64 = 6,848 pJ."""
    from accelsim.cost.actions import streamed_actions
    from accelsim.mapper.network import node_costs
    from workloads.graph import Graph
    from workloads.layer import Layer, LayerKind

    h = _small(vector)
    sm = Layer("sm", LayerKind.SOFTMAX, C=8, K=8, H=2)
    assert sm.vector_op_counts == {"max": 16, "exp": 16, "sum": 16, "divide": 16}
    unit = "vector" if vector else "mac"
    a = streamed_actions(h, sm.ifmap_elems, sm.output_elems, sm.vector_op_counts)
    assert a.ops == {(unit, k): 16 for k in ("max", "exp", "sum", "divide")}
    c = node_costs(Graph((sm,), ((),)), h)["sm"]
    assert (c.dram_words, c.energy_pj, c.cycles) == (32, 6_848, cycles)
