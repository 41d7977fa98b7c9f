"""The energy table (accelsim.energy_table) and the one energy sum (accelsim.cost.energy).

- energy_of on a hand-computed table and action table (per row, per component, per role, total);
- the weight vector over canonical keys dotted with the counts equals energy_of's total bit for bit
  on random problems x hierarchies x nests with random tables;
- the fixed-shape energy equals the formula it replaced (written out independently below) on every
  shipped arch, and a preset priced over ``from_arch``'s levels equals the arch's own table;
- presets: the published figures they are built from;
- the YAML ``energy:`` section of a hierarchy: overrides, areas, one-line errors.
"""

from __future__ import annotations

import random

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.arch import load_arch
from accelsim.cost.actions import Actions, count_actions
from accelsim.cost.counts import L_DRAM, L_GLB, L_NOC, L_RF
from accelsim.cost.energy import canonical, energy_of, keys_of, weights
from accelsim.cost.model import ENERGY_PARTS, evaluate
from accelsim.energy import HOROWITZ_45NM, PRESET_BY_NAME, PRESETS
from accelsim.energy_table import (
    EnergyTable,
    arch_table,
    area_mm2,
    components_of,
    preset_table,
    table_for,
)
from accelsim.errors import ConfigError
from accelsim.hierarchy import Compute, Fanout, Hierarchy, Storage, from_arch, hierarchy_from_dict, load_hierarchy
from accelsim.names import ANY_ROLE, ROLES
from noc import registry as noc_registry
from tests.conftest import REPO
from tests.core_strategies import hierarchies, nests, problems
from tests.test_fuzz import SETTINGS, _dump, _expect_config_error_or_result, mutated

SMALL = Hierarchy("small", (
    Storage("dram", ROLES),
    Storage("buf", ROLES, ((ROLES, 64),), fanout=Fanout(2, 1, "bus")),
    Storage("rf", ("weight",), ((("weight",), 8),)),
), Compute("mac"))


def _small_table() -> EnergyTable:
    e = [("dram", ANY_ROLE, a, 100.0) for a in ("read", "fill", "update", "drain")]
    e += [("buf", ANY_ROLE, "read", 3.0), ("buf", ANY_ROLE, "fill", 4.0), ("buf", ANY_ROLE, "update", 5.0),
          ("buf", ANY_ROLE, "drain", 3.5), ("buf", "psum", "update", 7.0)]
    e += [("buf.net", ANY_ROLE, a, v) for a, v in (("down", 0.25), ("down_dest", 0.5), ("up", 0.25), ("up_src", 0.5))]
    e += [("rf", ANY_ROLE, a, 0.75) for a in ("read", "fill", "update", "drain")]
    e += [("mac", ANY_ROLE, "compute", 1.5)]
    return EnergyTable("hand", components_of(SMALL), tuple(e))


def test_energy_of_by_hand():
    acts = Actions(macs=40, cycles=20, active=2, storage={
        ("dram", "ifmap", "read"): 10, ("dram", "weight", "read"): 8, ("dram", "psum", "update"): 4,
        ("buf", "ifmap", "fill"): 10, ("buf", "ifmap", "read"): 20, ("buf", "psum", "update"): 6,
        ("buf", "psum", "drain"): 4, ("rf", "weight", "fill"): 8, ("rf", "weight", "read"): 40,
    }, network={("buf", "ifmap", "down"): 20, ("buf", "ifmap", "down_dest"): 40, ("buf", "psum", "up_src"): 8})
    e = energy_of(acts, SMALL, _small_table())
    # dram: (10 + 8 + 4) x 100 = 2200; buf: 10x4 + 20x3 + 6x7 (psum's own update) + 4x3.5 = 156;
    # buf.net: 20x0.25 + 40x0.5 + 8x0.5 = 29; rf: (8 + 40) x 0.75 = 36; mac: 40 x 1.5 = 60
    assert e.by_component() == {"dram": 2200.0, "buf": 156.0, "buf.net": 29.0, "rf": 36.0, "mac": 60.0}
    assert e.total_pj == 2481.0
    # ifmap: 1000 + 40 + 60 + 5 + 20 = 1125; weight: 800 + 36 = 836; psum: 400 + 42 + 14 + 4 = 460
    assert e.by_role() == {"ifmap": 1125.0, "weight": 836.0, "psum": 460.0}
    assert e.pj("buf", "psum", "update") == 42.0
    # rows in canonical order: hierarchy order, then role, then action
    assert [r[:3] for r in e.rows][:4] == [("dram", "ifmap", "read"), ("dram", "weight", "read"),
                                           ("dram", "psum", "update"), ("buf", "ifmap", "read")]


