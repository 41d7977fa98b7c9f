"""Named and hand-written mappings of sparse runs against the compressed capacity (accelsim.mapper.sparse_fit),
and the searches' typed "no legal mapping" cause (issue 16).

The hand figures: the eyeriss_v2 preset stores ifmaps in the PE scratchpad as CSC, ``[UOP: 4, CP: 4]``
(configs/sparse/eyeriss_v2.yaml) on 16-bit words. An ifmap tile of extents (.., C, H, W) has two ranks:
the outer one every axis but the last (length L, one fiber: ``(L + 1) * 4`` offset bits), the inner
one the last axis (a 4-bit coordinate per nonzero). So a tile of c channels x 1 x 1 at density 1
takes c data words and ``((c + 1) * 4 + 4 * c) / 16`` metadata words, and a 1 x 1 x w window at nonzero
share p ``w p`` and ``(2 * 4 + 4 w p) / 16``. The preset gives the ifmap metadata its own store of 6.25
words (100 bits) beside the 16 data words of configs/eyeriss_v2*.yaml: c <= 12 channels fit. The preset
itself orders the ranks as the chip does (``inner: [C]``: one offset per position, coordinates over the
channels), in which these tiles fit; ``V2`` and :func:`default_order` are the presets without ``inner``
(the axes in tensor order, as above), whose pointwise tiles overflow: the cutting mechanics. ``SHARED``
is a spec with the same ifmap CSC at the rf and no metadata store (data and metadata share the rf's
ifmap words), for the cases where nothing may fit.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from accelsim import pipeline
from accelsim.arch import load_arch
from accelsim.cli import main
from accelsim.errors import CompressedCapacityError
from accelsim.hierarchy import from_arch, hierarchy_from_dict, load_architecture
from accelsim.legality import problems_of
from accelsim.loopnest import LevelMap, LoopNest, from_fixed
from accelsim.mapper.nest_search import search_nest
from accelsim.mapper.search import SearchSpec
from accelsim.mapper.sparse_fit import fit_nest, fixed_nests, smallest
from accelsim.pipeline_hierarchy import named_nest, run_hierarchy
from accelsim.problem import from_layer
from accelsim.refine import by_simulation, candidate_pool
from accelsim.sparse.density import Uniform
from accelsim.sparse.layer import Sparsity
from accelsim.sparse.model import capacity_problems, compressed_tiles
from accelsim.sparse.spec import load_spec, spec_from_dict
from dataflows import registry
from workloads.layer import conv
from workloads.loader import load_workload
from workloads.problems import ProblemWorkload, of_layer


def default_order(spec):
    """``spec`` with every format's ranks over the tensor's own axis order (no ``inner``)."""
    return replace(spec, formats=tuple((k, replace(f, inner=())) for k, f in spec.formats))


def default_order_file(tmp_path, name: str) -> Path:
    """The shipped preset ``name`` without its ``inner`` keys, as a spec file for the CLI."""
    text = Path(load_spec(name).source).read_text()
    assert ", inner: [C]}" in text and ", inner: [K]}" in text
    path = tmp_path / f"{name}_default_order.yaml"
    path.write_text(text.replace(", inner: [C]}", "}").replace(", inner: [K]}", "}"))
    return path


V2 = Sparsity(default_order(load_spec("eyeriss_v2")))
CLUSTERED = default_order(load_spec("eyeriss_v2_clustered"))
SHARED_DOC = {"name": "shared", "formats": {"rf": {"ifmap": {"ranks": [{"UOP": 4}, {"CP": 4}]}}}}
SHARED = Sparsity(spec_from_dict(SHARED_DOC, "shared.yaml"))


def shared_file(tmp_path, doc=None) -> Path:
    """``SHARED_DOC`` (or ``doc``) as a spec file for the CLI."""
    path = tmp_path / "shared.yaml"
    path.write_text(yaml.safe_dump(SHARED_DOC if doc is None else doc))
    return path


def problem_workload(w) -> ProblemWorkload:
    return ProblemWorkload(w.name, tuple(of_layer(la) for la in w.layers), densities=w.densities)


def fixed_overflows(layer, arch, m, spec, models) -> list:
    """``capacity_problems`` of a fixed-shape mapping ``m`` (on ``sparse_fit.fixed_nests``)."""
    problem, h, nest_of = fixed_nests(layer, arch)
    return capacity_problems(problem, h, nest_of(m), spec, models)


def csc_metadata(c: int) -> float:
    """Metadata words of a dense c x 1 x 1 ifmap tile in the preset's CSC (module docstring)."""
    return ((c + 1) * 4 + 4 * c) / 16


@pytest.fixture(scope="module")
def mobilenet():
    return load_workload("mobilenet_v1_05_128_sparse", 1)


