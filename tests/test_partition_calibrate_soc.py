"""SoC calibration from single-processor latencies: kernel-class factors, the fit, the shipped profiles,
the latencies file's errors and the ``calibrate`` command."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from accelsim.cli import main
from accelsim.errors import ConfigError
from accelsim.partition.kernel_class import FACTORS, combined, factors, label
from accelsim.partition.latencies import Latency, read_latencies, shipped_reference
from accelsim.partition.planner import plan_cpu_only, plan_gpu_only
from accelsim.partition.segment import Device
from accelsim.partition.shape import shape_of
from accelsim.partition.soc import load_soc
from accelsim.partition.soc_fit import MAX_ITERATIONS, Regularization, fit_socs, load_inputs, model_ms
from workloads import zoo
from workloads.layer import conv, fc
from workloads.zoo.codl import pool2

REFERENCE = shipped_reference()


@pytest.fixture(scope="module")
def reference_fit():
    lats = read_latencies(REFERENCE)
    socs, workloads = load_inputs(lats)
    return lats, socs, workloads, fit_socs(lats, socs, workloads)


@pytest.mark.parametrize("layer,combo,name", [
    (conv("a", C=64, K=64, H=56, R=3, pad=1), ("conv",), "k3s1"),
    (conv("b", C=64, K=256, H=56, R=1), ("conv", "k1"), "k1"),
    (conv("b2", C=64, K=256, H=56, R=1, stride=2), ("conv", "strided"), "strided"),   # 1x1/2: not a GEMM
    (conv("c", C=64, K=64, H=56, R=3, stride=2, pad=1), ("conv", "strided"), "strided"),
    (conv("d", C=128, K=128, H=32, R=7, pad=3), ("conv", "large"), "large"),
    (conv("e", C=3, K=32, H=64, R=9, pad=4), ("conv", "large", "thin", "thin_large"), "large+thin"),  # FST's 9x9
    (conv("f", C=32, K=3, H=64, R=9, pad=4), ("conv", "large", "thin", "thin_large"), "large+thin"),
    (conv("g", C=3, K=64, H=64, R=7, stride=2), ("conv", "strided", "large", "thin", "thin_large"),
     "strided+large+thin"),                                                              # a 7x7/2 stem
    (conv("t", C=3, K=64, H=64, R=3, pad=1), ("conv", "thin"), "thin"),                  # a first layer
    (conv("h", C=32, K=32, H=56, R=3, pad=1, groups=32), ("conv",), "k3s1"),   # depthwise: never thin
    (pool2("p", 64, 56), ("mem",), "mem"),
    (fc("i", C=512, K=4096, H=7), ("mem",), "mem"),
])
def test_kernel_class_factors(layer, combo, name):
    assert factors(shape_of(layer)) == combo
    assert label(combo) == name


def test_efficiency_divides_a_class_time_exactly():
    """A processor's operator time is its compute prior divided by the product of its factors'
    efficiencies plus its DRAM traffic (input, output, weights once) at the spec bandwidth divided by
    factor mem's (nothing else moves)."""
    soc = load_soc("sd855")
    layer = conv("c", C=64, K=64, H=56, R=3, stride=2, pad=1)
    bare = Device.of(soc, calibrated=False).cpu
    combo, compute, traffic = bare.class_ms(shape_of(layer))
    assert combo == ("conv", "strided")
    assert traffic == pytest.approx((64 * 56 * 56 + 64 * 28 * 28 + 64 * 64 * 9) * 4 / 34.1e9 * 1e3, rel=1e-12)
    assert bare.time_ms(shape_of(layer)) == pytest.approx(compute + traffic, rel=1e-12)
    eff = [1.0] * len(FACTORS)
    eff[FACTORS.index("conv")] = 0.5
    eff[FACTORS.index("strided")] = 0.25
    eff[FACTORS.index("mem")] = 0.5
    slow = replace(soc, cpu=replace(soc.cpu, efficiency=tuple(eff)))
    assert combined(eff, combo) == 0.125
    assert Device.of(slow).cpu.time_ms(shape_of(layer)) == pytest.approx(8 * compute + 2 * traffic, rel=1e-12)
    k1 = shape_of(conv("d", C=64, K=64, H=56, R=1))
    _, k1_compute, k1_traffic = bare.class_ms(k1)
    assert Device.of(slow).cpu.time_ms(k1) == pytest.approx(2 * k1_compute + 2 * k1_traffic, rel=1e-12)
    pool = shape_of(pool2("p", 64, 56))   # memory-bound: its prior is its traffic, no second term
    _, pool_ms, pool_traffic = bare.class_ms(pool)
    assert pool_traffic == 0.0 and Device.of(slow).cpu.time_ms(pool) == pytest.approx(2 * pool_ms, rel=1e-12)


