"""`accelsim run` on level-list hierarchies (accelsim.pipeline_hierarchy): the general run equals the
fixed path on converted fixed-shape archs, the latency bound over any hierarchy equals the fixed
bound as its view and a hand-computed case, the five dataflows' rules build legal nests whose counts
equal the brute-force interpreter, and the CLI runs BERT's Q.K^T, ResNet-50 on Simba-like and
MobileNet on the clustered Eyeriss v2, with every bad input one line and exit 2."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from accelsim.arch import load_arch
from accelsim.cost.actions import Actions, count_actions
from accelsim.cost.bound import bound_parts, hierarchy_bound, latency_bound
from accelsim.cost.counts import count, to_counts
from accelsim.hierarchy import Fanout, Hierarchy, Storage, from_arch, load_architecture
from accelsim.interp_general import interpret
from accelsim.loopnest import from_fixed, problems_of
from accelsim.mapper.space import propose
from accelsim.names import ROLES
from accelsim.pipeline import run as run_fixed
from accelsim.pipeline_hierarchy import run_hierarchy
from accelsim.problem import bmm, from_layer, gemm
from dataflows import registry
from dataflows.nest_rule import build
from tests.conftest import REPO
from workloads.layer import Layer, LayerKind
from workloads.loader import load_workload
from workloads.problems import load_problem_workload

FIVE = ("os", "ws", "is", "nlr", "rs")


def cli(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "accelsim", "run", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


# ---- the general run on a converted fixed-shape arch == the fixed path ------------------------

@pytest.mark.parametrize("arch_name,dataflow", [("eyeriss_v1", "rs"), ("eyeriss_v1_flat192", "ws"),
                                                ("eyeriss_v1_flat192", "os"), ("eyeriss_v1_flat192", "is"),
                                                ("eyeriss_v1_flat192", "nlr"), ("systolic_32x32_ws", None)])
def test_general_run_on_from_arch_equals_the_fixed_path(arch_name, dataflow):
    arch = load_arch(arch_name)
    wl = load_workload("alexnet")
    fixed = run_fixed(arch, wl, dataflow, simulate=False)
    general = run_hierarchy(from_arch(arch), load_problem_workload("alexnet"), dataflow, arch=arch)
    assert general.dataflow == fixed.dataflow
    for f, g in zip(fixed.layers, general.layers):
        if f.result.mapping is None:
            continue
        assert to_counts(g.actions) == f.result.counts
        assert g.cycles == latency_bound(f.result.counts, arch)
        parts = g.energy_parts_pj
        want = f.result.energy_breakdown_pj
        assert parts["mac"] == pytest.approx(want["mac"], rel=1e-12)
        assert parts["dram"] == pytest.approx(want["dram"], rel=1e-12)
        assert parts["glb"] == pytest.approx(want["glb"], rel=1e-12)
        assert parts["glb.net"] == pytest.approx(want["noc"], rel=1e-12)
        assert parts["rf"] == pytest.approx(want["rf"], rel=1e-12)
        assert parts.get("reg", 0.0) == 0.0
        assert g.energy_pj == pytest.approx(f.result.energy_pj, rel=1e-12)


def test_fixed_bound_is_a_view_of_the_hierarchy_bound_on_mapper_proposals():
    """latency_bound(count rows) == hierarchy_bound(general action table over from_arch) on random
    proposals of every dataflow (the view reads the rows back; the general count is independent)."""
    rng = random.Random(7)
    layers = [lay for lay in load_workload("alexnet").layers if lay.kind.has_macs]
    n = 0
    for arch_name in ("eyeriss_v1", "eyeriss_v2_flat", "systolic_32x32_os"):
        arch = load_arch(arch_name)
        h = from_arch(arch)
        for flow in FIVE:
            for layer in layers[::2]:
                m = propose(layer, arch, registry.get(flow), rng)
                a = count_actions(from_layer(layer), h, from_fixed(m, h))
                assert hierarchy_bound(a, h) == latency_bound(count(layer, m), arch)
                n += 1
    assert n == 3 * 5 * 4


def test_bound_hand_computed():
    """dram (shared port 2 w/c) -> glb (read 4, write 2 w/c; 2x1 bus fanout) -> spad x2 (read 1)."""
    h = Hierarchy("t", (Storage("dram", ROLES, bandwidth=2.0),
                        Storage("glb", ROLES, read_bandwidth=4.0, write_bandwidth=2.0, fanout=Fanout(2, 1, "bus")),
                        Storage("spad", ROLES, read_bandwidth=1.0)))
    storage = {("dram", "ifmap", "read"): 30, ("dram", "psum", "update"): 10,      # 40 words / 2 = 20
               ("glb", "ifmap", "read"): 100, ("glb", "psum", "drain"): 8,        # 108 / 4 = 27
               ("glb", "ifmap", "fill"): 30, ("glb", "psum", "update"): 31,       # 61 / 2 = 30.5
               ("spad", "weight", "read"): 90}                                     # 90 / (2 copies * 1) = 45
    network = {("glb", "ifmap", "down"): 100, ("glb", "ifmap", "down_dest"): 200}
    a = Actions(500, 40, 2, storage, network)
    parts = bound_parts(a, h)
    from noc.registry import network_bound

    (ai, bi), *_ = network_bound("bus")
    assert parts == {"compute": 40.0, "dram": 20.0, "glb": 30.5, "glb.net": ai * 200 + bi * 100, "spad": 45.0}
    assert hierarchy_bound(a, h) == max(45.0, ai * 200 + bi * 100)


# ---- the rules: legal nests on any hierarchy, counts equal to brute force ----------------------

SMALL_H = Hierarchy("small", (
    Storage("dram", ROLES),
    Storage("l2", ROLES, capacity=((ROLES, 600),), fanout=Fanout(2, 2, "mesh")),
    Storage("l1", ("ifmap", "psum"), capacity=((("ifmap", "psum"), 80),), fanout=Fanout(2, 1, "bus")),
    Storage("pe", ROLES, capacity=((("ifmap",), 6), (("weight",), 12), (("psum",), 4))),
    Storage("reg", ROLES, capacity=tuple(((r,), 1) for r in ROLES)),
))
SMALL = [
    from_layer(Layer("c", LayerKind.CONV, C=3, K=4, H=6, W=6, R=3, S=3, pad_h=1, pad_w=1)),
    from_layer(Layer("dw", LayerKind.DEPTHWISE, C=4, K=4, H=5, W=5, R=3, S=3, stride_h=2, stride_w=2, groups=4)),
    gemm("g", 6, 5, 7),
    bmm("b", 2, 4, 3, 5),
]


@pytest.mark.parametrize("flow", FIVE)
def test_rule_nests_are_legal_and_count_like_the_interpreter(flow):
    for p in SMALL:
        nest = build(registry.get(flow).rule, p, SMALL_H, flow)
        assert problems_of(p, SMALL_H, nest) == []
        assert count_actions(p, SMALL_H, nest) == interpret(p, SMALL_H, nest)


@pytest.mark.parametrize("name", ["hierarchy/eyeriss_v2", "hierarchy/simba_like", "eyeriss_v1_flat192"])
def test_rules_map_every_resnet_and_mobilenet_layer(name):
    h = load_architecture(name)
    for wl in ("resnet50", "mobilenet_v1"):
        for pl in load_problem_workload(wl).layers:
            if pl.problem is None:
                continue
            for flow in FIVE:
                nest = build(registry.get(flow).rule, pl.problem, h, flow)
                assert problems_of(pl.problem, h, nest) == []


# ---- the command line ---------------------------------------------------------------------------

def test_bert_qk_runs_through_accelsim_run(tmp_path):
    out = cli("hierarchy/simba_like", "-w", "workloads/bert_base_qk.yaml", "-d", "ws", "--json", "--no-sim", "--out",
              str(tmp_path / "o"))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["schema"] == "accelsim.stats/2" and doc["core"] == "hierarchy" and not doc["simulated"]
    (layer,) = doc["layers"]
    assert layer["macs"] == 12 * 512 * 512 * 64 == doc["totals"]["macs"]
    # every reads/writes row is the action table's sum
    rows = {(r["level"], r["tensor"], r["action"]): r["words"] for r in layer["actions"]}
    for lv, by_role in layer["accesses"].items():
        for role, rw in by_role.items():
            if lv.endswith(".net"):
                net = lv[:-4]
                assert rw == {"reads": rows.get((f"{net}.net", role, "down_dest"), 0),
                              "writes": rows.get((f"{net}.net", role, "up_src"), 0)}
            else:
                assert rw["reads"] == rows.get((lv, role, "read"), 0) + rows.get((lv, role, "drain"), 0)
                assert rw["writes"] == rows.get((lv, role, "fill"), 0) + rows.get((lv, role, "update"), 0)
    # the output: 12 x 512 x 512 scores written to DRAM exactly once (the output stays on chip)
    assert rows[("dram", "psum", "update")] == 12 * 512 * 512
    assert layer["cycles"] == max(layer["bound_cycles"].values()) >= layer["ideal_cycles"]
    assert layer["eyexam"][-1]["macs_per_cycle"] == pytest.approx(layer["macs"] / layer["cycles"])
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["layers.csv", "mapping.txt", "stats.json"]
    text = cli("hierarchy/simba_like", "-w", "workloads/bert_base_qk.yaml", "-d", "ws", "-q", "--no-sim").stdout
    assert "cycles are the latency bound" in text and "energy normalized " in text


def test_simulated_run_reports_eyexam_step_7_from_the_simulation():
    """Step 7 is the simulated MACs per cycle (never above step 6's bound); --no-sim stops at step 6."""
    doc = json.loads(cli("hierarchy/simba_like", "-w", "alexnet", "-d", "ws", "--layers", "CONV2", "--json").stdout)
    (layer,) = doc["layers"]
    steps = layer["eyexam"]
    assert doc["simulated"] and [s["step"] for s in steps] == list(range(1, 8))
    assert layer["cycles"] >= max(layer["bound_cycles"].values())
    assert steps[-1]["macs_per_cycle"] == pytest.approx(min(steps[-2]["macs_per_cycle"], layer["macs"] / layer["cycles"]))
    bare = json.loads(cli("hierarchy/simba_like", "-w", "alexnet", "-d", "ws", "--layers", "CONV2", "--json",
                          "--no-sim").stdout)
    assert [s["step"] for s in bare["layers"][0]["eyexam"]] == list(range(1, 7))


def test_search_is_deterministic_and_never_worse_than_the_named_mapping():
    named = json.loads(cli("hierarchy/simba_like", "-w", "alexnet", "-d", "ws", "--json").stdout)
    a = cli("hierarchy/simba_like", "-w", "alexnet", "-d", "ws", "--search", "--seed", "5", "--json")
    b = cli("hierarchy/simba_like", "-w", "alexnet", "-d", "ws", "--search", "--seed", "5", "--json")
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout
    s = json.loads(a.stdout)
    for ln, ls in zip(named["layers"], s["layers"]):
        assert ls["energy_pj"] <= ln["energy_pj"] * (1 + 1e-12)


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_bad_inputs_are_one_line_exit_2(tmp_path):
    nest = _write(tmp_path, "nest.yaml", "qk:\n  - {level: nowhere, factors: {B: 12}}\n")
    einsum = _write(tmp_path, "e.yaml", "layers:\n  - name: e\n    kind: einsum\n    einsum:\n      dims: {K: 4}\n"
                    "      tensors:\n        - {name: x, role: ifmap, coords: [Z]}\n"
                    "        - {name: w, role: weight, coords: [K]}\n        - {name: y, role: psum, coords: [K]}\n")
    nodf = _write(tmp_path, "nodf.yaml", (REPO / "configs" / "hierarchy" / "simba_like.yaml").read_text()
                  .replace("dataflow: ws", ""))
    cases = [
        (("hierarchy/simba_like", "-w", "workloads/bert_base_qk.yaml", "-d", "ws", "--mapping", nest),
         "nest.yaml: qk: [0].level: no level 'nowhere' in hierarchy 'simba_like'"),
        (("hierarchy/simba_like", "-w", "alexnet", "-d", "os_moc_mop"),
         "dataflow 'os_moc_mop' has no rule for level-list hierarchies"),
        ((nodf, "-w", "alexnet"), "nodf.yaml: dataflow: hierarchy 'simba_like' names no dataflow"),
        (("hierarchy/simba_like", "-w", einsum, "-d", "ws"), "e.yaml: layers[0] (e).einsum.tensors[0].coords[0]: unknown dim 'Z'"),
        (("hierarchy/simba_like", "-w", "alexnet", "-d", "ws", "--refine"), "--refine re-ranks a search by simulation"),
    ]
    for args, expect in cases:
        out = cli(*args, "-q")
        assert out.returncode == 2, (args, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and expect in lines[0], (expect, out.stderr)


@pytest.mark.parametrize("arch,workload,units,net", [("eyeriss_v2", "mobilenet_v1", 192, "8x2 eyeriss_v2 -> glb_cluster"),
                                                     ("hierarchy/simba_like", "resnet50", 576, "6x6 mesh -> chiplet_buffer")])
def test_shipped_hierarchies_run_whole_networks(arch, workload, units, net):
    """Every layer runs; MACs add up to the zoo's; every output element leaves the chip exactly once
    (DRAM psum update - DRAM psum read = output elements); every weight is read from DRAM at least once."""
    out = cli(arch, "-w", workload, "--json", "--no-sim")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["core"] == "hierarchy" and net in doc["hierarchy"] and doc["pes"] == units
    zoo = load_problem_workload(workload)
    assert [l["name"] for l in doc["layers"]] == [pl.name for pl in zoo.layers]
    assert doc["totals"]["macs"] == sum(lay.macs for lay in load_workload(workload).layers)
    for l, pl in zip(doc["layers"], zoo.layers):
        if pl.problem is None:
            continue
        w = {(r["level"], r["tensor"], r["action"]): r["words"] for r in l["actions"]}
        assert w.get(("dram", "psum", "update"), 0) - w.get(("dram", "psum", "read"), 0) == pl.problem.elements("psum")
        assert w[("dram", "weight", "read")] >= pl.problem.elements("weight")
        if arch == "eyeriss_v2":             # weights bypass the GLB clusters
            assert not any(k[0] == "glb_cluster" and k[1] == "weight" for k in w)


@pytest.mark.parametrize("arch,workload", [("eyeriss_v2", "mobilenet_v1"), ("hierarchy/simba_like", "resnet50")])
def test_shipped_hierarchies_search_whole_networks(arch, workload):
    """Issue 13's checks: MobileNet on the clustered Eyeriss v2 and ResNet-50 on Simba-like with
    --search: every MAC layer searched by the general mapper, the MACs the zoo's, and (energy being
    the objective, the search started from the named mapping) no layer above its named energy."""
    named = json.loads(cli(arch, "-w", workload, "--json", "--no-sim").stdout)
    out = cli(arch, "-w", workload, "--json", "--no-sim", "--search", "--search-budget", "200")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["search"]["searcher"].startswith("general mapper") and doc["totals"]["macs"] == named["totals"]["macs"]
    assert {l["mapping_source"] for l in doc["layers"] if l["macs"]} == {"searched"}
    for ln, ls in zip(named["layers"], doc["layers"]):
        assert ls["energy_pj"] <= ln["energy_pj"] * (1 + 1e-12), ls["name"]
    assert doc["totals"]["energy_pj"] < named["totals"]["energy_pj"]


def test_level_list_config_is_refused_by_fixed_shape_commands():
    out = subprocess.run([sys.executable, "-m", "accelsim", "explain", "eyeriss_v2", "-w", "alexnet"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "eyeriss_v2.yaml: a level-list hierarchy (levels:)" in out.stderr and "eyeriss_v2_flat" in out.stderr


def test_a_dataflow_that_cannot_map_and_a_layer_that_cannot_fit_are_one_line(tmp_path):
    """os spreads only P and Q, so R must be a temporal loop somewhere: a hierarchy whose every level
    forbids splitting R cannot run it; rs keeps all three tensors in its innermost buffer, which a
    2-word buffer cannot hold even at one word each."""
    forbid = _write(tmp_path, "forbid.yaml", "name: forbid\ndataflow: os\nlevels:\n"
                    "  - {name: dram, keeps: [ifmap, weight, psum], unsplit: [R]}\n"
                    "  - {name: buf, keeps: [ifmap, weight, psum], capacity: 100000, unsplit: [R],\n"
                    "     fanout: {x: 4, y: 4, network: bus}}\n"
                    "  - {name: pe, keeps: [ifmap, weight, psum], capacity: 4096, unsplit: [R]}\n")
    tiny = _write(tmp_path, "tiny.yaml", "name: tiny\ndataflow: rs\nlevels:\n"
                  "  - {name: dram, keeps: [ifmap, weight, psum]}\n"
                  "  - {name: buf, keeps: [ifmap, weight, psum], capacity: 2}\n")
    for arch, expect in ((forbid, "forbid.yaml: levels[0].factors: dataflow 'os' cannot map 'CONV1' onto 'forbid': "
                                  "level 'dram' may not split R"),
                         (tiny, "tiny.yaml: dataflow 'rs': problem 'CONV1' does not fit level 'buf' of 'tiny'")):
        out = cli(arch, "-w", "alexnet", "--layers", "CONV1", "-q", "--no-sim")
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and expect in lines[0], out.stderr


TINY_NEST = """\
- level: dram
  spatial: {x: {K: 8}, y: {P: 2}}
- level: glb_cluster
  factors: {C: 4}
  spatial: {x: {R: 3}, y: {P: 3}}
- level: spad
  factors: {Q: 6, S: 3}
  order: [Q, S]
"""


def test_hand_written_nest_runs_without_a_dataflow(tmp_path):
    """An imported design names no dataflow: with every layer with MACs hand-written, `run --mapping`
    needs no -d, says "hand-written mapping" and counts exactly the given nest (= the brute-force
    interpreter on it); a layer left to a named mapping still needs one (one line, exit 2); a nest
    that does not map its layer is one line naming the file and the layer key."""
    from accelsim.hierarchy import level_list
    from accelsim.loopnest import nest_from_dict
    from accelsim.yamlio import load_yaml

    nodf = _write(tmp_path, "nodf.yaml", (REPO / "configs" / "eyeriss_v2.yaml").read_text()
                  .replace("dataflow: rs_plus", ""))
    work = _write(tmp_path, "w.yaml", "name: tiny\nlayers:\n  - {name: c, kind: conv, C: 4, K: 8, H: 6, R: 3, "
                  "padding: 1}\n  - {name: pool, kind: pool, C: 8, H: 6, R: 2, stride: 2}\n")
    nest_file = _write(tmp_path, "n.yaml", TINY_NEST)
    out = cli(nodf, "-w", work, "--mapping", nest_file, "-q", "--no-sim")
    assert out.returncode == 0, out.stderr
    head = out.stdout.splitlines()[0]
    assert "| no dataflow |" in head and head.endswith("| hand-written mapping")
    doc = json.loads(cli(nodf, "-w", work, "--mapping", nest_file, "--json").stdout)
    assert doc["dataflow"] is None and doc["hand_written_mappings"] == ["c"] and doc["simulated"]
    layer = doc["layers"][0]
    assert layer["mapping_source"] == "hand-written" and layer["eyexam"] == []
    h = level_list(nodf)
    problem = load_problem_workload(work).layers[0].problem
    truth = interpret(problem, h, nest_from_dict(load_yaml(nest_file), h))
    assert [(r["level"], r["tensor"], r["action"], r["words"]) for r in layer["actions"]] == truth.table()
    assert layer["macs"] == truth.macs == 8 * 4 * 6 * 6 * 3 * 3
    # with -d, the header names the dataflow; a second conv without a nest takes the named mapping
    two = _write(tmp_path, "w2.yaml", "name: two\nlayers:\n  - {name: c, kind: conv, C: 4, K: 8, H: 6, R: 3, "
                 "padding: 1}\n  - {name: d, kind: conv, C: 8, K: 8, H: 6, R: 3, padding: 1}\n")
    mixed = cli(nodf, "-w", two, "--mapping", _write(tmp_path, "m.yaml", "c:\n" + "".join(
        "  " + line + "\n" for line in TINY_NEST.splitlines())), "-d", "rs", "-q", "--no-sim")
    assert mixed.returncode == 0, mixed.stderr
    assert mixed.stdout.splitlines()[0].endswith("| dataflow rs | 200 MHz | 192 compute units | energy normalized "
                                                 "| hand-written mapping for c, named for the rest")
    for args, expect in [
        ((nodf, "-w", two, "--mapping", _write(tmp_path, "m1.yaml", "c:\n" + "".join(
            "  " + line + "\n" for line in TINY_NEST.splitlines()))), "nodf.yaml: dataflow: hierarchy 'eyeriss_v2' "
                                                                        "names no dataflow"),
        ((nodf, "-w", work, "--mapping", _write(tmp_path, "short.yaml", TINY_NEST.replace("Q: 6", "Q: 3"))),
         "short.yaml: c: levels: factors of Q cover 3 < Q=6"),
        ((nodf, "-w", work, "--mapping", _write(tmp_path, "wide.yaml", TINY_NEST.replace("K: 8}", "K: 16}"))),
         "wide.yaml: c: levels[0].x: spatial factors use 16 > fanout x 8"),
    ]:
        bad = cli(*args, "-q", "--no-sim")
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and expect in bad.stderr, (expect, bad.stderr)
