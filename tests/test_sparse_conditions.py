"""What a gating / skipping feature may be conditioned on, and which metadata stores a spec may give
(``accelsim.sparse.spec.check``, run before any layer is mapped; docs/sparsity.md, *Conditions*).

Defined (counted event by event on masks, tests/test_sparse_exact_gating.py; here the uniform model
against the mean of those counts over random masks): a storage feature on the output's zeros, and a
tensor gated on its own zeros where it is uncompressed. Refused, one line with exit 2: a MAC feature on
psum, a tensor gated / skipped on its own zeros where it is compressed at the level or below, and a
metadata store of a tensor with no compressed format at its level.

The matmul of the mean tests: z[m, n] += a[m, k] * b[k, n] (a the ifmap, b the weight, z the psum),
M 4, N 4, K 8; the GLB loops n (4), k2 (4), m2 (2) above an RF of tile k1 (2) x m1 (2). The RF keeps its
2-word b tile over m2 (it ignores b), so each of the 32 GLB words of b read serves the blocks of both
m2 iterations: b's own 2 elements, and z's 4 elements z[0..3, n].
"""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
import yaml

from accelsim.cost.actions import count_actions
from accelsim.hierarchy import Hierarchy, Storage
from accelsim.loopnest import LevelMap, LoopNest
from accelsim.names import IFMAP, PSUM, ROLES, WEIGHT
from accelsim.problem import gemm
from accelsim.sparse.density import Actual
from accelsim.sparse.model import analyze
from accelsim.sparse.spec import spec_from_dict
from tests.test_sparse_cli import _run, _workload
from tests.test_sparse_exact_gating import mean_over_masks

KEYS = (("glb", WEIGHT, "read"), ("rf", WEIGHT, "fill"))


def _matmul():
    p = gemm("g", 4, 4, 8)
    h = Hierarchy("h", (Storage("dram", ROLES), Storage("glb", ROLES), Storage("rf", ROLES)))
    nest = LoopNest((LevelMap("dram", (), p.dim_names, ROLES),
                     LevelMap("glb", (("N", 4), ("K", 4), ("M", 2)), ("N", "K", "M"), ROLES),
                     LevelMap("rf", (("K", 2), ("M", 2)), ("K", "M", "N"), ROLES)))
    return p, h, nest


def _uniform_and_mean(doc: dict, role: str, d: float, n: int = 300):
    """Per key of ``KEYS``: (data, gated) words of the uniform model (``role`` at density d), and their
    mean and standard error over ``n`` masks of ``role`` with exactly round(d x size) nonzeros at
    uniformly random places (the actual-mask path)."""
    p, h, nest = _matmul()

    def words(sa) -> list[float]:
        return [getattr(sa, part).storage.get(k, 0.0) for k in KEYS for part in ("data", "gated")]

    return mean_over_masks(p, h, nest, spec_from_dict(doc, "t.yaml"), words, {role: d}, n)


def test_weight_reads_gated_on_a_zero_output_agree_with_the_mean_over_random_masks():
    """The GLB's b reads gated on a zero z (d 0.3: 5 of 16 nonzero): a read is ineffective when the 4
    outputs its blocks touch are all zero: 32 x C(11, 4) / C(16, 4) = 5.80 words gated at the read and
    at the RF fill, the rest (26.20) moved; the mean over 300 masks 5.76 +- 0.28, within 4 standard errors."""
    doc = {"name": "t", "gate": [{"level": "glb", "tensor": WEIGHT, "on_zero": [PSUM]}]}
    expected, mean, se = _uniform_and_mean(doc, PSUM, 0.3)
    gated = 32 * comb(11, 4) / comb(16, 4)
    assert expected == pytest.approx([32 - gated, gated] * 2, rel=1e-12)
    assert (np.abs(mean - expected) <= 4 * se).all() and (se > 0).all(), (expected, mean, se)


def test_uncompressed_weight_reads_gated_on_their_own_zeros_agree_with_the_mean_over_random_masks():
    """The GLB's b reads gated on a zero b, b uncompressed everywhere (d 0.3: 10 of 32 nonzero): a read is
    ineffective when its 2-word tile is all zero: 32 x C(22, 2) / C(32, 2) = 14.90 words gated, 17.10 moved;
    the mean over 300 masks 14.85 +- 0.10, within 4 standard errors."""
    doc = {"name": "t", "gate": [{"level": "glb", "tensor": WEIGHT, "on_zero": [WEIGHT]}]}
    expected, mean, se = _uniform_and_mean(doc, WEIGHT, 0.3)
    gated = 32 * comb(22, 2) / comb(32, 2)
    assert expected == pytest.approx([32 - gated, gated] * 2, rel=1e-12)
    assert (np.abs(mean - expected) <= 4 * se).all() and (se > 0).all(), (expected, mean, se)


