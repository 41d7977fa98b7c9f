"""``accelsim partition``: the JSON document from a subprocess, one-line errors with exit 2, the
timeline PNG, and the profile path on this machine (quick grid)."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import pytest

from accelsim.cli import main
from accelsim.partition.calibrate import fit
from accelsim.partition.profile import GRIDS, grid


def _run(args, cwd):
    return subprocess.run([sys.executable, "-m", "accelsim", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_json_from_a_subprocess_in_a_temp_dir(tmp_path):
    proc = _run(["partition", "sd855", "--workload", "yolov2", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "accelsim.partition/1"
    assert doc["soc"] == "sd855" and doc["workload"] == "yolov2"
    assert doc["cpu_alone"] is False
    assert set(doc["latency_ms"]) >= {"codl", "cpu_only", "gpu_only", "mulayer"}
    from workloads.loader import load_workload

    names = [l.name for l in load_workload("yolov2").layers]
    assert [r["layer"] for r in doc["plan"]] == names
    for r in doc["plan"]:
        assert r["dim"] in ("OC", "H", "none") and 0.0 <= r["ratio"] <= 1.0 and r["latency_ms"] >= 0
    # the plan is never slower than either processor alone (both are in its search space or baseline)
    lat = doc["latency_ms"]
    assert lat["codl"] <= min(lat["gpu_only"], lat["cpu_only"], lat["mulayer"]) + 1e-9


@pytest.mark.parametrize("args,needle", [
    (["partition", "sd855", "--workload", "yolov2", "--baseline", "tpu"], "--baseline"),
    (["partition", "sd999", "--workload", "yolov2"], "sd999"),
    (["partition", "sd855", "--workload", "no_such_net"], "no_such_net"),
    (["partition", "sd855"], "--workload"),
    (["partition", "profile", "--threads", "0"], "--threads"),
    (["partition", "profile", "--workload", "yolov2"], "--workload"),
])
def test_bad_argument_exits_2_with_one_line(tmp_path, args, needle):
    proc = _run(args, tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and lines[0].startswith("accelsim: error:")
    assert proc.stdout == ""


def test_text_output_and_plot(tmp_path, capsys):
    png = tmp_path / "t.png"
    assert main(["partition", "sd855", "--workload", "alexnet", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "speedup over cpu_only" in out and "speedup over mulayer" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_profile_quick_measures_fits_and_reports(tmp_path, capsys):
    """The quick grid really runs the local kernels: one CSV row per shape x kernel (direct; im2col and
    GEMM) x thread count, each a positive time; the printed accuracies are what refitting the CSV (same
    seed) gives."""
    out_csv = tmp_path / "m.csv"
    assert main(["partition", "profile", "--quick", "--threads", "1", "--csv", str(out_csv), "--seed", "3"]) == 0
    text = capsys.readouterr().out
    rows = list(csv.DictReader(out_csv.open()))
    shapes = grid(GRIDS["quick"], 3)
    assert len(rows) == len(shapes) * 3 * 1
    assert {r["impl"] for r in rows} == {"direct", "im2col", "gemm"} and all(float(r["seconds"]) > 0 for r in rows)
    assert sorted({int(r["group"]) for r in rows}) == list(range(len(shapes)))
    m = re.search(r"CoDL-form ([\d.]+)%\s+FLOPs-only ([\d.]+)%", text)
    assert m, text
    report = fit(out_csv, seed=3)
    assert float(m.group(1)) == pytest.approx(100 * report.codl_accuracy, abs=0.05)
    assert float(m.group(2)) == pytest.approx(100 * report.flops_accuracy, abs=0.05)


def test_local_kernels_compute_the_convolution():
    """The profiled kernels are real convolutions: both equal the reference on integer-valued data."""
    import numpy as np

    from accelsim.functional import reference_conv
    from accelsim.partition.local_kernels import Conv
    from workloads.layer import conv

    rng = np.random.default_rng(0)
    for C, K, H, W, R, stride in [(3, 5, 9, 11, 3, 2), (8, 6, 7, 7, 1, 1), (16, 12, 14, 13, 3, 1)]:
        x = rng.integers(-3, 4, (C, H, W)).astype(np.float32)
        w = rng.integers(-3, 4, (K, C, R, R)).astype(np.float32)
        layer = conv("t", C=C, K=K, H=H, W=W, R=R, stride=stride, pad=R // 2)
        ref = reference_conv(layer, x[None].astype(np.int64), w.astype(np.int64))[0]
        for impl in ("direct", "im2col+gemm"):
            assert np.array_equal(Conv(impl, x, w, stride, R // 2)(), ref)


def test_plan_rows_name_gpu_share_dimension_and_chain_boundaries(tmp_path, capsys):
    """Every operator's GPU share is 1 - its CPU ratio; each chain is a head, insides and a tail, in
    consecutive rows of one segment; the printed H share is the share of co-executed operators along H."""
    assert main(["partition", "sd855", "--workload", "codl_vgg16", "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    doc = json.loads((tmp_path / "o" / "partition.json").read_text())
    rows = doc["plan"]
    assert all(r["gpu_share"] == pytest.approx(1 - r["ratio"]) for r in rows)
    chains: dict = {}
    for r in rows:
        if r["chain"] is not None:
            chains.setdefault(r["chain"], []).append(r)
    assert [len(c) for c in chains.values()] == doc["chains"] and doc["chains"]
    for members in chains.values():
        assert [m["chain_pos"] for m in members] == ["head"] + ["inside"] * (len(members) - 2) + ["tail"]
        assert len({m["segment"] for m in members}) == 1 and len({m["dim"] for m in members}) == 1
    co = [r for r in rows if 0 < r["ratio"] < 1]
    assert doc["h_share"] == pytest.approx(sum(r["dim"] == "H" for r in co) / len(co))
    assert f"split along H: {100 * doc['h_share']:.0f}%" in text
    head = next(r for r in rows if r["chain_pos"] == "head")
    assert re.search(rf"^{head['layer']}\s+H\s+{head['gpu_share']:.1f}\s+{head['chain']} head\s", text, re.M)


def test_out_dir_timeline_is_drawn_by_accelsim_plot(tmp_path, capsys):
    """--out writes the plans' events; `accelsim plot DIR` finds them through the plots registry. The
    CoDL timeline ends at the plan's latency and each processor's compute events add up to its work."""
    out = tmp_path / "run"
    assert main(["partition", "sd855", "--workload", "codl_yolov2", "--out", str(out)]) == 0
    doc = json.loads((out / "partition.json").read_text())
    codl = doc["timeline"]["codl"]
    assert max(e["end_ms"] for e in codl) == pytest.approx(doc["latency_ms"]["codl"], rel=1e-5)
    cpu_work = sum(e["end_ms"] - e["start_ms"] for e in codl if e["processor"] == "CPU" and e["kind"] == "compute")
    assert cpu_work == pytest.approx(sum(r["cpu_ms"] for r in doc["plan"]), rel=1e-5)
    assert set(doc["timeline"]) == {"codl", "cpu_only", "gpu_only", "mulayer"}
    capsys.readouterr()
    assert main(["plot", str(out), "--format", "png"]) == 0
    png = out / "plots" / "partition_timeline.png"
    assert "partition: " in capsys.readouterr().out and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def partition_json(tmp_path_factory):
    """The text of a good partition.json (sd855, codl_yolov2), written once for the corruption tests."""
    out = tmp_path_factory.mktemp("partition") / "run"
    assert main(["partition", "sd855", "--workload", "codl_yolov2", "--out", str(out)]) == 0
    return (out / "partition.json").read_text()


def _event(plan, i, **changes):
    def edit(doc):
        doc["timeline"][plan][i].update(changes)
    return edit


def _drop_timeline(doc):
    del doc["timeline"]


@pytest.mark.parametrize("corrupt,needle", [
    (_event("codl", 3, end_ms="x"), "timeline.codl[3].end_ms: expected a number, got 'x'"),
    (_event("codl", 3, processor="NPU"), "timeline.codl[3].processor: unknown value 'NPU'; allowed: CPU, GPU"),
    (_event("mulayer", 5, kind="idle"),
     "timeline.mulayer[5].kind: unknown value 'idle'; allowed: compute, sharing, sync"),
    (_event("codl", 0, start_ms=-1), "timeline.codl[0].start_ms: value -1 must be >= 0.0"),
    (_event("codl", 3, start_ms=999.0, end_ms=998.0), "timeline.codl[3].end_ms: value 998.0 is before start_ms 999.0"),
    (_drop_timeline, "timeline: missing; write it with accelsim partition"),
    (b"", "empty; expected the JSON of accelsim partition --out"),
    (b"{", "not valid JSON (line 1, column 2"),
    (b"\x89PNG\r\n\x1a\n\x00\xff\xfe", "not UTF-8 text"),
])
def test_plot_of_a_corrupt_partition_json_exits_2_with_one_line(tmp_path, partition_json, corrupt, needle):
    """`accelsim plot DIR` on a damaged partition.json: one line naming the file, the key and what is
    allowed, exit 2 (a bad end_ms was a TypeError traceback; an empty or truncated file 'nothing to plot')."""
    path = tmp_path / "partition.json"
    if isinstance(corrupt, bytes):
        path.write_bytes(corrupt)
    else:
        doc = json.loads(partition_json)
        corrupt(doc)
        path.write_text(json.dumps(doc))
    proc = _run(["plot", str(tmp_path), "--format", "png"], tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert len(lines) == 1 and lines[0].startswith(f"accelsim: error: {path}: {needle}")
    assert not (tmp_path / "plots" / "partition_timeline.png").exists()


@pytest.mark.parametrize("soc,paper", [("kirin990", "CoDL paper (Kirin 990) 1.41x 2.43x 3.43x 77%"),
                                       ("sd888", "CoDL paper (Snapdragons) 2.08x 1.56x 3.43x 77%")])
def test_summary_compares_with_the_papers_averages_for_that_soc(soc, paper, capsys):
    """Several workloads print one line each, their mean speedups, and CoDL's published averages of
    the SoC's group (Kirin 990: 1.41x over CPU-only, 2.43x over GPU-only; Snapdragons: 2.08x, 1.56x)."""
    assert main(["partition", soc, "--workload", "codl_vgg16", "--workload", "codl_yolov2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert " ".join(lines[-1].split()) == paper
    assert [ln.split()[0] for ln in lines[2:4]] == ["codl_vgg16", "codl_yolov2"]


def test_summary_of_a_soc_codl_did_not_measure_has_no_published_line(tmp_path, capsys):
    """A user's own SoC profile (sd855's numbers under another name) gets no CoDL average beside its
    means: the paper measured sd855, sd865, sd888 and kirin990 only (it used to borrow the Snapdragons')."""
    import configs

    path = tmp_path / "my_phone.yaml"
    path.write_text(configs.find("soc/sd855").read_text())
    assert main(["partition", str(path), "--workload", "codl_vgg16", "--workload", "codl_yolov2"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == f"CoDL paper: no published averages for {path} (CoDL measured sd855, sd865, sd888, kirin990)"


def test_soc_file_without_a_gpu_entry_exits_2_with_one_line(tmp_path):
    """A SoC YAML with its gpu section removed: one line naming the file and the missing key, exit 2."""
    import yaml

    import configs

    data = yaml.safe_load(configs.find("soc/sd855").read_text())
    del data["gpu"]
    path = tmp_path / "cpu_only_soc.yaml"
    path.write_text(yaml.safe_dump(data))
    proc = _run(["partition", str(path), "--workload", "codl_yolov2"], tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(lines) == 1 and lines[0] == f"accelsim: error: {path}: gpu: missing required key"


@pytest.mark.parametrize("flags,expected", [
    (["--plot", ""], "--plot: empty path; give a file name"),
    (["--out", ""], "--out: empty path; give a directory"),
    (["--plot", "t.txt"], "t.txt: unknown plot file type '.txt'; allowed: "),
    (["--out", "existing.csv"], "--out existing.csv: is a file, expected a directory"),
    (["--json", "--plot", "/proc/t.png"], "/proc/t.png: --plot: cannot write there: "),
    (["--out", "/proc/accelsim_out"], "/proc/accelsim_out: --out: cannot create the directory: "),
])
def test_output_paths_are_refused_before_anything_is_printed(tmp_path, monkeypatch, capsys, flags, expected):
    """Before, `--plot ""` and `--out ""` were ignored (exit 0, nothing written) and an unwritable or
    mistyped output path failed only after the whole plan (or a complete JSON document) was printed.
    /proc: a place nobody, root included, can create files in (Linux)."""
    from pathlib import Path

    if "/proc" in " ".join(flags) and not Path("/proc/self").exists():
        pytest.skip("no /proc on this system")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "existing.csv").write_text("x\n")
    assert main(["partition", "sd855", "--workload", "codl_yolov2", *flags]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"accelsim: error: {expected}"), lines
    assert [p.name for p in tmp_path.iterdir()] == ["existing.csv"]


@pytest.mark.parametrize("keep,expected", [
    ("sd855", "leave one SoC out needs latencies of at least 2 SoCs; the file has 1 (sd855)"),
    ("codl_yolov2", "leave one model out needs latencies of at least 2 models; the file has 1 (codl_yolov2)"),
])
def test_validate_on_too_few_socs_or_models_is_one_line_before_any_output(tmp_path, capsys, keep, expected):
    from accelsim.partition.latencies import shipped_reference

    rows = [line for line in shipped_reference().read_text().splitlines() if keep in line]
    path = tmp_path / "few.csv"
    path.write_text("soc,model,processor,ms\n" + "\n".join(rows) + "\n")
    assert main(["partition", "validate", "--from", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip() == f"accelsim: error: {path}: {expected}"


@pytest.mark.parametrize("coef,needle", [
    ({"const": -100, "h": 0, "w": 0, "ic": 0, "oc": 0, "red": 0},
     "cpu.kernels.gemm.t_unit_ns: needs at least one positive coefficient"),
    ({"const": 0, "h": 0, "w": 0, "ic": 0, "oc": 0, "red": 0},
     "cpu.kernels.gemm.t_unit_ns: needs at least one positive coefficient"),
    ({"const": -1000, "red": 0.5},       # positive only for red > 2000: YOLOv2's conv4 (C=128) gets -936 ns
     "cpu.kernels.gemm.t_unit_ns: gives a non-positive time (-936 ns per basic unit) for a conv part "
     "N=1 C=128 K=64 H=104 W=104"),
])
def test_soc_kernel_coefficients_without_a_positive_time_exit_2_naming_file_and_key(tmp_path, coef, needle):
    """Not the muLayer baseline's 'fit needs positive measured times': the SoC file and the kernel's key."""
    import yaml

    import configs

    data = yaml.safe_load(configs.find("soc/sd855").read_text())
    data["cpu"]["kernels"]["gemm"]["t_unit_ns"] = coef
    path = tmp_path / "y.yaml"
    path.write_text(yaml.safe_dump(data))
    proc = _run(["partition", str(path), "--workload", "codl_yolov2"], tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(lines) == 1 and lines[0].startswith(f"accelsim: error: {path}: {needle}")


def test_gpu_block_above_the_work_group_size_exits_2(tmp_path):
    import yaml

    import configs

    data = yaml.safe_load(configs.find("soc/sd855").read_text())
    data["gpu"]["kernels"]["gemv"]["block"] = 4096
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(data))
    proc = _run(["partition", str(path), "--workload", "codl_yolov2"], tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"accelsim: error: {path}: gpu.kernels.gemv.block: value 4096 is larger than max_work_group_size 1024: "
        "a GPU block is one work group of work items; must be <= 1024"]


def test_another_tools_partition_json_does_not_stop_a_run_directorys_plots(tmp_path, capsys):
    """A JSON file named partition.json without the accelsim.partition/1 schema is not ours: the run
    directory's own plots are drawn as without it (before: the partition reader refused it midway, after
    drawing some plots and before others)."""
    run_dir = tmp_path / "run"
    assert main(["run", "--layers", "FC8", "--no-sim", "-q", "--out", str(run_dir)]) == 0
    capsys.readouterr()
    assert main(["plot", str(run_dir), "--out", str(tmp_path / "p1")]) == 0
    alone = [line.split(":")[0] for line in capsys.readouterr().out.splitlines()]
    (run_dir / "partition.json").write_text('{"partitions": [1, 2, 3]}\n')
    assert main(["plot", str(run_dir), "--out", str(tmp_path / "p2")]) == 0
    beside = [line.split(":")[0] for line in capsys.readouterr().out.splitlines()]
    assert beside == alone and "partition" not in beside and len(alone) >= 2
    assert sorted(p.name for p in (tmp_path / "p2").iterdir()) == sorted(p.name for p in (tmp_path / "p1").iterdir())


@pytest.mark.parametrize("command,rows,expected", [
    (["validate"], ("sd855,codl_vgg16", "sd865,codl_yolov2"),
     "leave one model out, without codl_vgg16: the cpu latencies cover 1 model(s) (codl_yolov2); a calibration "
     "needs latencies of at least 2 models on each processor (cpu and gpu)"),
    (["calibrate"], ("sd855,codl_vgg16",),
     "the cpu latencies cover 1 model(s) (codl_vgg16); a calibration needs latencies of at least 2 models"),
])
def test_a_fit_the_latencies_cannot_determine_is_one_line_before_any_output(tmp_path, capsys, command, rows,
                                                                            expected):
    """Before: numpy.linalg.LinAlgError (Singular matrix) and a traceback, for validate after printing part of
    its report: each processor kind has two free bases, which one model's latencies cannot separate."""
    from accelsim.partition.latencies import shipped_reference

    kept = [line for line in shipped_reference().read_text().splitlines() if line.startswith(rows)]
    path = tmp_path / "few.csv"
    path.write_text("soc,model,processor,ms\n" + "\n".join(kept) + "\n")
    args = ["partition", *command, "--from", str(path)] + (["sd855"] if command == ["calibrate"] else [])
    assert main(args) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 1 and lines[0].startswith(f"accelsim: error: {path}: {expected}"), lines


def test_refused_commands_create_no_output_directory(tmp_path, monkeypatch, capsys):
    """--out / --plot directories are created only once every other argument is valid (before: a command
    refused for a missing --workload, an unknown workload or two workloads left the --out directory
    behind); a directory standing where partition.json goes is refused before planning."""
    monkeypatch.chdir(tmp_path)
    assert main(["partition", "sd855", "--out", "o1"]) == 2
    assert main(["partition", "sd855", "--workload", "no_such_net", "--plot", "o2/x.png"]) == 2
    assert main(["partition", "sd855", "--workload", "codl_vgg16", "--workload", "codl_yolov2", "--out", "o3"]) == 2
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "d" / "partition.json").mkdir(parents=True)
    capsys.readouterr()
    assert main(["partition", "sd855", "--workload", "codl_yolov2", "--out", "d"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip() == "accelsim: error: --out d/partition.json: is a directory, expected a file name"


def test_the_text_says_when_the_plan_is_the_cpu_alone(capsys):
    assert main(["partition", "kirin990", "--workload", "mobilenet_v2"]) == 0
    out = capsys.readouterr().out.splitlines()
    total = next(i for i, line in enumerate(out) if line.startswith("total predicted latency:"))
    assert out[total] == "total predicted latency: 16.36 ms (compute 16.36 ms, data sharing 0.00 ms)"
    assert out[total + 1].startswith("the whole network runs on the CPU alone: faster than the best plan found")
    assert "co-executed operators: 0 of 53;" in out[-1]
    assert main(["partition", "sd855", "--workload", "codl_yolov2"]) == 0
    assert "the whole network runs on the CPU alone" not in capsys.readouterr().out
