"""The general numba scorer (accelsim.cost.fast_nest, any hierarchy) against the retired fixed-shape one
(DRAM -> GLB -> array -> RF; ``--fixed``: a copy of its module) on the same cases, one core.

    python benchmarks/bench_nest.py [--n 10000] [--rounds 7] [--arch eyeriss_v1] [--cases nest|eval] [--fixed FAST_PY]
    python benchmarks/bench_nest.py --search     # the general mapper vs today's, AlexNet CONV1-5

Cases: AlexNet CONV2 on ``hierarchy.from_arch(ARCH)``, scored by both kernels as the very same
mappings. ``--cases nest`` (default): legal nests drawn by the general mapper's space
(``mapper.nest_space.NestSpace.propose``, seeded) that the fixed shape can also express (no
temporal loop at the register level), each converted to today's ``Mapping``. ``--cases eval``
(ARCH default isca16/rs, as bench_eval.py): bench_eval.py's cases (``random_legal_mappings``:
seeded random legal fixed-shape mappings, every buffer keeping what the arch holds), each
converted to a nest by ``loopnest.from_fixed``. Before
timing, the two are checked to count the same words (``counts.to_counts`` of the general row equals
the fixed row, on every case). Paths:

- fixed:         with ``--fixed FAST_PY`` only: the retired fixed-shape kernel's ``count_batch`` on the
                 encoded mappings (a copy of its module, as ``bench_eval.py --fixed``); the ratios
                 ``general / fixed`` and ``generic / fixed`` are printed against it, and only then
- fixed view (general kernel): without ``--fixed``, in its place: today's ``cost.fast.count_batch``,
                 the fixed shape's view of the general kernel (no ratio: it is the same kernel)
- general:       ``cost.fast_nest.kernel_rows`` on the encoded nests (a batch this size: the kernel
                 generated for the layout's shape, ``cost.nest_kernel``)
- generic:       ``kernel_rows(..., generated=False)``: the one generic kernel, for comparison
- general+score: ``kernel_rows`` + ``energy_nests`` (rows . weights) + ``bound_nests``

Each round runs every path ``CALLS`` times in a row (same load for all paths); evals/s is the median
round's rate (wall clock), best the fastest round's, per CPU s the median round's evals / process CPU seconds (less
sensitive to other processes on a shared machine); compile excluded (a warm-up call first).
Prints the load average (``os.getloadavg``) before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

FIXED_VIEW = "fixed view (general kernel)"   # the fixed-path row's name without --fixed
CALLS = 10           # calls per path per round (a timed block of about 0.1-0.5 s: less scheduler noise)


def cases(arch_name: str, n: int, seed: int = 0):
    from accelsim.arch import load_arch
    from accelsim.cost.encode import encode_batch
    from accelsim.cost.nest_arrays import NestArrays, NestLayout
    from accelsim.hierarchy import from_arch
    from accelsim.legality import problems_of
    from accelsim.mapper.nest_space import NestSpace
    from accelsim.mapping import Mapping
    from accelsim.names import REG
    from accelsim.problem import from_layer
    from workloads import zoo

    layer = zoo.get("alexnet").layers[1]
    arch = load_arch(arch_name)
    h = from_arch(arch)
    layout = NestLayout(from_layer(layer), h)
    space = NestSpace(layout)
    rng = np.random.default_rng(seed)
    reg = layout.levels.index(REG)
    parts, mappings = [], []
    while len(mappings) < n:
        c = space.propose(rng, 2048)
        c = c.take(np.flatnonzero((c.factors[:, reg] == 1).all(axis=1)))
        # the same mapping in the fixed shape's encoding (levels dram, glb, rows, cols, rf), kept
        # when the fixed shape's rules accept it too
        f, o, s, k = c
        good = []
        for i in range(c.n_nests):
            m = Mapping((tuple(f[i, 0]), tuple(f[i, 1]), tuple(s[i, 1, 0]), tuple(s[i, 1, 1]), tuple(f[i, 2])),
                        (tuple(o[i, 0]), tuple(o[i, 1]), tuple(o[i, 2])),
                        tuple(bool(x) for x in k[i, 1]), tuple(bool(x) for x in k[i, 2]),
                        tuple(bool(x) for x in k[i, 3]))
            if len(mappings) < n and not problems_of(layer, m, arch):
                good.append(i)
                mappings.append(m)
        parts.append(c.take(np.array(good, dtype=np.int64)))
    nests = NestArrays.concat(parts)
    lay, batch = encode_batch(layer, mappings)
    return layer, arch, layout, nests, lay, batch


def eval_cases(arch_name: str, n: int, seed: int = 0):
    """bench_eval.py's cases on ARCH (its random legal mappings of AlexNet CONV2) in both encodings."""
    from bench_eval import random_legal_mappings

    from accelsim.arch import load_arch
    from accelsim.cost.encode import encode_batch
    from accelsim.cost.nest_arrays import NestLayout, encode_nests
    from accelsim.hierarchy import from_arch
    from accelsim.loopnest import from_fixed
    from accelsim.problem import from_layer
    from workloads import zoo

    layer = zoo.get("alexnet").layers[1]
    arch = load_arch(arch_name)
    h = from_arch(arch)
    layout = NestLayout(from_layer(layer), h)
    mappings = random_legal_mappings(layer, arch, n, seed)
    nests = encode_nests(layout, [from_fixed(m, h) for m in mappings])
    lay, batch = encode_batch(layer, mappings)
    return layer, arch, layout, nests, lay, batch