def test_named_mapping_on_the_flat_v2_is_cut_to_the_most_channels_that_fit_compressed(mobilenet):
    """conv2_pw (dense: no published density) on eyeriss_v2_flat: rs_plus puts 16 channels in the
    16-word ifmap scratchpad, their CSC metadata 8.25 words > the 6.25-word store; the fitted mapping
    keeps 12 (6.25 words), the most that fit (13 take 6.75)."""
    arch = load_arch("eyeriss_v2_flat")
    assert (csc_metadata(16), csc_metadata(13), csc_metadata(12)) == (8.25, 6.75, 6.25)
    flow = registry.get("rs_plus")
    run = pipeline.run(arch, mobilenet, sparsity=V2)
    h = from_arch(arch)
    changed = []
    for lr, layer in zip(run.layers, mobilenet.layers):
        m = lr.result.mapping
        if m is None:
            continue
        problem, models = from_layer(layer), V2.models(mobilenet, layer.name)
        assert capacity_problems(problem, h, from_fixed(m, h), V2.spec, models) == []     # every layer fits ...
        assert problems_of(layer, m, arch) == []                                          # ... and is legal
        named = flow.named(layer, arch)
        if capacity_problems(problem, h, from_fixed(named, h), V2.spec, models):
            changed.append(layer.name)
            assert m.factors[2:4] == named.factors[2:4]          # the same array mapping (rows, cols)
        else:
            assert m == named                                                             # a fitting one is kept
    assert len(changed) == 14
    i = [la.name for la in mobilenet.layers].index("conv2_pw")
    conv2_pw = run.layers[i].result.mapping
    assert conv2_pw.factor("rf", "C") == 12
    tiles = compressed_tiles(from_layer(mobilenet.layers[i]), h, from_fixed(conv2_pw, h), V2.spec, {})
    assert tiles[("rf", "ifmap")] == 12 + csc_metadata(12)


def test_named_nest_on_the_clustered_v2_hierarchy_is_cut_too(mobilenet):
    """The same layer on the true clustered level list (configs/eyeriss_v2.yaml): its rule puts 16
    channels in the 16-word spad (metadata 8.25 words > 6.25); the fitted nest keeps 12."""
    h = load_architecture("eyeriss_v2")
    pw = problem_workload(mobilenet.select(["conv2_pw"]))
    flow = registry.get("rs_plus")
    named = named_nest(pw.layers[0], h, flow)
    assert named.level("spad").factor("C") == 16
    run = run_hierarchy(h, pw, sparsity=Sparsity(CLUSTERED))
    nest = run.layers[0].nest
    assert nest.level("spad").factor("C") == 12
    assert nest.level("glb_cluster").x == named.level("glb_cluster").x            # the array mapping stays
    spec = CLUSTERED
    assert compressed_tiles(pw.layers[0].problem, h, nest, spec, {})[("spad", "ifmap")] == 12 + csc_metadata(12)


def _cli(args: list[str]) -> tuple[int, str, str]:
    out, errs = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(errs):
        code = main(args)
    return code, out.getvalue(), errs.getvalue()


def conv1_row(p: float) -> float:
    """Words of CONV1's 1 x 1 x 11 ifmap window in the preset's CSC at nonzero share p (module docstring)."""
    return 11 * p + (2 * 4 + 4 * 11 * p) / 16


CONV1_P = round(0.9999 * 4 * 3 * 227 * 227) / (4 * 3 * 227 * 227)     # uniform: round(d * size) nonzeros
CONV1_NO_TILE = ("no tile keeping ifmap at rf fits: the smallest, with S whole (no loop above rf may split it), "
                 "takes 14.2 words > 12; give rf at least 15 words for ifmap, or a sparse spec without "
                 "formats.rf.ifmap")