def test_a_compressed_tensor_gated_on_its_own_zeros_is_refused(tmp_path):
    """The same feature with b in a bitmask at the RF. Under rho_L (``sparse.exact``: every access moves
    its dense words times the level's format ratio) the words on masks agree with the uniform model in
    expectation: the fill moves 32 x 0.3125 x (1 - 0.4657) = 5.34 and gates 4.66; the mean over 300 masks
    5.36 +- 0.03 and 4.64 +- 0.03 (over the 60 masks here, within 4 standard errors). ``check`` still
    refuses it (a policy: an empty tile's compressed fill moves no payload, which the amortized share
    does not see), named at the level below the feature's, one line, exit 2; the level's own format
    likewise, with the keys of ``skip``."""
    doc = {"name": "t", "formats": {"rf": {"weight": "bitmask"}},
           "gate": [{"level": "glb", "tensor": WEIGHT, "on_zero": [WEIGHT]}]}
    expected, mean, se = _uniform_and_mean(doc, WEIGHT, 0.3, n=60)
    q = comb(22, 2) / comb(32, 2)
    assert expected[2:] == pytest.approx([10 * (1 - q), 10 * q], rel=1e-12)      # the fill: data, gated
    assert (np.abs(mean[2:] - expected[2:]) <= 4 * se[2:]).all() and (se[2:] > 0).all(), (expected, mean, se)
    spec = tmp_path / "s.yaml"
    cases = [({"formats": {"reg": {"weight": "bitmask"}},
               "gate": [{"level": "rf", "tensor": "weight", "on_zero": ["ifmap", "weight"]}]},
              "gate[0].on_zero: weight is gated on its own zeros but compressed at reg (formats.reg.weight)",
              "allowed: on_zero of ifmap, psum, or weight uncompressed at rf and below"),
             ({"formats": {"glb": {"ifmap": "bitmask"}},
               "skip": [{"level": "mac", "on_zero": ["weight"]}, {"level": "glb", "tensor": "ifmap", "on_zero": ["ifmap"]}]},
              "skip[1].on_zero: ifmap is skipped on its own zeros but compressed at glb (formats.glb.ifmap)",
              "allowed: on_zero of weight, psum, or ifmap uncompressed at glb and below")]
    for doc, what, allowed in cases:
        spec.write_text(yaml.safe_dump({"name": "s", **doc}))
        code, out, err = _run(["run", "eyeriss_v2_flat", "-w", _workload(tmp_path), "--no-sim", "-q",
                               "--sparse", str(spec)])
        assert (code, out) == (2, "")
        assert err == (f"accelsim: error: {spec}: {what}: its format already leaves its zeros out of the words it "
                       f"moves, so a gate on them would save them twice; {allowed}\n")


@pytest.mark.parametrize("kind, on", [("skip", ["ifmap", "psum"]), ("gate", ["psum"])])
def test_a_mac_feature_on_psum_is_refused(tmp_path, kind, on):
    """A MAC's psum operand is its partial sum so far, not the output the psum density or mask gives (on
    masks the count was the densities' product, not the MACs over the masks): one line, exit 2, on the
    fixed shape and on a level list (the clustered Eyeriss v2, compute 'mac')."""
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"name": "s", kind: [{"level": "mac", "on_zero": on}]}))
    for arch in ("eyeriss_v1", "eyeriss_v2"):
        code, out, err = _run(["run", arch, "-w", _workload(tmp_path), "--no-sim", "-q", "--sparse", str(spec)])
        assert (code, out) == (2, "")
        assert err == (f"accelsim: error: {spec}: {kind}[0].on_zero: MACs are not {kind}{'ped' if kind == 'skip' else 'd'} "
                       f"on psum: a MAC's psum operand is its partial sum so far, which the output's density or mask "
                       f"does not describe; allowed: ifmap, weight\n")


def test_a_mac_feature_on_psum_was_counted_by_the_densities_product_not_the_masks():
    """The cause, measured on the matmul: skipping MACs on a zero ifmap or psum with both given as masks
    counted 128 x d_a x d_z effective MACs, not the MACs over the masks (with these: 13.75 against 14)."""
    p, h, nest = _matmul()
    rng = np.random.default_rng(2)
    a, z = rng.random((4, 8)) < 0.3, rng.random((4, 4)) < 0.5
    spec = spec_from_dict({"name": "t", "skip": [{"level": "mac", "on_zero": [IFMAP, PSUM]}]}, "t.yaml")
    sa = analyze(p, h, nest, count_actions(p, h, nest), spec, {IFMAP: Actual(a), PSUM: Actual(z)})
    over_masks = sum(int(a[m, k] and z[m, n]) for m in range(4) for n in range(4) for k in range(8))
    assert (sa.effective_macs, over_masks) == (128 * a.mean() * z.mean(), 14) and sa.effective_macs == 13.75


NO_FORMAT = "weight has no compressed format at rf (formats.rf.weight), so no metadata to store"


@pytest.mark.parametrize("formats, level, line", [
    ({"rf": {"ifmap": "bitmask"}}, "rf", f"{NO_FORMAT}; allowed at rf: ifmap (the tensors with a compressed format there)"),
    ({"rf": {"weight": "uncompressed", "psum": "bitmask", "ifmap": {"ranks": [{"CP": 4}]}}}, "rf",
     f"{NO_FORMAT}; allowed at rf: ifmap, psum (the tensors with a compressed format there)"),
    ({}, "rf", f"{NO_FORMAT}; no tensor has a compressed format at rf, so none has metadata there"),
    ({"glb": {"ifmap": "bitmask"}}, "glb", "level 'glb' does not keep 'weight' (it keeps ifmap, psum): no metadata "
     "to store; allowed at glb: ifmap (the tensors with a compressed format there)"),
])
def test_a_metadata_store_of_a_tensor_without_a_compressed_format_is_one_line_exit_2(tmp_path, formats, level, line):
    """``metadata_capacity.LEVEL.weight`` where the level stores weight uncompressed (or with no format), or
    does not keep it (eyeriss_v2_flat's glb): it has no metadata there, so the store would do nothing;
    refused naming the tensors that have a compressed format at the level."""
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"name": "s", "formats": formats, "metadata_capacity": {level: {"weight": 8}}}))
    code, out, err = _run(["run", "eyeriss_v2_flat", "-w", _workload(tmp_path), "--no-sim", "-q", "--sparse", str(spec)])
    assert (code, out) == (2, "")
    assert err == f"accelsim: error: {spec}: metadata_capacity.{level}.weight: {line}\n"