def test_fit_recovers_latencies_generated_by_its_own_model():
    """Latencies made from known factor efficiencies shared by two SoCs (one's bases scaled 1.5x): the fit
    (almost no regularization) reproduces every one, and the two SoCs' fitted efficiencies keep the 1.5
    ratio on the bases."""
    socs = {"sd855": load_soc("sd855"), "sd865": load_soc("sd865")}
    names = ["codl_yolov2", "codl_vgg16", "codl_posenet", "codl_fast_style_transfer", "codl_retinaface"]
    workloads = {n: zoo.get(n) for n in names}
    truth = (0.4, 1.5, 0.6, 0.5, 0.3, 0.8, 0.3)   # FACTORS order: conv, k1, strided, large, thin, thin_large, mem
    bases = (FACTORS.index("conv"), FACTORS.index("mem"))
    lats = []
    for name, scale in (("sd855", 1.0), ("sd865", 1.5)):
        eff = tuple(scale * e if i in bases else e for i, e in enumerate(truth))
        soc = replace(socs[name], cpu=replace(socs[name].cpu, efficiency=eff),
                      gpu=replace(socs[name].gpu, efficiency=eff))
        lats += [Latency(name, n, p, model_ms(soc, workloads[n], p)) for n in names for p in ("cpu", "gpu")]
    # elasticity keeps its default ridge: these latencies follow the spec sheets (e = 0), and the CPU's
    # DRAM-traffic class is too small a share of its time to pin e without it
    fit = fit_socs(lats, socs, workloads, Regularization(1e-9, 1e-9, 1e-9, 1e-9))
    assert max(abs(r.error) for r in fit.residuals) < 1e-5
    for proc in ("cpu", "gpu"):
        a, b = fit.efficiency("sd855", proc), fit.efficiency("sd865", proc)
        for i in bases:
            assert b[i] / a[i] == pytest.approx(1.5, rel=1e-3)
        # so every factor combination the models have (each holds one base) keeps the ratio
        for combo in {factors(shape_of(layer)) for w in workloads.values() for layer in w.layers}:
            assert combined(b, combo) / combined(a, combo) == pytest.approx(1.5, rel=1e-3), combo


def test_regularization_leaves_fewer_effective_parameters(reference_fit):
    """The trace of the hat matrix: at most the 40 data points, and it grows as the ridge weakens."""
    lats, socs, workloads, fit = reference_fit
    loose = fit_socs(lats, socs, workloads, Regularization(1e-4, 1e-4, 1e-3))
    assert 0 < fit.effective_parameters < loose.effective_parameters <= len(lats) + 1e-6
    assert fit.effective_parameters < fit.parameters


def test_fit_is_deterministic(reference_fit):
    lats, socs, workloads, fit = reference_fit
    assert fit_socs(lats, socs, workloads) == fit


def test_shipped_profiles_are_this_calibration(reference_fit):
    """configs/soc/*.yaml carry the printed (4 significant digits) efficiencies of this fit."""
    _, socs, _, fit = reference_fit
    for name, soc in socs.items():
        for proc, spec in (("cpu", soc.cpu), ("gpu", soc.gpu)):
            assert spec.efficiency == pytest.approx(fit.efficiency(name, proc), rel=6e-4), (name, proc)


def test_single_processor_plans_are_the_fitted_latencies(reference_fit):
    """One fact, one implementation: the CPU-only / GPU-only plans of a calibrated SoC take what the
    fit predicts for the model on that processor."""
    _, socs, workloads, fit = reference_fit
    r = next(r for r in fit.residuals if (r.soc, r.model) == ("sd865", "codl_posenet") and r.processor == "gpu")
    device = Device.of(fit.calibrated("sd865", socs["sd865"]))
    assert plan_gpu_only(device, workloads["codl_posenet"]).latency_ms == pytest.approx(r.predicted_ms, rel=1e-12)
    cpu = next(r for r in fit.residuals if (r.soc, r.model, r.processor) == ("sd865", "codl_posenet", "cpu"))
    assert plan_cpu_only(device, workloads["codl_posenet"]).latency_ms == pytest.approx(cpu.predicted_ms, rel=1e-12)


def _write(tmp_path, rows, name="lat.csv"):
    p = tmp_path / name
    p.write_text("soc,model,processor,ms\n" + "".join(f"{r}\n" for r in rows))
    return p


@pytest.mark.parametrize("rows,needle", [
    (["sd855,no_such_net,cpu,10"], "column model: unknown workload 'no_such_net'"),
    (["sd855,codl_yolov2,cpu,-238"], "column ms: a latency must be a positive"),
    (["sd855,codl_yolov2,cpu,0"], "column ms: a latency must be a positive"),
    (["sd855,codl_yolov2,npu,10"], "column processor: 'npu'; allowed: cpu, gpu"),
    (["sd999,codl_yolov2,cpu,10"], "column soc: 'sd999'"),
    (["sd855,codl_yolov2,cpu,10", "sd855,codl_yolov2,cpu,11"], "already given on line 2"),
    (["sd855,codl_yolov2,cpu"], "expected 4 columns"),
])
def test_bad_latencies_file_is_one_line(tmp_path, rows, needle):
    p = _write(tmp_path, rows)
    with pytest.raises(ConfigError) as e:
        read_latencies(p)
    assert "\n" not in str(e.value) and str(p) in str(e.value) and needle in str(e.value)


