"""accelsim scalesim: SCALE-Sim's numbers on its own .cfg, plus what SCALE-Sim lacks, on the same run."""

from __future__ import annotations

import subprocess
import sys

import pytest

import configs
from accelsim.arch import load_scalesim_cfg
from accelsim.cli.cmd_scalesim import compare
from accelsim.energy import PRESETS
from tests.conftest import REPO
from workloads.loader import load_workload

OS_CFG = configs.root() / "scalesim" / "scale_32x32_os.cfg"
TOPOLOGY = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
Conv5, 15, 15, 3, 3, 384, 256, 1,
DP1, 16, 16, 3, 3, 8, 1, 1,
"""


@pytest.fixture(scope="module")
def doc(tmp_path_factory):
    topo = tmp_path_factory.mktemp("t") / "topo.csv"
    topo.write_text(TOPOLOGY)
    return compare(load_scalesim_cfg(OS_CFG), load_workload(str(topo)), budget=300)


def test_scalesim_numbers_and_energy_edp_eyexam(doc):
    conv5, _ = doc["layers"]
    # SCALE-Sim 3.0 measured 168863 cycles for AlexNet CONV5 on this .cfg (benchmarks/peers.json) and
    # DRAM IFMAP / Filter reads 1039502 / 5308416 (benchmarks/peer_data/scalesim_reports.json)
    assert conv5["cycles"] == 168863
    assert (conv5["DRAM IFMAP Reads"], conv5["DRAM Filter Reads"]) == (1039502, 5308416)
    macs = 13 * 13 * 3 * 3 * 384 * 256
    # shipped table (65 nm, 8-bit): 0.208 pJ per MAC; the normalized table: 1 per MAC
    assert conv5["energy_pj_by_level_accelergy_65nm"]["mac"] == pytest.approx(macs * 0.208)
    assert conv5["energy_pj_by_level"]["mac"] == macs
    assert PRESETS["accelergy_65nm"](8, 192).mac_pj == 0.208
    assert conv5["edp"] == conv5["energy_pj"] * conv5["cycles"]
    # Eyexam's static bound: 6 x 8 folds of 3456 steps (step 4, the array's shape) <= the cycles
    assert conv5["eyexam_bound_cycles"] == pytest.approx(6 * 8 * 3456)
    assert conv5["eyexam_limited_by"] == "physical dimensions of the PE array"


def test_mapper_beside_the_fixed_mapping(doc):
    conv5, _ = doc["layers"]
    assert doc["search"]["dataflow"] == "os_moc_mop" and doc["search"]["objective"] == "edp"
    best = conv5["best"]
    assert conv5["edp_gain"] == pytest.approx(conv5["edp"] / best["edp"])
    assert best["edp"] == pytest.approx(best["energy_pj"] * best["cycles"])
    assert best["mapping"] != "dram:K8C2P6 glb:- rows:P32 cols:K32 rf:C1728"


def test_depthwise_is_one_layer(doc):
    """DP1: 8 channels of 3x3 over 16x16 (14x14 outputs). SCALE-Sim's topology splits it into 8
    one-channel layers, each OS: 196 pixels / 32 -> 7 row folds, 1 filter, T = 9:
    7 x (9 + 32 + 32 - 2) - 1 = 496 cycles, 8 x 496 = 3968 in all. accelsim runs it as one layer of
    8 independent groups: 8 x 7 folds x 71 - 1 = 3975 (one layer's trailing -1 instead of eight)."""
    _, dp = doc["layers"]
    assert dp["kind"] == "depthwise" and dp["groups"] == 8 and dp["scalesim_layers"] == 8
    assert dp["cycles"] == 8 * 7 * 71 - 1 == 8 * 496 + 7
    assert dp["mapping_efficiency_pct"] == pytest.approx(100 * 196 / (7 * 1024))


def test_cli(tmp_path):
    topo = tmp_path / "t.csv"
    topo.write_text(TOPOLOGY)
    env = {"PYTHONPATH": str(REPO), "PATH": ""}
    ok = subprocess.run([sys.executable, "-m", "accelsim", "scalesim", str(OS_CFG), "-w", str(topo), "--no-search"],
                        capture_output=True, text=True, env=env, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    line = next(x for x in ok.stdout.splitlines() if x.startswith("Conv5"))
    assert line.split()[1] == "168863"
    bad = subprocess.run([sys.executable, "-m", "accelsim", "scalesim", str(OS_CFG), "-w", str(topo), "--table", "x"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "unknown energy table 'x'" in bad.stderr and "accelergy_65nm" in bad.stderr
    cfg = tmp_path / "bad.cfg"
    cfg.write_text(OS_CFG.read_text().replace("ArrayHeight", "ArrayHieght"))
    bad = subprocess.run([sys.executable, "-m", "accelsim", "scalesim", str(cfg), "-w", str(topo)],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "ArrayHieght" in bad.stderr


def test_explain_sees_the_im2col_view(tmp_path):
    """accelsim explain on a .cfg maps the layer as the run does: CONV5 simulates to SCALE-Sim's 168863."""
    from accelsim.cli.cmd_explain import explain

    topo = tmp_path / "t.csv"
    topo.write_text(TOPOLOGY)
    arch = load_scalesim_cfg(OS_CFG)
    (layer, result, sim), _ = explain(arch, load_workload(str(topo)), arch.dataflow)
    assert layer.name == "Conv5" and result.macs == 13 * 13 * 3 * 3 * 384 * 256 and sim.cycles == 168863
