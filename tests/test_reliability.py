"""Issue 21's seventeen failures, one regression test (or a few) each, run in process through the CLI's
``main``: every bad input is exit 2 with exactly one stderr line, every output says what it is."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelsim.cli import main
from tests.test_arch_config import GOOD as GOOD_ARCH


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def one_line_error(code: int, err: str, *fragments: str) -> str:
    """Assert exit 2 with one stderr line holding every fragment; return the line."""
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("accelsim: error: "), (code, err)
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def write_yaml(path: Path, doc) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def sweep_doc(name: str, axes: list, **base) -> dict:
    return {"version": 1, "name": name, "base": {"arch": "isca16/rs", "workload": "alexnet", "layers": "FC8", **base},
            "axes": axes}


# ---- 1. a negative search seed --------------------------------------------------------------------

@pytest.mark.parametrize("args", [["run", "--search", "--seed", "-1", "--layers", "FC8", "--no-sim", "-q"],
                                  ["explain", "eyeriss_v1", "--search", "--seed", "-1", "--layer", "FC8"],
                                  ["run", "--search", "--seed", str(2**32), "--layers", "FC8", "--no-sim", "-q"]])
def test_1_seed_out_of_range_is_one_line(args):
    one_line_error(*cli(*args)[::2], "search seed must be an integer 0..4294967295")


def test_1_sweep_search_seed_is_checked_before_any_point_runs(tmp_path):
    path = write_yaml(tmp_path / "s.yaml", sweep_doc("seed", [{"search.seed": [0, -1]}]))
    code, _, err = cli("sweep", path, "--out", tmp_path / "o", "-q")
    one_line_error(code, err, "s.yaml: search.seed: search seed must be an integer 0..4294967295")
    assert not (tmp_path / "o" / "points.jsonl").exists()


# ---- 2. --out / --plot that cannot be written ------------------------------------------------------

@pytest.fixture
def a_file(tmp_path) -> Path:
    f = tmp_path / "a_file"
    f.write_text("not a directory\n")
    return f


def test_2_out_paths_that_are_files_or_below_files(tmp_path, a_file):
    sweep = write_yaml(tmp_path / "s.yaml", sweep_doc("o", [{"batch": [1, 2]}]))
    run = ["run", "--layers", "FC8", "--no-sim", "-q"]
    one_line_error(*cli(*run, "--out", a_file)[::2], f"--out {a_file}: is a file, expected a directory")
    one_line_error(*cli(*run, "--out", a_file / "sub")[::2], f"because {a_file} is a file")
    one_line_error(*cli("sweep", sweep, "--out", a_file, "-q")[::2], "is a file, expected a directory")
    one_line_error(*cli("sweep", sweep, "--out", a_file / "x", "-q")[::2], f"because {a_file} is a file")
    one_line_error(*cli("explain", "eyeriss_v1", "--layer", "FC8", "--plot", a_file / "w.png")[::2],
                   f"--plot {a_file / 'w.png'}: cannot be written because {a_file} is a file")
    one_line_error(*cli("explain", "eyeriss_v1", "--layer", "FC8", "--plot", tmp_path / "w.pdf")[::2],
                   "unknown file type '.pdf'")
    assert cli(*run, "--out", tmp_path / "res")[0] == 0
    one_line_error(*cli("plot", tmp_path / "res", "--out", a_file)[::2], "is a file, expected a directory")
    assert a_file.read_text() == "not a directory\n"


def _deny_writes(monkeypatch, errno_code: int) -> None:
    """Root ignores permission bits, so "unwritable" is simulated at the OS call: creating any temp
    file (where every output write starts) fails with ``errno_code``."""
    import os
    import tempfile

    def refuse(*args, **kwargs):
        raise OSError(errno_code, os.strerror(errno_code))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)


def test_2_unwritable_out_is_one_line_and_leaves_the_old_files(tmp_path, monkeypatch):
    import errno

    out = tmp_path / "res"
    assert cli("run", "--layers", "FC8", "--no-sim", "-q", "--out", out)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    _deny_writes(monkeypatch, errno.EACCES)
    code, _, err = cli("run", "--layers", "FC7", "--no-sim", "-q", "--out", out)
    one_line_error(code, err, f"{out / 'stats.json'}: cannot write: Permission denied")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


# ---- 3. tiny bandwidths -----------------------------------------------------------------------------

@pytest.mark.parametrize("section,key", [("glb", "bandwidth_words_per_cycle"), ("noc", "words_per_cycle")])
def test_3_a_bandwidth_below_the_minimum_is_refused(tmp_path, section, key):
    doc = json.loads(json.dumps(GOOD_ARCH))
    doc.setdefault(section, {"type": "bus"})[key] = 1.0e-300
    path = write_yaml(tmp_path / "a.yaml", doc)
    one_line_error(*cli("run", path, "--layers", "FC8", "-q")[::2], f"{section}.{key}: value 1e-300 must be >= 0.001")


def test_3_at_the_minimum_bandwidth_the_simulation_finishes_with_finite_counts(tmp_path):
    doc = json.loads(json.dumps(GOOD_ARCH))
    doc["glb"]["bandwidth_words_per_cycle"] = 0.001
    doc["noc"] = {"type": "bus", "words_per_cycle": 0.001}
    code, out, err = cli("run", write_yaml(tmp_path / "a.yaml", doc), "--layers", "FC8", "--json", "-q")
    assert code == 0, err
    totals = json.loads(out)["totals"]
    # at most 1/1000 word per cycle, the GLB alone needs >= 1000 cycles per word it moves
    glb_words = sum(sum(v.values()) for v in json.loads(out)["layers"][0]["accesses"]["glb"].values())
    assert totals["cycles"] >= 1000 * glb_words * 0.5 and isinstance(totals["cycles"], int)


# ---- 4. huge layers: closed form, limits --------------------------------------------------------------

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(data=st.data())
def test_4_interior_tiles_in_bulk_equal_the_tile_by_tile_walk(data):
    """The action table with interior tiles counted in one product (accelsim.cost.actions._interior)
    equals the same table walked tile by tile, on random layers tall enough to have interior tiles
    (strides, dilations, paddings, sliding loops, any legal mapping)."""
    import accelsim.cost.actions as actions
    from accelsim.cost.counts import fixed_actions
    from tests.strategies import mappings, small_layers

    layer = data.draw(small_layers(max_hw=24))
    mapping = data.draw(mappings(layer))
    bulk = fixed_actions(layer, mapping)
    try:
        actions.GROUP_INTERIOR = False
        walked = fixed_actions(layer, mapping)
    finally:
        actions.GROUP_INTERIOR = True
    assert bulk == walked


def test_4_a_billion_rows_is_counted_in_closed_form_in_well_under_seconds(tmp_path):
    """H = 10^9 (the issue's case) runs as fast as H = 10^3 would: run, simulate and Eyexam."""
    layers = {"layers": [{"name": "tall", "kind": "conv", "C": 3, "K": 4, "H": 10**9, "W": 8, "R": 3, "padding": 1}]}
    path = write_yaml(tmp_path / "tall.yaml", layers)
    start = time.perf_counter()
    code, out, err = cli("run", "-w", path, "--json", "-q")
    elapsed = time.perf_counter() - start
    assert code == 0, err
    layer = json.loads(out)["layers"][0]
    assert layer["macs"] == 3 * 4 * 10**9 * 8 * 9           # P = H with padding 1, Q = W
    # every input word is read from DRAM at least once
    assert layer["accesses"]["dram"]["ifmap"]["reads"] >= 3 * 10**9 * 8
    assert elapsed < 20, elapsed


@pytest.mark.parametrize("layer,fragment", [
    ({"kind": "conv", "C": 3, "K": 4, "H": 2**31 + 1, "W": 8, "R": 3}, "H = 2147483649 is above the limit 2,147,483,648"),
    ({"kind": "conv", "C": 2**20 + 1, "K": 4, "H": 8, "R": 3}, "C = 1048577 is above the limit 1,048,576"),
    ({"kind": "conv", "C": 3, "K": 4, "H": 4096, "R": 2048}, "R = 2048 is above the limit 1,024"),
    ({"kind": "conv", "C": 3, "K": 4, "H": 8, "R": 3, "N": 2**20 + 1}, "N = 1048577 is above the limit 1,048,576"),
    ({"kind": "conv", "C": 3, "K": 4, "H": 8, "R": 3, "stride": 1025}, "stride_h = 1025 is above the limit 1,024"),
])
def test_4_sizes_above_the_limits_are_one_line(tmp_path, layer, fragment):
    path = write_yaml(tmp_path / "w.yaml", {"layers": [{"name": "x", **layer}]})
    one_line_error(*cli("run", "-w", path, "--no-sim", "-q")[::2], str(path), fragment, "docs/limits.md")


def test_4_a_fully_connected_layer_may_be_as_wide_as_its_input(tmp_path):
    path = write_yaml(tmp_path / "w.yaml", {"layers": [{"name": "fc", "kind": "fc", "C": 2, "K": 3, "H": 4096}]})
    code, out, err = cli("run", "isca16/rs", "-w", path, "--json", "--no-sim", "-q")
    assert code == 0, err
    assert json.loads(out)["totals"]["macs"] == 2 * 3 * 4096 * 4096


# ---- 5. -j beyond the machine --------------------------------------------------------------------------

def test_5_jobs_above_the_cpu_count_are_refused(tmp_path):
    import os

    path = write_yaml(tmp_path / "s.yaml", sweep_doc("j", [{"batch": [1, 2]}]))
    limit = max(2, os.cpu_count() or 1)
    one_line_error(*cli("sweep", path, "-j", "1000", "--out", tmp_path / "o")[::2], f"-j/--jobs must be 1..{limit}")
    assert not (tmp_path / "o").exists()


# ---- 7. every swept key in plot names and titles ---------------------------------------------------

def test_7_settings_that_differ_only_in_a_relative_key_get_their_own_plots(tmp_path):
    doc = {"version": 1, "name": "rel", "base": {"arch": "isca16/rs", "workload": "alexnet"},
           "axes": [{"zip": {"arch": ["isca16/rs", "isca16/ws"], "dataflow": ["rs", "ws"]}},
                    {"glb.size_kb": [{"times": 1}, {"times": 2}]}, {"layers": ["FC8"]}]}
    path = write_yaml(tmp_path / "s.yaml", doc)
    assert cli("sweep", path, "--out", tmp_path / "o", "-q")[0] == 0
    code, out, err = cli("plot", tmp_path / "o", "--format", "svg")
    assert code == 0, err
    announced = [p.strip() for line in out.splitlines() for p in line.split(": ", 1)[1].split(",")]
    assert len(announced) == len(set(announced)) == len(list((tmp_path / "o" / "plots").glob("*.svg")))
    levels = sorted(p for p in announced if "dataflow_levels" in p)
    assert [Path(p).name for p in levels] == ["dataflow_levels_256pes_glb_kb_x1.svg",
                                              "dataflow_levels_256pes_glb_kb_x2.svg"]


# ---- 8. a workload without MACs ------------------------------------------------------------------------

def test_8_per_mac_totals_are_null_without_macs(tmp_path):
    w = write_yaml(tmp_path / "pool.yaml", {"layers": [{"name": "p", "kind": "pool", "C": 4, "H": 8, "R": 2,
                                                        "stride": 2}]})
    code, out, err = cli("run", "-w", w, "--json", "-q", "--no-sim")
    assert code == 0, err
    totals = json.loads(out)["totals"]
    assert totals["macs"] == 0 and totals["energy_pj"] > 0
    assert totals["energy_per_mac_pj"] is None and totals["dram_accesses_per_mac"] is None
    sweep = write_yaml(tmp_path / "s.yaml", {"version": 1, "name": "nomac", "base": {"arch": "isca16/rs", "workload": str(w)},
                                             "axes": [{"batch": [1, 2]}]})
    assert cli("sweep", sweep, "--out", tmp_path / "o", "-q")[0] == 0
    with open(tmp_path / "o" / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["energy_per_mac_pj"], r["dram_accesses_per_mac"]) for r in rows] == [("", "")] * 2
    assert all(float(r["energy_pj"]) > 0 for r in rows)


