"""Actual masks from real tensors (issue 16 item 1): ONNX initializers and a run of the model.

Ground truths: the initializer arrays themselves (read with onnx's numpy_helper, indexed by hand in
the problem's layout) and onnx's own reference evaluator (``onnx.reference``, an implementation
independent of accelsim) for the activations between the layers.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from accelsim.errors import ConfigError  # noqa: E402
from accelsim.sparse.density import Actual, FromOnnx, FromRun, parse_cli  # noqa: E402


def _pruned(rng, shape, keep):
    w = rng.standard_normal(shape).astype(np.float32)
    return w * (rng.random(shape) < keep)


def _model(tmp_path, rng, extra_bn: bool = False):
    """x(1,3,8,8) -> conv1 3x3 pad 1 (4, bias) -> Relu -> MaxPool 2 -> conv2 3x3 pad 1 group 2 (6) -> Clip(0, 6)
    -> Flatten -> fc (Gemm transB, 6*4*4 -> 5). Weights pruned to ~40-60% nonzeros."""
    w1, b1 = _pruned(rng, (4, 3, 3, 3), 0.5), rng.standard_normal(4).astype(np.float32) * 0.1
    w2 = _pruned(rng, (6, 2, 3, 3), 0.4)
    w3 = _pruned(rng, (5, 96), 0.6)
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (w3, "w3"),
                                                        (np.array(0.0, np.float32), "lo"),
                                                        (np.array(6.0, np.float32), "hi"))]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1], group=2),
             helper.make_node("Clip", ["c2", "lo", "hi"], ["r2"], name="relu2"),
             helper.make_node("Flatten", ["r2"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "w3"], ["y"], name="fc", transB=1)]
    if extra_bn:
        for a, n in ((np.ones(4, np.float32), "s"), (np.zeros(4, np.float32), "bb"),
                     (np.zeros(4, np.float32), "mu"), (np.ones(4, np.float32), "var")):
            inits.append(numpy_helper.from_array(a, n))
        nodes[1] = helper.make_node("BatchNormalization", ["c1", "s", "bb", "mu", "var"], ["r1"], name="bn1")
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / ("bn.onnx" if extra_bn else "tiny.onnx")
    onnx.save(model, str(path))
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    x[:, :, 2:5, :] = 0.0                        # some zeros in the input
    np.save(tmp_path / "x.npy", x)
    return path, model, (w1, w2, w3), x


def _workload(path):
    import warnings

    from workloads.onnx_file import load_onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_onnx(path)


def test_weight_masks_are_the_initializers_nonzeros_in_the_problem_layout(tmp_path):
    from accelsim.sparse.actual import resolve

    path, _, (w1, w2, w3), _ = _model(tmp_path, np.random.default_rng(0))
    wl = _workload(path)
    by = {layer.name: layer for layer in wl.layers}
    m1 = resolve(FromOnnx(str(path)), "weight", wl, by["conv1"]).mask
    m2 = resolve(FromOnnx(str(path)), "weight", wl, by["conv2"]).mask
    m3 = resolve(FromOnnx(str(path)), "weight", wl, by["fc"]).mask
    assert m1.shape == (1, 4, 3, 3, 3) and m2.shape == (2, 3, 2, 3, 3) and m3.shape == (1, 5, 96, 1, 1)
    for k in range(4):                      # conv: weight[g, k, c, r, s] = W[g * K/G + k, c, r, s]
        assert (m1[0, k] == (w1[k] != 0)).all()
    for g in range(2):
        for k in range(3):
            assert (m2[g, k] == (w2[g * 3 + k] != 0)).all()
    assert (m3[0, :, :, 0, 0] == (w3 != 0)).all()    # Gemm transB: B is (n, k)
    assert resolve(FromOnnx(str(path)), "weight", wl, by["conv2"]).density == np.count_nonzero(w2) / w2.size


def test_activation_masks_equal_onnx_reference_evaluator(tmp_path):
    """The run's ifmap / psum masks against onnx's own reference evaluator on the same input."""
    from accelsim.sparse.actual import resolve

    path, model, _, x = _model(tmp_path, np.random.default_rng(1))
    ref = ReferenceEvaluator(model)
    names = ["r1", "p1", "r2", "f", "y"]
    for n in names:                          # expose the intermediate tensors as outputs
        model.graph.output.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, None))
    r1, p1, r2, f, y = ReferenceEvaluator(model).run(names, {"x": x})
    assert np.allclose(ref.run(None, {"x": x})[0], y)
    wl = _workload(path)
    by = {layer.name: layer for layer in wl.layers}
    src = FromRun(str(tmp_path / "x.npy"), str(path))
    ifm1 = resolve(src, "ifmap", wl, by["conv1"]).mask
    out1 = resolve(src, "psum", wl, by["conv1"]).mask
    ifm2 = resolve(src, "ifmap", wl, by["conv2"]).mask
    out2 = resolve(src, "psum", wl, by["conv2"]).mask
    ifm3 = resolve(src, "ifmap", wl, by["fc"]).mask
    assert (ifm1.reshape(1, 3, 8, 8) == (x != 0)).all()
    assert (out1.reshape(1, 4, 8, 8) == (r1 != 0)).all()           # conv1's output after its Relu
    assert (ifm2.reshape(1, 4, 4, 4) == (p1 != 0)).all()           # after the pool
    assert (out2.reshape(1, 6, 4, 4) == (r2 != 0)).all()           # after Clip(0, 6)
    assert (ifm3.reshape(1, 96) == (f != 0)).all()
    assert 0.2 < ifm2.mean() < 0.9 and 0.1 < out2.mean() < 0.9      # the masks are not trivial


def test_run_with_onnx_masks_counts_exact_effective_macs(tmp_path):
    """The pipeline on the ONNX workload with weights and activations from the model: eyeriss_v1's MAC gating
    (on zero ifmaps only) keeps exactly the MACs whose ifmap is nonzero (padding is zero), counted here
    by a direct loop over conv1's outputs."""
    from accelsim import pipeline
    from accelsim.arch import load_arch
    from accelsim.sparse.layer import Sparsity
    from accelsim.sparse.spec import load_spec

    path, _, _, x = _model(tmp_path, np.random.default_rng(2))
    wl = _workload(path)
    override = tuple(parse_cli(f"weight=onnx:{path},ifmap=run:{tmp_path / 'x.npy'}@{path}").items())
    run = pipeline.run(load_arch("eyeriss_v1"), wl, sparsity=Sparsity(load_spec("eyeriss_v1"), override))
    conv1 = next(lr for lr in run.layers if lr.result.layer.name == "conv1")
    want = 0
    xp = np.pad(x[0] != 0, ((0, 0), (1, 1), (1, 1)))
    for p in range(8):
        for q in range(8):
            want += 4 * int(xp[:, p:p + 3, q:q + 3].sum())      # K = 4 filters each meet the window
    assert conv1.sparse.actions.effective_macs == want
    assert conv1.sparse.actions.gated_macs == conv1.result.macs - want