def test_no_tile_of_the_dataflow_fits_is_one_typed_line(tmp_path):
    """AlexNet CONV1 (batch 4) on eyeriss_v1, rs, ``SHARED``: each PE keeps a whole 11-tap ifmap row of one
    channel (S may not split above the RF: constraints.unsplit of dram, glb, rows and cols), 14.25 words in
    CSC at the published density 0.9999 > 12: no tile fits, so the error says so and what would, not
    --search. Both ways out it names are checked: 15 words fit, 14 do not; without the format it runs."""
    w = load_workload("alexnet_sparse", 4).select(["CONV1"])
    with pytest.raises(CompressedCapacityError) as err:
        pipeline.run(load_arch("eyeriss_v1"), w, sparsity=SHARED)
    o = err.value.overflow
    assert (o.level, o.roles, o.words, o.size) == ("rf", ("ifmap",), 12, "expected")
    assert o.used == pytest.approx(conv1_row(CONV1_P), rel=1e-12)
    h, arch = from_arch(load_arch("eyeriss_v1")), load_arch("eyeriss_v1")
    named = from_fixed(registry.get("rs").named(w.layers[0], arch), h)
    low = smallest(from_layer(w.layers[0]), h, named, SHARED.spec, SHARED.models(w, "CONV1"), o)
    assert low.whole == ("S",) and low.used == pytest.approx(conv1_row(CONV1_P), rel=1e-12)
    assert low.overflow is not None and low.overflow.used == low.used
    spec_path = shared_file(tmp_path)
    args = ["run", "eyeriss_v1", "-w", "alexnet_sparse", "-b", "4", "--layers", "1", "--no-sim", "--sparse",
            str(spec_path), "-q"]
    code, out, errs = _cli(args)
    assert code == 2 and out == ""
    assert errs == (f"accelsim: error: {spec_path}: layer 'CONV1': the named mapping of dataflow 'rs' on "
                    f"'eyeriss_v1' does not fit by compressed size, nor does any cut of it: rf: ifmap tiles take "
                    f"14.2 words (expected compressed size) > capacity 12; {CONV1_NO_TILE}\n")
    text = (Path(arch.source).read_text())
    assert "ifmap_words: 12" in text
    for words, ok in ((15, True), (14, False)):
        path = tmp_path / f"ev1_{words}.yaml"
        path.write_text(text.replace("ifmap_words: 12", f"ifmap_words: {words}"))
        code, out, errs = _cli([*args[:1], str(path), *args[2:]])
        assert (code, errs == "") == ((0, True) if ok else (2, False)), errs
    spec = shared_file(tmp_path, {"name": "shared"})          # without formats.rf.ifmap
    code, out, errs = _cli([*args[:-2], str(spec), "-q"])
    assert code == 0 and errs == "" and "CONV1" in out


def test_the_search_names_compressed_capacity_as_the_cause():
    """The sparse search on the same layer finds nothing either; its error carries the overflow of a
    candidate the dense rules keep (typed), not only 'no legal mapping', and says no tile fits."""
    w = load_workload("alexnet_sparse", 4).select(["CONV1"])
    with pytest.raises(CompressedCapacityError) as err:
        pipeline.run(load_arch("eyeriss_v1"), w, search_spec=SearchSpec("energy", 300, 0), sparsity=SHARED)
    o = err.value.overflow
    assert (o.level, o.roles, o.size) == ("rf", ("ifmap",), "expected") and o.used > o.words == 12
    assert str(err.value).startswith(f"{SHARED.spec.source}: no legal mapping found for layer 'CONV1'")
    assert str(err.value).endswith(f"; {CONV1_NO_TILE}")


def _one_word_buffer():
    return hierarchy_from_dict({
        "name": "w1", "word_bits": 16, "dataflow": "os",
        "levels": [{"name": "dram", "keeps": ["ifmap", "weight", "psum"]},
                   {"name": "buf", "keeps": ["ifmap"], "capacity": 1}],
        "compute": {"name": "mac"}}, "w1.yaml")


def test_the_nest_search_names_compressed_capacity_as_the_cause(monkeypatch):
    """A one-word ifmap buffer in a bitmask sized worst case: an ifmap tile there takes at least
    1 + 1/16 words, so no nest keeping it fits (the dense rules keep one-word tiles). The general
    space may bypass any level, so its proposals are made to keep the buffer's ifmap here."""
    from accelsim.energy_table import table_for
    from accelsim.mapper.nest_space import NestSpace

    propose = NestSpace.propose

    def keeping(self, rng, n):
        arrays = propose(self, rng, n)
        arrays.keeps[:, 1, 0] = 1                 # level buf, role ifmap (accelsim.names.ROLES order)
        return arrays

    monkeypatch.setattr(NestSpace, "propose", keeping)
    h = _one_word_buffer()
    problem = from_layer(conv("c", C=2, K=2, H=3, R=1))
    spec = spec_from_dict({"name": "b", "formats": {"buf": {"ifmap": "bitmask"}}, "capacity": "worst"}, "b.yaml")
    assert search_nest(problem, h, objective="cycles", budget=50, seed=0).nest is not None     # dense: found
    with pytest.raises(CompressedCapacityError) as err:
        search_nest(problem, h, objective="cycles", budget=50, seed=0,
                    sparse=(spec, {"ifmap": Uniform(0.5)}, table_for(h)))
    o = err.value.overflow
    assert (o.level, o.roles, o.words, o.size) == ("buf", ("ifmap",), 1, "worst") and o.used >= 1 + 1 / 16
    assert str(err.value).startswith("b.yaml: no legal nest found") and str(err.value).endswith(
        "compressed capacity (worst size) rejected every nest the space proposed, e.g. buf: ifmap tiles take 1.1 words "
        "(worst compressed size) > capacity 1; no tile keeping ifmap at buf fits: the smallest takes 1.1 words > 1; "
        "give buf at least 2 words for ifmap, or a sparse spec without formats.buf.ifmap")


