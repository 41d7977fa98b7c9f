"""Sweep files: parsing, point numbering, {times: k}, and one-line errors for bad input."""

from __future__ import annotations

import pytest
import yaml

from accelsim.errors import ConfigError
from accelsim.sweep.points import coords_of, point, points
from accelsim.sweep.spec import Times, load_sweep, sweep_from_dict

BASE = {"version": 1, "name": "t", "base": {"arch": "isca16/rs", "workload": "alexnet", "layers": "FC8"}}


def spec_of(axes, **extra):
    return sweep_from_dict({**BASE, **extra, "axes": axes}, "t.yaml")


def test_points_are_the_cross_product_in_mixed_radix_order():
    spec = spec_of([{"zip": {"arch": ["isca16/rs", "isca16/ws"], "dataflow": ["rs", "ws"]}},
                    {"batch": [1, 2, 4]},
                    {"glb.size_kb": [{"times": 1}, {"times": 2}]}])
    assert spec.sizes == (2, 3, 2) and spec.total == 12
    # point 7 = 1*(3*2) + 0*2 + 1 -> (ws, batch 1, x2), written out by hand
    assert coords_of(7, spec.sizes) == (1, 0, 1)
    p = point(spec, 7)
    assert dict(p.axes) == {"arch": "isca16/ws", "dataflow": "ws", "batch": 1, "glb.size_kb": Times(2)}
    assert dict(p.settings)["layers"] == "FC8"          # base settings come first, axes override
    every = list(points(spec))
    assert [q.index for q in every] == list(range(12))
    assert len({q.key for q in every}) == 12               # every point distinct
    assert [q.index for q in points(spec, skip={0, 5, 11})] == [1, 2, 3, 4, 6, 7, 8, 9, 10]


def test_axes_as_a_mapping_is_a_grid_and_base_nesting_flattens():
    spec = spec_of({"batch": [1, 2], "pe_array.rows": [8, 16]},
                   base={"arch": "isca16/rs", "workload": "alexnet", "search": {"budget": 5, "seed": 3}})
    assert spec.groups[0].keys == ("batch",) and spec.groups[1].keys == ("pe_array.rows",)
    assert ("search.budget", 5) in spec.base and ("search.seed", 3) in spec.base


def test_fingerprint_changes_with_any_setting():
    a = spec_of([{"batch": [1, 2]}])
    assert a.fingerprint == spec_of([{"batch": [1, 2]}]).fingerprint
    assert a.fingerprint != spec_of([{"batch": [1, 3]}]).fingerprint
    assert a.fingerprint != sweep_from_dict({**BASE, "base": {**BASE["base"], "layers": "FC7"},
                                              "axes": [{"batch": [1, 2]}]}, "t.yaml").fingerprint


@pytest.mark.parametrize("axes, fragments", [
    ([{"zip": {"batch": [1, 2], "dataflow": ["rs"]}}], ["t.yaml", "axes[0].zip", "equal lengths", "batch: 2"]),
    ([{"pe_aray.rows": [1]}], ["t.yaml", "pe_aray.rows", "unknown sweep key", "pe_array"]),
    ([{"batch": 4}], ["axes[0].batch", "non-empty list"]),
    ([{"batch": []}], ["axes[0].batch", "non-empty list"]),
    ([{"batch": [{"times": 2}]}], ["axes[0].batch[0]", "only scales an arch key"]),
    ([{"glb.size_kb": [{"times": -1}]}], ["axes[0].glb.size_kb[0]", "positive number"]),
    ([{"batch": [1]}, {"batch": [2]}], ["axes[1].batch", "already swept"]),
    ([{"batch": [1, 1]}], ["axes[0]", "same setting twice"]),
    ([{"batch": [1], "layers": ["FC8"]}], ["axes[0]", "each axis is"]),
    ([], ["axes", "non-empty list"]),
])
def test_bad_axes_are_one_line_config_errors(axes, fragments):
    with pytest.raises(ConfigError) as err:
        spec_of(axes)
    msg = str(err.value)
    assert "\n" not in msg
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)