def run(arch_name: str = "eyeriss_v1", n: int = 10000, rounds: int = 7, kind: str = "nest",
        fixed_path: str | None = None) -> dict:
    from accelsim.cost.counts import to_counts
    from accelsim.cost.fast import count_batch, counts_of_row
    from accelsim.cost.fast_nest import bound_nests, bound_params, energy_nests, kernel_rows
    from accelsim.mapper.nest_search import fixed_arch_weights

    load_before = os.getloadavg()
    layer, arch, layout, nests, lay, batch = (cases if kind == "nest" else eval_cases)(arch_name, n)
    rows, left = kernel_rows(layout, nests)
    generic_rows, generic_left = kernel_rows(layout, nests, generated=False)
    assert np.array_equal(rows, generic_rows) and np.array_equal(left, generic_left)
    fixed_name = "fixed" if fixed_path is not None else FIXED_VIEW

    def fixed_rows():
        return count_batch(layer, batch)
    if fixed_path is not None:
        from bench_eval import _load_fixed

        retired = _load_fixed(fixed_path)

        def fixed_rows():
            return retired.count_batch(lay, batch)
    fixed = fixed_rows()
    same = sum(to_counts(layout.actions_of(rows[i])) == counts_of_row(fixed[i]) for i in range(n) if not left[i])
    w = fixed_arch_weights(layout, arch)
    bp = bound_params(layout)
    def general_scored() -> None:
        r, _ = kernel_rows(layout, nests)
        energy_nests(r, w)
        bound_nests(layout, r, bp)

    paths = {fixed_name: fixed_rows, "general": lambda: kernel_rows(layout, nests),
             "generic": lambda: kernel_rows(layout, nests, generated=False), "general+score": general_scored}
    times: dict[str, list[float]] = {k: [] for k in paths}
    cpu: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(rounds):
        for k, fn in paths.items():
            t, c = time.perf_counter(), time.process_time()
            for _call in range(CALLS):
                fn()
            times[k].append((time.perf_counter() - t) / CALLS)
            cpu[k].append((time.process_time() - c) / CALLS)
    rates = {k: n / statistics.median(v) for k, v in times.items()}
    best = {k: n / min(v) for k, v in times.items()}
    per_cpu = {k: n / statistics.median(v) for k, v in cpu.items()}
    result = {"arch": arch_name, "layer": layer.name, "cases": n, "kind": kind, "left_to_python": int(left.sum()),
              "equal_rows": int(same), "rounds": rounds, "evals_per_second": rates, "best_evals_per_second": best,
              "evals_per_cpu_second": per_cpu, "loadavg_before": load_before, "loadavg_after": os.getloadavg()}
    if fixed_path is not None:          # a ratio of two kernels only against the retired one
        result.update(general_vs_fixed=rates["general"] / rates["fixed"],
                      general_vs_fixed_cpu=per_cpu["general"] / per_cpu["fixed"],
                      generic_vs_fixed_cpu=per_cpu["generic"] / per_cpu["fixed"])
    return result


