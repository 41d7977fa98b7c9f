"""The attention configs (level lists with a vector unit and a clock) and their one-line errors."""

from __future__ import annotations

import pytest

from accelsim.attention.model import machine
from accelsim.errors import ConfigError
from accelsim.hierarchy import FlatSetting, hierarchy_from_dict, load_architecture
from accelsim.vector_ops import OPS, VectorOp, unit_of


def test_tpu_like_machine():
    m = machine(load_architecture("tpu_like"))
    assert (m.array_units, m.vector, m.vector_lanes, m.clock_mhz) == (65536, "vector", 256, 940.0)
    assert m.buffer_words == 16 * 2**20 // 2                      # 16 MiB of 16-bit words
    assert m.dram_words_per_cycle * 940e6 * 2 == pytest.approx(400 * 2**30, rel=1e-12)


def test_eyeriss_v2_vector_lanes_are_per_cluster():
    h = load_architecture("eyeriss_v2_vector")
    assert unit_of(h) == ("vector", 16)                           # 1 lane x 16 GLB clusters
    assert machine(h).buffer_words == 16 * 6144
    assert unit_of(load_architecture("eyeriss_v2")) == ("mac", 192)   # no vector unit: the MAC array


BASE = {"name": "x", "levels": [{"name": "dram", "keeps": ["ifmap", "weight", "psum"]},
                                {"name": "buf", "keeps": ["ifmap"], "capacity": 8}]}


@pytest.mark.parametrize("vector, needle", [
    ({"lanes": 4, "below": "nowhere"}, "vector.below: unknown value 'nowhere'; allowed: buf, dram"),
    ({"lanes": 0, "below": "buf"}, "vector.lanes"),
    ({"lanes": 4, "below": "buf", "name": "dram"}, "vector.name"),
    ({"lanes": 4, "below": "buf", "width": 3}, "vector"),
])
def test_bad_vector_is_one_line(vector, needle):
    with pytest.raises(ConfigError) as e:
        hierarchy_from_dict(dict(BASE, vector=vector), "arch.yaml")
    assert needle in str(e.value) and str(e.value).startswith("arch.yaml") and "\n" not in str(e.value)


def test_tpu_like_flat_setting_is_the_artifacts():
    """FPSG-UIUC/micro24-fusemax-artifact, data/pregenerated/flat_validation.csv, (cloud, BERT, 1K):
    fusion_granularity head; Q_loc, K_loc, V_loc, AV_loc offchip (QK_loc, A_loc onchip)."""
    fs = load_architecture("tpu_like").flat
    assert (fs.granularity, fs.rows, fs.onchip) == ("head", None, ())
    assert load_architecture("eyeriss_v2_vector").flat == FlatSetting("row", None, ("Q", "K", "V", "O"))


@pytest.mark.parametrize("flat, needle", [
    ({"granularity": "batch", "onchip": []}, "flat.granularity: unknown value 'batch'; allowed: head, row"),
    ({"granularity": "head", "rows": 4, "onchip": []}, "flat.rows: rows (an integer >= 1) goes with granularity row"),
    ({"granularity": "row", "rows": 0, "onchip": []}, "flat.rows: value 0 is too small"),
    ({"granularity": "row", "onchip": ["S"]}, "flat.onchip: onchip lists 'S'; allowed, each once: Q, K, V, O"),
    ({"granularity": "row", "onchip": ["Q", "Q"]}, "flat.onchip: onchip lists 'Q'"),
    ({"granularity": "row"}, "flat.onchip: missing required key"),
    ({"granularity": "row", "onchip": [], "order": "pmk"}, "flat"),
])
def test_bad_flat_setting_is_one_line(flat, needle):
    with pytest.raises(ConfigError) as e:
        hierarchy_from_dict(dict(BASE, flat=flat), "arch.yaml")
    assert needle in str(e.value) and str(e.value).startswith("arch.yaml") and "\n" not in str(e.value)


def test_vector_op_counts_and_errors():
    op = VectorOp("ln_mean", "mean", (("T", 5), ("D", 8)), (("x", ("T", "D")),), "mu", ("T",))
    assert (op.ops, op.reads(), op.writes) == (40, {"x": 40}, 5)
    with pytest.raises(ConfigError, match="unknown op 'tanh'; allowed: " + ", ".join(OPS)):
        VectorOp("a", "tanh", (("T", 5),), (), "y")
    with pytest.raises(ConfigError, match="needs the dims it keeps"):
        VectorOp("a", "sum", (("T", 5),), (), "y")


def test_eyeriss_v2_vector_is_eyeriss_v2_clustered_plus_a_vector_unit():
    """The teaching config is the clustered Eyeriss v2 (HM-NoC at both fanouts, shared-port DRAM link)
    with a vector unit added, nothing else changed (configs/hierarchy/eyeriss_v2_vector.yaml copies
    configs/eyeriss_v2.yaml's levels key for key)."""
    v2, vec = load_architecture("eyeriss_v2"), load_architecture("eyeriss_v2_vector")
    assert (vec.levels, vec.compute, vec.word_bits, vec.clock_mhz, vec.energy) == \
        (v2.levels, v2.compute, v2.word_bits, v2.clock_mhz, v2.energy)
    assert [f.network for _, f in vec.fanouts] == ["eyeriss_v2", "eyeriss_v2"]   # no flat mesh left
    # 0.72 GB/s at 200 MHz in 16-bit words, one port for reads and writes (the old file had 0.45 reads only)
    assert (vec.levels[0].bandwidth, vec.levels[0].read_bandwidth) == (1.8, 1.8)
    assert 0.72e9 / (200e6 * 2) == pytest.approx(vec.levels[0].bandwidth)
    assert v2.vector is None and vec.vector is not None