def test_cli_with_onnx_masks_and_bad_inputs_are_one_line(tmp_path, capsys):
    from accelsim.cli import main

    path, _, _, _ = _model(tmp_path, np.random.default_rng(3))
    out = tmp_path / "o"
    rc = main(["run", "eyeriss_v1", "-w", str(path), "--no-sim", "--sparse", "eyeriss_v1", "-q", "--out", str(out),
               "--density", f"weight=onnx:{path},ifmap=run:{tmp_path / 'x.npy'}@{path}"])
    assert rc == 0
    stats = json.loads((out / "stats.json").read_text())
    dens = {lay["name"]: lay["sparse"]["densities"] for lay in stats["layers"] if lay.get("sparse")}
    assert dens["conv1"]["ifmap"] == pytest.approx(np.count_nonzero(np.load(tmp_path / "x.npy")) / 192)
    capsys.readouterr()
    np.save(tmp_path / "bad.npy", np.ones((1, 3, 7, 8), np.float32))
    bn, _, _, _ = _model(tmp_path, np.random.default_rng(4), extra_bn=True)
    for density, why in ((f"ifmap=run:{tmp_path / 'bad.npy'}@{path}", "does not match the model's input 'x' (1, 3, 8, 8)"),
                         (f"ifmap=run:{tmp_path / 'none.npy'}@{path}", "cannot read input array"),
                         (f"weight=onnx:{tmp_path / 'none.onnx'}", "no such file"),
                         (f"ifmap=onnx:{path}", "gives weights only"),
                         (f"ifmap=run:{tmp_path / 'x.npy'}", "expected run:INPUT.npy@MODEL.onnx"),
                         (f"ifmap=run:{tmp_path / 'x.npy'}@{bn}", "cannot execute BatchNormalization")):
        rc = main(["run", "eyeriss_v1", "-w", str(path), "--no-sim", "--sparse", "eyeriss_v1", "-q",
                   "--density", density])
        err = capsys.readouterr().err.strip().splitlines()[-1]      # after the importer's warning
        assert rc == 2 and why in err and "\n" not in err and "Traceback" not in err, (density, err)


