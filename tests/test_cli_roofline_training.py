"""`accelsim roofline` and `accelsim train-scale` run as a user runs them: a subprocess started in a
temporary directory outside the repository."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

PNG = b"\x89PNG\r\n\x1a\n"


def _run(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "accelsim", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)


def test_roofline_json(tmp_path):
    """VGG-16 on the Pi (fp32): FLOPs 2 x 15,470,264,320; bytes (22,629,376 conv activations +
    14,710,464 conv weights + 123,676,136 FC inputs/weights/outputs) x 4 = 644,063,904 B: 48.04 FLOP/B."""
    r = _run(tmp_path, "roofline", "rpi3", "--workload", "vgg16", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema"] == "accelsim.roofline/1"
    assert {"name", "flops", "bytes", "intensity", "attainable_flops", "bound"} <= set(doc["layers"][0])
    assert doc["model"]["flops"] == 2 * 15_470_264_320
    assert doc["model"]["bytes"] == 644_063_904
    assert doc["model"]["intensity"] == pytest.approx(30_940_528_640 / 644_063_904)
    fc6 = next(l for l in doc["layers"] if l["name"] == "fc6")
    assert fc6["bound"] == "memory" and fc6["attainable_flops"] == pytest.approx(3.6e9 * fc6["intensity"])
    assert doc["hardware"]["bandwidth_bytes_per_s"] == 3.6e9


def test_roofline_table_and_plot(tmp_path):
    r = _run(tmp_path, "roofline", "v100", "--workload", "resnet18", "--chain", "conv2_1a,conv2_1b",
             "--winograd", "2", "--plot", "roof.png")
    assert r.returncode == 0, r.stderr
    for text in ("MODEL", "ridge", "Epilogue fusion", "Tiled fusion of conv2_1a -> conv2_1b", "Winograd F(2x2"):
        assert text in r.stdout
    data = (tmp_path / "roof.png").read_bytes()
    assert data.startswith(PNG) and len(data) > 20_000


def test_roofline_unlimited_bandwidth_arch(tmp_path):
    """An arch file without dram bandwidth: the table says so, the JSON has null bandwidth and ridge 0,
    every layer is compute-bound at the peak (12 x 14 PEs x 200 MHz x 2 = 67.2 GFLOP/s)."""
    import configs

    arch = yaml.safe_load(configs.find("eyeriss_v1").read_text())
    arch.pop("dram")
    (tmp_path / "nodram.yaml").write_text(yaml.safe_dump(arch))
    r = _run(tmp_path, "roofline", "nodram.yaml", "--workload", "alexnet", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["hardware"]["bandwidth_bytes_per_s"] is None and doc["hardware"]["ridge_intensity"] == 0
    assert all(l["bound"] == "compute" and l["attainable_flops"] == 67.2e9 for l in doc["layers"])
    table = _run(tmp_path, "roofline", "nodram.yaml", "--workload", "alexnet")
    assert "bandwidth is unlimited" in table.stdout


def test_train_scale_json_and_plot(tmp_path):
    r = _run(tmp_path, "train-scale", "--workload", "nin", "--workers", "1,2,4,8,16,32,64,128",
             "--strategy", "ps,sharded_ps,tree,async,model", "--json", "--plot", "scale.png")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema"] == "accelsim.trainscale/1"
    assert {"workers", "strategy", "iteration_s", "speedup", "efficiency"} <= set(doc["points"][0])
    assert len(doc["points"]) == 5 * 8
    tree = next(p for p in doc["points"] if p["strategy"] == "tree" and p["workers"] == 128)
    assert abs(tree["speedup"] / 39 - 1) <= 0.20
    data = (tmp_path / "scale.png").read_bytes()
    assert data.startswith(PNG) and len(data) > 20_000
    text = _run(tmp_path, "train-scale", "--workload", "googlenet", "--strategy", "tree,async")
    assert text.returncode == 0 and "stale by up to 127 updates" in text.stdout


@pytest.mark.parametrize("args, fragment", [
    (["roofline", "nosuch", "--workload", "vgg16"], "unknown hardware 'nosuch'"),
    (["roofline", "rpi3"], "--workload"),
    (["roofline", "rpi3", "--workload", "vgg16", "--chain", "conv1_1,conv3_1"], "do not form a chain"),
    (["roofline", "rpi3", "--workload", "vgg16", "--tile", "4"], "need --chain"),
    (["train-scale", "--workload", "nin", "--workers", "0,2"], "--workers: '0'"),
    (["train-scale", "--workload", "nin", "--strategy", "tree,bogus"], "unknown strategy bogus"),
    (["train-scale", "--workload", "nin", "--batch", "x"], "invalid int value"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, args, fragment):
    r = _run(tmp_path, *args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