# ---- 9. a stale COMPUTE_REPORT.csv ----------------------------------------------------------------------

def test_9_a_run_without_scalesim_format_removes_the_old_compute_report(tmp_path):
    out = tmp_path / "d"
    assert cli("run", "--layers", "FC8", "--no-sim", "-q", "--out", out, "--format", "scalesim")[0] == 0
    assert (out / "COMPUTE_REPORT.csv").is_file()
    code, text, _ = cli("run", "--layers", "FC7", "--no-sim", "-q", "--out", out)
    assert code == 0 and not (out / "COMPUTE_REPORT.csv").exists()
    assert f"removed {out / 'COMPUTE_REPORT.csv'}" in text


# ---- 10. --mapping with --search ------------------------------------------------------------------------

# isca16/rs's named mapping of AlexNet FC8 (C = 4096, K = 1000), as `run --json` prints it
MAPPING_FC8 = {"dram": {"factors": {"C": 82}}, "glb": {"factors": {}}, "rows": {"factors": {"K": 16}},
               "cols": {"factors": {"K": 16}}, "rf": {"factors": {"K": 4, "C": 50}}}


def test_10_hand_written_mappings_are_named_as_such_beside_a_search(tmp_path):
    m = write_yaml(tmp_path / "m.yaml", {"FC8": MAPPING_FC8})
    args = ["run", "isca16/rs", "--mapping", m, "--search", "--search-budget", "50", "--no-sim", "-q"]
    one_line_error(*cli(*args, "--layers", "FC8")[::2], "--search has nothing to search")
    code, out, err = cli(*args, "--layers", "FC7,FC8", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["hand_written_mappings"] == ["FC8"]
    assert ["search" in layer for layer in doc["layers"]] == [True, False]     # FC7 searched, FC8 given
    code, out, _ = cli(*args, "--layers", "FC7,FC8")
    assert "seed 0 (hand-written mapping for FC8)" in out.splitlines()[0]


# ---- 11. --layers --------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec,fragment", [("", "--layers: empty item in ''"), (",,", "--layers: empty item in ',,'"),
                                           ("5-1", "--layers: range '5-1' is reversed; write 1-5"),
                                           ("0-2", "outside 1-8")])