def test_a_hand_written_mapping_is_checked_not_refit(mobilenet, tmp_path):
    """A hand-written mapping that overflows is an error naming the mapping file and the layer (the
    spec in the message); where a smaller tile fits, the way out is smaller tiles."""
    arch = load_arch("eyeriss_v2_flat")
    w = mobilenet.select(["conv2_pw"])
    named = registry.get("rs_plus").named(w.layers[0], arch)
    with pytest.raises(CompressedCapacityError) as err:
        pipeline.run(arch, w, mappings={"conv2_pw": named}, sparsity=V2)
    o = err.value.overflow
    assert (o.level, o.roles, o.used, o.words, o.check.metadata) == ("rf", ("ifmap",), csc_metadata(16), 6.25, True)
    assert str(err.value).startswith("mapping for layer 'conv2_pw': the hand-written mapping does not fit")
    h = from_arch(arch)
    pw = problem_workload(w)
    with pytest.raises(CompressedCapacityError):
        run_hierarchy(h, pw, arch=arch, nests={"conv2_pw": from_fixed(named, h)}, sparsity=V2)
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"conv2_pw": named.to_dict()}))
    code, out, errs = _cli(["run", "eyeriss_v2_flat", "-w", "mobilenet_v1_05_128_sparse", "--layers", "conv2_pw",
                            "--mapping", str(path), "--sparse", str(v2_file := default_order_file(tmp_path, "eyeriss_v2")),
                            "--no-sim", "-q"])
    low = smallest(from_layer(w.layers[0]), h, from_fixed(named, h), V2.spec, {}, o)
    assert low.overflow is None and low.used < 6.25
    assert code == 2 and out == ""
    assert errs == (f"accelsim: error: {path}: conv2_pw: the hand-written mapping does not fit by compressed size "
                    f"(sparse spec {v2_file}): rf: ifmap metadata takes 8.2 words (expected compressed size) > "
                    f"metadata capacity 6.25; give smaller tiles (the smallest takes {low.used:,.1f} words), or --search "
                    f"(capacity by compressed size)\n")
    w4 = load_workload("alexnet_sparse", 4).select(["CONV1"])
    rs = registry.get("rs").named(w4.layers[0], load_arch("eyeriss_v1"))
    path.write_text(yaml.safe_dump({"CONV1": rs.to_dict()}))
    spec_path = shared_file(tmp_path)
    code, out, errs = _cli(["run", "eyeriss_v1", "-w", "alexnet_sparse", "-b", "4", "--layers", "1", "--mapping",
                            str(path), "--sparse", str(spec_path), "--no-sim", "-q"])
    assert code == 2 and errs == (f"accelsim: error: {path}: CONV1: the hand-written mapping does not fit by "
                                  f"compressed size (sparse spec {spec_path}): rf: ifmap tiles take 14.2 words "
                                  f"(expected compressed size) > capacity 12; {CONV1_NO_TILE}\n")


def test_on_a_level_list_no_tile_says_the_search_may_bypass_the_level():
    """A one-word ifmap buffer with a bitmask sized worst case: any ifmap tile there takes at least
    1 + 1/16 words (one word and one bit), so no nest keeping it fits; the general mapper may bypass
    the level, and the error says so."""
    h = _one_word_buffer()
    problem = from_layer(conv("c", C=2, K=2, H=3, R=1))
    spec = spec_from_dict({"name": "b", "formats": {"buf": {"ifmap": "bitmask"}}, "capacity": "worst"}, "b.yaml")
    nest = LoopNest((LevelMap("dram", (("K", 2), ("C", 2), ("P", 3), ("Q", 3)), keeps=("ifmap", "weight", "psum")),
                     LevelMap("buf", keeps=("ifmap",))))
    with pytest.raises(CompressedCapacityError) as err:
        fit_nest(problem, h, nest, spec, {}, "layer 'c'")
    assert str(err.value) == ("b.yaml: layer 'c' does not fit by compressed size, nor does any cut of it: buf: ifmap "
                              "tiles take 1.1 words (worst compressed size) > capacity 1; no tile keeping ifmap at buf "
                              "fits: the smallest takes 1.1 words > 1; give buf at least 2 words for ifmap, or a "
                              "sparse spec without formats.buf.ifmap; or --search, which may bypass buf for ifmap")
    low = smallest(problem, h, nest, spec, {}, err.value.overflow)
    assert (low.used, low.whole) == (1 + 1 / 16, ())


def test_runs_whose_tiles_fit_keep_the_dense_named_mapping():
    """No compressed format below DRAM (the eyeriss_v1 preset: RLE at DRAM, gating): every named
    mapping fits as it is; the run's mappings and dense figures equal the dense run's."""
    arch = load_arch("eyeriss_v1")
    w = load_workload("alexnet_sparse", 4)
    dense = pipeline.run(arch, w)
    sparse = pipeline.run(arch, w, sparsity=Sparsity(load_spec("eyeriss_v1")))
    assert [lr.result for lr in sparse.layers] == [lr.result for lr in dense.layers]
    assert all(lr.result.mapping == registry.get("rs").named(la, arch)
               for lr, la in zip(dense.layers, w.layers) if lr.result.mapping is not None)


