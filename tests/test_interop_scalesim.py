"""SCALE-Sim interop: a .cfg read as an accelsim arch (and rejected, one line, when bad), and
COMPUTE_REPORT.csv with SCALE-Sim's columns and its definitions of the numbers in them."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

import configs
from accelsim.arch import load_scalesim_cfg
from accelsim.errors import ConfigError
from accelsim.interop.scalesim import (
    COMPUTE_REPORT_COLUMNS,
    cfg_document,
    cfg_topology,
    compute_report_csv,
    compute_report_rows,
)
from accelsim.pipeline import run
from tests.conftest import REPO
from workloads.loader import load_workload

OS_CFG = configs.root() / "scalesim" / "scale_32x32_os.cfg"
WS_CFG = configs.root() / "scalesim" / "eyeriss_12x14_ws.cfg"

GOOD = """[general]
run_name = tiny

[architecture_presets]
ArrayHeight:    8
ArrayWidth:     4
IfmapSramSzkB:  16
FilterSramSzkB: 8
OfmapSramSzkB:  4
IfmapOffset:    0
Dataflow : {df}
Bandwidth : 5

[run_presets]
InterfaceBandwidth: {mode}
"""


def cfg(tmp_path, text, name="a.cfg"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_shipped_cfgs_become_the_documented_arch():
    a = load_scalesim_cfg(OS_CFG)
    assert (a.pe_array.rows, a.pe_array.cols) == (32, 32)
    assert a.glb.size_kb == 64 + 64 + 64 and a.word_bits == 8          # one GLB, SCALE-Sim's 1-byte words
    assert a.glb_words == 192 * 1024                                     # as many words as its three SRAMs
    assert a.glb.holds == ("ifmap", "weight", "psum")
    assert a.dataflow == "scalesim_os" and a.rf.psum == 1 and a.rf.ifmap is None and a.rf.weight is None
    assert a.noc.type == "systolic" and a.noc.param("timing") == "scalesim"
    assert a.dram.bandwidth_gb_per_s is None                             # CALC: never stalls on DRAM
    assert a.name == "scale_example_run_32x32_os"
    w = load_scalesim_cfg(WS_CFG)
    assert (w.pe_array.rows, w.pe_array.cols, w.dataflow, w.rf.weight) == (12, 14, "scalesim_ws", 1)
    # USER, Bandwidth 10 words/cycle on each of 3 interfaces, 1-byte words at 1 GHz: 3 x 10 x 1 B x 1e9 = 30 GB/s
    assert w.dram.bandwidth_gb_per_s == 30.0 and w.dram_words_per_cycle == 30.0


@pytest.mark.parametrize("df, flow, kept", [("os", "scalesim_os", "psum"), ("ws", "scalesim_ws", "weight"),
                                            ("is", "scalesim_is", "ifmap"), ("IS", "scalesim_is", "ifmap")])
def test_dataflows_and_their_stationary_register(tmp_path, df, flow, kept):
    a = load_scalesim_cfg(cfg(tmp_path, GOOD.format(df=df, mode="CALC")))
    assert a.dataflow == flow and getattr(a.rf, kept) == 1
    # the SRAMs never stall the array: 4 words (ifmap, weight, psum in and out) per PE per cycle
    assert a.glb.size_kb == 28 and a.glb.bandwidth_words_per_cycle == 4 * 8 * 4


def test_cfg_document_round_trips_through_the_yaml_loader(tmp_path):
    from accelsim.arch import arch_from_dict, arch_to_dict

    a = load_scalesim_cfg(OS_CFG)
    assert arch_from_dict(arch_to_dict(a), str(OS_CFG)) == a
    assert cfg_document(OS_CFG)["glb"]["size_kb"] == 192


def test_topology_location(tmp_path):
    p = cfg(tmp_path, GOOD.format(df="os", mode="CALC") + '\n[network_presets]\nTopologyCsvLoc: "topo/net.csv"\n')
    assert cfg_topology(p) == tmp_path / "topo" / "net.csv"
    assert cfg_topology(OS_CFG) is None


@pytest.mark.parametrize("text, fragments", [
    ("ArrayHeight: 8\n", ["line 1", "before any [section]"]),
    (GOOD.format(df="rs", mode="CALC"), ["[architecture_presets] Dataflow", "unknown dataflow 'rs'", "os, ws, is"]),
    (GOOD.format(df="os", mode="CALC").replace("ArrayHeight:    8", "ArrayHieght: 8"),
     ["[architecture_presets]", "unknown key 'ArrayHieght'", "did you mean 'ArrayHeight'"]),
    (GOOD.format(df="os", mode="CALC").replace("IfmapSramSzkB:  16", "IfmapSramSzkB: 16.5"),
     ["[architecture_presets] IfmapSramSzkB", "positive integer", "'16.5'"]),
    (GOOD.format(df="os", mode="CALC").replace("ArrayWidth:     4", "ArrayWidth: 0"),
     ["[architecture_presets] ArrayWidth", "must be >= 1"]),
    (GOOD.format(df="os", mode="CALC").replace("OfmapSramSzkB:  4\n", ""),
     ["[architecture_presets]", "missing required key 'OfmapSramSzkB'"]),
    (GOOD.format(df="os", mode="FAST"), ["[run_presets] InterfaceBandwidth", "'FAST'", "CALC, USER"]),
    (GOOD.format(df="os", mode="USER").replace("Bandwidth : 5\n", ""), ["USER needs Bandwidth"]),
    (GOOD.format(df="os", mode="USER").replace("Bandwidth : 5", "Bandwidth : fast"),
     ["[architecture_presets] Bandwidth", "words per cycle"]),
    (GOOD.format(df="os", mode="CALC") + "interfacebandwidth: USER\n", ["[run_presets]", "'interfacebandwidth' appears twice"]),
    (GOOD.format(df="os", mode="CALC").replace("[run_presets]", "[architecture_presets]"),
     ["section [architecture_presets] appears twice"]),
    (GOOD.format(df="os", mode="CALC") + "[architecture_preset]\nx: 1\n",
     ["unknown section [architecture_preset]", "did you mean [architecture_presets]"]),
    (GOOD.format(df="os", mode="CALC") + "[sparsity]\nSparsitySupport : true\n",
     ["[sparsity] SparsitySupport", "not modelled"]),
    ("   \n", ["file is empty"]),
])
def test_bad_cfg_is_one_line_config_error(tmp_path, text, fragments):
    p = cfg(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_scalesim_cfg(p)
    msg = str(err.value)
    assert "\n" not in msg and str(p) in msg
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)


def test_binary_and_missing_files(tmp_path):
    p = tmp_path / "b.cfg"
    p.write_bytes(b"[general]\x00\xff")
    with pytest.raises(ConfigError, match="binary file"):
        load_scalesim_cfg(p)
    with pytest.raises(ConfigError, match="no such file"):
        load_scalesim_cfg(tmp_path / "none.cfg")


def test_compute_report_matches_scalesim_fold_arithmetic(tmp_path):
    """A 40x40x10 GEMM ((M x K) @ (K x N), M=40, N=40, K=10) on the 32 x 32 OS array.

    SCALE-Sim OS: M on the rows, N on the columns, K streamed: folds = ceil(40/32) x ceil(40/32) = 4,
    PEs used per fold 32x32, 32x8, 8x32, 8x8 -> mapping efficiency = (1024 + 256 + 256 + 64) / 4 / 1024
    = 39.0625 %. SCALE-Sim 3.0 cycles (reference/systolic.md, CALC mode, no stalls): folds x (T + R + C - 2)
    - 1 = 4 x (10 + 32 + 32 - 2) - 1 = 287. Overall util = 40*40*10 MACs / (287 x 1024)."""
    topo = tmp_path / "g.csv"
    topo.write_text("Layer, M, N, K,\nG1, 40, 40, 10,\n")
    arch = load_scalesim_cfg(OS_CFG)
    workload = load_workload(str(topo))
    ideal = compute_report_rows(run(arch, workload, None))
    assert ideal == [(0, 40, 0, 39.0625, 39.0625, 39.0625)]       # unsimulated: 4 folds x T = 10 steps
    simulated = compute_report_rows(run(arch, workload, None, simulate=True))
    layer_id, total, stall, overall, mapping, compute = simulated[0]
    assert (layer_id, total, stall) == (0, 287, 0)
    assert overall == pytest.approx(100 * 16000 / (287 * 1024)) and mapping == 39.0625 and compute == overall


def test_compute_report_ws_compute_cycles_follow_scalesim():
    """WS on the 12 x 14 array: K = 10 on the rows, N = 40 on the columns, M = 40 streamed:
    folds = 1 x ceil(40/14) = 3, used 10x14, 10x14, 10x12 -> (140 + 140 + 120) / 3 / 168 = 79.365 %;
    SCALE-Sim 3.0 compute cycles = 3 x (2 x 12 + 14 + 40 - 2) - 1 = 227; DRAM stalls (USER
    bandwidth) come on top and are reported as Stall Cycles."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        topo = Path(d) / "g.csv"
        topo.write_text("Layer, M, N, K,\nG1, 40, 40, 10,\n")
        workload = load_workload(str(topo))
    arch = load_scalesim_cfg(WS_CFG)
    (_, total, stall, overall, mapping, compute), = compute_report_rows(run(arch, workload, None, simulate=True))
    assert total - stall == 227
    assert mapping == pytest.approx(100 * 400 / 504)
    assert overall == pytest.approx(100 * 16000 / (total * 168))
    assert compute == pytest.approx(100 * 16000 / (227 * 168))