def test_unpriced_actions_are_errors_not_zero():
    t = _small_table()
    gated = Actions(1, 1, 1, {("buf", "ifmap", "gated_read"): 0})
    with pytest.raises(ConfigError, match="no energy for action 'gated_read' of storage 'buf'"):
        energy_of(gated, SMALL, t)
    with pytest.raises(ConfigError, match="level 'glb', which hierarchy 'small' does not have"):
        energy_of(Actions(1, 1, 1, {("glb", "ifmap", "read"): 3}), SMALL, t)
    with pytest.raises(ConfigError, match="network below 'rf'"):
        energy_of(Actions(1, 1, 1, {}, {("rf", "ifmap", "down"): 3}), SMALL, t)
    with pytest.raises(ConfigError, match="unknown action 'gated' for storage component 'buf'"):
        EnergyTable("bad", components_of(SMALL), (("buf", ANY_ROLE, "gated", 1.0),))
    with pytest.raises(ConfigError, match="must be a finite number >= 0"):
        EnergyTable("bad", components_of(SMALL), (("buf", ANY_ROLE, "read", -1.0),))


def _random_table(h: Hierarchy, rng: random.Random) -> EnergyTable:
    base = preset_table(h, "normalized")
    entries = [(c, r, a, rng.choice([0.0, 0.1, 0.3, 1.7, 6.0, 200.0]) * rng.random()) for c, r, a, _ in base.entries]
    entries += [(c, "psum", a, rng.random()) for c, r, a, _ in base.entries if r == ANY_ROLE and rng.random() < 0.3]
    return EnergyTable("random", base.components, tuple(entries))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_weight_vector_dot_counts_is_energy_of(data):
    problem = data.draw(problems())
    h = data.draw(hierarchies())
    nest = data.draw(nests(problem, h))
    acts = count_actions(problem, h, nest)
    table = _random_table(h, random.Random(data.draw(st.integers(0, 10**6))))
    e = energy_of(acts, h, table)
    found = dict(keys_of(acts, h))
    keys = canonical(list(found), table)
    w = weights(keys, table)
    total = 0.0
    for k, wk in zip(keys, w.tolist()):
        total += found[k] * wk
    assert total == e.total_pj
    # independent of the order up to rounding, and of the numba-friendly float64 arrays
    counts = [found[k] for k in keys]
    assert sum(c * x for c, x in zip(reversed(counts), reversed(w.tolist()))) == pytest.approx(e.total_pj, rel=1e-12)
    # every row is count x the table's price, looked up independently of energy_of
    index = {(c, r, a): v for c, r, a, v in table.entries}
    for c, r, a, n, each, pj in e.rows:
        assert each == index.get((c, r, a), index.get((c, ANY_ROLE, a))) and pj == n * each


# ---- the fixed shape: unchanged ---------------------------------------------------------------------

def _old_energy(counts, arch) -> dict:
    """The fixed-shape formula before this table (accelsim/cost/model.py at e9742db), written out."""
    e = arch.energy
    hop = noc_registry.hop_coefficients(arch)
    out = {p: 0.0 for p in ENERGY_PARTS}
    out["mac"] = counts.macs * e.mac_pj
    for t in range(3):
        r, w = counts.reads, counts.writes
        a, b = hop[t]
        out["dram"] += r[L_DRAM][t] * e.dram_read_pj + w[L_DRAM][t] * e.dram_write_pj
        out["glb"] += r[L_GLB][t] * e.glb_read_pj + w[L_GLB][t] * e.glb_write_pj
        out["noc"] += (a * (r[L_NOC][t] + w[L_NOC][t]) + b * counts.noc_transfers[t]) * e.noc_hop_pj
        out["rf"] += r[L_RF][t] * e.rf_read_pj[t] + w[L_RF][t] * e.rf_write_pj[t]
    return out


def test_fixed_shape_energy_is_the_old_formula_on_every_shipped_arch():
    import configs
    from dataflows import registry as dataflows
    from workloads.loader import load_workload

    layers = [lay for lay in load_workload("alexnet", 1).layers if lay.kind.has_macs][:3]
    n = 0
    for name in configs.arch_names():
        arch = load_arch(name)
        for layer in layers:
            try:
                m = dataflows.get(arch.dataflow).named(layer, arch)
            except ConfigError:
                continue
            r = evaluate(layer, arch, m, validate=False)
            old = _old_energy(r.counts, arch)
            for p in ENERGY_PARTS:
                assert r.energy_breakdown_pj[p] == pytest.approx(old[p], rel=1e-12, abs=1e-9), (name, p)
            assert r.energy_pj == pytest.approx(sum(old.values()), rel=1e-12)
            n += 1
    assert n >= 20