def test_a_hierarchy_nest_that_fits_compressed_is_kept_as_it_is():
    h = hierarchy_from_dict({
        "name": "one", "word_bits": 16, "dataflow": "os",
        "levels": [{"name": "dram", "keeps": ["ifmap", "weight", "psum"]},
                   {"name": "buf", "keeps": ["ifmap", "weight", "psum"], "capacity": 4096}],
        "compute": {"name": "mac"}}, "one.yaml")
    w = ProblemWorkload("w", (of_layer(conv("c", C=4, K=8, H=6, R=3, pad=1)),))
    spec = spec_from_dict({"name": "b", "formats": {"buf": {"ifmap": "bitmask"}}}, "b.yaml")
    run = run_hierarchy(h, w, sparsity=Sparsity(spec, (("ifmap", Uniform(0.5)),)))
    assert run.layers[0].nest == run_hierarchy(h, w).layers[0].nest


def test_explain_takes_the_mapping_the_sparse_run_takes(mobilenet):
    from accelsim.cli.cmd_explain import explain

    w = mobilenet.select(["conv2_pw"])
    arch = load_arch("eyeriss_v2_flat")
    (_, dense, _), = explain(arch, w, "rs_plus")
    (_, sparse, _), = explain(arch, w, "rs_plus", None, V2)
    assert (dense.mapping.factor("rf", "C"), sparse.mapping.factor("rf", "C")) == (16, 12)
    assert sparse.mapping == pipeline.run(arch, w, sparsity=V2).layers[0].result.mapping


def test_refine_simulates_only_mappings_that_fit_compressed(mobilenet):
    """--refine re-ranks the (dense) search's shortlist by simulation; with --sparse only the candidates
    that fit by compressed size are simulated: on conv2_pw the shortlist's best by simulation overflows
    the RF, so the kept mapping is another, which fits."""
    arch = load_arch("eyeriss_v2_flat")
    w = mobilenet.select(["conv2_pw"])

    def over(m):
        return fixed_overflows(w.layers[0], arch, m, V2.spec, {})

    lr = pipeline.run(arch, w, search_spec=SearchSpec("energy", 300, 0), simulate=True, refine=True,
                      sparsity=V2).layers[0]
    assert over(lr.result.mapping) == []
    pool = candidate_pool(lr.search.shortlist, registry.get("rs_plus").named(w.layers[0], arch))
    assert over(by_simulation(w.layers[0], arch, pool, "energy").result.mapping)     # unfiltered: overflows


def test_refine_on_a_hierarchy_simulates_only_nests_that_fit_compressed(mobilenet):
    """The same on the general path (eyeriss_v2_flat as a level list): conv2_pw's refined nest fits
    (10 of its 16 shortlisted nests overflow)."""
    arch = load_arch("eyeriss_v2_flat")
    h = from_arch(arch)
    pw = problem_workload(mobilenet.select(["conv2_pw"]))
    lr = run_hierarchy(h, pw, arch=arch, search_spec=SearchSpec("energy", 300, 0), simulate=True, refine=True,
                       sparsity=V2).layers[0]
    assert capacity_problems(lr.item.problem, h, lr.nest, V2.spec, {}) == []
    assert sum(bool(capacity_problems(lr.item.problem, h, n, V2.spec, {})) for n in lr.search.shortlist) == 10


def test_a_sparse_search_is_never_worse_than_the_fitted_named_mapping(mobilenet):
    """The sparse searches start from the named mapping as a sparse run takes it (fit by compressed
    size), so they never score worse than it. Before, the overflowing named mapping was dropped as a
    start: budget 100, seed 0, the fixed search ended at 40.1e6 on conv1 against the fitted named
    mapping's 36.2e6, the general one at 75.2e6 on conv7_pw against 26.8e6 (energy objective)."""
    from accelsim.mapper.score import OBJECTIVES, sparse_score

    arch = load_arch("eyeriss_v2_flat")
    w = mobilenet.select(["conv1"])
    named = pipeline.run(arch, w, sparsity=V2).layers[0].result.mapping
    bound, _ = sparse_score(w.layers[0], arch, named, "energy", V2.spec, V2.models(mobilenet, "conv1"))
    found = pipeline.run(arch, w, search_spec=SearchSpec("energy", 100, 0), sparsity=V2).layers[0].search
    assert found.score.objective <= bound
    h = load_architecture("eyeriss_v2")
    pw = problem_workload(mobilenet.select(["conv7_pw"]))
    clustered = Sparsity(load_spec("eyeriss_v2_clustered"))
    named_run = run_hierarchy(h, pw, sparsity=clustered).layers[0].sparse
    searched = run_hierarchy(h, pw, search_spec=SearchSpec("energy", 100, 0), sparsity=clustered).layers[0].search
    assert searched.score.objective <= OBJECTIVES["energy"](named_run.energy_pj, named_run.bound_cycles)


