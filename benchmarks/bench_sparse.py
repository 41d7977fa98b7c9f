"""The mapper's batch scorer with sparsity (accelsim.mapper.sparse_batch) against the dense one, one core.

    python benchmarks/bench_sparse.py [--n 10000] [--rounds 7]
    python benchmarks/bench_sparse.py --hier [--n 10000] [--rounds 7]   # level-list hierarchies
    python benchmarks/bench_sparse.py --run [--rounds 5]   # a sparse AlexNet run against the dense one
    python benchmarks/bench_sparse.py --parts [--n 10000] [--rounds 15]  # where the clustered v2's sparse time goes

Cases: AlexNet CONV2 (workloads.zoo "alexnet" layer 1, batch 4) on configs/eyeriss_v1, n legal
mappings drawn by the fixed-shape batch space (``mapper.batch.BatchSpace.propose`` + ``legal``,
seeded), encoded once. Uniform densities: the published CONV2 ones of ``alexnet_sparse`` (ifmap
0.613, weight 0.385, psum 0.169). Paths (every one scores the same rows):

- dense:          ``cost.fast.FixedBatch`` rows (the general kernel on the batch's nests, written once
                  as the mapper's legality filter writes them) + energy + cycles (a dense search's score)
- sparse v1:      the rows' count view + ``SparseBatch.score``, the ``eyeriss_v1`` preset (RLE at DRAM, gating):
                  every factor is per layer, one numba pass
- sparse v2:      the same with the ``eyeriss_v2`` preset (CSC in the RF: tile-dependent, cached per
                  distinct RF tile; skipping: load imbalance cached per (lockstep run, active PEs)); the
                  scorer is built fresh each round, so its caches are filled inside the timing
- v2 warm:        sparse v2 with one scorer for all rounds (as in a search, whose scorer lives for the
                  layer: its caches are filled once)

Each round runs every path ``CALLS`` times in a row (same load for all paths); evals/s is the median
round's rate (wall clock), per CPU s the median round's evals / process CPU seconds (less sensitive to
other processes on a shared machine); compile excluded (a warm-up call first). Prints the load average
before and after. The target (issue 16): >= 1,000,000 evaluations per second per core with uniform densities.

``--hier``: the general scorer's sparse view (``mapper.sparse_batch.NestSparseBatch``) on level-list
hierarchies: AlexNet CONV2 (batch 4) on the clustered Eyeriss v2 (``configs/eyeriss_v2.yaml``, preset
``eyeriss_v2_clustered``: CSC in the spad, skipping with load imbalance) and on eyeriss_v1's level list
(``hierarchy.from_arch``, presets ``eyeriss_v1`` and ``eyeriss_v2``), n legal nests drawn by the general
mapper's space (``mapper.nest_space.NestSpace.propose``, seeded; many keeps patterns), the same
densities. Paths: dense = ``cost.fast_nest.kernel_rows`` + ``energy_nests`` + ``bound_nests`` (a dense
general search's score); sparse PRESET = ``kernel_rows`` + ``NestSparseBatch.score`` with a scorer built
each round (its keeps-pattern plans and tile caches filled inside the timing); PRESET warm = one scorer
for every round (as in a search); PRESET capacity = ``NestSparseBatch.fits`` alone (the compressed
capacity check the sparse search adds per proposal, warm). Then whole searches
(``mapper.nest_search.search_nest``, budget 10,000, objective energy, one per round with seeds 0..):
scored nests per CPU second of the search (proposals, repairs, capacity, scoring, the reducer),
the best and the median round (columns ``best`` and ``per CPU s``).

``--parts``: the clustered Eyeriss v2 case of ``--hier``, its warm sparse path taken apart, us per nest
(median round, process CPU time): the dense kernel's rows; ``NestSparseBatch.score`` on the rows the
kernel has just written (as in the warm path), and of it the memo look-ups (``RowMemo.resolve``); the
same score again on the same rows; then each memo group looked up alone (the score's groups: tiles
by level, served tiles, keeps, lockstep run).

``--run``: ``accelsim run eyeriss_v1 -w alexnet -b 4`` (named mappings, every layer), dense and with
``--sparse eyeriss_v1 --density ifmap=0.5,weight=0.4,psum=0.5`` (uniform), with the simulator, with
``--no-sim``, and searched, each a whole process (start-up included; one warm-up run of each first); each round runs
them in a row (and a searched pair: ``--no-sim --search --search-budget 2000``, the sparse one searching
with sparsity); prints the median CPU seconds (user + system of the child) and wall seconds, and
the sparse / dense ratios (target: <= 2).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace

import numpy as np

CALLS = 5


def cases(n: int, seed: int = 0):
    from accelsim.arch import load_arch
    from accelsim.cost.encode import MappingArrays, encode_layer
    from accelsim.mapper.batch import BatchSpace
    from dataflows import registry
    from workloads import zoo

    layer = replace(zoo.get("alexnet").layers[1], N=4)
    arch = load_arch("eyeriss_v1")
    lay = encode_layer(layer)
    space = BatchSpace(layer, arch, registry.get(arch.dataflow), lay)
    rng = np.random.default_rng(seed)
    parts, have = [], 0
    while have < n:
        cand, _ = space.legal(rng, space.propose(rng, 4096))
        parts.append(cand)
        have += len(cand.factors)
    batch = MappingArrays(*(np.concatenate([getattr(p, f) for p in parts])[:n] for f in MappingArrays._fields))
    return layer, arch, space, lay, batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--run", action="store_true", help="time a sparse AlexNet run against the dense one")
    ap.add_argument("--hier", action="store_true", help="the general scorer on level-list hierarchies")
    ap.add_argument("--parts", action="store_true", help="the clustered Eyeriss v2 sparse path taken apart")
    args = ap.parse_args()
    if args.run:
        return run_speed(args.rounds)
    if args.parts:
        return hier_parts(args.n, args.rounds)
    if args.hier:
        return hier_speed(args.n, args.rounds)
    from accelsim.cost.fast import FixedBatch
    from accelsim.mapper.sparse_batch import SparseBatch
    from accelsim.sparse.density import Uniform
    from accelsim.sparse.spec import load_spec

    print(f"load before: {os.getloadavg()}")
    layer, arch, space, lay, batch = cases(args.n)
    fixed = FixedBatch(layer, arch)
    nests = fixed.nests(batch)          # as the mapper's legality filter writes its survivors
    models = {"ifmap": Uniform(0.613), "weight": Uniform(0.385), "psum": Uniform(0.169)}
    keeps = tuple(tuple(bool(x) for x in k) for k in space.keep)
    specs = {"sparse v1": load_spec("eyeriss_v1"), "sparse v2": load_spec("eyeriss_v2")}

    def dense():
        rows = fixed.rows(nests)
        fixed.energy(rows)
        fixed.cycles(rows)

    def sparse(name):
        scorer = SparseBatch(layer, arch, keeps, specs[name], models)

        def go():
            scorer.score(fixed.counts(fixed.rows(nests)), batch.factors, batch.orders)
        return go, scorer

    paths = {"dense": dense}
    for name in specs:
        go, scorer = sparse(name)
        assert scorer.reason is None
        paths[name] = go
    paths["v2 warm"] = sparse("sparse v2")[0]       # one scorer for every round: its caches stay filled
    for fn in paths.values():            # compile and warm up
        fn()
    rates: dict = {k: [] for k in paths}
    cpu: dict = {k: [] for k in paths}
    for _ in range(args.rounds):
        for name in paths:
            fn = sparse(name)[0] if name in specs else paths[name]       # sparse: caches filled inside the round
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(CALLS):
                fn()
            wall, cpus = time.perf_counter() - t0, time.process_time() - c0
            rates[name].append(CALLS * args.n / wall)
            cpu[name].append(CALLS * args.n / cpus)
    print(f"AlexNet CONV2 (batch 4) on eyeriss_v1, {args.n:,} legal mappings, {args.rounds} rounds x {CALLS} calls")
    print(f"{'path':<10} {'evals/s (median)':>17} {'best':>12} {'per CPU s':>12}")
    for name in paths:
        print(f"{name:<10} {statistics.median(rates[name]):>17,.0f} {max(rates[name]):>12,.0f} "
              f"{statistics.median(cpu[name]):>12,.0f}")
    print(f"load after: {os.getloadavg()}")


UNIFORM = {"ifmap": 0.613, "weight": 0.385, "psum": 0.169}     # alexnet_sparse CONV2
SEARCH_BUDGET = 10000


def hier_cases(n: int, seed: int = 0):
    """(name, layout, nests, [(preset, spec)]) per hierarchy: n legal nests the kernel counts itself."""
    from accelsim.arch import load_arch
    from accelsim.cost.fast_nest import kernel_rows
    from accelsim.cost.nest_arrays import NestArrays, NestLayout
    from accelsim.hierarchy import from_arch, load_architecture
    from accelsim.mapper.nest_space import NestSpace
    from accelsim.problem import from_layer
    from accelsim.sparse.spec import load_spec
    from workloads import zoo

    problem = from_layer(replace(zoo.get("alexnet").layers[1], N=4))
    out = []
    for name, h, presets in (("eyeriss_v2 (clustered)", load_architecture("eyeriss_v2"), ("eyeriss_v2_clustered",)),
                             ("eyeriss_v1 level list", from_arch(load_arch("eyeriss_v1")), ("eyeriss_v1", "eyeriss_v2"))):
        layout = NestLayout(problem, h)
        space = NestSpace(layout)
        rng = np.random.default_rng(seed)
        parts, have = [], 0
        while have < n:
            c = space.propose(rng, 2048)
            _, left = kernel_rows(layout, c)
            c = c.take(np.flatnonzero(~left))
            parts.append(c)
            have += c.n_nests
        nests = NestArrays.concat(parts).take(np.arange(n))
        out.append((name, layout, nests, [(p, load_spec(p)) for p in presets]))
    return out


def hier_paths(layout, nests, presets, models, table, weights) -> tuple[dict, dict]:
    """(path name -> a timed call, preset name -> a maker of a fresh scorer's call) on one hierarchy."""
    from accelsim.cost.fast_nest import bound_nests, bound_params, energy_nests, kernel_rows, nest_memo
    from accelsim.mapper.sparse_batch import NestSparseBatch

    bp = bound_params(layout)
    memo = nest_memo(layout)

    def dense():
        rows, _ = kernel_rows(layout, nests, memo)
        energy_nests(rows, weights)
        bound_nests(layout, rows, bp)

    def make(spec):
        sb = NestSparseBatch(layout, spec, models, table)
        assert sb.reason is None

        def go():
            rows, _ = kernel_rows(layout, nests, memo)
            sb.score(rows, nests)
        return go, sb

    paths: dict = {"dense": dense}
    fresh: dict = {}
    for preset, spec in presets:
        go, warm = make(spec)
        fresh[preset] = lambda spec=spec: make(spec)
        paths[preset] = go
        paths[f"{preset} warm"] = make(spec)[0]
        paths[f"{preset} capacity"] = lambda warm=warm: warm.fits(nests)
    return paths, fresh


def hier_speed(n: int, rounds: int) -> None:
    from accelsim.cost.energy import column_weights
    from accelsim.energy_table import table_for
    from accelsim.mapper.nest_search import search_nest
    from accelsim.sparse.density import Uniform

    print(f"load before: {os.getloadavg()}")
    models = {r: Uniform(d) for r, d in UNIFORM.items()}
    for name, layout, nests, presets in hier_cases(n):
        table = table_for(layout.hierarchy)
        weights = column_weights(layout, table)
        paths, fresh = hier_paths(layout, nests, presets, models, table, weights)
        for fn in paths.values():        # compile and warm up
            fn()
        rates: dict = {k: [] for k in paths}
        cpu: dict = {k: [] for k in paths}
        for _ in range(rounds):
            for key in paths:
                fn = fresh[key]()[0] if key in fresh else paths[key]     # fresh: caches filled inside the round
                t0, c0 = time.perf_counter(), time.process_time()
                for _ in range(CALLS):
                    fn()
                wall, cpus = time.perf_counter() - t0, time.process_time() - c0
                rates[key].append(CALLS * n / wall)
                cpu[key].append(CALLS * n / cpus)
        keeps = len(np.unique(nests.keeps.reshape(n, -1), axis=0))
        print(f"AlexNet CONV2 (batch 4) on {name}, {n:,} legal nests ({keeps} keeps patterns), "
              f"{rounds} rounds x {CALLS} calls")
        print(f"{'path':<30} {'evals/s (median)':>17} {'best':>12} {'per CPU s':>12}")
        for key in paths:
            print(f"{key:<30} {statistics.median(rates[key]):>17,.0f} {max(rates[key]):>12,.0f} "
                  f"{statistics.median(cpu[key]):>12,.0f}")
        # whole searches (proposals, capacity, scoring, the reducer): scored nests per CPU second
        for label, sparse in [("dense", None)] + [(p, (spec, models, table)) for p, spec in presets]:
            times = []
            for seed in range(rounds):
                c0 = time.process_time()
                found = search_nest(layout.problem, layout.hierarchy, objective="energy", budget=SEARCH_BUDGET,
                                    seed=seed, energy_weights=weights, sparse=sparse)
                times.append(found.evaluated / (time.process_time() - c0))
            print(f"search {label:<23} {'':>17} {max(times):>12,.0f} {statistics.median(times):>12,.0f}")
    print(f"load after: {os.getloadavg()}")


def hier_parts(n: int, rounds: int) -> None:
    from accelsim.cost.fast_nest import kernel_rows, nest_memo
    from accelsim.energy_table import table_for
    from accelsim.mapper.sparse_batch import NestSparseBatch
    from accelsim.sparse.density import Uniform

    print(f"load before: {os.getloadavg()}")
    models = {r: Uniform(d) for r, d in UNIFORM.items()}
    name, layout, nests, presets = hier_cases(n)[0]
    preset, spec = presets[0]
    sb = NestSparseBatch(layout, spec, models, table_for(layout.hierarchy))
    memo = nest_memo(layout)
    resolve = sb.memo.resolve
    looked: list = []               # per call: CPU s in RowMemo.resolve and its arguments

    def timed(*a, **k):
        c0 = time.process_time()
        out = resolve(*a, **k)
        looked.append((time.process_time() - c0, a, k))
        return out
    sb.memo.resolve = timed         # type: ignore[method-assign]
    rows, _ = kernel_rows(layout, nests, memo)
    sb.score(rows, nests)           # warm: every keeps pattern, tile and lockstep run known
    parts: dict = {k: [] for k in ("dense kernel rows", "score after the rows", "  memo look-ups",
                                   "  scoring pass + rest", "score again, same rows", "  memo look-ups ")}
    groups, args, kw = looked[-1][1][0], looked[-1][1][1:], looked[-1][2]
    for g in groups:
        parts[f"  memo group {int(g)} alone"] = []
    for _ in range(rounds):
        c0 = time.process_time()
        rows, _ = kernel_rows(layout, nests, memo)
        c1 = time.process_time()
        looked.clear()
        sb.score(rows, nests)
        c2 = time.process_time()
        memo_s = sum(t for t, _, _ in looked)
        looked.clear()
        sb.score(rows, nests)
        c3 = time.process_time()
        again = sum(t for t, _, _ in looked)
        for k, v in zip(parts, (c1 - c0, c2 - c1, memo_s, c2 - c1 - memo_s, c3 - c2, again)):
            parts[k].append(v)
        for g in groups:
            c0 = time.process_time()
            resolve(np.array([g]), *args, **{k: v for k, v in kw.items() if k != "uses"})     # every row
            parts[f"  memo group {int(g)} alone"].append(time.process_time() - c0)
    print(f"AlexNet CONV2 (batch 4) on {name}, preset {preset}, {n:,} legal nests, warm scorer, {rounds} rounds "
          f"(memo groups: tiles at levels 0..{len(layout.levels)}, then keeps {sb.memo.keeps_group}, "
          f"lockstep {sb.memo.lockstep_group}, served tiles {sb.memo.span_base}..)")
    print(f"{'part':<34} {'us per nest (median)':>21}")
    for k, v in parts.items():
        print(f"{k:<34} {statistics.median(v) / n * 1e6:>21.3f}")
    print(f"load after: {os.getloadavg()}")


def run_speed(rounds: int) -> None:
    import resource
    import subprocess
    import sys

    print(f"load before: {os.getloadavg()}")
    base = [sys.executable, "-m", "accelsim", "run", "eyeriss_v1", "-w", "alexnet", "-b", "4", "-q"]
    sparse = ["--sparse", "eyeriss_v1", "--density", "ifmap=0.5,weight=0.4,psum=0.5"]
    modes = {"simulated": [], "--no-sim": ["--no-sim"], "searched": ["--no-sim", "--search", "--search-budget", "2000"]}
    cases = {(mode, kind): base + extra + (sparse if kind == "sparse" else [])
             for mode, extra in modes.items() for kind in ("dense", "sparse")}
    outs = {}
    for k, argv in cases.items():         # warm up (numba cache, file cache)
        outs[k] = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    cpu: dict = {k: [] for k in cases}
    wall: dict = {k: [] for k in cases}
    for _ in range(rounds):
        for k, argv in cases.items():
            r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
    print(f"accelsim run eyeriss_v1 -w alexnet -b 4 [--no-sim [--search --search-budget 2000]] [{' '.join(sparse)}], "
          f"{rounds} rounds, whole process")
    for mode in modes:
        d, s_ = statistics.median(cpu[(mode, "dense")]), statistics.median(cpu[(mode, "sparse")])
        dw, sw = statistics.median(wall[(mode, "dense")]), statistics.median(wall[(mode, "sparse")])
        print(f"{mode:<10} CPU s: dense {d:.3f} sparse {s_:.3f} ratio {s_ / d:.2f}; "
              f"wall s: dense {dw:.3f} sparse {sw:.3f} ratio {sw / dw:.2f}")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
