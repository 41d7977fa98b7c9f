"""Sparsity through the command line: densities from a workload file, --density, --sparse presets,
stats.json's sparse keys, accelsim explain --sparse, accelsim sparse-formats, and bad input as one
line with exit 2."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from accelsim.cli import main


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


# both layers: an 8-row ifmap, a 3-row window, pad 1: 22 of the 24 (p, r) pairs per axis read a row of the
# ifmap, the other 2 padding (a zero no density describes), so the MACs with an ifmap element are (22/24)^2
INSIDE = (22 / 24) ** 2


def _workload(tmp_path, **extra) -> str:
    doc = {"version": 1, "name": "tiny", "density": {"ifmap": 0.5, "psum": 0.4},
           "layers": [{"name": "c1", "kind": "conv", "C": 4, "K": 8, "H": 8, "R": 3, "padding": 1},
                      {"name": "c2", "kind": "conv", "C": 8, "K": 8, "H": 8, "R": 3, "padding": 1,
                       "density": {"ifmap": 0.25}}]}
    doc.update(extra)
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(doc))
    return str(p)


def test_run_with_workload_densities_and_gating(tmp_path):
    """eyeriss_v1 gates MACs on zero ifmaps: effective MACs = MACs x INSIDE x d_ifmap (layer c2 overrides 0.5
    with 0.25)."""
    code, out, err = _run(["run", "eyeriss_v1", "-w", _workload(tmp_path), "--no-sim", "-q", "--json",
                           "--sparse", "eyeriss_v1"])
    assert code == 0, err
    doc = json.loads(out)
    l1, l2 = doc["layers"]
    assert l1["sparse"]["densities"] == {"ifmap": 0.5, "weight": 1.0, "psum": 0.4}
    assert l2["sparse"]["densities"]["ifmap"] == 0.25
    assert l1["sparse"]["effective_macs"] == pytest.approx(0.5 * INSIDE * l1["macs"])
    assert l2["sparse"]["gated_macs"] == pytest.approx((1 - 0.25 * INSIDE) * l2["macs"])
    assert l1["sparse"]["ideal_cycles"] == l1["ideal_cycles"]          # gating saves no cycle
    assert l1["sparse"]["energy_pj"] < l1["energy_pj"]
    assert doc["totals"]["sparse"]["effective_macs"] == pytest.approx(INSIDE * (0.5 * l1["macs"] + 0.25 * l2["macs"]))


def test_cli_density_overrides_the_workload_and_skipping_saves_cycles(tmp_path):
    code, out, err = _run(["run", "eyeriss_v2_flat", "-w", _workload(tmp_path), "--no-sim", "-q", "--json",
                           "--sparse", "eyeriss_v2", "--density", "ifmap=0.2,weight=2:4"])
    assert code == 0, err
    for layer in json.loads(out)["layers"]:
        sp = layer["sparse"]
        assert sp["densities"]["ifmap"] == 0.2 and sp["densities"]["weight"] == 0.5
        assert sp["effective_macs"] == pytest.approx(0.1 * INSIDE * layer["macs"])
        assert 0.1 * INSIDE * layer["ideal_cycles"] - 1e-6 <= sp["ideal_cycles"] < layer["ideal_cycles"]
        assert sp["levels"]["rf"]["metadata"] > 0            # CSC in the PE


def test_table_has_the_sparse_columns(tmp_path):
    code, out, _ = _run(["run", "eyeriss_v1", "-w", _workload(tmp_path), "--no-sim", "-q", "--sparse", "eyeriss_v1"])
    assert code == 0
    head = out.splitlines()[1]
    assert head.split()[-7:] == ["effMAC%", "sparse", "cycles", "sparse", "uJ", "sparse", "DRAM/MAC"]


def test_explain_shows_savings_per_step(tmp_path):
    code, out, err = _run(["explain", "eyeriss_v2_flat", "-w", _workload(tmp_path), "-l", "c1", "--sparse", "eyeriss_v2",
                           "--density", "ifmap=0.5,weight=0.5"])
    assert code == 0, err
    step5 = [ln for ln in out.splitlines() if ln.strip().startswith("5 ")][0]
    saved = [tok for tok in step5.split() if tok.endswith("x")]
    assert saved and float(saved[0][:-1]) > 1.0
    # the summary line: skipping on both operands at 0.5 x 0.5 keeps a quarter of c1's 4*8*8*8*9 = 18,432
    # MACs whose ifmap is an element (INSIDE: 15,488)
    line = [ln for ln in out.splitlines() if "sparsity saved:" in ln][0]
    assert "effective MACs 3,872 of 18,432 (gated 0, skipped 14,560)" in line, line


def test_sparse_formats_command_prints_the_crossover():
    """Default setup fig1: the crossover in the published 0.05-0.08, the reference run's beside it; the
    stand-in's (matmul_1pe) above 0.1; an unknown setup is one line, exit 2."""
    code, out, _ = _run(["sparse-formats"])
    assert code == 0
    last = out.splitlines()[-1]
    assert last.startswith("energy crossover at density 0.0") and "(Sparseloop's reference run: 0.0650)" in last
    assert 0.05 <= float(last.split()[4]) <= 0.08, last
    code, out, _ = _run(["sparse-formats", "--setup", "matmul_1pe"])
    assert code == 0 and out.splitlines()[-1].startswith("energy crossover at density 0.1")
    code, _, err = _run(["sparse-formats", "--setup", "fig2"])
    assert code == 2 and "--setup" in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("extra,why", [
    ({"density": {"ifmap": 1.5}}, "density.ifmap: density 1.5 is outside [0, 1]"),
    ({"density": {"weight": "3:2"}}, "needs 1 <= N <= M"),
    ({"density": {"colour": 0.5}}, "unknown tensor role 'colour'"),
])
def test_bad_workload_density_is_one_line_exit_2(tmp_path, extra, why):
    code, _, err = _run(["run", "eyeriss_v1", "-w", _workload(tmp_path, **extra), "--no-sim", "-q",
                         "--sparse", "eyeriss_v1"])
    assert code == 2 and len(err.strip().splitlines()) == 1 and why in err and "tiny.yaml" in err, err