def test_missing_base_arch_and_unknown_top_level_key():
    with pytest.raises(ConfigError, match=r"base\.arch.*missing"):
        sweep_from_dict({"version": 1, "name": "t", "base": {"workload": "alexnet"}, "axes": [{"batch": [1]}]}, "t.yaml")
    with pytest.raises(ConfigError, match=r"t\.yaml: axis: unknown key"):
        sweep_from_dict({**BASE, "axes": [{"batch": [1]}], "axis": []}, "t.yaml")
    with pytest.raises(ConfigError, match=r"version.*unsupported"):
        sweep_from_dict({**BASE, "version": 2, "axes": [{"batch": [1]}]}, "t.yaml")


def test_shipped_sweeps_load_and_have_the_documented_size():
    isca = load_sweep("isca16_dataflows")
    # 6 dataflow configs x 3 array sizes x 3 batches x 8 AlexNet layers (reference/eyeriss.md)
    assert isca.sizes == (6, 3, 3, 8) and isca.total == 432
    shape = load_sweep("array_shape")
    assert shape.total >= 12


def test_load_sweep_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**BASE, "axes": [{"zip": {"batch": [1, 2], "dataflow": ["rs"]}}]}))
    with pytest.raises(ConfigError, match=str(bad)):
        load_sweep(bad)
    with pytest.raises(ConfigError, match="no such sweep file or shipped sweep; shipped: .*isca16_dataflows"):
        load_sweep(tmp_path / "missing.yaml")


def _cli(args, cwd):
    import subprocess
    import sys

    from tests.conftest import REPO

    return subprocess.run([sys.executable, "-m", "accelsim", "sweep", *args], cwd=cwd, capture_output=True,
                          text=True, env={"PYTHONPATH": str(REPO), "PATH": ""}, timeout=120)


def test_cli_exit_status_and_one_line_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**BASE, "axes": [{"pe_aray.rows": [1]}]}))
    proc = _cli([str(bad)], tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "unknown sweep key 'pe_aray.rows'" in proc.stderr
    proc = _cli([str(bad), "-j", "0"], tmp_path)
    assert proc.returncode == 2 and "-j/--jobs must be 1.." in proc.stderr

    mixed = tmp_path / "mixed.yaml"
    mixed.write_text(yaml.safe_dump({**BASE, "axes": [{"pe_array.rows": [16, 0]}]}))
    proc = _cli([str(mixed), "--out", "o"], tmp_path)
    assert proc.returncode == 2, proc.stderr                  # a failed point: the sweep finishes, exit 2
    assert proc.stderr.count("\n") == 1 and "1 point(s) failed on their settings" in proc.stderr
    assert "2 points, 1 ok, 1 failed" in proc.stdout and "1 x " in proc.stdout
    assert (tmp_path / "o" / "results.csv").read_text().count("\n") == 3

    # a directory whose run stopped before recording any point (e.g. a Dask connection error) is reused
    (tmp_path / "o" / "points.jsonl").write_text("")
    proc = _cli([str(mixed), "--out", "o"], tmp_path)
    assert proc.returncode == 2 and "2 points, 1 ok, 1 failed" in proc.stdout


def test_list_values_for_arch_keys_and_layers():
    spec = spec_of([{"glb.holds": [["ifmap", "psum"], ["ifmap", "weight", "psum"]]}, {"layers": [["CONV1", "FC8"]]}])
    p = point(spec, 0)
    assert dict(p.axes) == {"glb.holds": ("ifmap", "psum"), "layers": "CONV1,FC8"}
    assert p.key == '[["glb.holds",["ifmap","psum"]],["layers","CONV1,FC8"]]'
    with pytest.raises(ConfigError, match=r"axes\[0\]\.batch\[0\]: expected a scalar"):
        spec_of([{"batch": [[1, 2]]}])
