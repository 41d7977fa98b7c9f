"""Architecture specs: every bad config gives one ConfigError line naming file, key and what is
allowed; good configs round-trip YAML -> spec -> YAML; every shipped config loads."""

from __future__ import annotations

import copy

import pytest
import yaml

import configs
from accelsim.arch import arch_from_dict, arch_to_dict, load_arch
from accelsim.errors import ConfigError

GOOD = {
    "version": 1,
    "name": "t",
    "clock_mhz": 200,
    "word_bits": 16,
    "pe_array": {"rows": 12, "cols": 14},
    "rf": {"ifmap_words": 12, "weight_words": 224, "psum_words": 24},
    "glb": {"size_kb": 108, "banks": 27, "bandwidth_words_per_cycle": 16, "holds": ["ifmap", "weight", "psum"]},
    "dram": {"bandwidth_gb_per_s": 0.72, "latency_cycles": 100},
    "noc": {"type": "bus"},
    "energy": {"preset": "normalized"},
    "dataflow": "rs",
}


def _with(path: str, value, delete: bool = False) -> dict:
    data = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node = data
    for p in parents:
        node = node[p]
    if delete:
        del node[last]
    else:
        node[last] = value
    return data


BAD = [
    ("unknown top key", _with("colour", "red"), ["cfg.yaml", "colour", "unknown key"]),
    ("unknown key with hint", _with("clock_mhx", 5), ["clock_mhx", "did you mean 'clock_mhz'"]),
    ("missing name", _with("name", None, delete=True), ["name", "missing required key"]),
    ("missing pe_array", _with("pe_array", None, delete=True), ["pe_array", "missing"]),
    ("wrong type rows", _with("pe_array.rows", "twelve"), ["pe_array.rows", "expected an integer", "'twelve'"]),
    ("zero rows", _with("pe_array.rows", 0), ["pe_array.rows", "must be >= 1"]),
    ("negative cols", _with("pe_array.cols", -3), ["pe_array.cols", "-3", ">= 1"]),
    ("zero glb", _with("glb.size_kb", 0), ["glb.size_kb", "must be > 0"]),
    ("negative glb", _with("glb.size_kb", -1.5), ["glb.size_kb", "-1.5"]),
    ("nan clock", _with("clock_mhz", float("nan")), ["clock_mhz", "finite"]),
    ("inf bandwidth", _with("dram.bandwidth_gb_per_s", float("inf")), ["dram.bandwidth_gb_per_s", "finite"]),
    ("bool as int", _with("word_bits", True), ["word_bits", "expected an integer"]),
    ("unknown tensor in holds", _with("glb.holds", ["ifmap", "bias"]), ["glb.holds", "'bias'", "allowed"]),
    ("tensor in no buffer", _with("glb.holds", ["ifmap", "weight"], ) | {"rf": {"ifmap_words": 4}},
     ["'psum' is placed in no buffer"]),
    ("rf too small", _with("rf", {"weight_bytes": 1, "ifmap_words": 2, "psum_words": 2}),
     ["rf.weight_bytes", "too small for one 16-bit word"]),
    ("rf zero words", _with("rf.ifmap_words", 0), ["rf.ifmap_words", "too small for one word"]),
    ("rf shared and per-tensor", _with("rf.shared_words", 10), ["shared", "not both"]),
    ("unknown preset", _with("energy.preset", "fancy"), ["energy.preset", "'fancy'", "normalized"]),
    ("negative energy", _with("energy.mac_pj", -1), ["energy.mac_pj", "must be >= 0"]),
    ("unknown dataflow", _with("dataflow", "xyz"), ["dataflow", "'xyz'", "rs"]),
    ("unknown noc", _with("noc.type", "ring"), ["noc.type", "'ring'", "allowed"]),
    ("bad version", _with("version", 7), ["version", "unsupported version 7"]),
    ("pe_array not mapping", _with("pe_array", [12, 14]), ["pe_array", "expected a mapping"]),
    ("holds not list", _with("glb.holds", "ifmap"), ["glb.holds", "expected a list"]),
    ("duplicate holds", _with("glb.holds", ["ifmap", "ifmap", "weight", "psum"]), ["glb.holds", "listed twice"]),
    ("unknown register tensor", _with("pe_array.operand_registers", ["bias"]), ["operand_registers", "'bias'"]),
    ("fifo unknown tensor", _with("pe_array.input_fifo_words", {"psum": 4}),
     ["pe_array.input_fifo_words.psum", "unknown key 'psum'", "allowed: ifmap, weight"]),
    ("fifo negative", _with("pe_array.input_fifo_words", {"ifmap": -1}),
     ["pe_array.input_fifo_words.ifmap", "must be >= 0"]),
    ("fifo not a mapping", _with("pe_array.input_fifo_words", 4), ["pe_array.input_fifo_words", "expected a mapping"]),
    ("partition not a list", _with("glb.partitions", {"holds": ["weight"]}), ["glb.partitions", "expected a list"]),
    ("partition item not a mapping", _with("glb.partitions", [8]), ["glb.partitions", "item 0", "holds and size_kb"]),
    ("partition tensor not held", _with("glb.partitions", [{"holds": ["bias"], "size_kb": 8}]),
     ["glb.partitions[0].holds", "'bias' is not in glb.holds"]),
    ("partition tensor twice", _with("glb.partitions", [{"holds": ["weight"], "size_kb": 8},
                                                        {"holds": ["weight", "ifmap"], "size_kb": 8}]),
     ["glb.partitions[1].holds", "'weight' is already in another partition"]),
    ("partitions too big", _with("glb.partitions", [{"holds": ["weight"], "size_kb": 100},
                                                    {"holds": ["ifmap"], "size_kb": 9}]),
     ["glb.partitions", "109 kB > size_kb 108"]),
    ("partition zero size", _with("glb.partitions", [{"holds": ["weight"], "size_kb": 0}]),
     ["glb.partitions[0].size_kb", "must be > 0"]),
    ("partition unknown key", _with("glb.partitions", [{"holds": ["weight"], "size_kb": 8, "banks": 2}]),
     ["glb.partitions[0].banks", "unknown key"]),
    ("unsplit unknown level", _with("constraints", {"unsplit": {"l2": ["Q"]}}),
     ["constraints.unsplit.l2", "unknown key", "dram"]),
    ("unsplit unknown dim", _with("constraints", {"unsplit": {"dram": ["W"]}}),
     ["constraints.unsplit.dram", "unknown dim 'W'", "allowed: N, G, K, C, P, Q, R, S"]),
    ("constraints unknown key", _with("constraints", {"pinned": {}}), ["constraints.pinned", "unknown key"]),
]