def test_a_density_on_a_layer_without_macs_is_one_line_exit_2(tmp_path):
    """The sparse view models MAC layers only: a density on a pool layer would silently do nothing."""
    layers = [{"name": "c1", "kind": "conv", "C": 4, "K": 8, "H": 8, "R": 3, "padding": 1},
              {"name": "p1", "kind": "pool", "C": 8, "H": 8, "R": 2, "stride": 2, "density": {"ifmap": 0.5}}]
    wl = _workload(tmp_path, layers=layers)
    code, out, err = _run(["run", "eyeriss_v1", "-w", wl, "--no-sim", "-q", "--sparse", "eyeriss_v1"])
    assert (code, out, err) == (2, "", f"accelsim: error: {wl}: layers[1] (p1).density: a pool layer has no MACs: a "
                                       f"density there would have no effect (densities apply to conv, depthwise, fc "
                                       f"and gemm layers)\n")


def test_mask_of_wrong_shape_and_format_on_unkept_tensor_exit_2(tmp_path):
    np.save(tmp_path / "m.npy", np.ones((2, 2)))
    code, _, err = _run(["run", "eyeriss_v1", "-w", _workload(tmp_path, density={"ifmap": {"mask": "m.npy"}}),
                         "--no-sim", "-q", "--sparse", "eyeriss_v1"])
    assert code == 2 and err == (f"accelsim: error: {tmp_path / 'tiny.yaml'}: density.ifmap: the ifmap mask "
                                 f"'{tmp_path / 'm.npy'}' of shape (2, 2) does not "
                                 f"fit layer 'c1': its ifmap is accepted as (1, 1, 4, 8, 8) (N, G, C/G, H, W), "
                                 f"(1, 4, 8, 8) (N, C, H, W)\n")
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"name": "s", "formats": {"glb": {"weight": "bitmask"}}}))
    code, _, err = _run(["run", "eyeriss_v2_flat", "-w", _workload(tmp_path), "--no-sim", "-q", "--sparse", str(spec)])
    assert code == 2 and "formats.glb.weight: level 'glb' does not keep 'weight'" in err, err


def test_an_unknown_inner_axis_is_one_line_naming_the_file_key_and_the_axes_allowed(tmp_path):
    spec = tmp_path / "inner.yaml"
    spec.write_text(yaml.safe_dump({"name": "x", "formats": {"rf": {"ifmap": {"ranks": [{"UOP": 4}, {"CP": 4}],
                                                                             "inner": ["c"]}}}}))
    code, _, err = _run(["run", "eyeriss_v1", "-w", _workload(tmp_path), "--no-sim", "-q", "--sparse", str(spec)])
    assert code == 2 and err == (f"accelsim: error: {spec}: formats.rf.ifmap.inner (tensor 'ifmap' of 'c1'): "
                                 f"unknown axis 'c'; allowed: N, G, C, P, Q\n"), err


def test_actual_masks_from_npy_count_exact_effective_macs(tmp_path):
    """A workload with .npy masks for c1's ifmap and weight: the gated MACs are the masks' exact count."""
    from accelsim.problem import from_layer
    from accelsim.sparse.masks import effective_macs
    from workloads.loader import load_workload

    rng = np.random.default_rng(5)
    xi = (rng.random((1, 1, 4, 8, 8)) < 0.4).astype(np.int8)
    wm = (rng.random((1, 8, 4, 3, 3)) < 0.6).astype(np.int8)
    np.save(tmp_path / "x.npy", xi)
    np.save(tmp_path / "w.npy", wm)
    wl = _workload(tmp_path, density={"ifmap": {"mask": "x.npy"}, "weight": {"mask": "w.npy"}})
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"name": "s", "skip": [{"level": "mac", "on_zero": ["ifmap", "weight"]}]}))
    code, out, err = _run(["run", "eyeriss_v1", "-w", wl, "--layers", "c1", "--no-sim", "-q", "--json",
                           "--sparse", str(spec)])
    assert code == 0, err
    layer = load_workload(wl).layers[0]
    want = effective_macs(from_layer(layer), xi, wm)
    assert json.loads(out)["layers"][0]["sparse"]["effective_macs"] == want


def test_layers_csv_has_the_sparse_columns(tmp_path):
    """layers.csv gains the sparse view per layer (eyeriss_v1: MACs gated on zero ifmaps, c1's density
    0.5, c2's 0.25; gated RF weight reads) and no sparse column without --sparse."""
    import csv

    w = _workload(tmp_path)
    code, _, err = _run(["run", "eyeriss_v1", "-w", w, "--no-sim", "-q", "--sparse", "eyeriss_v1", "--out",
                         str(tmp_path / "s")])
    assert code == 0, err
    rows = list(csv.DictReader((tmp_path / "s" / "layers.csv").open()))
    for row, d in zip(rows, (0.5, 0.25)):
        assert float(row["sparse_gated_macs"]) == pytest.approx((1 - d * INSIDE) * int(row["macs"]), rel=1e-5)
        assert float(row["sparse_rf_gated"]) > 0 and row["sparse_sim_cycles"] == ""
    code, _, _ = _run(["run", "eyeriss_v1", "-w", w, "--no-sim", "-q", "--out", str(tmp_path / "d")])
    assert code == 0 and "sparse" not in (tmp_path / "d" / "layers.csv").read_text()