def test_a_named_mapping_cut_to_fit_is_labelled_per_layer_with_a_count(tmp_path):
    """mapping_source says which named mappings were cut (stats.json, the table's header and footer,
    mapping.txt), on a level list: dense MobileNet v1 (no densities: CSC adds its offsets and
    coordinates to full tiles) on the clustered v2. The cut layers are exactly those whose named nest
    overflows by compressed size, here conv2_pw and conv3_pw (the rule's 16 channels: 8.25 ifmap metadata
    words in a 6.25-word store); conv1 and the depthwise layers fit."""
    from accelsim.mapper.sparse_fit import FIT_SOURCE
    from accelsim.report_hierarchy import mapping_text, read_mapping_text, stats, table

    h = load_architecture("eyeriss_v2")
    names = ["conv1", "conv2_dw", "conv2_pw", "conv3_dw", "conv3_pw", "conv4_dw"]
    pw = problem_workload(load_workload("mobilenet_v1", 1).select(names))
    spec = CLUSTERED
    flow = registry.get("rs_plus")
    overflowing = [pl.name for pl in pw.layers
                   if capacity_problems(pl.problem, h, named_nest(pl, h, flow), spec, {})]
    assert overflowing == ["conv2_pw", "conv3_pw"]
    run = run_hierarchy(h, pw, sparsity=Sparsity(spec))
    doc = stats(run)
    assert [(l["name"], l["mapping_source"]) for l in doc["layers"]] == [
        (n, FIT_SOURCE if n in overflowing else "named") for n in names]
    lines = table(doc).splitlines()
    assert lines[0].endswith("| named mapping (2 of 6 cut to fit by compressed size)")
    assert lines[-1] == ("2 of 6 named mappings cut to fit by compressed size (accelsim.mapper.sparse_fit): "
                         "conv2_pw, conv3_pw")
    assert list(read_mapping_text(mapping_text(run), "mapping.txt")) == names     # still reads back
    dense = table(stats(run_hierarchy(h, pw))).splitlines()
    assert dense[0].endswith("| named mapping") and "cut to fit" not in dense[-1]


def test_fixed_shape_named_mappings_cut_to_fit_are_labelled_too(mobilenet):
    """The flat v2 (fixed shape) on the sparse MobileNet 0.5-128: conv2_pw's named mapping is cut (16
    dense channels take 8.25 ifmap metadata words, module docstring), conv3_dw's fits (1 channel per PE); the
    hand-written conv2_dw is neither named nor counted."""
    from accelsim.mapper.sparse_fit import FIT_SOURCE
    from accelsim.report import stats, table

    arch = load_arch("eyeriss_v2_flat")
    names = ["conv2_dw", "conv2_pw", "conv3_dw"]
    w = mobilenet.select(names)
    rs_plus = registry.get("rs_plus")
    overflowing = [la.name for la in w.layers
                   if fixed_overflows(la, arch, rs_plus.named(la, arch), V2.spec, V2.models(w, la.name))]
    assert overflowing == ["conv2_pw"]
    given = {"conv2_dw": rs_plus.named(w.layers[0], arch)}
    doc = stats(pipeline.run(arch, w, sparsity=V2, mappings=given))
    assert [l["mapping_source"] for l in doc["layers"]] == ["hand-written", FIT_SOURCE, "named"]
    lines = table(doc).splitlines()
    assert lines[0].endswith("| hand-written mapping for conv2_dw, named for the rest (1 of 2 cut to fit by "
                             "compressed size)")
    assert lines[-1] == "1 of 2 named mappings cut to fit by compressed size (accelsim.mapper.sparse_fit): conv2_pw"


def test_the_weight_metadata_store_holds_the_weight_metadata_apart(mobilenet):
    """The eyeriss_v2 preset gives the rf's weights a 64-word metadata store (Sparseloop's 128 x 8-bit
    entries) and its ifmaps a 6.25-word one (25 x 4 bits). conv8_pw (dense) under rs_plus on the flat v2
    keeps 176 weights per PE (K 11 x C 16, 1 x 1): CSC over (K C R, S) is 177 offsets of 7 bits and 176
    4-bit coordinates, 1943 / 16 = 121.4375 words. Data and metadata sharing the 192 weight words (the
    spec without the stores) overflow, 297.4375; apart, the data fit (176 <= 192) and the metadata store
    overflows (121.4375 > 64), named as the store's. The ifmap's 16 channels: 16 data words fit the 16,
    their 8.25 metadata words overflow the 6.25."""
    from accelsim.sparse.model import capacity_used

    arch = load_arch("eyeriss_v2_flat")
    la = next(x for x in mobilenet.layers if x.name == "conv8_pw")
    h, m = from_arch(arch), registry.get("rs_plus").named(la, arch)
    assert (m.factor("rf", "K"), m.factor("rf", "C")) == (11, 16)
    used = {(c.level, c.members): u for c, u, _ in capacity_used(from_layer(la), h, from_fixed(m, h), V2.spec, {})}
    assert used[("rf", (("weight", "data"),))] == 176.0
    assert used[("rf", (("weight", "metadata"),))] == (177 * 7 + 176 * 4) / 16 == 121.4375
    assert (used[("rf", (("ifmap", "data"),))], used[("rf", (("ifmap", "metadata"),))]) == (16.0, csc_metadata(16))
    shared = replace(V2.spec, metadata_capacity=())
    over = capacity_problems(from_layer(la), h, from_fixed(m, h), shared, {})
    assert [(o.level, o.roles, o.used) for o in over if o.roles == ("weight",)] == [("rf", ("weight",), 297.4375)]
    apart = capacity_problems(from_layer(la), h, from_fixed(m, h), V2.spec, {})
    assert [(o.roles, o.used, o.words, o.check.metadata) for o in apart] == [
        (("weight",), 121.4375, 64, True), (("ifmap",), 8.25, 6.25, True)]