def test_yaml_workload_names_onnx_and_run_sources(tmp_path):
    """The same sources spelled in a workload YAML (paths relative to the file), layer names = node names."""
    from workloads.yaml_file import load_yaml_workload

    path, _, _, _ = _model(tmp_path, np.random.default_rng(5))
    (tmp_path / "w.yaml").write_text(
        "name: tiny\ndensity: {weight: {onnx: tiny.onnx}, ifmap: {run: x.npy, onnx: tiny.onnx}}\n"
        "layers:\n  - {name: conv1, kind: conv, C: 3, K: 4, H: 8, R: 3, padding: 1}\n")
    wl = load_yaml_workload(tmp_path / "w.yaml")
    from accelsim.sparse.layer import Sparsity
    from accelsim.sparse.spec import load_spec

    with pytest.raises(ConfigError, match="not a layer of the workload"):   # conv2/fc are not in the YAML
        Sparsity(load_spec("eyeriss_v1")).models(wl, "conv1")
    models = Sparsity(load_spec("eyeriss_v1"), (("ifmap", Actual(np.ones((1, 1, 3, 8, 8)), "ones")),)).models(
        wl, "conv1")
    assert isinstance(models["weight"], Actual) and models["ifmap"].density == 1.0


def test_nan_or_inf_in_an_initializer_or_the_runs_input_is_one_line(tmp_path, capsys):
    """A NaN weight or input value is neither zero nor nonzero: one line naming the file and the layer
    (the index in the file's own layout), exit 2; never counted as a nonzero."""
    from accelsim.cli import main

    path, model, (_, w2, _), x = _model(tmp_path, np.random.default_rng(6))
    w2 = w2.copy()
    w2[3, 1, 2, 0] = np.nan
    init = next(i for i in model.graph.initializer if i.name == "w2")
    init.CopyFrom(numpy_helper.from_array(w2, "w2"))
    nan_model = tmp_path / "nan.onnx"
    onnx.save(model, str(nan_model))
    xi = x.copy()
    xi[0, 2, 7, 1] = np.inf
    np.save(tmp_path / "xinf.npy", xi)
    for density, line in (
            (f"weight=onnx:{nan_model}", f"{nan_model}: conv2: weight 'w2' holds 1 NaN and 0 inf values (the first at "
                                         f"index (3, 1, 2, 0)); a mask needs finite values (zero / nonzero)"),
            (f"ifmap=run:{tmp_path / 'xinf.npy'}@{path}", f"{tmp_path / 'xinf.npy'}: the input array holds 0 NaN and 1 "
                                                           f"inf values (the first at index (0, 2, 7, 1)); a mask needs "
                                                           f"finite values (zero / nonzero)")):
        rc = main(["run", "eyeriss_v1", "-w", str(path), "--no-sim", "--sparse", "eyeriss_v1", "-q", "--density", density])
        err = capsys.readouterr().err.strip().splitlines()[-1]      # after the importer's warning
        assert (rc, err) == (2, f"accelsim: error: {line}")


def test_onnx_masks_on_a_level_list_hierarchy_count_exact_effective_macs(tmp_path):
    """The same sources on the clustered Eyeriss v2 level list (its layers are problems; the masks
    resolve through the conv-shaped layer each came from; this was an AttributeError traceback): the
    preset skips MACs on zero ifmaps or weights, so conv1 keeps exactly the MACs whose input (padding
    is zero) and weight are both nonzero, counted here by a direct loop."""
    from accelsim.hierarchy import load_architecture
    from accelsim.pipeline_hierarchy import run_hierarchy
    from accelsim.sparse.layer import Sparsity
    from accelsim.sparse.spec import load_spec
    from workloads.problems import load_problem_workload

    path, _, (w1, _, _), x = _model(tmp_path, np.random.default_rng(7))
    override = tuple(parse_cli(f"weight=onnx:{path},ifmap=run:{tmp_path / 'x.npy'}@{path}").items())
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wl = load_problem_workload(str(path))
    run = run_hierarchy(load_architecture("eyeriss_v2"), wl,
                        sparsity=Sparsity(load_spec("eyeriss_v2_clustered"), override))
    conv1 = next(lr for lr in run.layers if lr.item.name == "conv1")
    xp = np.pad(x[0] != 0, ((0, 0), (1, 1), (1, 1)))
    want = sum(int((xp[:, p:p + 3, q:q + 3] & (w1[k] != 0)).sum()) for k in range(4) for p in range(8) for q in range(8))
    assert conv1.sparse.actions.effective_macs == want