@pytest.mark.parametrize("value,why", [
    ({"rf": {"weight": 0}}, "metadata_capacity.rf.weight: expected a positive number of words, got 0"),
    ({"rf": {"weight": True}}, "metadata_capacity.rf.weight: expected a positive number of words, got True"),
    ({"rf": {"weight": -1.5}}, "metadata_capacity.rf.weight: expected a positive number of words, got -1.5"),
    ({"rf": {"colour": 8}}, "metadata_capacity.rf.colour: unknown tensor role 'colour'"),
    ({"rf": 8}, "metadata_capacity.rf: expected role -> words, got 8"),
    (8, "metadata_capacity: expected level -> role -> words, got 8"),
    ({"glb": {"weight": 8}}, "metadata_capacity.glb.weight: level 'glb' does not keep 'weight'"),
    ({"spad": {"weight": 8}}, "metadata_capacity.spad: unknown level 'spad'"),
])
def test_bad_metadata_capacity_is_one_line_exit_2(tmp_path, value, why):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"name": "s", "metadata_capacity": value}))
    code, out, err = _run(["run", "eyeriss_v2_flat", "-w", _workload(tmp_path), "--no-sim", "-q", "--sparse", str(spec)])
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and why in err and "s.yaml" in err, err


def _mask_workload(tmp_path, g1: dict | None = None, f1: dict | None = None) -> str:
    """A grouped conv g1 (C 4, K 8, 8 x 8, 3 x 3, pad 1, groups 2) and an fc f1 (C 3 over 2 x 2, K 5), batch 2."""
    layers = [{"name": "g1", "kind": "conv", "C": 4, "K": 8, "H": 8, "R": 3, "padding": 1, "groups": 2, "N": 2},
              {"name": "f1", "kind": "fc", "C": 3, "K": 5, "H": 2, "N": 2}]
    for layer, density in zip(layers, (g1, f1)):
        if density:
            layer["density"] = density
    p = tmp_path / "masks.yaml"
    p.write_text(yaml.safe_dump({"version": 1, "name": "masks", "layers": layers}))
    return str(p)