def test_11_bad_layer_selections(spec, fragment):
    one_line_error(*cli("run", "--layers", spec, "--no-sim", "-q")[::2], fragment)


def test_11_a_mapping_for_an_unselected_layer_says_so(tmp_path):
    m = write_yaml(tmp_path / "m.yaml", {"FC8": MAPPING_FC8})
    one_line_error(*cli("run", "isca16/rs", "--layers", "FC7", "--mapping", m, "--no-sim", "-q")[::2],
                   "m.yaml: FC8: layer 'FC8' is not selected by --layers; selected: FC7")
    one_line_error(*cli("run", "isca16/rs", "-w", "nin", "--mapping", m, "--no-sim", "-q")[::2],
                   "layer 'FC8' is not a layer of workload 'nin'")


# ---- 12. sweeps: integer layers, unknown arch keys ---------------------------------------------------------

def test_12_an_integer_layers_value_selects_that_layer(tmp_path):
    path = write_yaml(tmp_path / "s.yaml", sweep_doc("int", [{"batch": [1, 2]}], layers=8))
    code, out, err = cli("sweep", path, "--out", tmp_path / "o", "-q")
    assert code == 0, (out, err)
    with open(tmp_path / "o" / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["macs"]) for r in rows] == [4_096_000, 2 * 4_096_000]     # FC8: 4096 x 1000, batch 1 and 2


