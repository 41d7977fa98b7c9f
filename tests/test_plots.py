"""Plots draw the numbers they are given (bar heights read back from the figures), the CLI plots
whatever a directory holds, and the same input gives the same SVG bytes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from accelsim import report
from accelsim.arch import load_arch
from accelsim.errors import ConfigError
from accelsim.pipeline import run
from accelsim.plots.breakdown import plot_energy_breakdown
from accelsim.plots.cycles import plot_cycles
from accelsim.plots.dataflows import plot_dataflow_comparison, plot_dataflow_levels, plot_isca16
from accelsim.plots.style import save
from accelsim.sweep import load_results, load_sweep, run_sweep
from tests.conftest import REPO
from workloads.loader import load_workload

FLOWS = {"zip": {"arch": ["isca16/rs", "isca16/ws", "isca16/nlr"], "dataflow": ["rs", "ws", "nlr"]}}
SWEEP = {"version": 1, "name": "plots", "base": {"arch": "isca16/rs", "workload": "alexnet"},
         "axes": [FLOWS, {"batch": [1, 4]}, {"layers": ["CONV3", "CONV5", "FC8"]}]}


@pytest.fixture(scope="module")
def doc():
    workload = load_workload("alexnet").select(["CONV1", "CONV2", "FC8"])
    return report.stats(run(load_arch("eyeriss_v1"), workload, None))


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep")
    path = d / "s.yaml"
    path.write_text(yaml.safe_dump(SWEEP, sort_keys=False))
    run_sweep(load_sweep(path), d / "out")
    return d / "out"


def _stacks(ax):
    """Sum of bar heights at each x position (stacked bars), in x order."""
    out: dict[float, float] = {}
    for p in ax.patches:
        x = round(p.get_x() + p.get_width() / 2, 6)
        out[x] = out.get(x, 0.0) + p.get_height()
    return [out[x] for x in sorted(out)]


@pytest.mark.parametrize("by, field", [("level", "energy_breakdown_pj"), ("tensor", "energy_by_tensor_pj")])
def test_breakdown_bars_are_the_layer_energies(doc, by, field):
    fig = plot_energy_breakdown(doc, by)
    ax_abs, ax_pct = fig.axes[:2]
    expected = [sum(layer[field].values()) / 1e6 for layer in doc["layers"]]
    assert _stacks(ax_abs) == pytest.approx(expected, rel=1e-9)
    assert _stacks(ax_pct) == pytest.approx([100.0] * len(expected))
    assert ax_abs.get_ylabel() == "energy (10$^6$ x MAC energy)" and ax_pct.get_ylabel().endswith("(%)")
    assert [t.get_text() for t in ax_pct.get_xticklabels()] == ["CONV1", "CONV2", "FC8"]
    with pytest.raises(ConfigError, match="unknown breakdown"):
        plot_energy_breakdown(doc, "colour")


def test_cycles_and_utilisation_bars(doc):
    fig = plot_cycles(doc)
    ax_c, ax_u = fig.axes[:2]
    assert _stacks(ax_c) == [layer["cycles"] for layer in doc["layers"]]
    util = [100 * layer["macs"] / (layer["cycles"] * doc["pes"]) for layer in doc["layers"]]
    assert _stacks(ax_u) == pytest.approx(util)
    assert "cycles" in ax_c.get_ylabel() and "(%)" in ax_u.get_ylabel()


def test_dataflow_comparison_bars_are_ratios_to_rs(sweep_dir):
    res = load_results(sweep_dir)
    rows = {(r["dataflow"], r["batch"], r["layers"]): r["energy_per_mac_pj"] for r in res.records()}
    fig = plot_dataflow_comparison(res)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 2                                   # batch 1 and batch 4
    for ax, batch in zip(panels, (1, 4)):
        bars = sorted(ax.patches, key=lambda p: p.get_x())
        got = [1 + p.get_height() for p in bars]              # bars rise (or fall) from the RS line at 1
        want = [rows[(flow, batch, layer)] / rows[("rs", batch, layer)]
                for layer in ("CONV3", "CONV5", "FC8") for flow in ("ws", "nlr")]
        assert got == pytest.approx(want, rel=1e-12)
        assert ax.get_yscale() == "log" and f"batch {batch}" in ax.get_title()


def test_level_breakdown_is_energy_over_macs_of_the_layer_set(sweep_dir):
    res = load_results(sweep_dir).where(batch=4)
    fig = plot_dataflow_levels(res)
    conv, fc = fig.axes[:2]
    recs = res.records()
    for ax, names in ((conv, {"CONV3", "CONV5"}), (fc, {"FC8"})):
        want = []
        for flow in ("ws", "nlr", "rs"):
            chosen = [r for r in recs if r["dataflow"] == flow and r["layers"] in names]
            want.append(sum(r["energy_pj"] for r in chosen) / sum(r["macs"] for r in chosen))
        assert _stacks(ax) == pytest.approx(want, rel=1e-9)
    with pytest.raises(ConfigError, match="several remain"):
        plot_dataflow_levels(load_results(sweep_dir))
    with pytest.raises(ConfigError, match="one setting"):
        plot_isca16(load_results(sweep_dir))
    fig = plot_isca16(load_results(sweep_dir), where={"batch": 1})
    assert len(fig.axes) == 3


def test_svg_is_deterministic(doc, tmp_path):
    a = save(plot_energy_breakdown(doc), tmp_path / "a", ("svg",))[0].read_bytes()
    b = save(plot_energy_breakdown(doc), tmp_path / "b", ("svg",))[0].read_bytes()
    assert a == b


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "accelsim", *args], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO), "PATH": ""}, timeout=120)


def test_cli_plots_a_run_dir_and_a_sweep_dir(sweep_dir, doc, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "stats.json").write_text(json.dumps(doc))
    proc = _cli("plot", str(run_dir), "--format", "png", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in (run_dir / "plots").iterdir())
    assert names == ["cycles_utilization.png", "energy_by_level.png", "energy_by_tensor.png"]
    assert all((run_dir / "plots" / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in names)

    proc = _cli("plot", str(sweep_dir), "--out", str(tmp_path / "sp"), "--where", "batch=4", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in (tmp_path / "sp").iterdir())
    assert names == ["dataflow_comparison.png", "dataflow_comparison.svg", "dataflow_levels.png",
                     "dataflow_levels.svg", "dataflow_summary.png", "dataflow_summary.svg"]

    empty = tmp_path / "empty"
    empty.mkdir()
    proc = _cli("plot", str(empty), cwd=tmp_path)
    assert proc.returncode == 2 and "nothing to plot here" in proc.stderr and "stats.json" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = _cli("plot", str(run_dir), "--format", "jpg", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown format 'jpg'; allowed: png, svg" in proc.stderr


def test_sweep_grid_cells_are_the_results(tmp_path):
    from accelsim.plots.sweep_grid import plot_sweep_grid

    doc = {"version": 1, "name": "grid", "base": {"arch": "isca16/rs", "workload": "alexnet", "layers": "CONV5"},
           "axes": [{"zip": {"pe_array.rows": [8, 16, 32], "pe_array.cols": [32, 16, 8]}},
                    {"glb.size_kb": [32, 128]}]}
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    run_sweep(load_sweep(path), tmp_path / "out")
    res = load_results(tmp_path / "out")
    fig = plot_sweep_grid(res)
    energy_ax = fig.axes[0]
    grid = energy_ax.images[0].get_array()
    recs = {(r["pe_array.rows"], r["glb.size_kb"]): r["energy_per_mac_pj"] for r in res.records()}
    for i, rows in enumerate((8, 16, 32)):
        for j, kb in enumerate((32, 128)):
            assert grid[i, j] == recs[(rows, kb)]
    assert [t.get_text() for t in energy_ax.get_yticklabels()] == ["8 x 32", "16 x 16", "32 x 8"]
    assert [t.get_text() for t in energy_ax.get_xticklabels()] == ["32", "128"]
    assert "x MAC energy" in energy_ax.get_title()
    best = min(recs, key=recs.get)
    outline = [p for p in energy_ax.patches if p.get_edgecolor()[:3] == (1.0, 0.0, 0.0)][0]
    assert (outline.get_y() + 0.5, outline.get_x() + 0.5) == ((8, 16, 32).index(best[0]), (32, 128).index(best[1]))