def search(arch_name: str = "eyeriss_v1", budget: int = 10000) -> None:
    """The general mapper (search_nest, energy, seed 0) against today's (mapper.search, every
    dataflow) on AlexNet CONV1-5 over from_arch(ARCH): wall and CPU seconds, evaluations, energy."""
    from accelsim.arch import load_arch
    from accelsim.cost.nest_arrays import NestLayout
    from accelsim.errors import ConfigError
    from accelsim.hierarchy import from_arch
    from accelsim.mapper.nest_search import fixed_arch_weights, search_nest
    from accelsim.mapper.search import SearchSpec
    from accelsim.mapper.search import search as fixed_search
    from accelsim.problem import from_layer
    from dataflows import registry
    from workloads import zoo

    arch = load_arch(arch_name)
    h = from_arch(arch)
    print(f"search AlexNet CONV1-5 on {arch_name}, budget {budget}, energy; load average {os.getloadavg()}")
    print(f"{'layer':<7}{'general s':>10}{'cpu s':>8}{'evals':>8}{'energy pJ':>16}{'fixed s (all flows)':>21}"
          f"{'cpu s':>8}{'evals':>8}{'best energy pJ':>16}")
    for layer in zoo.get("alexnet").layers:
        if not layer.name.startswith("CONV"):
            continue
        p = from_layer(layer)
        layout = NestLayout(p, h)
        w = fixed_arch_weights(layout, arch)
        search_nest(p, h, objective="energy", budget=64, seed=0, energy_weights=w)        # warm-up
        t, c = time.perf_counter(), time.process_time()
        g = search_nest(p, h, objective="energy", budget=budget, seed=0, energy_weights=w)
        gw, gc = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        best, evals = float("inf"), 0
        for flow in sorted(registry.names()):
            try:
                r = fixed_search(layer, arch, registry.get(flow), SearchSpec("energy", budget, 0))
            except ConfigError:
                continue
            best, evals = min(best, r.score.objective), evals + r.evaluated
        fw, fc = time.perf_counter() - t, time.process_time() - c
        print(f"{layer.name:<7}{gw:>10.2f}{gc:>8.2f}{g.evaluated:>8}{g.score.objective:>16,.0f}{fw:>21.2f}{fc:>8.2f}"
              f"{evals:>8}{best:>16,.0f}")
    print(f"load average after {os.getloadavg()}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default=None, help="default: eyeriss_v1 (nest cases), isca16/rs (eval cases, as bench_eval.py)")
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--cases", choices=("nest", "eval"), default="nest",
                    help="nest: the general mapper's proposals; eval: bench_eval.py's random legal mappings")
    ap.add_argument("--search", action="store_true", help="time the mappers instead (AlexNet CONV1-5)")
    ap.add_argument("--fixed", default=None, metavar="FAST_PY",
                    help="a copy of the retired fixed-shape kernel's cost/fast.py (git show 5e73496:accelsim/cost/fast.py)")
    a = ap.parse_args()
    if a.search:
        search(a.arch or "eyeriss_v1")
        return
    arch = a.arch or ("eyeriss_v1" if a.cases == "nest" else "isca16/rs")
    r = run(arch, a.n, a.rounds, a.cases, a.fixed)
    print(f"AlexNet {r['layer']} on from_arch({r['arch']}): {r['cases']} legal {r['kind']} cases "
          f"({r['equal_rows']} with equal fixed/general counts, {r['left_to_python']} left to Python); "
          f"load average before {[round(x, 2) for x in r['loadavg_before']]}, "
          f"after {[round(x, 2) for x in r['loadavg_after']]}")
    print(f"{'path':<29}{'evals/s (median)':>18}{'best':>14}{'per CPU s':>14}")
    for k, v in r["evals_per_second"].items():
        print(f"{k:<29}{v:>18,.0f}{r['best_evals_per_second'][k]:>14,.0f}{r['evals_per_cpu_second'][k]:>14,.0f}")
    if "general_vs_fixed" in r:
        print(f"general / fixed: {r['general_vs_fixed']:.3f} (median rates), {r['general_vs_fixed_cpu']:.3f} (per CPU s); "
              f"generic / fixed: {r['generic_vs_fixed_cpu']:.3f} (per CPU s)")


if __name__ == "__main__":
    main()