def test_12_an_unknown_arch_key_stops_the_sweep_before_it_runs(tmp_path):
    path = write_yaml(tmp_path / "s.yaml", sweep_doc("rowz", [{"pe_array.rowz": [4, 8]}]))
    one_line_error(*cli("sweep", path, "--out", tmp_path / "o", "-q")[::2],
                   "pe_array.rowz: unknown key (did you mean 'rows'?)")
    assert not (tmp_path / "o" / "points.jsonl").exists()


def test_12_an_arch_error_no_axis_touches_stops_the_sweep_before_it_runs(tmp_path):
    """Every point would fail the same way: that is the sweep file's error, not 2 recorded failures."""
    doc = json.loads(json.dumps(GOOD_ARCH))
    doc["pe_array"]["rows"] = 0
    arch = write_yaml(tmp_path / "a.yaml", doc)
    path = write_yaml(tmp_path / "s.yaml", {"version": 1, "name": "bad", "base": {"arch": str(arch),
                                            "workload": "alexnet", "layers": "FC8"}, "axes": [{"clock_mhz": [100, 200]}]})
    one_line_error(*cli("sweep", path, "--out", tmp_path / "o", "-q")[::2],
                   "the architecture of every point is invalid", "pe_array.rows: value 0 is too small")
    assert not (tmp_path / "o" / "points.jsonl").exists()
    doc["pe_array"]["rows"] = 4                    # swept: each point judged on its own
    write_yaml(tmp_path / "a.yaml", doc)
    path = write_yaml(tmp_path / "s2.yaml", {"version": 1, "name": "mixed", "base": {"arch": str(arch),
                                             "workload": "alexnet", "layers": "FC8"}, "axes": [{"pe_array.rows": [0, 4]}]})
    code, out, err = cli("sweep", path, "--out", tmp_path / "o2", "-q")
    assert code == 2 and "2 points, 1 ok, 1 failed" in out and err.count("\n") == 1


