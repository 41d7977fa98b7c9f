"""Non-MAC ops priced by the energy table (issue 18 item 2): the vector unit is a component with one
action per op kind; expected values are computed by hand from the preset figures."""

from __future__ import annotations

import json

import pytest
import yaml

from accelsim.attention.cascade import AttentionShape
from accelsim.attention.model import compute_energy, evaluate
from accelsim.cost.actions import Actions
from accelsim.cost.energy import energy_of
from accelsim.energy_table import table_for
from accelsim.errors import ConfigError
from accelsim.hierarchy import hierarchy_from_dict
from accelsim.vector_ops import OPS
from tests.conftest import REPO

TPU = yaml.safe_load((REPO / "configs" / "hierarchy" / "tpu_like.yaml").read_text())


def _tpu(energy: dict | None = None, vector: bool = True):
    doc = dict(TPU)
    if energy is not None:
        doc["energy"] = energy
    if not vector:
        del doc["vector"]
    return hierarchy_from_dict(doc, "tpu.yaml")


# softmax over 2 rows of 4 scores (B = H = 1, M = 2, L = 4): 8 max, 8 exp, 8 sum, 8 divide
SHAPE = AttentionShape(1, 1, 2, 4, e=2, f=2)
SOFTMAX = {("vector", "max"): 8, ("vector", "exp"): 8, ("vector", "sum"): 8, ("vector", "divide"): 8}


def test_every_op_kind_is_an_action_of_the_vector_unit():
    t = table_for(_tpu())
    assert {a for c, _, a, _ in t.entries if c == "vector"} == set(OPS)
    # FuseMax's per-score ops; gated_compute: the sparse model's gated MACs (accelsim.energy_table)
    assert {a for c, _, a, _ in t.entries if c == "mac"} == {"compute", "gated_compute"} | set(OPS)


def test_softmax_horowitz_fp16_by_hand():
    # fp16 (16-bit words): max/sum 1 add 0.4; exp 10 mults 11.0; divide 5 mults 5.5 (stated assumptions)
    h = _tpu({"preset": "horowitz_45nm"})
    e = energy_of(Actions(0, 0, 0, ops=SOFTMAX), h, table_for(h))
    assert e.pj("vector", "*", "max") == pytest.approx(8 * 0.4)
    assert e.pj("vector", "*", "exp") == pytest.approx(8 * 11.0)
    assert e.pj("vector", "*", "divide") == pytest.approx(8 * 5.5)
    assert e.total_pj == pytest.approx(8 * (0.4 + 11.0 + 0.4 + 5.5))      # 138.4


def test_unfused_attention_energy_normalized_by_hand():
    # normalized: MAC 1, every op 1 MAC. MACs = M*L*(E+F) = 2*4*4 = 32; softmax ops 4 * 8 = 32
    h = _tpu()
    r = evaluate(h, SHAPE, "unfused")
    assert {k: v for k, v in r.ops.items() if k[1] != "mac"} == SOFTMAX
    assert compute_energy(h, r.macs, r.ops).total_pj == 32 + 32


def test_yaml_override_of_one_op():
    h = _tpu({"preset": "horowitz_45nm", "pj": {"vector": {"exp": 3.0}}})
    e = energy_of(Actions(0, 0, 0, ops=SOFTMAX), h, table_for(h))
    assert e.total_pj == pytest.approx(8 * (0.4 + 3.0 + 0.4 + 5.5))


def test_unknown_op_in_yaml_is_one_line_naming_the_allowed_ops():
    with pytest.raises(ConfigError) as ei:
        _tpu({"pj": {"vector": {"sqrt": 1.0}}})
    msg = str(ei.value)
    assert "\n" not in msg and "sqrt" in msg and "exp" in msg and "gelu" in msg, msg


def test_without_a_vector_unit_the_mac_array_prices_the_ops():
    h = _tpu({"preset": "horowitz_45nm"}, vector=False)
    ops = {("mac", op): n for (_, op), n in SOFTMAX.items()}
    assert energy_of(Actions(0, 0, 0, ops=ops), h, table_for(h)).total_pj == pytest.approx(138.4)
    with pytest.raises(ConfigError, match="unit 'vector'"):
        energy_of(Actions(0, 0, 0, ops=SOFTMAX), h, table_for(h))


def test_cli_transformer_run_reports_energy_with_the_vector_ops(capsys):
    from accelsim.cli import main

    assert main(["run", "tpu_like", "-w", "bert_base", "--dataflow", "flat", "--seq", "128", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    non_mac = sum(v for k, v in doc["ops"].items() if not k.endswith(".mac"))
    # tpu_like is normalized: one MAC 1 pJ, one non-MAC op 1 pJ; the mac and vector components are compute only
    by_c = doc["energy_pj_by_component"]
    assert non_mac > 0 and by_c["mac"] + by_c["vector"] == doc["macs"] + non_mac
    by = doc["energy_pj_by_action"]
    assert by["vector.*.exp"] == doc["ops"]["vector.exp"] and by["mac.*.compute"] == doc["macs"]
    assert doc["energy_pj"] == pytest.approx(sum(by_c.values()), rel=1e-12)


def test_fusemax_prices_its_per_score_ops_on_the_mac_array():
    # FuseMax's per-score ops run on the array ("mac"), per-row ops on "vector"; horowitz fp16 exp = 11.0 pJ
    h = _tpu({"preset": "horowitz_45nm"})
    r = evaluate(h, SHAPE, "fusemax")
    on_mac = {op: n for (u, op), n in r.ops.items() if u == "mac" and op != "mac"}
    assert on_mac and compute_energy(h, r.macs, r.ops).pj("mac", "*", "exp") == pytest.approx(on_mac["exp"] * 11.0)