def test_a_metadata_store_overflow_is_named_as_such():
    """Coordinates of 16 bits (one word per nonzero) for the rf's ifmaps with a 4-word metadata store,
    density 1: the named rs tile's data (its dense words, which fit the 12-word RF) fits, its metadata
    (as many words) does not; the one overflow says metadata and the store's words."""
    from accelsim.sparse.model import capacity_used

    arch = load_arch("eyeriss_v1")
    h = from_arch(arch)
    layer = conv("c", C=4, K=8, H=6, R=3, pad=1)
    spec = spec_from_dict({"name": "m", "formats": {"rf": {"ifmap": {"ranks": [{"CP": 16}]}}},
                           "metadata_capacity": {"rf": {"ifmap": 4}}}, "m.yaml")
    nest = from_fixed(registry.get("rs").named(layer, arch), h)
    used = {(c.level, c.members): u for c, u, _ in capacity_used(from_layer(layer), h, nest, spec, {})}
    data = used[("rf", (("ifmap", "data"),))]
    assert 4 < data <= 12 and used[("rf", (("ifmap", "metadata"),))] == data
    over = capacity_problems(from_layer(layer), h, nest, spec, {})
    assert [o.message for o in over] == [f"rf: ifmap metadata takes {data:,.1f} words (expected compressed size) "
                                         f"> metadata capacity 4"]


@pytest.mark.parametrize("arch_name,workload,batch,layer_name,dataflow,words", [
    ("eyeriss_v1", "alexnet_sparse", 4, "CONV1", "rs", conv1_row(CONV1_P)),                 # nothing fits
    ("eyeriss_v2_flat", "mobilenet_v1_05_128_sparse", 1, "conv2_pw", "rs_plus", 1 + csc_metadata(1)),  # one channel fits
])
def test_the_smallest_tile_bounds_every_mapping_of_the_space(arch_name, workload, batch, layer_name, dataflow, words):
    """``smallest`` is a lower bound: the overflowed store's compressed words under 400 random mappings
    of the mapper's own space (``mapper.space.Space``, kept when the dense rules accept them) are never
    below it, and here some reach it (``SHARED``; CONV1: the 11-tap row, 14.25 words; conv2_pw: one
    channel, 1.75 words; the module docstring's hand figures)."""
    import random

    from accelsim.mapper.space import Space
    from accelsim.sparse.model import capacity_used

    arch = load_arch(arch_name)
    w = load_workload(workload, batch).select([layer_name])
    layer, h = w.layers[0], from_arch(arch)
    problem, models, flow = from_layer(layer), SHARED.models(w, layer_name), registry.get(dataflow)
    named = from_fixed(flow.named(layer, arch), h)
    o = capacity_problems(problem, h, named, SHARED.spec, models)[0]
    low = smallest(problem, h, named, SHARED.spec, models, o)
    space, rng, seen = Space(layer, arch, flow), random.Random(0), []
    for _ in range(400):
        m = space.propose(rng)
        if not problems_of(layer, m, arch):
            seen.append(next(u for c, u, _ in capacity_used(problem, h, from_fixed(m, h), SHARED.spec, models)
                             if c == o.check))
    assert low.used == pytest.approx(words, rel=1e-12)
    assert len(seen) >= 50 and min(seen) == low.used       # a bound the space reaches here
    assert (low.overflow is None) == (arch_name == "eyeriss_v2_flat")


def test_no_tile_fits_a_metadata_store_names_the_store_and_the_words_it_needs():
    """CONV1's 11-tap row with the ifmap's CSC metadata in its own 0.5-word store: its data (11 p words)
    fits the 12 ifmap words, its metadata ``(2 * 4 + 4 * 11 p) / 16`` = 3.2497 words does not, at any tile."""
    doc = {**SHARED_DOC, "metadata_capacity": {"rf": {"ifmap": 0.5}}}
    w = load_workload("alexnet_sparse", 4).select(["CONV1"])
    with pytest.raises(CompressedCapacityError) as err:
        pipeline.run(load_arch("eyeriss_v1"), w, sparsity=Sparsity(spec_from_dict(doc, "meta.yaml")))
    o = err.value.overflow
    meta = (2 * 4 + 4 * 11 * CONV1_P) / 16
    assert o.check.metadata and o.used == pytest.approx(meta, rel=1e-12) and 3.24 < meta <= 3.25
    assert str(err.value).endswith(
        "rf: ifmap metadata takes 3.2 words (expected compressed size) > metadata capacity 0.5; no tile keeping "
        "ifmap at rf fits: the smallest, with S whole (no loop above rf may split it), takes 3.2 words > 0.5; give a "
        "metadata_capacity.rf.ifmap of at least 3.25 words, or a sparse spec without formats.rf.ifmap")