@pytest.mark.parametrize("label,data,fragments", BAD, ids=[b[0] for b in BAD])
def test_bad_config_message(label, data, fragments, tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_arch(path)
    message = str(info.value)
    assert "\n" not in message
    assert "cfg.yaml" in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


FILE_BAD = [
    ("empty", b"", "file is empty"),
    ("only comments", b"# nothing\n", "no content"),
    ("syntax", b"version: 1\nname: [unclosed\n", "YAML syntax error: line"),
    ("binary", b"\x00\x01\x02", "binary file"),
    ("non utf8", b"name: caf\xe9\n", "not UTF-8"),
    ("duplicate key", b"version: 1\nversion: 1\n", "duplicate key 'version'"),
    ("top is a list", b"- 1\n- 2\n", "expected a mapping"),
]


@pytest.mark.parametrize("label,content,fragment", FILE_BAD, ids=[b[0] for b in FILE_BAD])
def test_bad_file(label, content, fragment, tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=fragment) as info:
        load_arch(path)
    assert "cfg.yaml" in str(info.value) and "\n" not in str(info.value)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(ConfigError, match="no such architecture file"):
        load_arch(tmp_path / "nope.yaml")


def test_round_trip_yaml_spec_yaml(tmp_path):
    arch = arch_from_dict(GOOD, "good")
    doc = arch_to_dict(arch)
    again = arch_from_dict(yaml.safe_load(yaml.safe_dump(doc)), "good")
    assert again == arch
    assert arch_to_dict(again) == doc


def test_round_trip_keeps_partitions_and_constraints():
    data = _with("glb.partitions", [{"holds": ["psum", "ifmap"], "size_kb": 100}, {"holds": ["weight"], "size_kb": 8}])
    data["constraints"] = {"unsplit": {"dram": ["Q"], "cols": ["Q", "P"]}}
    arch = arch_from_dict(data, "x")
    assert arch.glb.partitions == ((("ifmap", "psum"), 100), (("weight",), 8))
    assert arch.constraints.unsplit == (("Q",), (), (), ("P", "Q"), ())
    assert arch_from_dict(yaml.safe_load(yaml.safe_dump(arch_to_dict(arch))), "x") == arch


def test_round_trip_keeps_energy_overrides():
    data = _with("energy", {"preset": "normalized", "mac_pj": 0.5, "glb_pj": {"read": 3.0, "write": 4.0}})
    arch = arch_from_dict(data, "x")
    assert (arch.energy.mac_pj, arch.energy.glb_read_pj, arch.energy.glb_write_pj) == (0.5, 3.0, 4.0)
    assert arch_from_dict(arch_to_dict(arch), "x") == arch


def test_units_derived_from_keys():
    arch = arch_from_dict(GOOD, "good")
    assert arch.glb_words == 108 * 1024 // 2          # 16-bit words in 108 kB
    # 0.72 GB/s of 16-bit words at 200 MHz = 0.72e9 / 2 / 200e6 words per cycle
    assert arch.dram_words_per_cycle == pytest.approx(1.8)
    bytes_rf = arch_from_dict(_with("rf", {"shared_bytes": 512}), "x")
    assert bytes_rf.rf.shared == 256


@pytest.mark.parametrize("name", configs.arch_names())
def test_every_shipped_config_loads(name):
    arch = load_arch(name)
    assert arch.pes >= 1 and arch.glb_words >= 1


def test_shipped_configs_found_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_arch("eyeriss_v1").name == "eyeriss_v1"
    assert load_arch("isca16/rs").rf.shared == 256
