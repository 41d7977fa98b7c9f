"""Systolic 32x32 arrays against hand-computed fold counts (reference/systolic.md).

A GEMM (M x K) @ (K x N) maps to OS as P=M on rows, K(filters)=N on columns, T=K streamed; to WS as
the reduction K on rows, N on columns, T=M; to IS as K on rows, M on columns, T=N. Bandwidth is made
unlimited (and DRAM latency zero) so only the array's own pipeline skew is left on top of the T
compute steps of each fold.

textbook (default): per fold 2r + c + T - 2, r x c the PEs that fold uses, folds in sequence.
scalesim: SCALE-Sim 3.0: folds x (T + R + C - 2) - 1 for OS, folds x (2R + C + T - 2) - 1 for WS/IS,

R = C = 32 whatever a fold uses.
"""

from __future__ import annotations

from dataclasses import replace

from accelsim.arch import load_arch
from accelsim.cost.model import evaluate
from accelsim.sim import simulate_layer, unlimited
from dataflows import registry
from workloads.layer import gemm

R = C = 32


def scalesim_formula(dataflow: str, folds: int, T: int) -> int:
    per_fold = T + R + C - 2 if dataflow == "os" else 2 * R + C + T - 2
    return folds * per_fold - 1


def textbook(folds: list[tuple[int, int]], T: int) -> int:
    return sum(2 * r + c + T - 2 for r, c in folds)


# (config, dataflow module, GEMM M N K, folds as (rows used, cols used), T per fold)
CASES = [
    ("systolic_32x32_os", "os_moc_mop", (32, 32, 100), [(32, 32)], 100),
    ("systolic_32x32_os", "os_moc_mop", (64, 64, 100), [(32, 32)] * 4, 100),
    ("systolic_32x32_os", "os_moc_mop", (40, 48, 100), [(32, 32), (32, 16), (8, 32), (8, 16)], 100),
    # WS: the reduction K=100 folds over the 32 rows as 32, 32, 32, 4; N=32 columns; T = M = 32
    ("systolic_32x32_ws", "ws", (32, 32, 100), [(32, 32)] * 3 + [(4, 32)], 32),
    # IS: K=100 on rows (32, 32, 32, 4), M=32 on columns, T = N = 32
    ("systolic_32x32_is", "is", (32, 32, 100), [(32, 32)] * 3 + [(4, 32)], 32),
]


def simulate(cfg: str, flow: str, mnk: tuple[int, int, int], timing: str) -> tuple[int, int]:
    arch = load_arch(cfg)
    arch = replace(arch, noc=replace(arch.noc, params=(("timing", timing),)))
    m, n, k = mnk
    layer = gemm("g", m, n, k)
    mapping = registry.get(flow).named(layer, arch)
    r = evaluate(layer, arch, mapping)
    sim = simulate_layer(layer, unlimited(arch), mapping, r.counts)
    return sim.cycles, r.counts.cycles


def test_fold_counts_by_hand():
    print()
    print(f"{'config':18s} {'dataflow':10s} {'M x N x K':10s} {'folds':>5s} {'T':>4s} {'ideal':>6s} "
          f"{'textbook':>9s} {'accelsim':>9s} {'SCALE-Sim':>9s} {'accelsim':>9s}")
    failures = []
    for cfg, flow, mnk, folds, T in CASES:
        tb, ideal = simulate(cfg, flow, mnk, "textbook")
        ss, _ = simulate(cfg, flow, mnk, "scalesim")
        kind = "os" if flow == "os_moc_mop" else flow
        want_tb, want_ss = textbook(folds, T), scalesim_formula(kind, len(folds), T)
        print(f"{cfg:18s} {flow:10s} {'x'.join(map(str, mnk)):10s} {len(folds):5d} {T:4d} {ideal:6d} "
              f"{want_tb:9d} {tb:9d} {want_ss:9d} {ss:9d}")
        if (ideal, tb, ss) != (len(folds) * T, want_tb, want_ss):
            failures.append((cfg, flow, mnk))
    assert not failures


def test_array_size_gemm_os_is_fill_compute_drain():
    """One fold of a 32 x 32 x K GEMM on a 32 x 32 OS array: 2 x 32 + 32 + K - 2 cycles."""
    for k in (1, 7, 100, 1000):
        cycles, ideal = simulate("systolic_32x32_os", "os_moc_mop", (32, 32, k), "textbook")
        assert ideal == k
        assert cycles == 2 * 32 + 32 + k - 2


def test_finite_bandwidth_only_adds_cycles():
    arch = load_arch("systolic_32x32_os")
    layer = gemm("g", 64, 64, 100)
    mapping = registry.get("os_moc_mop").named(layer, arch)
    r = evaluate(layer, arch, mapping)
    finite = simulate_layer(layer, arch, mapping, r.counts).cycles
    assert finite >= simulate("systolic_32x32_os", "os_moc_mop", (64, 64, 100), "textbook")[0]