# ---- 13. a bad hand-written mapping names the file and key ---------------------------------------------------

@pytest.mark.parametrize("change,fragment", [({"rf": {"factors": {"K": 4, "C": 25}}}, "factors of C cover 2050 < C=4096"),
                                             ({"dram": {"factors": {"C": 2}}, "glb": {"factors": {"C": 41}}},
                                              "GLB tiles need")])
def test_13_mapping_errors_name_file_and_layer(tmp_path, change, fragment):
    m = write_yaml(tmp_path / "m.yaml", {"FC8": {**MAPPING_FC8, **change}})
    one_line_error(*cli("run", "isca16/rs", "--layers", "FC8", "--mapping", m, "--no-sim", "-q")[::2],
                   f"{m}: FC8: ", fragment)


# ---- 14, 15. YAML 1.1 floats, misspelt required keys ------------------------------------------------------

def test_14_a_yaml11_float_says_how_to_write_it(tmp_path):
    text = yaml.safe_dump(GOOD_ARCH).replace("size_kb: 108", "size_kb: 1e30")
    assert "1e30" in text
    (tmp_path / "a.yaml").write_text(text)
    one_line_error(*cli("run", tmp_path / "a.yaml", "--no-sim", "-q")[::2],
                   "glb.size_kb: expected a number, got '1e30' (YAML reads 1e30 as text; write it as 1.0e+30)")