def test_no_mapping_of_the_refine_pool_fits_says_no_tile_fits_and_what_would(tmp_path):
    """--refine's pool (the dense search's shortlist and the named mapping) of CONV1 with ``SHARED``: no
    candidate fits, nor does any tile (the named path's answer, ``CONV1_NO_TILE``), and the error says
    so and what would, in one line, exit 2; the typed overflow is the first candidate's."""
    spec_path = shared_file(tmp_path)
    code, out, errs = _cli(["run", "eyeriss_v1", "-w", "alexnet_sparse", "-b", "4", "--layers", "1", "--sparse",
                            str(spec_path), "--search", "--search-budget", "300", "--refine", "-q"])
    assert (code, out) == (2, "")
    assert errs == (f"accelsim: error: {spec_path}: layer 'CONV1': no mapping --refine simulates fits by compressed "
                    f"size (rf: ifmap tiles take 14.2 words (expected compressed size) > capacity 12); "
                    f"{CONV1_NO_TILE}\n")
    w = load_workload("alexnet_sparse", 4).select(["CONV1"])
    with pytest.raises(CompressedCapacityError) as err:
        pipeline.run(load_arch("eyeriss_v1"), w, search_spec=SearchSpec("energy", 300, 0), simulate=True,
                     refine=True, sparsity=SHARED)
    o = err.value.overflow
    assert (o.level, o.roles, o.words) == ("rf", ("ifmap",), 12) and o.used == pytest.approx(conv1_row(CONV1_P))


def test_a_shortlist_none_of_which_fits_where_a_smaller_tile_does_names_the_way_out(mobilenet):
    """conv2_pw's named rs_plus mapping on eyeriss_v2_flat overflows the rf's 6.25-word ifmap metadata
    store (16 channels: 8.25 words) where one channel's tile fits (its metadata 0.75 words: ``smallest``). A shortlist of
    it alone re-ranked by the sparse objective (``sparse_rank.rerank``, and ``rerank_nests`` on the level
    list; the fallback for actual masks) names the overflow and the named path's way out; --refine's pool
    (``sparse_fit.REFINED``) adds dropping --refine."""
    from accelsim.energy_table import table_for
    from accelsim.mapper.sparse_fit import NAMED, REFINED, fitting
    from accelsim.mapper.sparse_rank import rerank, rerank_nests

    arch = load_arch("eyeriss_v2_flat")
    layer = mobilenet.select(["conv2_pw"]).layers[0]
    named = registry.get("rs_plus").named(layer, arch)
    problem, h, nest_of = fixed_nests(layer, arch)
    over = ("rf: ifmap metadata takes 8.2 words (expected compressed size) > metadata capacity 6.25")
    low = smallest(problem, h, nest_of(named), V2.spec, {}, capacity_problems(problem, h, nest_of(named), V2.spec, {})[0])
    assert low.overflow is None and low.used == pytest.approx(csc_metadata(1), rel=1e-12)
    way = ("run without --search (the named mapping's tiles are cut until they fit by compressed size; the smallest "
           "takes 0.8 words), or give smaller tiles in a --mapping file")
    with pytest.raises(CompressedCapacityError) as err:
        rerank(layer, arch, (named,), "energy", V2.spec, {})
    assert str(err.value) == (f"{V2.spec.source}: layer 'conv2_pw': no mapping of the search's shortlist fits by "
                              f"compressed size ({over}); {way}")
    assert err.value.overflow.check.metadata and err.value.overflow.used == csc_metadata(16)
    with pytest.raises(CompressedCapacityError) as err:
        rerank_nests(problem, h, (nest_of(named),), "energy", V2.spec, {}, table_for(h))
    assert str(err.value) == (f"{V2.spec.source}: problem 'conv2_pw': no nest of the search's shortlist fits by "
                              f"compressed size ({over}); {way}")
    with pytest.raises(CompressedCapacityError) as err:
        fitting((nest_of(named),), problem, h, lambda n: n, V2.spec, {}, "layer 'conv2_pw': no nest --refine "
                "simulates", REFINED)
    assert str(err.value).endswith(
        f"({over}); drop --refine (--search alone searches by compressed size) or run without --search (the named "
        f"mapping's tiles are cut until they fit); the smallest tile takes 0.8 words")
    assert NAMED.format(used="0.8") == way
