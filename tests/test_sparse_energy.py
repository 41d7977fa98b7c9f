"""Gated and metadata actions priced by their own energy-table entries (issue 16, item 3's "charging a
gated action's own energy"): ``gated_read``, ``metadata_read``, ``gated_compute``, ... are actions of
the (component, role, action) table, defaulted by every preset (gated 0 pJ, metadata at the data
word's price) and overridable in the arch YAML's ``energy.pj``."""

from __future__ import annotations

import pytest

from accelsim.arch import arch_from_dict, arch_to_dict, load_arch, resolve_arch_path
from accelsim.cost.counts import count
from accelsim.energy_table import arch_table
from accelsim.errors import ConfigError
from accelsim.sparse.density import Uniform
from accelsim.sparse.layer import sparse_layer
from accelsim.sparse.spec import spec_from_dict
from accelsim.yamlio import load_yaml
from dataflows import registry
from workloads.layer import conv

LAYER = conv("c", C=4, K=8, H=6, R=3, pad=1)            # ifmap 4 x 6 x 6 = 144 elements
GATE = spec_from_dict({"name": "g", "gate": [{"level": "rf", "tensor": "weight", "on_zero": ["ifmap"]},
                                             {"level": "mac", "on_zero": ["ifmap"]}]}, "g.yaml")


def _arch(pj: dict | None):
    doc = load_yaml(resolve_arch_path("eyeriss_v1"))
    if pj is not None:
        doc.setdefault("energy", {})["pj"] = pj
    return arch_from_dict(doc, "a.yaml")


def test_presets_price_gated_actions_at_zero_and_metadata_as_data():
    t = arch_table(load_arch("eyeriss_v1"))
    assert t.pj("rf", "weight", "gated_read") == 0.0
    assert t.pj("mac", "*", "gated_compute") == 0.0
    assert t.pj("dram", "ifmap", "metadata_read") == t.pj("dram", "ifmap", "read") == 200.0
    assert t.pj("glb.net", "weight", "metadata_down_dest") == t.pj("glb.net", "weight", "down_dest")


def test_gated_actions_charged_their_own_overridden_entries_by_hand():
    """ifmap density 1/4 (36 of 144 nonzero, exactly): of the MACs, and of the RF weight reads (each serves
    one MAC through the one-word register), 3/4 of those whose ifmap element is real plus all of those on
    padding (pad 1, R 3: 16 of the 18 (p, r) pairs per axis are inside, so 256 / 324 of them; padding is
    no element, a zero) are gated. Overriding gated_read of the RF's weights to 0.25 pJ and gated_compute
    to 0.5 pJ adds (0.25 x RF weight reads + 0.5 x MACs) x (3/4 x 256 + 68) / 324."""
    base, priced = _arch(None), _arch({"rf": {"gated_read": {"weight": 0.25}}, "mac": {"gated_compute": 0.5}})
    m = registry.get("rs").named(LAYER, base)
    models = {"ifmap": Uniform(0.25)}
    e0 = sparse_layer(LAYER, base, m, GATE, models).energy_pj
    e1 = sparse_layer(LAYER, priced, m, GATE, models).energy_pj
    dense = count(LAYER, m)
    rf_weight_reads = dense.reads[3][1]
    assert rf_weight_reads == dense.macs            # one RF weight read per MAC on this mapping
    gated_reads = rf_weight_reads * (0.75 * 256 + 68) / 324
    assert e1 - e0 == pytest.approx(0.25 * gated_reads + 0.5 * dense.macs * (0.75 * 256 + 68) / 324, rel=1e-9)


def test_metadata_priced_by_its_own_entry():
    """A bitmask on the DRAM ifmap: 1 bit per element = 1/16 word per dense word; pricing metadata_read
    at 0 instead of 200 pJ removes exactly 200 x DRAM ifmap reads / 16."""
    spec = spec_from_dict({"name": "b", "formats": {"dram": {"ifmap": "bitmask"}}}, "b.yaml")
    free = _arch({"dram": {"metadata_read": 0.0}})
    base = _arch(None)
    m = registry.get("rs").named(LAYER, base)
    models = {"ifmap": Uniform(0.5)}
    e0 = sparse_layer(LAYER, base, m, spec, models).energy_pj
    e1 = sparse_layer(LAYER, free, m, spec, models).energy_pj
    assert e0 - e1 == pytest.approx(200.0 * count(LAYER, m).reads[0][0] / 16, rel=1e-9)


def test_overrides_round_trip_and_bad_keys_are_one_line():
    a = _arch({"rf": {"gated_read": {"weight": 0.25}}, "mac": {"gated_compute": 0.5}})
    assert arch_from_dict(arch_to_dict(a), "a.yaml") == a
    with pytest.raises(ConfigError, match=r"^a.yaml: energy.pj.rf.gated_reed: unknown action 'gated_reed' for "
                                          r"storage component 'rf'; allowed: read, .*gated_read"):
        _arch({"rf": {"gated_reed": 1.0}})
    with pytest.raises(ConfigError, match=r"a gated action is priced by its own energy-table entry"):
        spec_from_dict({"name": "x", "gated_energy": {"storage": 0.1}}, "x.yaml")