@pytest.mark.parametrize("name", ["eyeriss_v1", "eyeriss_like_65nm", "isca16/rs", "eyeriss_v2_flat", "systolic_32x32_ws"])
def test_a_preset_over_from_arch_levels_is_the_arch_table(name):
    """Two roads to one table: the preset priced by level class over the converted hierarchy, and
    the arch's own record (its preset at the fixed RF size) converted."""
    arch = load_arch(name)
    assert arch.energy == PRESETS[arch.energy_preset](arch.word_bits, arch.glb.size_kb)   # no overrides
    h = from_arch(arch)
    via_preset = {(c, r, a): v for c, r, a, v in preset_table(h, arch.energy_preset).entries}
    own = arch_table(arch)
    for c, _, a, _ in preset_table(h, arch.energy_preset).entries:
        for r in ROLES:
            assert own.pj(c, r, a) == (via_preset.get((c, r, a), via_preset.get((c, ANY_ROLE, a)))), (c, r, a)


# ---- presets: the published figures --------------------------------------------------------------

def test_horowitz_45nm_figures():
    # 64-bit accesses: 8 kB 10 pJ, 32 kB 20 pJ, 1 MB 100 pJ -> per 16-bit word a quarter
    assert [HOROWITZ_45NM.buffer(16, kb)[0] for kb in (8.0, 32.0, 1024.0)] == [2.5, 5.0, 25.0]
    # 128 kB: log-linear between 32 kB and 1 MB: 20 + 80 x log(4)/log(32) = 52 pJ per 64 bits
    assert HOROWITZ_45NM.buffer(16, 128.0)[0] == pytest.approx(13.0)
    assert HOROWITZ_45NM.local(16, 0.024, "ifmap") == (2.5, 2.5)         # below 8 kB: clamped, stated
    assert HOROWITZ_45NM.dram(16) == (325.0, 325.0)                       # 1.3 nJ / 4 words
    assert (HOROWITZ_45NM.mac(8), HOROWITZ_45NM.mac(16)) == (pytest.approx(0.3), pytest.approx(1.5))
    with pytest.raises(ConfigError, match="up to 32 bits"):
        HOROWITZ_45NM.mac(64)


def test_accelergy_65nm_per_word_from_64_bit_accesses():
    p = PRESET_BY_NAME["accelergy_65nm"]
    assert p.dram(8) == (64.0, 64.0) and p.buffer(8, 128.0) == (18.18 / 8, 14.14 / 8)
    assert p.local(8, None, "weight") == (1.977, 1.882) and p.mac(8) == 0.208


def test_level_classes_on_eyeriss_v2_clustered():
    h = load_hierarchy(str(REPO / "configs" / "eyeriss_v2.yaml"))
    t = preset_table(h, "accelergy_65nm")
    assert t.pj("dram", "ifmap", "read") == 512 / 4                     # 16-bit words: 4 per access
    assert t.pj("glb_cluster", "psum", "fill") == 14.14 / 4            # a buffer feeding a fanout
    assert t.pj("spad", "weight", "drain") == 1.977                     # local, per role
    assert t.pj("reg", "psum", "update") == 0.0                         # one-word registers
    t45 = preset_table(h, "horowitz_45nm")
    # 6144 words x 16 bits = 12 kB: 10 + 10 x log(12/8)/log(32/8) = 12.925 pJ per 64 bits, / 4 words
    assert t45.pj("glb_cluster", "ifmap", "read") == pytest.approx(3.2312, rel=1e-4)
    assert t45.pj("spad", "weight", "read") == 2.5 and t45.pj("mac", ANY_ROLE, "compute") == pytest.approx(1.5)


# ---- YAML ---------------------------------------------------------------------------------------

BASE = yaml.safe_load((REPO / "configs" / "eyeriss_v2.yaml").read_text())


def _doc(energy: dict) -> dict:
    return {**BASE, "energy": energy}


def test_yaml_overrides_and_area():
    h = hierarchy_from_dict(_doc({
        "preset": "accelergy_65nm",
        "pj": {"glb_cluster": {"read": 3.0, "fill": {"psum": 2.0}}, "dram.net": {"down_dest": 0.5},
               "mac": {"compute": 0.3}},
        "area_mm2": {"spad": 0.01, "mac": 0.002, "glb_cluster": 0.1},
        "area_source": "made-up figures for this test"}), "e.yaml")
    t = table_for(h)
    assert t.name == "accelergy_65nm + overrides"
    assert [t.pj("glb_cluster", r, "read") for r in ROLES] == [3.0] * 3
    assert (t.pj("glb_cluster", "psum", "fill"), t.pj("glb_cluster", "ifmap", "fill")) == (2.0, 14.14 / 4)
    assert t.pj("dram.net", "weight", "down_dest") == 0.5 and t.pj("mac", ANY_ROLE, "compute") == 0.3
    # 16 clusters x 0.1 + 192 PEs x (0.01 + 0.002)
    assert area_mm2(h) == pytest.approx(16 * 0.1 + 192 * 0.012)
    assert area_mm2(load_hierarchy(str(REPO / "configs" / "eyeriss_v2.yaml"))) is None