def _fake_run(pes, layers):
    """A Run-shaped object: (macs, simulated cycles, ideal cycles, stall cycles by cause) per layer."""
    out = []
    for macs, cycles, ideal, stalls in layers:
        sim = SimpleNamespace(cycles=cycles, stall_cycles=stalls) if stalls is not None else None
        out.append(SimpleNamespace(result=SimpleNamespace(macs=macs, ideal_cycles=ideal), sim=sim,
                                   cycles=cycles if sim else ideal))
    return SimpleNamespace(arch=SimpleNamespace(pes=pes), layers=tuple(out))


def test_compute_report_definitions_and_format():
    """Hand-computed: 100 PEs; layer 0: 6000 MACs, 100 ideal cycles, simulated 150 with 20 DRAM + 10 GLB
    + 5 NoC stall cycles and 15 fill/drain (fill/drain is compute time in SCALE-Sim, not a stall):
    stall 35, overall 6000/(150*100) = 40 %, mapping 6000/(100*100) = 60 %, compute 6000/(115*100);
    layer 1: a pooling layer (no MACs, 7 cycles, not simulated): zeros."""
    fake = _fake_run(100, [(6000, 150, 100, {"dram": 20, "glb": 10, "noc": 5, "fill_drain": 15}),
                           (0, 7, 7, None)])
    rows = compute_report_rows(fake)
    assert rows[0][:3] == (0, 150, 35) and rows[0][3] == 40.0 and rows[0][4] == 60.0
    assert rows[0][5] == pytest.approx(100 * 6000 / 11500)
    assert rows[1] == (1, 7, 0, 0.0, 0.0, 0.0)
    text = compute_report_csv(fake)
    lines = text.splitlines()
    assert lines[0] == "LayerID, Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %,"
    assert lines[0].rstrip(",").split(", ") == list(COMPUTE_REPORT_COLUMNS)
    assert lines[1] == f"0, 150, 35, 40.0, 60.0, {100 * 6000 / 11500},"
    assert text.endswith(",\n") and len(lines) == 3


def test_run_format_scalesim_writes_compute_report(tmp_path):
    out = tmp_path / "out"
    topo = configs.root() / "scalesim" / "gemm_small.csv"
    proc = subprocess.run([sys.executable, "-m", "accelsim", "run", "systolic_32x32_ws", "--workload", str(topo),
                           "--no-sim", "-q", "--format", "scalesim", "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert proc.returncode == 0, proc.stderr
    lines = (out / "COMPUTE_REPORT.csv").read_text().splitlines()
    assert lines[0].startswith("LayerID, Total Cycles, Stall Cycles") and len(lines) == 3
    # gemm_small GEMM1: M=64, N=128, K=256 on WS 32x32: K on rows (256/32 = 8 folds), N on cols (4 folds),
    # M = 64 streamed -> 8 x 4 x 64 = 2048 ideal cycles, every PE busy
    assert lines[1] == "0, 2048, 0, 100.0, 100.0, 100.0,"