def _cli(args, cwd):
    return subprocess.run([sys.executable, "-m", "accelsim", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("rows,soc,needle", [
    (["sd855,no_such_net,cpu,10"], "sd855", "unknown workload 'no_such_net'"),
    (["sd855,codl_yolov2,cpu,-5", "sd855,codl_yolov2,gpu,5"], "sd855", "positive finite"),
    (["sd855,codl_yolov2,cpu,238", "sd865,codl_yolov2,gpu,189"], "sd855", "no gpu latency for SoC 'sd855'"),
    (["sd855,codl_yolov2,cpu,238", "sd855,codl_yolov2,gpu,214"], "sd865", "no cpu latency for SoC 'sd865'"),
])
def test_calibrate_bad_input_exits_2_in_one_line(tmp_path, rows, soc, needle):
    p = _write(tmp_path, rows)
    proc = _cli(["partition", "calibrate", "--from", str(p), soc], tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(lines) == 1 and lines[0].startswith("accelsim: error:") and needle in lines[0]


def test_calibrate_from_a_directory_says_it_is_a_directory(tmp_path):
    """A directory given as the latencies file: one line saying so and naming the CSV's columns, exit 2
    (it used to claim there was no such file)."""
    proc = _cli(["partition", "calibrate", "--from", str(tmp_path), "sd855"], tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert lines == [f"accelsim: error: {tmp_path}: is a directory, expected a latencies file "
                     "(CSV: soc,model,processor,ms)"]


@pytest.mark.parametrize("args,needle", [
    (["partition", "calibrate", "sd855"], "--from"),
    (["partition", "calibrate", "--from", "x.csv"], "the SoC to calibrate"),
    (["partition", "calibrate", "--from", "nope.csv", "sd855"], "no such latencies file"),
    (["partition", "calibrate", "--from", "a.csv", "sd855", "sd865"], "one latencies file"),
    (["partition", "validate", "sd855"], "takes no SoC"),
    (["partition", "sd855", "--from", "a.csv", "--workload", "yolov2"], "--from"),
])
def test_calibrate_bad_arguments(args, needle, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_calibrate_prints_the_shipped_efficiencies_and_residuals(reference_fit, capsys):
    _, _, _, fit = reference_fit
    assert main(["partition", "calibrate", "--from", str(REFERENCE), "kirin990"]) == 0
    out = capsys.readouterr().out
    gpu = fit.efficiency("kirin990", "gpu")
    assert "  gpu: {" + ", ".join(f"{c}: {v:.4g}" for c, v in zip(FACTORS, gpu)) + "}" in out
    row = next(r for r in fit.residuals if (r.soc, r.model, r.processor) == ("kirin990", "codl_vgg16", "gpu"))
    assert f"{row.measured_ms:>9.1f}{row.predicted_ms:>10.1f}{100 * row.error:>+7.1f}%" in out
    e = dict(((p, kind), v) for p, kind, v in fit.elasticities)
    assert f"gpu compute {e['gpu', 'compute']:.2f}, gpu mem {e['gpu', 'mem']:.2f}" in out
    assert out.count("\n") == 4 + 2 + 1 + 40 + 1  # header, 2 efficiency lines, elasticities, table header, 40 rows, summary
    assert "warning" not in out and fit.converged


def test_a_fit_that_reaches_the_iteration_limit_says_so(reference_fit, tmp_path, capsys):
    """The reference table converges (16 iterations); with AlexNet in place of YOLOv2 the fit is still
    improving at MAX_ITERATIONS: SocFit.converged is False and calibrate warns right after its header."""
    _, _, _, fit = reference_fit
    assert (fit.converged, fit.iterations) == (True, 16)
    p = tmp_path / "a.csv"
    p.write_text(REFERENCE.read_text().replace("codl_yolov2", "alexnet"))
    lats = read_latencies(p)
    socs, workloads = load_inputs(lats)
    slow = fit_socs(lats, socs, workloads)
    assert (slow.converged, slow.iterations) == (False, MAX_ITERATIONS)
    assert main(["partition", "calibrate", "--from", str(p), "sd855"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"calibrated from {p}:") and lines[0].endswith(f"; {MAX_ITERATIONS} iterations")
    assert lines[1] == (f"warning: the fit stopped at the iteration limit ({MAX_ITERATIONS}) before converging; "
                        "the efficiencies may not be a minimum")


def test_class_share_table_splits_each_models_predicted_time(reference_fit):
    """The validate command's per-class table: each row's total is the model's predicted latency on that
    processor (model_ms), and its shares (one per factor combination, and mem) add up to 100%."""
    from accelsim.partition.validation import class_share_table

    _, socs, workloads, _ = reference_fit
    rows = class_share_table(socs["sd855"], workloads, "sd855").splitlines()[2:]
    assert len(rows) == 2 * len(workloads)
    for row in rows:
        model, proc, total, *shares = row.split()
        assert float(total) == pytest.approx(model_ms(socs["sd855"], workloads[model], proc), abs=0.051)
        assert sum(float(x.rstrip("%")) for x in shares) == pytest.approx(100, abs=len(shares) * 0.5)