@pytest.mark.parametrize("energy, key, words", [
    ({"preset": "22nm"}, "energy.preset", "allowed: accelergy_65nm, horowitz_45nm, normalized"),
    ({"pj": {"glb": {"read": 1}}}, "energy.pj.glb", "unknown component 'glb'; components: dram, dram.net"),
    ({"pj": {"spad": {"gated": 1}}}, "energy.pj.spad.gated", "unknown action 'gated' for storage component"),
    ({"pj": {"dram.net": {"read": 1}}}, "energy.pj.dram.net.read", "allowed: down, down_dest, up, up_src"),
    ({"pj": {"spad": {"read": -0.5}}}, "energy.pj.spad.read", "must be >= 0"),
    ({"pj": {"spad": {"read": {"bias": 1}}}}, "energy.pj.spad.read.bias", "unknown tensor 'bias'"),
    ({"pj": {"spad": {"read": "cheap"}}}, "energy.pj.spad.read", "expected a number"),
    ({"area_mm2": {"spad": 0.01}}, "energy.area_source", "areas need their source"),
    ({"area_mm2": {"pe": 0.01}, "area_source": "x"}, "energy.area_mm2.pe", "unknown component 'pe'"),
    ({"presets": "normalized"}, "energy.presets", ""),
])
def test_yaml_errors_are_one_line_naming_file_and_key(energy, key, words):
    with pytest.raises(ConfigError) as exc:
        hierarchy_from_dict(_doc(energy), "arch.yaml")
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"arch.yaml: {key}") and words in msg, msg


GOOD_ENERGY = _doc({"preset": "horowitz_45nm", "pj": {"spad": {"read": {"weight": 1.0}, "fill": 0.5},
                                                      "glb_cluster.net": {"up_src": 0.1}},
                    "area_mm2": {"mac": 0.002}, "area_source": "test"})


@settings(max_examples=80, **SETTINGS)
@given(doc=mutated(GOOD_ENERGY))
def test_energy_yaml_mutations(tmp_path, doc):
    """A mutated hierarchy with an energy section: a one-line ConfigError, or a table that prices
    every dense action with finite energies >= 0."""
    path = tmp_path / "h.yaml"
    path.write_text(_dump(doc))

    def load(p):
        h = load_hierarchy(str(p))
        return h, table_for(h)

    out = _expect_config_error_or_result(load, path)
    if out is not None:
        h, t = out
        for c, kind in t.components:
            for r in ROLES:
                for a in (("compute",) if kind == "compute" else
                          ("down", "down_dest", "up", "up_src") if kind == "network" else
                          ("read", "fill", "update", "drain")):
                    assert t.pj(c, r if kind != "compute" else ANY_ROLE, a) >= 0


def test_count_prices_the_table_from_the_energy_section():
    """``accelsim count --energy --json`` on a hierarchy with a 45 nm energy section; rows checked
    against hand values: DRAM 1.3 nJ / 4 words per 16-bit word, the weight spad override 1.2 pJ, the
    clusters' network override 0.3 pJ per word received."""
    import json
    import subprocess
    import sys

    data = REPO / "tests" / "data"
    out = subprocess.run([sys.executable, "-m", "accelsim", "count", str(data / "core_energy_v2.yaml"), "-m",
                          str(data / "core_nest_v2.yaml"), "-p", str(data / "core_conv3x3.yaml"), "--energy", "--json"],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)["energy"]
    rows = {(r["component"], r["tensor"], r["action"]): (r["count"], r["pj_each"], r["pj"]) for r in doc["rows"]}
    assert rows[("dram", "weight", "read")] == (36864, 325.0, 36864 * 325.0)
    assert rows[("spad", "weight", "read")][1:] == (1.2, 1179648 * 1.2)
    assert rows[("spad", "ifmap", "read")][1] == 2.5                      # 12-word spad: the 8 kB figure
    assert rows[("glb_cluster.net", "ifmap", "down_dest")][1] == 0.3
    assert rows[("mac", "*", "compute")] == (1179648, 1.5, 1179648 * 1.5)
    assert doc["total_pj"] == pytest.approx(sum(v[2] for v in rows.values()), rel=1e-12)
    h = load_hierarchy(str(data / "core_energy_v2.yaml"))
    assert area_mm2(h) == pytest.approx(16 * 0.2 + 192 * (0.005 + 0.003))
    assert h.describe().endswith("; area 4.736 mm^2 (illustrative figures for this example, not a published source)")