def test_15_a_misspelt_required_key_is_named(tmp_path):
    doc = json.loads(json.dumps(GOOD_ARCH))
    doc["glb"]["size_kbb"] = doc["glb"].pop("size_kb")
    one_line_error(*cli("run", write_yaml(tmp_path / "a.yaml", doc), "--no-sim", "-q")[::2],
                   "glb.size_kb: missing required key; found unknown key 'size_kbb' (misspelt?)")


# ---- 16. ONNX, CSV, --workers, --where ---------------------------------------------------------------------

def test_16_an_onnx_model_of_unsupported_ops_is_one_line(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])
    graph = helper.make_graph([helper.make_node("Neg", ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(graph), str(tmp_path / "neg.onnx"))
    one_line_error(*cli("run", "-w", tmp_path / "neg.onnx", "--no-sim", "-q")[::2],
                   "neg.onnx: no importable layers: skipped Neg x1")


def test_16_a_csv_row_of_commas_is_an_error(tmp_path):
    (tmp_path / "t.csv").write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                                    "Num Filter, Strides,\nc1, 8, 8, 3, 3, 2, 4, 1,\n,,,,,,,,\n")
    one_line_error(*cli("run", "-w", tmp_path / "t.csv", "--no-sim", "-q")[::2],
                   "t.csv: line 3: a row of empty fields (only commas)")


@pytest.mark.parametrize("workers,fragment", [("1,,2", "--workers: empty item in '1,,2'"),
                                              ("-1,2", "--workers: '-1' is not a worker count")])
def test_16_train_scale_worker_lists(workers, fragment):
    one_line_error(*cli("train-scale", "-w", "nin", "--workers", workers)[::2], fragment)


def test_16_where_on_a_run_directory_is_refused(tmp_path):
    assert cli("run", "--layers", "FC8", "-q", "--out", tmp_path / "r")[0] == 0
    one_line_error(*cli("plot", tmp_path / "r", "--where", "foo=bar")[::2], "--where filters the rows of a sweep")
    assert not (tmp_path / "r" / "plots").exists()


# ---- 17. the Eyexam waterfall is legible ----------------------------------------------------------------------

def _boxes_overlap(a, b) -> bool:
    return a.x0 < b.x1 - 0.5 and b.x0 < a.x1 - 0.5 and a.y0 < b.y1 - 0.5 and b.y0 < a.y1 - 0.5


@pytest.mark.parametrize("n_layers", [1, 5])
def test_17_waterfall_text_does_not_overlap_or_leave_the_figure(n_layers):
    """Every text of the figure (title, legend, panel titles, tick and value labels) lies inside the
    canvas, and no two overlap, except a value label on its own bar's hatch (drawn on top)."""
    from accelsim.arch import load_arch
    from accelsim.cli.cmd_explain import explain
    from accelsim.plots.waterfall import plot_waterfall
    from workloads.loader import load_workload

    arch = load_arch("eyeriss_v1")
    workload = load_workload("alexnet")
    found = explain(arch, workload.select([l.name for l in workload.layers[:n_layers]]), "rs")
    title = f"Eyexam | {arch.name} ({arch.pes} PEs) | alexnet batch 1 | rs | a long title that must wrap, not be cut"
    fig = plot_waterfall([(layer.name, sim.eyexam) for layer, _, sim in found], arch.pes, title)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    canvas = fig.bbox
    texts = [fig._suptitle] + [t for ax in fig.axes for t in [ax.title, *ax.get_xticklabels(), *ax.texts]
                               if t.get_text()]
    legend = fig.legends[0].get_window_extent(renderer)
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    for name, box in boxes + [("legend", legend)]:
        assert canvas.x0 <= box.x0 and box.x1 <= canvas.x1 and canvas.y0 <= box.y0 and box.y1 <= canvas.y1, name
    for i, (na, a) in enumerate(boxes + [("legend", legend)]):
        for nb, b in (boxes + [("legend", legend)])[i + 1:]:
            assert not _boxes_overlap(a, b), (na, nb)
    from accelsim.plots.style import pyplot

    pyplot().close(fig)
