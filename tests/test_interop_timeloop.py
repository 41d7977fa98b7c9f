"""Timeloop specs in (accelsim.interop.timeloop, `accelsim import timeloop`) and our counts in Timeloop's
conventions (accelsim.cost.timeloop_view, `accelsim count --counts timeloop`).

The fixtures under tests/data/timeloop/ are Timeloop's public example designs (eyeriss_like,
simple_weight_stationary, simple_output_stationary), re-typed by hand, with the mappings Timeloop's
mapper published for AlexNet CONV1 on them. Timeloop's published counts for two of those runs
(timeloop-mapper.stats.txt, "Scalar reads / fills / updates (per-instance)" times "Utilized
instances") are the expected values below: they come from Timeloop, not from this code.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from accelsim.cost.actions import count_actions
from accelsim.cost.timeloop_view import timeloop_view
from accelsim.hierarchy import hierarchy_from_dict
from accelsim.interop.timeloop import import_timeloop
from accelsim.interp_general import interpret
from accelsim.loopnest import loop_nest_text, nest_from_dict, nest_from_text
from accelsim.problem import from_layer, problem_from_dict
from tests.conftest import REPO

DATA = REPO / "tests" / "data" / "timeloop"
PROB = str(DATA / "alexnet_conv1.prob.yaml")
DESIGNS = {
    "eyeriss_like": [str(DATA / "eyeriss_like.arch.yaml"), PROB, str(DATA / "eyeriss_like_conv1.map.yaml")],
    "ws": [str(DATA / "simple_weight_stationary.arch.yaml"), str(DATA / "simple_weight_stationary.constraints.yaml"),
           PROB, str(DATA / "simple_weight_stationary_conv1.map.yaml")],
    "os": [str(DATA / "simple_output_stationary.arch.yaml"), PROB, str(DATA / "simple_output_stationary_conv1.map.yaml")],
}

# Timeloop's published stats for AlexNet CONV1 (per instance x utilized instances), by level and data-space:
# (reads, fills, updates). eyeriss_like: 132 PEs used; simple_output_stationary: 48 PEs used.
TIMELOOP_EYERISS_LIKE = {
    "cycles": 798_600, "active": 132,
    ("DRAM", "Weights"): (1_916_640, 0, 0), ("DRAM", "Inputs"): (412_005, 0, 0), ("DRAM", "Outputs"): (0, 0, 290_400),
    ("shared_glb", "Inputs"): (412_005, 412_005, 0), ("shared_glb", "Outputs"): (580_800, 290_400, 871_200),
    ("ifmap_spad", "Inputs"): (798_600 * 132, 37_455 * 132, 0),
    ("weights_spad", "Weights"): (798_600 * 132, 14_520 * 132, 0),
    ("psum_spad", "Outputs"): (774_400 * 132, 72_600 * 132, 798_600 * 132),
}
TIMELOOP_OUTPUT_STATIONARY = {
    "cycles": 2_196_150, "active": 48,
    ("DRAM", "Weights"): (34_848, 0, 0), ("DRAM", "Inputs"): (173_655, 0, 0), ("DRAM", "Outputs"): (0, 0, 290_400),
    ("shared_glb", "Weights"): (871_200, 34_848, 0), ("shared_glb", "Inputs"): (6_588_450, 173_655, 0),
    ("pe_spad", "Outputs"): (2_178_000 * 48, 18_150 * 48, 2_196_150 * 48),
    ("weight_reg", "Weights"): (2_196_150 * 48, 18_150 * 48, 0),
    ("input_activation_reg", "Inputs"): (2_196_150 * 48, 2_196_150 * 48, 0),
    ("output_activation_reg", "Outputs"): (2_178_000 * 48, 2_196_150 * 48, 2_196_150 * 48),
}


def accelsim(*args, cwd):
    return subprocess.run([sys.executable, "-m", "accelsim", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def _specs(files):
    imp = import_timeloop(files)
    h = hierarchy_from_dict(imp.hierarchy)
    p = problem_from_dict(imp.problem)
    return imp, h, p, nest_from_dict(imp.mapping, h)


def test_eyeriss_like_conv1_imports_and_counts_as_timeloop_published(tmp_path):
    """`accelsim import timeloop` then `accelsim count --counts timeloop`: every per-level read, fill and
    update of Timeloop's published eyeriss_like AlexNet CONV1 run, exactly, and its cycles and PEs."""
    out = accelsim("import", "timeloop", *DESIGNS["eyeriss_like"], "--out", "imp", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "imp").iterdir()) == ["hierarchy.yaml", "mapping.yaml", "problem.yaml",
                                                                    "workload.yaml"]
    run = accelsim("count", "imp/hierarchy.yaml", "-m", "imp/mapping.yaml", "-p", "imp/problem.yaml",
                   "--counts", "timeloop", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    got = {(r["level"], r["tensor"]): (r["reads"], r["fills"], r["updates"]) for r in doc["timeloop"]}
    expect = {k: v for k, v in TIMELOOP_EYERISS_LIKE.items() if isinstance(k, tuple)}
    assert got == expect
    assert (doc["macs"], doc["cycles"], doc["active"]) == (105_415_200, 798_600, 132)
    # `accelsim run --no-sim` on the imported files: Timeloop's cycles (its bandwidth throttling is 1.00,
    # so the latency bound is the compute steps) and the same counts in stats.json (simulated, the
    # refills Timeloop's steady-state model overlaps fully add stall cycles)
    run = accelsim("run", "imp/hierarchy.yaml", "-w", "imp/workload.yaml", "--mapping", "imp/mapping.yaml", "-d", "rs",
                   "--counts", "timeloop", "--json", "-q", "--no-sim", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    layer = json.loads(run.stdout)["layers"][0]
    assert (layer["cycles"], layer["active_pes"], layer["mapping_source"]) == (798_600, 132, "hand-written")
    assert {(r["level"], r["tensor"]): (r["reads"], r["fills"], r["updates"]) for r in layer["timeloop"]} == {
        (lv, {"Inputs": "ifmap", "Weights": "weight", "Outputs": "psum"}[t]): v for (lv, t), v in expect.items()}
    # the same run through the shipped workload file: the one-layer conv the importer wrote
    run = accelsim("count", "imp/hierarchy.yaml", "-m", "imp/mapping.yaml", "-w", "imp/workload.yaml",
                   "-l", "alexnet_conv1", "--counts", "timeloop", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert {(r["level"], r["tensor"]): (r["reads"], r["fills"], r["updates"])
            for r in json.loads(run.stdout)["timeloop"]} == {
        (lv, {"Inputs": "ifmap", "Weights": "weight", "Outputs": "psum"}[t]): v for (lv, t), v in expect.items()}


def test_output_stationary_conv1_counts_as_timeloop_published():
    """A second published run, with one-word registers below the spad: the same conventions hold."""
    _, h, p, nest = _specs(DESIGNS["os"])
    a = count_actions(p, h, nest)
    got = {(r.level, r.tensor): (r.reads, r.fills, r.updates) for r in timeloop_view(p, h, nest, a)}
    assert got == {k: v for k, v in TIMELOOP_OUTPUT_STATIONARY.items() if isinstance(k, tuple)}
    assert (a.cycles, a.active) == (2_196_150, 48)


def test_our_own_conventions_differ_where_docs_say():
    """On eyeriss_like CONV1 our table differs from Timeloop's exactly in the documented places: the
    psum spad feeding the MACs reads at every MAC (Timeloop skips each element's first touch in each
    PE: 290,400 outputs x 11 PEs sharing them), our psum fills are the partial sums actually sent
    down once (Timeloop fills each of the 11 PEs of a reduction, zero tiles included), and our
    drains are separate reads."""
    _, h, p, nest = _specs(DESIGNS["eyeriss_like"])
    a = count_actions(p, h, nest)
    assert a.storage[("psum_spad", "psum", "read")] - 774_400 * 132 == 290_400 * 11
    assert a.storage[("psum_spad", "psum", "fill")] == 580_800 != 72_600 * 132
    assert a.get("shared_glb", "psum", "drain") == 290_400 and a.get("shared_glb", "psum", "fill") == 0


def test_imported_eyeriss_like_equals_the_interpreter_on_a_small_layer(tmp_path):
    """A small CNN layer (stride 2, so sliding ifmap windows) mapped onto the imported eyeriss_like with
    all its bypasses and both fanouts: the closed form equals the brute-force interpreter exactly."""
    (tmp_path / "p.yaml").write_text(
        "problem:\n  shape: cnn-layer\n  instance: {C: 2, M: 4, R: 3, S: 3, N: 1, P: 4, Q: 4, Wstride: 2, Hstride: 2}\n")
    (tmp_path / "m.yaml").write_text(
        "mapping:\n"
        "  - {target: DRAM, type: temporal, factors: Q=2 C=2, permutation: CQ}\n"
        "  - {target: shared_glb, type: bypass, keep: [Inputs, Outputs], bypass: [Weights]}\n"
        "  - {target: shared_glb, type: temporal, factors: P=2, permutation: P}\n"
        "  - {target: shared_glb, type: spatial, factors: M=2, permutation: M}\n"
        "  - {target: DummyBuffer, type: bypass, bypass: [Inputs, Weights, Outputs]}\n"
        "  - {target: DummyBuffer, type: spatial, factors: S=3, permutation: S, split: 0}\n"
        "  - {target: ifmap_spad, type: bypass, keep: [Inputs], bypass: [Weights, Outputs]}\n"
        "  - {target: ifmap_spad, type: temporal, factors: P=2, permutation: P}\n"
        "  - {target: weights_spad, type: bypass, keep: [Weights], bypass: [Inputs, Outputs]}\n"
        "  - {target: weights_spad, type: temporal, factors: R=3, permutation: R}\n"
        "  - {target: psum_spad, type: bypass, keep: [Outputs], bypass: [Inputs, Weights]}\n"
        "  - {target: psum_spad, type: temporal, factors: M=2 Q=2, permutation: QM}\n")
    imp, h, p, nest = _specs([str(DATA / "eyeriss_like.arch.yaml"), str(tmp_path / "p.yaml"), str(tmp_path / "m.yaml")])
    assert p.macs == 2 * 4 * 3 * 3 * 4 * 4
    fast, slow = count_actions(p, h, nest), interpret(p, h, nest)
    assert fast.table() == slow.table() and (fast.cycles, fast.active) == (slow.cycles, slow.active) == (1152 // 6, 6)
    # the workload layer the importer wrote is the same convolution: same table through from_layer
    import yaml

    from workloads.loader import load_workload

    (tmp_path / "w.yaml").write_text(yaml.safe_dump(imp.workload))
    layer = load_workload(str(tmp_path / "w.yaml")).layers[0]
    assert count_actions(from_layer(layer), h, nest).table() == fast.table()


@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_printed_mapping_round_trips(design):
    """Timeloop-style print of the imported nest, read back: the same nest, level for level."""
    _, h, p, nest = _specs(DESIGNS[design])
    text = loop_nest_text(p, nest)
    assert nest_from_text(text, p, h, "printed") == nest
    assert loop_nest_text(p, nest_from_text(text, p, h, "printed")) == text


def test_weight_stationary_constraints_carry_over_as_keeps_and_unsplit():
    """simple_weight_stationary's constraints: the bypasses become what each level may keep, the
    factor-1 constraints the levels' unsplit and the array's unsplit_x / unsplit_y; the loop-order
    constraints and forced keeps have no counterpart and are listed, not dropped silently."""
    imp, h, p, nest = _specs(DESIGNS["ws"])
    lv = {x.name: x for x in h.levels}
    assert h.level_names == ("DRAM", "shared_glb", "pe_spad", "weight_reg", "input_activation_reg",
                             "output_activation_reg") and h.compute.name == "mac"
    assert lv["pe_spad"].keeps == ("weight",) and lv["pe_spad"].capacity == ((("weight",), 192),)
    assert lv["shared_glb"].capacity == ((("ifmap", "weight", "psum"), 16384 * 64 // 16),)
    assert lv["weight_reg"].unsplit == ("R", "S", "K", "C") and lv["output_activation_reg"].keeps == ("psum",)
    fan = lv["shared_glb"].fanout
    assert (fan.x, fan.y, fan.unsplit_x, fan.unsplit_y) == (16, 16, ("R", "S", "P", "Q"), ("R", "S", "P", "Q"))
    assert sum("permutation" in n for n in imp.notes) == 2 and sum(".keep:" in n for n in imp.notes) == 4
    # weights bypass the GLB: DRAM refills every PE's 11 x 11 filter at each (Q 5, M 6) step above it
    a = count_actions(p, h, nest)
    assert a.storage[("DRAM", "weight", "read")] == 96 * 3 * 121 * 5 and a.active == 48


def _err(tmp_path, files):
    out = accelsim("import", "timeloop", *files, "--out", "o", cwd=tmp_path)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    return lines[0]


@pytest.mark.parametrize("src, old, new, expect", [
    ("eyeriss_like.arch.yaml", "class: regfile", "class: flipflops",
     "eyeriss_like.arch.yaml: architecture.subtree[0].subtree[0].local[1].class: unknown class 'flipflops'"),
    ("eyeriss_like_conv1.map.yaml", "target: weights_spad, type: temporal", "target: weight_spad, type: temporal",
     "eyeriss_like_conv1.map.yaml: mapping[8].target: no storage level 'weight_spad' in the architecture"),
    ("eyeriss_like_conv1.map.yaml", "factors: R=11", "factors: R=5",
     "eyeriss_like_conv1.map.yaml: mapping: factors of R multiply to 5, the problem's R is 11"),
    ("eyeriss_like_conv1.map.yaml", "factors: M=12 C=1", "factors: M=24 C=1",
     "eyeriss_like_conv1.map.yaml: mapping[3].factors: spatial factors on X use 24 > the fanout's 14"),
    ("eyeriss_like_conv1.map.yaml", "factors: M=8", "factors: M=4",
     "eyeriss_like_conv1.map.yaml: mapping: factors of M multiply to 48, the problem's M is 96"),
    ("alexnet_conv1.prob.yaml", "[[R, Wdilation], [P, Wstride]]", "[[R, Wdilation], [T, Wstride]]",
     "alexnet_conv1.prob.yaml: problem.shape.data-spaces: data-space 'Inputs' projects unknown dim 'T'"),
])
def test_bad_timeloop_input_is_one_line_naming_file_and_key(tmp_path, src, old, new, expect):
    files = []
    for f in DESIGNS["eyeriss_like"]:
        text = open(f).read()
        if f.endswith(src):
            assert old in text
            text = text.replace(old, new, 1)
        (tmp_path / src if f.endswith(src) else tmp_path / f.split("/")[-1]).write_text(text)
        files.append(f.split("/")[-1])
    line = _err(tmp_path, files)
    assert line.startswith("accelsim: error: " + expect), line


def test_a_section_in_two_files_and_a_capacity_overflow_are_errors(tmp_path):
    arch = DESIGNS["eyeriss_like"][0]
    assert "architecture: section also given in" in _err(tmp_path, [arch, arch])
    (tmp_path / "v4.yaml").write_text("architecture:\n  version: 0.4\n  nodes:\n  - !Container\n    name: system\n")
    assert _err(tmp_path, ["v4.yaml"]) == ("accelsim: error: v4.yaml: line 4: Timeloop v0.4's tagged nodes (!Container) "
                                           "are not read; write the architecture as a v0.3 subtree/local tree")
    text = open(DESIGNS["eyeriss_like"][2]).read().replace("factors: M=8", "factors: M=24").replace(
        "factors: M=12 C=1", "factors: M=4 C=1")
    (tmp_path / "m.yaml").write_text(text)
    line = _err(tmp_path, [arch, PROB, "m.yaml"])
    assert line == ("accelsim: error: m.yaml: mapping (level weights_spad): weights_spad tiles of weight need "
                    "264 words > 192")


def test_a_custom_einsum_shape_imports_counts_exactly_and_runs(tmp_path):
    """A shape with its own data-spaces (the exercises' 1-D convolution with output channels: Weights
    [K][R], Inputs [R + P], Outputs [K][P]) on a two-level design with a 4-wide fanout: the closed form
    equals the interpreter, and the einsum workload the importer writes runs."""
    (tmp_path / "a.yaml").write_text(
        "architecture:\n  version: 0.2\n  subtree:\n  - name: System\n    local:\n"
        "    - {name: MainMemory, class: DRAM, attributes: {word-bits: 8, width: 256}}\n"
        "    subtree:\n    - name: Chip\n      local:\n"
        "      - {name: GlobalBuffer, class: SRAM, attributes: {depth: 64, width: 32, word-bits: 8}}\n"
        "      subtree:\n      - name: PE\n        local:\n"
        "        - {name: 'RegisterFile[0..3]', class: regfile, attributes: {depth: 16, word-bits: 8}}\n"
        "        - {name: 'MACC[0..3]', class: intmac, attributes: {word-bits: 8}}\n")
    (tmp_path / "p.yaml").write_text(
        "problem:\n  shape:\n    name: Conv1D_OC\n    dimensions: [K, R, P]\n    data-spaces:\n"
        "    - {name: Weights, projection: [[[K]], [[R]]]}\n"
        "    - {name: Inputs, projection: [[[R], [P]]]}\n"
        "    - {name: Outputs, projection: [[[K]], [[P]]], read-write: true}\n"
        "  instance: {K: 8, R: 3, P: 6}\n")
    (tmp_path / "m.yaml").write_text(
        "mapping:\n"
        "  - {target: MainMemory, type: temporal, factors: K=2 R=1 P=1, permutation: PRK}\n"
        "  - {target: GlobalBuffer, type: temporal, factors: R=3 P=2 K=1, permutation: RPK}\n"
        "  - {target: GlobalBuffer, type: spatial, factors: K=4, permutation: K}\n"
        "  - {target: RegisterFile, type: temporal, factors: P=3, permutation: P}\n")
    files = [str(tmp_path / n) for n in ("a.yaml", "p.yaml", "m.yaml")]
    imp, h, p, nest = _specs(files)
    assert (h.levels[1].capacity, h.levels[1].fanout.x, h.levels[2].capacity) == (
        ((("ifmap", "weight", "psum"), 64 * 4),), 4, ((("ifmap", "weight", "psum"), 16),))
    assert p.tensor("ifmap").coords[0].size == (3 - 1) + (6 - 1) + 1 and p.macs == 8 * 3 * 6
    fast, slow = count_actions(p, h, nest), interpret(p, h, nest)
    assert fast.table() == slow.table() and fast.active == 4
    out = accelsim("import", "timeloop", *files, "--out", "imp", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    run = accelsim("run", "imp/hierarchy.yaml", "-w", "imp/workload.yaml", "--mapping", "imp/mapping.yaml", "-d", "ws",
                   "--json", "-q", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    layer = json.loads(run.stdout)["layers"][0]
    assert (layer["macs"], layer["active_pes"]) == (8 * 3 * 6, 4)


CUSTOM_PROBLEM = ("problem:\n  shape:\n    name: Conv1D_OC\n    dimensions: [K, R, P]\n    data-spaces:\n"
                  "    - {name: Weights, projection: [[[K]], [[R]]]}\n"
                  "    - {name: Inputs, projection: [[[R], [P]]]}\n"
                  "    - {name: Outputs, projection: [[[K]], [[P]]], read-write: true}\n"
                  "  instance: {K: 8, R: 3, P: 6}\n")


@pytest.mark.parametrize("old, new, expect", [
    # found by tests/test_core_fuzz.py: each was a TypeError traceback before
    ("dimensions: [K, R, P]", "dimensions: [K, [R], P]", "p.yaml: problem.shape.dimensions[1]: a dim is a name"),
    ("dimensions: [K, R, P]", "dimensions: [K, R, K]", "p.yaml: problem.shape.dimensions: a dim is named twice"),
    ("projection: [[[K]], [[R]]]", "projection: [[[[K]]], [[R]]]",
     "p.yaml: problem.shape.data-spaces[0].projection[0]: expected [dim] or [dim, coefficient] (names)"),
    ("dimensions: [K, R, P]", "dimensions: [K, null, P]", "p.yaml: problem.shape.dimensions[1]: a dim is a name"),
])
def test_malformed_custom_shape_is_one_line(tmp_path, old, new, expect):
    from accelsim.errors import ConfigError

    assert old in CUSTOM_PROBLEM
    (tmp_path / "p.yaml").write_text(CUSTOM_PROBLEM.replace(old, new, 1))
    with pytest.raises(ConfigError) as e:
        import_timeloop([str(tmp_path / "p.yaml")])
    assert str(e.value).startswith(str(tmp_path / expect.split(":")[0])) and expect.split(": ", 1)[1] in str(e.value)
    assert "\n" not in str(e.value)
