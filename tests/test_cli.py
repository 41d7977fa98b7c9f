"""The CLI as users run it: a subprocess, from a directory outside the repository."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def accelsim(*args, cwd):
    return subprocess.run([sys.executable, "-m", "accelsim", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_default_run_prints_alexnet_layers(tmp_path):
    out = accelsim("run", "--no-sim", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    for name in ("CONV1", "CONV2", "CONV3", "CONV4", "CONV5", "FC6", "FC7", "FC8"):
        assert name in out.stdout
    assert "eyeriss_v1 | alexnet (batch 1) | dataflow rs" in out.stdout
    # AlexNet as Eyeriss runs it: 724,406,816 MACs per image (reference/workloads.md)
    assert "724.41M" in out.stdout


def test_json_schema_and_totals(tmp_path):
    out = accelsim("run", "--no-sim", "--json", "--layers", "1-2", "--batch", "2", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["schema"] == "accelsim.stats/2"
    assert doc["batch"] == 2 and doc["workload"] == "alexnet" and doc["dataflow"] == "rs"
    assert [l["name"] for l in doc["layers"]] == ["CONV1", "CONV2"]
    # CONV1 + CONV2 MACs at batch 2: 2 * (105,415,200 + 223,948,800)
    assert doc["totals"]["macs"] == 2 * (105_415_200 + 223_948_800)
    for layer in doc["layers"]:
        assert set(layer["energy_breakdown_pj"]) == {"mac", "rf", "noc", "glb", "dram"}
        assert abs(sum(layer["energy_breakdown_pj"].values()) - layer["energy_pj"]) < 1e-6 * layer["energy_pj"]
        for level in ("dram", "glb", "noc", "rf"):
            for tensor in ("ifmap", "weight", "psum"):
                assert set(layer["accesses"][level][tensor]) == {"reads", "writes"}
    t = doc["totals"]
    assert t["latency_ms"] == pytest.approx(t["cycles"] / (doc["clock_mhz"] * 1e3))


def test_out_dir_files(tmp_path):
    out = accelsim("run", "--no-sim", "--layers", "CONV3", "--out", "res", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    stats = json.loads((tmp_path / "res" / "stats.json").read_text())
    csv_lines = (tmp_path / "res" / "layers.csv").read_text().splitlines()
    assert len(csv_lines) == 2 and csv_lines[1].startswith("CONV3,conv,149520384,")
    assert "MAC" in (tmp_path / "res" / "mapping.txt").read_text()
    assert stats["layers"][0]["macs"] == 149_520_384


@pytest.mark.parametrize("args,fragment", [
    (["run", "nonexistent_arch"], "no such architecture file"),
    (["run", "--workload", "resnet9000"], "unknown workload 'resnet9000'"),
    (["run", "--dataflow", "zigzag"], "unknown dataflow 'zigzag'"),
    (["run", "--batch", "0"], "batch must be a positive integer"),
    (["run", "--layers", "CONV9"], "--layers: 'CONV9'"),
    (["run", "--search", "--objective", "speed"], "unknown objective 'speed'"),
    (["run", "--frobnicate"], "unrecognized arguments"),
    (["run", "--refine"], "--refine re-ranks a search by simulation: it needs --search"),
    (["list", "colours"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, args, fragment):
    out = accelsim(*args, cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_bad_config_file_exit_2(tmp_path):
    (tmp_path / "a.yaml").write_text("version: 1\nname: x\nclock_mhz: fast\n")
    out = accelsim("run", "a.yaml", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == "accelsim: error: a.yaml: clock_mhz: expected a number, got 'fast'"


def test_mapping_that_breaks_the_arch_constraints_exit_2(tmp_path):
    """eyeriss_v1 walks whole ifmap rows per pass: a hand-written mapping that splits Q at DRAM is
    refused in one line naming the file, the layer key, the factor and the constraint."""
    (tmp_path / "m.yaml").write_text(
        "conv4_1:\n"
        "  dram: {factors: {N: 3, K: 11, C: 64, Q: 2}}\n"
        "  glb: {factors: {P: 2, Q: 14}}\n"
        "  rows: {factors: {K: 4, R: 3}}\n"
        "  cols: {factors: {P: 14}}\n"
        "  rf: {factors: {K: 12, C: 4, S: 3}}\n")
    out = accelsim("run", "eyeriss_v1", "-w", "vgg16", "--batch", "3", "--layers", "conv4_1", "--mapping", "m.yaml",
                   "--no-sim", "-q", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == ("accelsim: error: m.yaml: conv4_1: dram factor 2 of Q breaks the "
                                  "arch's constraints (constraints.unsplit.dram lists Q)")
    # the same factors with the row whole in the GLB tile run
    (tmp_path / "m.yaml").write_text((tmp_path / "m.yaml").read_text().replace(", Q: 2}", "}").replace("Q: 14", "Q: 28"))
    ok = accelsim("run", "eyeriss_v1", "-w", "vgg16", "--batch", "3", "--layers", "conv4_1", "--mapping", "m.yaml",
                  "--no-sim", "-q", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "conv4_1" in ok.stdout


def test_version_and_lists(tmp_path):
    assert accelsim("--version", cwd=tmp_path).stdout.startswith("accelsim ")
    flows = accelsim("list", "dataflows", cwd=tmp_path).stdout
    for name in ("rs:", "ws:", "os:", "is:", "nlr:"):
        assert name in flows
    assert "isca16/rs" in accelsim("list", "configs", cwd=tmp_path).stdout
