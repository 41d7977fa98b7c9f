"""Eyeriss v1 with its sparse features against the chip (JSSC'17; reference/sparsity.md, eyeriss.md).

The run: ``accelsim run eyeriss_v1 -w alexnet_sparse -b 4 --layers 1-5 --sparse eyeriss_v1`` — the
chip's own mapping rule (the RS named mapping, as tests/validation/test_eyeriss_chip.py), the
``eyeriss_v1`` sparse preset (RLC of feature maps to and from DRAM: 5-bit run + 16-bit level, three
pairs per 64-bit word, adaptive; zero gating of the filter-scratchpad read and the MAC on a zero ifmap)
and the zoo's ``alexnet_sparse`` densities: inputs 1 minus the chip's measured zero fractions, outputs
Sparseloop's reproduction (0.378 / 0.169 / 0.303 / 0.304 / 0.1). Weights go to the chip uncompressed,
so their (pruned-AlexNet) densities do not enter the DRAM traffic. Nothing is fitted.

DRAM MB are 16-bit words x 2 bytes of compressed data + metadata, reads + writes, as the chip reports.
Power: the repo's only 65 nm table (``accelergy_65nm``: the Accelergy eyeriss_like plug-in values)
priced per 16-bit word, on-chip actions only (DRAM excluded: the chip's power is the core's), over the
processing time (the mapping simulated with an ideal DRAM, ``Arch.on_chip``, as test_eyeriss_chip.py).
Not modelled: the clock tree, control, leakage, I/O pads; so the model's
power is expected well below the chip's, and is reported, not tuned.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import pytest

from accelsim import pipeline
from accelsim.arch import load_arch
from accelsim.energy import PRESETS
from accelsim.sparse.layer import Sparsity
from accelsim.sparse.spec import load_spec
from dataflows.rs_params import RsParams, to_mapping
from tests.validation.test_eyeriss_chip import TABLE_III
from workloads.loader import load_workload

CHIP_DRAM_MB = {"CONV1": 5.0, "CONV2": 4.0, "CONV3": 3.0, "CONV4": 2.1, "CONV5": 1.3}
CHIP_POWER_MW = {"CONV1": 332, "CONV2": 288, "CONV3": 266, "CONV4": 235, "CONV5": 236}
CHIP_DRAM_PER_MAC = 0.0029
CLOCK_HZ = 200e6


@cache
def rows() -> tuple[dict, ...]:
    arch = load_arch("eyeriss_v1")
    w = load_workload("alexnet_sparse", 4).select(list(CHIP_DRAM_MB))
    run = pipeline.run(arch, w, simulate=True, sparsity=Sparsity(load_spec("eyeriss_v1")))
    a65 = replace(arch, energy=PRESETS["accelergy_65nm"](arch.word_bits, 108.0), energy_preset="accelergy_65nm")
    run65 = pipeline.run(a65.on_chip(), w, simulate=True, sparsity=Sparsity(load_spec("eyeriss_v1")))
    out = []
    for lr, lr65 in zip(run.layers, run65.layers):
        sa = lr.sparse.actions
        t = sa.totals("dram")
        assert lr65.result.mapping == lr.result.mapping
        seconds = lr65.sim.cycles / CLOCK_HZ
        on_chip = sum(v for k, v in lr65.sparse.energy_breakdown_pj.items() if k != "dram")
        dense_on_chip = sum(v for k, v in lr65.result.energy_breakdown_pj.items() if k != "dram")
        out.append({"name": lr.result.layer.name, "macs": lr.result.macs,
                    "dense_mb": sum(sum(v.values()) for v in lr.result.counts.as_dict()["dram"].values()) * 2 / 1e6,
                    "mb": (t["data"] + t["metadata"]) * 2 / 1e6, "meta_mb": t["metadata"] * 2 / 1e6,
                    "mw": on_chip * 1e-12 / seconds * 1e3, "dense_mw": dense_on_chip * 1e-12 / seconds * 1e3,
                    "ms": seconds * 1e3})
    print()
    print("Eyeriss v1 + RLC + zero gating, AlexNet CONV1-5 b4 (accelsim run eyeriss_v1 -w alexnet_sparse -b 4 "
          "--layers 1-5 --sparse eyeriss_v1)")
    print(f"{'layer':6s} {'dense MB':>9s} {'RLC MB':>7s} {'of it meta':>10s} {'chip MB':>8s} {'err':>7s} "
          f"{'proc ms':>8s} {'dense mW':>9s} {'gated mW':>9s} {'chip mW':>8s} {'err':>7s}")
    for r in out:
        print(f"{r['name']:6s} {r['dense_mb']:9.3f} {r['mb']:7.3f} {r['meta_mb']:10.3f} {CHIP_DRAM_MB[r['name']]:8.1f} "
              f"{r['mb'] / CHIP_DRAM_MB[r['name']] - 1:+7.1%} {r['ms']:8.1f} {r['dense_mw']:9.1f} {r['mw']:9.1f} "
              f"{CHIP_POWER_MW[r['name']]:8d} {r['mw'] / CHIP_POWER_MW[r['name']] - 1:+7.1%}")
    tot = sum(r["mb"] for r in out)
    per_mac = tot / 2 * 1e6 / sum(r["macs"] for r in out)
    print(f"total  {sum(r['dense_mb'] for r in out):9.3f} {tot:7.3f} {'':10s} {sum(CHIP_DRAM_MB.values()):8.1f} "
          f"{tot / sum(CHIP_DRAM_MB.values()) - 1:+7.1%}; DRAM accesses per MAC {per_mac:.5f} vs chip "
          f"{CHIP_DRAM_PER_MAC} ({per_mac / CHIP_DRAM_PER_MAC - 1:+.1%})")
    return tuple(out)


@cache
def chip_mapping_rows() -> tuple[dict, ...]:
    """DRAM MB with the chip's own mapping: JSSC'17 Table III's (m, n, e, p, q, r, t) on CONV2, where the
    mapping rule picks n=2, m=32 (test_eyeriss_chip.py), its 5 x 27 logical PE set folded in two onto the
    12 x 14 array as the rule folds it; CONV1, CONV4, CONV5 are the rule's, which equals
    Table III there; CONV3 stays the rule's (the chip's measured GLB traffic matches the rule, not the
    OCR copy of its Table III row: test_eyeriss_chip.test_conv3_table_iii_row_disagrees_...)."""
    arch = load_arch("eyeriss_v1")
    w = load_workload("alexnet_sparse", 4).select(list(CHIP_DRAM_MB))
    conv2 = next(x for x in w.layers if x.name == "CONV2")
    run = pipeline.run(arch, w, sparsity=Sparsity(load_spec("eyeriss_v1")),
                       mappings={"CONV2": to_mapping(conv2, arch, RsParams(*TABLE_III["CONV2"], fold=2))})
    out = []
    for lr in run.layers:
        t = lr.sparse.actions.totals("dram")
        out.append({"name": lr.result.layer.name, "macs": lr.result.macs, "mb": (t["data"] + t["metadata"]) * 2 / 1e6})
    print()
    print("the same with the chip's own Table III mapping on CONV2 (m=64, n=1; the rule's elsewhere)")
    print(f"{'layer':6s} {'RLC MB':>7s} {'chip MB':>8s} {'err':>7s}")
    for r in out:
        print(f"{r['name']:6s} {r['mb']:7.3f} {CHIP_DRAM_MB[r['name']]:8.1f} {r['mb'] / CHIP_DRAM_MB[r['name']] - 1:+7.1%}")
    tot = sum(r["mb"] for r in out)
    per_mac = tot / 2 * 1e6 / sum(r["macs"] for r in out)
    print(f"total  {tot:7.3f} {sum(CHIP_DRAM_MB.values()):8.1f} {tot / sum(CHIP_DRAM_MB.values()) - 1:+7.1%}; "
          f"DRAM accesses per MAC {per_mac:.5f} vs chip {CHIP_DRAM_PER_MAC} ({per_mac / CHIP_DRAM_PER_MAC - 1:+.1%})")
    return tuple(out)


def test_with_the_chips_own_mapping_every_layer_within_15_percent_and_total_within_10():
    out = chip_mapping_rows()
    for r in out:
        assert abs(r["mb"] / CHIP_DRAM_MB[r["name"]] - 1) <= 0.15, (r["name"], r["mb"])
    tot = sum(r["mb"] for r in out)
    assert abs(tot / sum(CHIP_DRAM_MB.values()) - 1) <= 0.10, tot
    per_mac = tot / 2 * 1e6 / sum(r["macs"] for r in out)
    assert abs(per_mac / CHIP_DRAM_PER_MAC - 1) <= 0.10, per_mac
    rule = {r["name"]: r["mb"] for r in rows()}
    assert all(r["mb"] == rule[r["name"]] for r in out if r["name"] != "CONV2")     # only CONV2's mapping differs


def _row(name: str) -> dict:
    return next(r for r in rows() if r["name"] == name)


@pytest.mark.parametrize("name", ["CONV1", "CONV3", "CONV4", "CONV5"])
def test_dram_traffic_per_layer_within_15_percent(name):
    r = _row(name)
    assert abs(r["mb"] / CHIP_DRAM_MB[name] - 1) <= 0.15, (name, r["mb"], CHIP_DRAM_MB[name])


@pytest.mark.xfail(strict=True, reason="CONV2: 3.397 MB against the chip's 4.0 (-15.1%, just outside 15%). "
                                       "The model's dense DRAM words are 4.96 MB; RLC at the chip's 38.7% zeros "
                                       "(density 0.613) leaves 0.82 words per ifmap word, and the output at "
                                       "Sparseloop's density 0.169 shrinks to 0.23: the chip's compiler ran n=1, "
                                       "m=64 on CONV2 where the mapping rule picks n=2, m=32 "
                                       "(test_eyeriss_chip.py; with the chip's own Table III mapping CONV2 moves "
                                       "3.710 MB, -7.2%: test_with_the_chips_own_mapping_...), and the output "
                                       "density of the pre-pooling map is Sparseloop's, not measured on the chip")
def test_dram_traffic_conv2_within_15_percent():
    r = _row("CONV2")
    assert abs(r["mb"] / CHIP_DRAM_MB["CONV2"] - 1) <= 0.15, r["mb"]


def test_dram_traffic_total_within_10_percent_and_below_dense():
    tot = sum(r["mb"] for r in rows())
    assert abs(tot / sum(CHIP_DRAM_MB.values()) - 1) <= 0.10, tot
    assert all(r["mb"] < r["dense_mb"] for r in rows())


def test_dram_accesses_per_mac_within_10_percent_of_0_0029():
    per_mac = sum(r["mb"] for r in rows()) / 2 * 1e6 / sum(r["macs"] for r in rows())
    assert abs(per_mac / CHIP_DRAM_PER_MAC - 1) <= 0.10, per_mac


def test_zero_gating_lowers_power_where_the_chip_sees_zeros():
    """The chip's power falls from 332 mW (CONV1, no zeros) to 235-266 mW (CONV3-5, 72-79% zeros);
    the model's on-chip power with gating must fall the same way, and gating must save on every layer
    with zeros."""
    r = {x["name"]: x for x in rows()}
    assert all(r[n]["mw"] < r["CONV1"]["mw"] for n in ("CONV3", "CONV4", "CONV5"))
    assert all(r[n]["mw"] < r[n]["dense_mw"] for n in ("CONV2", "CONV3", "CONV4", "CONV5"))


@pytest.mark.xfail(strict=True, reason="model on-chip power 79-90% below the chip's (measured: "
                                       "68.6 / 41.4 / 28.2 / 24.7 / 25.6 mW against 332 / 288 / 266 / 235 / 236 mW): the "
                                       "Accelergy 65 nm table prices spad/GLB/MAC accesses only; the chip's clock "
                                       "tree, control, leakage and I/O pads are not modelled")
def test_power_per_layer_within_20_percent():
    for r in rows():
        assert abs(r["mw"] / CHIP_POWER_MW[r["name"]] - 1) <= 0.20, (r["name"], r["mw"])
