"""CoDL co-execution planner on calibrated profiles against CoDL's published numbers (reference/codl.md).

Honest validation: every prediction comes from profiles calibrated *without* what is predicted
(leave one model out, leave one SoC out; :mod:`accelsim.partition.validation`), and co-execution
results are never fitted. ``pytest -s`` prints each table; ``accelsim partition validate`` prints all.

Targets (issue #15): held-out single-processor latencies within 20% per model and SoC, median within
10%; on every Snapdragon model a predicted speedup over the best single processor above 1.2x; mean
speedups within 15% of CoDL's 2.08x (vs CPU-only) and 1.56x (vs GPU-only); SD855 CoDL latencies within
20% of the measured 680 / 140 / 137 / 244 / 267 ms. A missed target is a strict xfail with its numbers.
"""

from __future__ import annotations

import pytest

from accelsim.partition.latencies import read_latencies, shipped_reference
from accelsim.partition.soc_fit import load_inputs
from accelsim.partition.validation import (
    CODL_MS_SD855,
    PUBLISHED_SPEEDUPS,
    coexecution_table,
    latency_table,
    leave_one_model_out,
    leave_one_soc_out,
    median,
    soc_group,
)


@pytest.fixture(scope="module")
def data():
    lats = read_latencies(shipped_reference())
    socs, workloads = load_inputs(lats)
    return lats, socs, workloads


@pytest.fixture(scope="module")
def lomo(data):
    return leave_one_model_out(*data)


@pytest.fixture(scope="module")
def loso(data):
    return leave_one_soc_out(*data)


def _errors(rows):
    return [abs(e) for r in rows for p in ("cpu", "gpu") if (e := r.error(p)) is not None]


@pytest.mark.xfail(strict=True, reason=(
    "measured: 37 of 40 held-out latencies within 20%, max 39.9%: kirin990 FST GPU -39.9%, sd888 VGG-16 GPU "
    "+24.0%, kirin990 VGG-16 GPU -23.4% (kirin990 YOLOv2 GPU +19.94%, inside by 0.06 points; all CPUs within "
    "11%). Causes: FST's two 9x9 layers on 3 input / 3 output channels (factors conv*large*thin*thin_large) need "
    "an efficiency <= 0.075 on the Mali for FST within 20%; fitted with FST 0.050, without it 0.19 (the Mali's "
    "large factor from PoseNet's 7x7, its thin factor from 3x3 first layers): the Mali runs them 3.8x slower "
    "than its other layers imply (Adreno 640: 1.2x), and only FST has them. Only VGG-16 has FC layers: the fit "
    "with it streams their 495 MB on the GPU at 6.8 GB/s (Adreno 640), 10.8 (Adreno 660), 3.2 (Mali); without "
    "it the conv traffic alone gives 5.6-6.8 GB/s on all four GPUs"))
def test_leave_one_model_out_each_latency_within_20_percent(lomo):
    print("\n" + latency_table(lomo, "leave one model out: single-processor latencies (ms)"))
    assert max(_errors(lomo)) <= 0.20


def test_leave_one_model_out_median_within_10_percent(lomo):
    """Measured: 4.7% (docs/partition.md)."""
    assert median(_errors(lomo)) <= 0.10


@pytest.mark.xfail(strict=True, reason=(
    "measured: 38 of 40 within 20%, max 43.8%: kirin990 FST GPU -43.8%, kirin990 VGG-16 GPU -27.2% (all CPUs "
    "within 18%; every Adreno within 20%). Cause: with Kirin 990 held out, the Mali (a family of its own) has no "
    "data left: its latencies come from the Adreno GPUs' factors at the Mali's spec rates through the shared "
    "elasticity. Measured Kirin 990 / SD855 GPU ratios run from 1.63x (YOLOv2) to 2.71x (FST), predicted "
    "1.51-1.81x; even the best single rescale of the five held-out Mali predictions leaves 29.6%: the misses "
    "are the Mali's own pattern (slow 9x9 thin layers, slow FC weight stream) that no Adreno shows"))
def test_leave_one_soc_out_each_latency_within_20_percent(loso):
    print("\n" + latency_table(loso, "leave one SoC out: single-processor latencies (ms)"))
    assert max(_errors(loso)) <= 0.20


def test_leave_one_soc_out_median_within_10_percent(loso):
    """Measured: 7.1% (docs/partition.md)."""
    assert median(_errors(loso)) <= 0.10


def test_coexecution_beats_the_best_single_processor_by_1_2x_on_every_snapdragon_model(lomo):
    print("\n" + coexecution_table(lomo, "leave one model out: CoDL plan of the held-out model"))
    snap = [r for r in lomo if soc_group(r.soc) == "snapdragon"]
    assert len(snap) == 15
    worst = min(snap, key=lambda r: r.speedup_best)
    assert worst.speedup_best > 1.2, (worst.soc, worst.model, worst.speedup_best)


@pytest.mark.parametrize("group", sorted(PUBLISHED_SPEEDUPS))
def test_mean_speedups_within_15_percent_of_codl(lomo, group):
    """Snapdragons: CoDL 2.08x over CPU-only, 1.56x over GPU-only; Kirin 990: 1.41x and 2.43x."""
    rows = [r for r in lomo if soc_group(r.soc) == group]
    pub_cpu, pub_gpu = PUBLISHED_SPEEDUPS[group]
    mean_cpu = sum(r.speedup("cpu") for r in rows) / len(rows)
    mean_gpu = sum(r.speedup("gpu") for r in rows) / len(rows)
    print(f"\n{group}: mean x{mean_cpu:.3f} over CPU-only (CoDL {pub_cpu}), x{mean_gpu:.3f} over GPU-only "
          f"(CoDL {pub_gpu})")
    assert abs(mean_cpu / pub_cpu - 1) <= 0.15
    assert abs(mean_gpu / pub_gpu - 1) <= 0.15


def test_sd855_codl_latencies_within_20_percent_of_measured(lomo):
    rows = {r.model: r for r in lomo if r.soc == "sd855"}
    assert set(rows) == set(CODL_MS_SD855)
    for model, measured in CODL_MS_SD855.items():
        print(f"{model:<26} predicted {rows[model].codl_ms:7.1f} ms, CoDL measured {measured:.0f} ms "
              f"({100 * (rows[model].codl_ms / measured - 1):+.1f}%)")
    for model, measured in CODL_MS_SD855.items():
        assert abs(rows[model].codl_ms / measured - 1) <= 0.20, model