def test_masks_in_the_frameworks_layouts_are_the_problems(tmp_path):
    """A weight mask in ONNX / PyTorch's OIHW (K, C/G, R, S), an fc weight as Linear's (K, C*H*W) and an
    ifmap as NCHW run exactly as the same masks in the problem's layouts, built here by indexing
    (weight[g, k, c, r, s] = W[g * K/G + k, c, r, s], fc weight[0, k, c, r, s] = W[k, (c * 2 + r) * 2 + s],
    ifmap[n, g, c, h, w] = X[n, g * C/G + c, h, w]); the effective MACs (MACs skipped on either zero
    operand) equal a direct count over the framework-layout arrays."""
    rng = np.random.default_rng(11)
    w = (rng.random((8, 2, 3, 3)) < 0.5) * rng.standard_normal((8, 2, 3, 3))
    x = (rng.random((2, 4, 8, 8)) < 0.6).astype(np.int8)
    wf = (rng.random((5, 12)) < 0.4).astype(np.float32)
    w5, x5, wf5 = np.zeros((2, 4, 2, 3, 3)), np.zeros((2, 2, 2, 8, 8)), np.zeros((1, 5, 3, 2, 2))
    for g, k, c, r, s in np.ndindex(w5.shape):
        w5[g, k, c, r, s] = w[g * 4 + k, c, r, s]
    for n, g, c, h, v in np.ndindex(x5.shape):
        x5[n, g, c, h, v] = x[n, g * 2 + c, h, v]
    for _, k, c, r, s in np.ndindex(wf5.shape):
        wf5[0, k, c, r, s] = wf[k, (c * 2 + r) * 2 + s]
    for name, a in (("w", w), ("x", x), ("wf", wf), ("w5", w5), ("x5", x5), ("wf5", wf5)):
        np.save(tmp_path / f"{name}.npy", a)
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"name": "s", "skip": [{"level": "mac", "on_zero": ["ifmap", "weight"]}]}))
    runs = []
    for wn, xn, fn in (("w", "x", "wf"), ("w5", "x5", "wf5")):
        wl = _mask_workload(tmp_path, {"weight": {"mask": f"{wn}.npy"}, "ifmap": {"mask": f"{xn}.npy"}},
                            {"weight": {"mask": f"{fn}.npy"}})
        code, out, err = _run(["run", "eyeriss_v1", "-w", wl, "--no-sim", "-q", "--json", "--sparse", str(spec)])
        assert code == 0, err
        runs.append([lay["sparse"] for lay in json.loads(out)["layers"]])
    assert runs[0] == runs[1]
    xp = np.pad(x != 0, ((0, 0), (0, 0), (1, 1), (1, 1)))
    want = sum(int(((xp[n, (k // 4) * 2:(k // 4) * 2 + 2, p:p + 3, q:q + 3]) & (w[k] != 0)).sum())
               for n in range(2) for k in range(8) for p in range(8) for q in range(8))
    assert runs[0][0]["effective_macs"] == want
    assert runs[0][1]["effective_macs"] == 2 * int(np.count_nonzero(wf))     # fc: ifmap uniform dense, N = 2


def test_bad_masks_are_one_line_naming_the_file_and_the_layer(tmp_path):
    """A mask of no accepted shape names the file, the layer, the shape given and the shapes accepted;
    NaN / inf (neither zero nor nonzero) and non-numbers name the file and the key (the layer's, in a
    per-layer density); exit 2, no traceback."""
    bad = np.ones((8, 2, 3, 3))
    bad[2, 1, 0, 2] = np.nan
    inf = np.ones((8, 2, 3, 3))
    inf[0, 0, 0, 1], inf[7, 1, 2, 2] = np.inf, -np.inf
    for name, a in (("shape", np.ones((2, 8, 3, 3))), ("nan", bad), ("inf", inf), ("text", np.array(["1", "0"]))):
        np.save(tmp_path / f"{name}.npy", a)
    p = str(tmp_path)
    cases = [
        ({"weight": {"mask": "shape.npy"}}, [], f"{p}/masks.yaml: layers[0] (g1).density.weight: the weight mask "
         f"'{p}/shape.npy' of shape (2, 8, 3, 3) does not "
         f"fit layer 'g1': its weight is accepted as (2, 4, 2, 3, 3) (G, K/G, C/G, R, S), (8, 2, 3, 3) (K, C/G, R, S)"),
        ({"weight": {"mask": "nan.npy"}}, [], f"{p}/masks.yaml: layers[0] (g1).density.weight: mask '{p}/nan.npy' "
         f"holds 1 NaN and 0 inf values (the first at index (2, 1, 0, 2)); a mask needs finite values (zero / nonzero)"),
        (None, ["--density", f"weight=mask:{p}/inf.npy"], f"--density: weight: mask '{p}/inf.npy' holds 0 NaN and 2 "
         f"inf values (the first at index (0, 0, 0, 1)); a mask needs finite values (zero / nonzero)"),
        (None, ["--density", f"ifmap=mask:{p}/text.npy"], f"--density: ifmap: mask '{p}/text.npy' holds <U1 values; "
         f"a mask needs numbers (zero / nonzero)"),
        (None, ["--density", f"ifmap=mask:{p}/masks.yaml"], f"--density: ifmap: cannot read mask '{p}/masks.yaml': "
         f"not a NumPy .npy array of numbers (np.save writes one)"),
    ]
    for density, extra, line in cases:
        code, out, err = _run(["run", "eyeriss_v1", "-w", _mask_workload(tmp_path, density), "--layers", "g1",
                               "--no-sim", "-q", "--sparse", "eyeriss_v1", *extra])
        assert (code, out, err) == (2, "", f"accelsim: error: {line}\n")
    code, _, err = _run(["run", "eyeriss_v1", "-w", _mask_workload(tmp_path, None, {"weight": {"mask": "shape.npy"}}),
                         "--layers", "f1", "--no-sim", "-q", "--sparse", "eyeriss_v1"])
    assert code == 2 and err == (f"accelsim: error: {p}/masks.yaml: layers[1] (f1).density.weight: the weight mask "
                                 f"'{p}/shape.npy' of shape (2, 8, 3, 3) does not "
                                 f"fit layer 'f1': its weight is accepted as (1, 5, 3, 2, 2) (G, K/G, C/G, R, S), "
                                 f"(5, 3, 2, 2) (K, C/G, R, S), (5, 12) (K, C*R*S)\n")


@pytest.mark.parametrize("flags,line", [
    (["--sparse", "nope"], "--sparse: no sparse spec file or preset 'nope'; presets: "
                           + ", ".join(sorted(p.stem for p in (Path(__file__).parents[1] / "configs" / "sparse").glob("*.yaml")))),
    (["--density", "ifmap=0.4"], "--density needs --sparse (the design's formats and gating/skipping: e.g. --sparse "
                                 "eyeriss_v1)"),
    (["--sparse", "eyeriss_v1", "--density", "ifmap=1.5"], "--density: ifmap: density 1.5 is outside [0, 1]"),
    (["--sparse", "eyeriss_v1", "--density", "weight=5:4"], "--density: weight: N:M '5:4' needs 1 <= N <= M"),
    (["--sparse", "eyeriss_v1", "--density", "ifmap"], "--density: expected ROLE=VALUE[,ROLE=VALUE...], got 'ifmap'; "
                                                       "roles: ifmap, weight, psum"),
    (["--sparse", "eyeriss_v1", "--density", "ifmap=0.3,ifmap=0.9"], "--density: ifmap given twice in "
                                                                     "'ifmap=0.3,ifmap=0.9'; give each role once"),
])
def test_bad_sparse_flags_are_one_exact_line_exit_2(flags, line):
    code, out, err = _run(["run", "eyeriss_v1", "--layers", "1", "--no-sim", "-q", *flags])
    assert (code, out, err) == (2, "", f"accelsim: error: {line}\n")


def _nm_workload(tmp_path, network: str, layer: str) -> str:
    """tiny's layers, written by hand so the N:M values are plain (unquoted) YAML scalars."""
    p = tmp_path / "nm.yaml"
    p.write_text("version: 1\nname: nm\n" + (f"density: {{ifmap: 0.5, weight: {network}}}\n" if network else "")
                 + "layers:\n"
                 "  - {name: c1, kind: conv, C: 4, K: 8, H: 8, R: 3, padding: 1}\n"
                 "  - {name: c2, kind: conv, C: 8, K: 8, H: 8, R: 3, padding: 1"
                 + (f", density: {{weight: {layer}}}" if layer else "") + "}\n")
    return str(p)


def test_the_yaml_loader_reads_base_60_scalars_as_strings_and_every_other_number_as_before():
    """YAML 1.1 reads 2:4 as 2 * 60 + 4 = 124; the project's loader keeps it the string '2:4'."""
    from accelsim.yamlio import parse_yaml_text

    got = parse_yaml_text("a: 2:4\nb: 5:4\nc: 1:30.5\nd: 0.5\ne: 0x1f\nf: 1_000\ng: -3\nh: .inf\ni: 1.5e+3\n", "t")
    assert got == {"a": "2:4", "b": "5:4", "c": "1:30.5", "d": 0.5, "e": 31, "f": 1000, "g": -3,
                   "h": float("inf"), "i": 1500.0}


@pytest.mark.parametrize("network,layer", [("2:4", None), (None, "2:4"), ("1:8", "2:4")])
def test_an_unquoted_n_m_density_is_the_quoted_one(tmp_path, network, layer):
    """``weight: 2:4`` unquoted, network-wide or per layer (c2's overrides the network's), runs exactly as
    ``weight: '2:4'``: density 0.5 where given, 1/8 for 1:8, 1 where none is given."""
    plain = _nm_workload(tmp_path, network, layer)
    quoted = tmp_path / "quoted.yaml"
    quoted.write_text(Path(plain).read_text().replace(f"weight: {network}", f"weight: '{network}'")
                      .replace(f"weight: {layer}}}", f"weight: '{layer}'}}"))
    assert "'" in quoted.read_text()
    docs = []
    for w in (plain, str(quoted)):
        code, out, err = _run(["run", "eyeriss_v2_flat", "-w", w, "--no-sim", "-q", "--json", "--sparse", "eyeriss_v2"])
        assert code == 0, err
        docs.append(json.loads(out))
    want = {"c1": {"2:4": 0.5, "1:8": 0.125, None: 1.0}[network],
            "c2": 0.5 if layer else {"2:4": 0.5, None: 1.0}[network]}
    for l in docs[0]["layers"]:
        assert l["sparse"]["densities"]["weight"] == want[l["name"]]
    assert docs[0]["layers"] == docs[1]["layers"]


@pytest.mark.parametrize("network,layer,key", [("5:4", None, "density.weight"),
                                               (None, "5:4", "density.weight")])
def test_an_unquoted_n_above_m_is_the_n_m_error(tmp_path, network, layer, key):
    """``5:4`` unquoted (YAML 1.1's 304) is the N > M error, not 'density 304 is outside [0, 1]'."""
    code, _, err = _run(["run", "eyeriss_v1", "-w", _nm_workload(tmp_path, network, layer), "--no-sim", "-q",
                         "--sparse", "eyeriss_v1"])
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "nm.yaml" in err and key in err and "N:M '5:4' needs 1 <= N <= M" in err and "304" not in err, err


def test_a_dense_run_through_pool_layers_saves_nothing_in_the_totals():
    """VGG-16 (five pools, which have no sparse view) at density 1 on eyeriss_v1: nothing is gated (no
    zero ifmap) and the adaptive RLC sends every tensor uncompressed (its words at density 1 would not be
    fewer), so every MAC layer's sparse figures are its dense ones and the totals must be equal too: the
    pools count dense in them (before: 104,771.4 sparse uJ against 106,399.7, 114.51M cycles against
    114.99M, 0.0138 DRAM/MAC against 0.0143)."""
    code, out, err = _run(["run", "eyeriss_v1", "-w", "codl_vgg16", "--no-sim", "-q", "--json", "--sparse",
                           "eyeriss_v1", "--density", "ifmap=1,weight=1,psum=1"])
    assert code == 0, err
    doc = json.loads(out)
    t, ts = doc["totals"], doc["totals"]["sparse"]
    pools = [l["name"] for l in doc["layers"] if l["kind"] == "pool"]
    assert len(pools) == 5 and ts["dense_layers"] == pools
    for l in doc["layers"]:
        if l["macs"]:
            assert l["sparse"]["energy_pj"] == pytest.approx(l["energy_pj"], rel=1e-12)
    assert ts["energy_pj"] == pytest.approx(t["energy_pj"], rel=1e-12)
    assert ts["dense_energy_pj"] == pytest.approx(t["energy_pj"], rel=1e-12)
    assert ts["ideal_cycles"] == t["ideal_cycles"]
    assert ts["dram_accesses_per_mac"] == pytest.approx(t["dram_accesses_per_mac"], rel=1e-12)
    assert ts["effective_macs"] == t["macs"]
    code, out, _ = _run(["run", "eyeriss_v1", "-w", "codl_vgg16", "--no-sim", "-q", "--sparse", "eyeriss_v1",
                         "--density", "ifmap=1,weight=1,psum=1"])
    lines = out.splitlines()
    total = next(ln for ln in lines if ln.startswith("total")).split()
    cells = dict(zip(_columns(lines[1]), total))       # by column name
    assert cells["sparse uJ"] == cells["energy uJ"] == "106399.7"
    assert cells["sparse cycles"] == cells["cycles"] == "114.99M"
    assert cells["sparse DRAM/MAC"] == cells["DRAM/MAC"] == "0.0143"
    assert "count the 5 layers without a sparse view (no MACs, '-') dense" in out


def _columns(head: str) -> list[str]:
    """A table header's column names (split on two or more spaces: names like 'sparse uJ' hold one)."""
    import re

    return re.split(r"\s{2,}", head.strip())


def _with_pool(tmp_path) -> str:
    return _workload(tmp_path, layers=[
        {"name": "c1", "kind": "conv", "C": 4, "K": 8, "H": 8, "R": 3, "padding": 1},
        {"name": "p1", "kind": "pool", "C": 8, "H": 8, "R": 2, "stride": 2},
        {"name": "c2", "kind": "conv", "C": 8, "K": 8, "H": 4, "R": 3, "padding": 1, "density": {"ifmap": 0.25}}])


def _by_layer(doc: dict, sparse_key: str, dense) -> float:
    """sum over layers of the sparse view's value, or the layer's dense one (``dense(layer)``) without a view."""
    return sum(l["sparse"][sparse_key] if "sparse" in l else dense(l) for l in doc["layers"])


def _dram(l: dict, top: str) -> float:
    if "sparse" in l:
        return l["sparse"]["levels"][top]["data"] + l["sparse"]["levels"][top]["metadata"]
    return sum(v["reads"] + v["writes"] for v in l["accesses"][top].values())


def test_sparse_totals_count_a_layer_without_a_sparse_view_dense(tmp_path):
    """totals.sparse = per layer the sparse view's value, or the dense one for the pool (run dense): energy,
    ideal and simulated cycles, DRAM words; summed here from stats.json's per-layer entries."""
    code, out, err = _run(["run", "eyeriss_v1", "-w", _with_pool(tmp_path), "-q", "--json", "--sparse", "eyeriss_v1"])
    assert code == 0, err
    doc = json.loads(out)
    ts = doc["totals"]["sparse"]
    assert [l["name"] for l in doc["layers"] if "sparse" not in l] == ts["dense_layers"] == ["p1"]
    pool = doc["layers"][1]
    assert pool["energy_pj"] > 0 and pool["cycles"] > 0 and sum(v["reads"] + v["writes"]
                                                                for v in pool["accesses"]["dram"].values()) > 0
    assert ts["energy_pj"] == pytest.approx(_by_layer(doc, "energy_pj", lambda l: l["energy_pj"]), rel=1e-12)
    assert ts["dense_energy_pj"] == pytest.approx(doc["totals"]["energy_pj"], rel=1e-12)
    assert ts["ideal_cycles"] == _by_layer(doc, "ideal_cycles", lambda l: l["ideal_cycles"])
    assert ts["sim_cycles"] == _by_layer(doc, "sim_cycles", lambda l: l["cycles"])
    words = sum(_dram(l, "dram") for l in doc["layers"])
    assert ts["dram_words"] == pytest.approx(words, rel=1e-12)
    assert ts["dram_accesses_per_mac"] == pytest.approx(words / doc["totals"]["macs"], rel=1e-12)
    assert ts["energy_pj"] < doc["totals"]["energy_pj"]       # c1, c2 gated at ifmap density 0.5 / 0.25


def test_stats_name_the_lockstep_model_and_its_standard_error(tmp_path):
    """Each layer's sparse view says which model gave its ideal cycles (``lockstep``) and their standard
    error: the eyeriss_v2 preset's skipping at uniform densities on 168 PEs, the sampled expectation (its
    error above 0, at most the 1% sought of the cycles, or the work cap's); the eyeriss_v1 preset gates
    and skips nothing (error 0); totals.sparse combines the layers' errors as independent draws."""
    import math

    from accelsim.sparse.lockstep_expect import TOL
    from accelsim.sparse.model import EXPECTED, NO_SKIP

    code, out, err = _run(["run", "eyeriss_v1", "-w", _with_pool(tmp_path), "-q", "--json", "--no-sim",
                           "--sparse", "eyeriss_v2", "--density", "ifmap=0.5,weight=0.5"])
    assert code == 0, err
    doc = json.loads(out)
    sp = [l["sparse"] for l in doc["layers"] if "sparse" in l]
    assert [s["lockstep"] for s in sp] == [EXPECTED, EXPECTED]
    assert all(0 < s["ideal_cycles_se"] <= 1.2 * TOL * s["ideal_cycles"] for s in sp)
    assert doc["totals"]["sparse"]["ideal_cycles_se"] == math.sqrt(sum(s["ideal_cycles_se"] ** 2 for s in sp))
    code, out, err = _run(["run", "eyeriss_v1", "-w", _with_pool(tmp_path), "-q", "--json", "--no-sim",
                           "--sparse", "eyeriss_v1"])
    sp = [l["sparse"] for l in json.loads(out)["layers"] if "sparse" in l]
    assert [(s["lockstep"], s["ideal_cycles_se"]) for s in sp] == [(NO_SKIP, 0.0)] * 2


def test_level_list_sparse_totals_count_a_layer_without_a_sparse_view_dense(tmp_path):
    """The same on a level-list hierarchy (clustered Eyeriss v2), whose sparse cycles are the latency bound:
    the pool's is its own bound, the max of its parts."""
    code, out, err = _run(["run", "eyeriss_v2", "-w", _with_pool(tmp_path), "--no-sim", "-q", "--json",
                           "--sparse", "eyeriss_v2_clustered"])
    assert code == 0, err
    doc = json.loads(out)
    ts = doc["totals"]["sparse"]
    assert ts["dense_layers"] == ["p1"]
    assert ts["bound_cycles"] == pytest.approx(_by_layer(doc, "bound_cycles", lambda l: max(l["bound_cycles"].values())),
                                               rel=1e-12)
    assert ts["energy_pj"] == pytest.approx(_by_layer(doc, "energy_pj", lambda l: l["energy_pj"]), rel=1e-12)
    assert ts["dram_words"] == pytest.approx(sum(_dram(l, "dram") for l in doc["layers"]), rel=1e-12)


@pytest.mark.parametrize("mode,words", [("expected", "capacity by the expected compressed size"),
                                        ("worst", "capacity by the worst-case compressed size (every element nonzero)")])
@pytest.mark.parametrize("arch,preset", [("eyeriss_v1", "eyeriss_v1"), ("eyeriss_v2", "eyeriss_v2_clustered")])
def test_the_capacity_mode_is_in_stats_and_the_footer(tmp_path, mode, words, arch, preset):
    """The spec's ``capacity`` (which compressed size the capacity checks took) is stated: stats.json's
    ``sparse_capacity`` and the table's sparse footer line, on the fixed shape and a level list."""
    spec = yaml.safe_load((Path(__file__).parents[1] / "configs" / "sparse" / f"{preset}.yaml").read_text())
    spec["capacity"] = mode
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    argv = ["run", arch, "-w", _workload(tmp_path), "--no-sim", "-q", "--sparse", str(path)]
    code, out, err = _run(argv + ["--json"])
    assert code == 0, err
    assert json.loads(out)["sparse_capacity"] == mode
    code, out, err = _run(argv)
    footer = next(ln for ln in out.splitlines() if ln.startswith("sparse: "))
    assert f"; {words}; " in footer and footer.count("capacity by the") == 1, footer


def _number(cell: str) -> float:
    """A table cell back to a number: '12.21M' -> 12.21e6 ('k', 'M', 'G' as the table prints them)."""
    scale = {"k": 1e3, "M": 1e6, "G": 1e9}.get(cell[-1])
    return float(cell[:-1]) * scale if scale else float(cell)


def _detail(out: str) -> tuple[list[str], list[list[str]]]:
    """The sparse detail table's column names and rows."""
    lines = out.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("sparse detail: "))
    head = _columns(lines[at + 1])
    assert set(lines[at + 2].replace(" ", "")) == {"-"}
    rows = []
    for ln in lines[at + 3:]:
        cells = ln.split()
        if len(cells) != len(head):
            break
        rows.append(cells)
    return head, rows


@pytest.mark.parametrize("arch,preset,workload", [
    ("eyeriss_v1", "eyeriss_v1", ["-w", "alexnet_sparse", "-b", "4", "--layers", "1-3"]),
    ("eyeriss_v2", "eyeriss_v2_clustered", None),       # a level list; tiny with a pool layer
])
def test_the_sparse_detail_table_is_stats_json(tmp_path, arch, preset, workload):
    """Under the main table, per layer with a sparse view: its densities, effective / gated / skipped MACs
    and per storage level the compressed words moved (data + metadata) and of them metadata, each cell
    stats.json's per-layer value to the table's rounding (2 decimals of k / M / G, 4 digits of a density)."""
    argv = ["run", arch, *(workload or ["-w", _with_pool(tmp_path)]), "--no-sim", "-q", "--sparse", preset]
    code, out, err = _run(argv + ["--json"])
    assert code == 0, err
    doc = json.loads(out)
    code, out, err = _run(argv)
    assert code == 0, err
    head, rows = _detail(out)
    views = [l for l in doc["layers"] if "sparse" in l]
    levels = list(views[0]["sparse"]["levels"])
    assert head == ["layer", "d ifmap", "d weight", "d psum", "eff MACs", "gated MACs", "skipped MACs",
                    *(f"{lv} {k}" for lv in levels for k in ("words", "meta"))]
    assert [r[0] for r in rows] == [l["name"] for l in views]            # the pool (no view) is not listed
    assert any(float(r[1]) < 1 for r in rows) and any(_number(r[5]) + _number(r[6]) > 0 for r in rows)
    for row, l in zip(rows, views):
        sp = l["sparse"]
        cell = dict(zip(head, row))
        for role in ("ifmap", "weight", "psum"):
            assert float(cell[f"d {role}"]) == pytest.approx(sp["densities"][role], rel=1e-3)
        for col, key in (("eff MACs", "effective_macs"), ("gated MACs", "gated_macs"), ("skipped MACs", "skipped_macs")):
            assert _number(cell[col]) == pytest.approx(sp[key], rel=5e-3, abs=0.5), col
        for lv in levels:
            w = sp["levels"][lv]
            assert _number(cell[f"{lv} words"]) == pytest.approx(w["data"] + w["metadata"], rel=5e-3, abs=0.5)
            assert _number(cell[f"{lv} meta"]) == pytest.approx(w["metadata"], rel=5e-3, abs=0.5)


def test_layers_csv_has_the_densities_used(tmp_path):
    """layers.csv's sparse_density_ROLE: tiny's c1 takes the network's ifmap 0.5 / psum 0.4, c2 its own
    ifmap 0.25; weight 1 (none given); the pool (no sparse view) leaves them empty."""
    import csv

    code, _, err = _run(["run", "eyeriss_v1", "-w", _with_pool(tmp_path), "--no-sim", "-q", "--sparse", "eyeriss_v1",
                         "--out", str(tmp_path / "s")])
    assert code == 0, err
    rows = {r["name"]: r for r in csv.DictReader((tmp_path / "s" / "layers.csv").open())}
    want = {"c1": ("0.5", "1", "0.4"), "p1": ("", "", ""), "c2": ("0.25", "1", "0.4")}
    for name, (di, dw, dp) in want.items():
        r = rows[name]
        assert (r["sparse_density_ifmap"], r["sparse_density_weight"], r["sparse_density_psum"]) == (di, dw, dp)


def _step(out: str, n: int) -> str:
    return next(ln for ln in out.splitlines() if ln.strip().startswith(f"{n} "))


def test_explain_names_what_limits_the_sparse_bound_and_simulates_the_sparse_counts():
    """AlexNet CONV3 (batch 4) on eyeriss_v1 with v2's CSC and skipping: step 6's sparse value is the MACs
    over the largest part of the sparse latency bound (``cost.bound.bound_parts`` of the sparse view's
    bandwidth counts, computed here), and its reason names that part (the NoC's psum_out stream, with its
    cycles), not the dense "no loss"; step 7's sparse value is the MACs over ``accelsim run``'s simulated
    sparse cycles of the layer (stats.json's ``sparse.sim_cycles``), with those cycles in its reason."""
    from accelsim.arch import load_arch
    from accelsim.cli.cmd_explain import explain
    from accelsim.cost.bound import bound_parts, traffic_actions_of_counts
    from accelsim.hierarchy import from_arch
    from accelsim.sparse.layer import Sparsity, bandwidth_counts, sparse_layer
    from accelsim.sparse.spec import load_spec
    from workloads.loader import load_workload
    from workloads.selection import select_layers

    argv = ["-w", "alexnet_sparse", "-b", "4", "--sparse", "eyeriss_v2"]
    code, out, err = _run(["explain", "eyeriss_v1", "-l", "CONV3", *argv])
    assert code == 0, err
    code, js, err = _run(["run", "eyeriss_v1", "--layers", "3", "-q", "--json", *argv])
    assert code == 0, err
    ran = json.loads(js)["layers"][0]
    macs = ran["macs"]

    arch = load_arch("eyeriss_v1")
    wl = select_layers(load_workload("alexnet_sparse", 4), "CONV3")
    sparsity = Sparsity(load_spec("eyeriss_v2"))
    (layer, result, _), = explain(arch, wl, arch.dataflow, None, sparsity)
    sl = sparse_layer(layer, arch, result.mapping, sparsity.spec, sparsity.models(wl, "CONV3"))
    parts = bound_parts(traffic_actions_of_counts(bandwidth_counts(sl)), from_arch(arch))
    top = max(parts, key=lambda k: parts[k])
    assert top == "glb.net"                     # the array's network below the GLB

    row6 = _step(out, 6)
    assert row6.split()[7] == f"{macs / parts[top]:,.1f}", row6        # step, 4 name words, dense, %, sparse
    assert f"| sparse: NoC: the psum_out network needs {parts[top]:,.0f} cycles at its width" in row6, row6
    row7 = _step(out, 7)
    assert row7.split()[7] == f"{macs / ran['sparse']['sim_cycles']:,.1f}", row7
    assert f"| sparse: simulated {ran['sparse']['sim_cycles']:,} cycles; stalls " in row7, row7
    assert float(row7.split()[7].replace(",", "")) <= float(row6.split()[7].replace(",", ""))


def test_the_formats_plot_draws_the_sweep():
    """``accelsim sparse-formats --plot``'s figure (``plots.sparse_formats.plot_formats``, fig1 setup) on
    its plotted data: each design's x data are the sweep's densities; the cycles panel's bitmask + gating
    line is constant at the dense 128^3 MACs (gating saves no cycle) and the coordinates + skipping line
    is 128^3 x d^2 (a MAC skipped unless both operands are nonzero); the energy panel's lines are the
    energies over the 128^3 dense MACs, and they cross (linear between the densities, found here) in the
    published 0.05-0.08, where the dotted line stands."""
    import matplotlib.pyplot as plt

    from accelsim.cli.cmd_sparse_formats import TITLES
    from accelsim.plots.sparse_formats import plot_formats
    from accelsim.sparse import compare

    macs = 128 ** 3
    points = compare.sweep(setup="fig1")
    fig = plot_formats(points, compare.crossover(points), TITLES["fig1"], "pJ")
    try:
        ax_e, ax_c = fig.axes
        lines = {(ax, ln.get_label()): ln for ax in (ax_e, ax_c) for ln in ax.get_lines()}
        xs = list(compare.FIG1_DENSITIES)
        data = {}
        for ax, panel in ((ax_e, "energy"), (ax_c, "cycles")):
            for design, label in (("bitmask_gating", "bitmask + gating"), ("coordinates_skipping", "coordinates + skipping")):
                ln = lines[(ax, label)]
                assert list(ln.get_xdata()) == xs
                data[(panel, design)] = [float(y) for y in ln.get_ydata()]
        assert data[("cycles", "bitmask_gating")] == [float(macs)] * len(xs)
        assert data[("cycles", "coordinates_skipping")] == pytest.approx([macs * d * d for d in xs], rel=1e-9)
        energy = {(p.design, p.density): p.energy_pj for p in points}
        for design in ("bitmask_gating", "coordinates_skipping"):
            assert data[("energy", design)] == pytest.approx([energy[(design, d)] / macs for d in xs], rel=1e-12)
        diff = [c - b for b, c in zip(data[("energy", "bitmask_gating")], data[("energy", "coordinates_skipping")])]
        signs = [i for i in range(len(xs) - 1) if diff[i] < 0 <= diff[i + 1]]
        assert len(signs) == 1 and all(v < 0 for v in diff[:signs[0] + 1]) and all(v > 0 for v in diff[signs[0] + 1:])
        i = signs[0]
        cross = xs[i] + (xs[i + 1] - xs[i]) * -diff[i] / (diff[i + 1] - diff[i])
        assert 0.05 <= cross <= 0.08
        marks = [ln for ln in ax_e.get_lines() if ln.get_linestyle() == ":"]
        assert len(marks) == 1 and list(marks[0].get_xdata()) == pytest.approx([cross, cross], rel=1e-12)
        assert ax_c.get_yscale() == "log" and ax_e.get_xscale() == ax_c.get_xscale() == "log"
    finally:
        plt.close(fig)
