"""Cost-model evaluations per second on one core: plain Python, the numba kernel per call, the batch kernel.

    python benchmarks/bench_eval.py            # full: 10,000 mappings, more repetitions, cold compile
    python benchmarks/bench_eval.py --quick    # fewer repetitions, no cold-compile subprocess
    python benchmarks/bench_eval.py --quick --fixed FAST_PY   # also the retired fixed-shape kernel, interleaved

``--fixed FAST_PY``: a copy of the fixed-shape count kernel's module as it was before it was retired
(``git show 5e73496:accelsim/cost/fast.py > /tmp/fixed_fast.py``), loaded from that file, adds the
paths ``fixed`` (its ``count_batch`` on the encoded batch) and ``fixed_scored`` (+ its
``energy_batch`` and ``latency_bound_batch``, with its axis memo kept across calls, as a search did)
to the same rounds, checks they give the same counts, energies and bounds, and prints the ratios
batch / fixed and batch_scored / fixed_scored per CPU second: the figure the kernel's retirement
was measured by (issue 13 item 7: >= 0.90 and >= 1,000,000 per CPU s).

Workload: AlexNet CONV2 (workloads.zoo "alexnet" layer 1) on configs isca16/rs, 10,000 random legal
mappings (seeded; accelsim.legality.problems_of(layer, m, arch) == []), encoded once before timing.
Paths (all single-threaded):

- python:       accelsim.cost.counts.count(layer, m), one mapping per call
- numba:        accelsim.cost.fast.count_fast(layer, m), one mapping per call (encoding included)
- batch:        the general kernel (accelsim.cost.fast_nest.count_nests over hierarchy.from_arch(arch),
                a fresh memo per call) on the batch's nests, written once before timing, as the
                mapper's legality filter writes its survivors (accelsim.cost.fast.FixedBatch.nests)
- batch_scored: FixedBatch rows (its memo kept across calls, as in a search) + energy + cycles: what
                a search scores with
- survivors_nests: FixedBatch.nests(batch, keep): the mapper's legality filter writing its survivors
                as nests (one numba pass; keep = every mapping here) ...
- survivors_copy:  ... and what it did before the mapper scored nests: MappingArrays(*(a[keep] for a
                in batch)); the difference is all the nest layout costs the mapper beyond the kernel

Each path is timed with time.perf_counter over several rounds (every round runs each path once, so
all paths share the machine's load over time); ``evals_per_second`` is the median run's rate,
compile excluded (a warm-up call first). Compile is measured apart: ``compile.cold_s``
is the first one-mapping call (the generic kernel) in a fresh process with empty numba and
generated-kernel caches (full mode only), ``compile.cold_batch_s`` the first batch call after it (the
kernel generated for the layer's shape, which every search's batches run); ``cached_s`` and
``cached_batch_s`` the same in a fresh process that loads those caches.

``run(quick) -> dict``: {"layer", "arch", "mappings", "loadavg", "target_evals_per_second",
"paths": {name: {"evals", "runs", "evals_per_second", "best_evals_per_second",
"evals_per_cpu_second", "speedup_vs_python", "work_s"}}, "compile": {"cold_s", "cached_s",
"cold_batch_s", "cached_batch_s", "first_call_this_process_s"}, "work_s"}.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

TARGET = 1_000_000
LAYER = ("alexnet", 1)
ARCH = "isca16/rs"
N_MAPPINGS = 10_000


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def random_legal_mappings(layer, arch, n: int, seed: int = 0) -> list:
    """Random mappings that pass problems_of with the arch: factors drawn inner level first, each at
    most what the dim has left (RF <= 4, the array's rows/cols budget), DRAM takes the rest; random
    loop orders; the tensors each buffer keeps are what the arch has (as a search would use)."""
    from accelsim.energy import TENSORS
    from accelsim.legality import problems_of
    from accelsim.mapping import COLS, DRAM, GLB, RF, ROWS, Mapping

    rng = random.Random(seed)
    # which buffers keep which tensor is the arch's (as in a search): GLB holds, RF holds, MAC registers
    keep = [tuple(t in arch.glb.holds for t in TENSORS), tuple(arch.rf.holds(t) for t in TENSORS),
            tuple(t in arch.pe_array.operand_registers for t in TENSORS)]
    out = []
    while len(out) < n:
        fac = [[1] * 8 for _ in range(5)]
        rows, cols = arch.pe_array.rows, arch.pe_array.cols
        for d in rng.sample(range(8), 8):
            D, span = layer.dims[d], 1
            for lv, cap, p in ((RF, 4, 0.5), (COLS, cols, 0.5), (ROWS, rows, 0.5), (GLB, None, 0.6)):
                hi = ceil_div(D, span) if cap is None else max(1, min(ceil_div(D, span), cap))
                f = rng.randint(1, hi) if rng.random() < p else 1
                fac[lv][d] = f
                span *= f
                if lv == COLS:
                    cols //= f
                elif lv == ROWS:
                    rows //= f
            fac[DRAM][d] = ceil_div(D, span)
        m = Mapping(tuple(map(tuple, fac)), tuple(tuple(rng.sample(range(8), 8)) for _ in range(3)), *keep)
        if not problems_of(layer, m, arch):
            out.append(m)
    return out


def _time_rounds(work: dict, rounds: int) -> dict:
    """Run every path once per round, round after round (so all paths see the same machine load over
    time); per path: the median and the best run, and the median CPU-time rate."""
    wall: dict = {name: [] for name in work}
    cpu: dict = {name: [] for name in work}
    for _ in range(rounds):
        for name, (fn, _evals) in work.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    return {name: {"evals": evals, "runs": rounds,
                   "evals_per_second": evals / statistics.median(wall[name]),
                   "best_evals_per_second": evals / min(wall[name]),
                   "evals_per_cpu_second": evals / statistics.median(cpu[name]),
                   "work_s": sum(wall[name])}
            for name, (_fn, evals) in work.items()}


_FIRST_CALL = """
import json, time
t = time.perf_counter()
from accelsim.cost.encode import encode_batch
from accelsim.cost.fast import count_batch, count_fast
from accelsim.cost.fast_nest import GENERATED_MIN
from accelsim.mapping import Mapping
from workloads import zoo
layer = zoo.get({name!r}).layers[{index}]
I = tuple(range(8))
m = Mapping((layer.dims,) + ((1,) * 8,) * 4, (I, I, I), (True,) * 3, (True,) * 3, (True,) * 3)
t1 = time.perf_counter()
count_fast(layer, m)
t2 = time.perf_counter()
count_batch(layer, encode_batch(layer, [m] * GENERATED_MIN)[1])
print(json.dumps({{"import_s": t1 - t, "first_call_s": t2 - t1, "first_batch_s": time.perf_counter() - t2}}))
"""


def _first_call(cache_dir: str) -> tuple[float, float]:
    """(first one-mapping call, first batch call) in a fresh process whose numba cache and generated-
    kernel cache (``ACCELSIM_KERNEL_CACHE``) are ``cache_dir``: the generic kernel, then the kernel
    generated for the layer's shape (what a search's batches of >= GENERATED_MIN run)."""
    code = _FIRST_CALL.format(name=LAYER[0], index=LAYER[1])
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, ACCELSIM_KERNEL_CACHE=os.path.join(cache_dir, "kernels"))
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return out["first_call_s"], out["first_batch_s"]


def compile_times(cold: bool) -> dict:
    """First calls in fresh processes: with empty numba and generated-kernel caches (compiles) and
    then with the caches that run wrote (loads); ``*_batch_s`` is the generated kernel's part."""
    if not cold:
        return {"cold_s": None, "cached_s": None, "cold_batch_s": None, "cached_batch_s": None}
    with tempfile.TemporaryDirectory() as tmp:
        cold_s, cold_batch_s = _first_call(tmp)
        cached_s, cached_batch_s = _first_call(tmp)
        return {"cold_s": cold_s, "cached_s": cached_s, "cold_batch_s": cold_batch_s, "cached_batch_s": cached_batch_s}


def _load_fixed(path: str):
    """The retired fixed-shape kernel's module, from a copy of its file (``--fixed``): copied into a
    directory named by its content hash and always imported under one name, so numba's cache next to
    it (which records the module's name) stays valid from run to run."""
    import hashlib
    import importlib.util
    import shutil
    from pathlib import Path

    try:
        text = Path(path).read_bytes()
    except OSError as e:
        raise SystemExit(f"bench_eval: --fixed {path}: {e.strerror}") from None
    home = Path(tempfile.gettempdir()) / f"accelsim_retired_fixed_{hashlib.sha256(text).hexdigest()[:16]}"
    home.mkdir(exist_ok=True)
    name = "retired_fixed_fast"
    target = home / f"{name}.py"
    if not target.exists():
        shutil.copyfile(path, target)
    spec = importlib.util.spec_from_file_location(name, target)
    if spec is None or spec.loader is None:
        raise SystemExit(f"bench_eval: --fixed {path}: not a Python file")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod           # importable by name: numba's cache reloads its functions' module
    spec.loader.exec_module(mod)
    return mod


def run(quick: bool, fixed_path: str | None = None) -> dict:
    import numpy as np

    from accelsim.arch import load_arch
    from accelsim.cost.counts import _FIXED_ACTIONS, count
    from accelsim.cost.encode import MappingArrays, encode_batch, encode_layer
    from accelsim.cost.fast import FixedBatch, count_fast
    from accelsim.cost.fast_nest import count_nests
    from workloads import zoo

    layer = zoo.get(LAYER[0]).layers[LAYER[1]]
    arch = load_arch(ARCH)
    mappings = random_legal_mappings(layer, arch, N_MAPPINGS)
    _, batch = encode_batch(layer, mappings)
    fixed = FixedBatch(layer, arch)
    keep = np.arange(len(mappings))
    nests = fixed.nests(batch, keep)

    t = time.perf_counter()
    count_fast(layer, mappings[0])                     # compile, or load the numba cache
    first_call = time.perf_counter() - t
    fixed.rows(nests)

    n_py, n_fast = (200, 2000) if quick else (500, N_MAPPINGS)
    rounds = 5 if quick else 11

    def python_counts():
        # count() memoizes its action table per (layer shape, mapping) for the report's second look;
        # emptied first, so every round counts in plain Python (rounds after the first were memo hits)
        _FIXED_ACTIONS.clear()
        return [count(layer, m) for m in mappings[:n_py]]

    def scored():
        rows = fixed.rows(nests)
        return fixed.energy(rows), fixed.cycles(rows)

    work = {
        "python": (python_counts, n_py),
        "numba": (lambda: [count_fast(layer, m) for m in mappings[:n_fast]], n_fast),
        "batch": (lambda: count_nests(fixed.layout, nests), N_MAPPINGS),
        "batch_scored": (scored, N_MAPPINGS),
        "survivors_nests": (lambda: fixed.nests(batch, keep), N_MAPPINGS),
        "survivors_copy": (lambda: MappingArrays(*(a[keep] for a in batch)), N_MAPPINGS),
    }
    if fixed_path is not None:
        old = _load_fixed(fixed_path)
        from noc.registry import bandwidth_bound

        lay, noc, memo = encode_layer(layer), bandwidth_bound(arch), old.axis_memo(layer)
        dram_wpc, glb_wpc = arch.dram_words_per_cycle, arch.glb.bandwidth_words_per_cycle

        def fixed_scored():
            rows = old.count_batch(lay, batch, memo)
            return old.energy_batch(rows, arch), old.latency_bound_batch(rows, dram_wpc, glb_wpc, noc)
        energy, cycles = fixed_scored()
        rows = fixed.rows(nests)
        if not (np.array_equal(fixed.counts(rows), old.count_batch(lay, batch))
                and np.array_equal(fixed.energy(rows), energy) and np.array_equal(fixed.cycles(rows), cycles)):
            raise SystemExit(f"bench_eval: the kernel in {fixed_path} scores these mappings differently")
        work["fixed"] = (lambda: old.count_batch(lay, batch), N_MAPPINGS)
        work["fixed_scored"] = (fixed_scored, N_MAPPINGS)
    paths = _time_rounds(work, rounds)
    for p in paths.values():             # load-independent: both measured in the same rounds
        p["speedup_vs_python"] = p["evals_per_second"] / paths["python"]["evals_per_second"]
    comp = compile_times(cold=not quick)
    comp["first_call_this_process_s"] = first_call
    return {"layer": f"{LAYER[0]} {layer.name}", "arch": ARCH, "mappings": N_MAPPINGS,
            "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "target_evals_per_second": TARGET, "paths": paths, "compile": comp,
            "work_s": sum(p["work_s"] for p in paths.values())}


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    fixed_path = argv[argv.index("--fixed") + 1] if "--fixed" in argv and argv.index("--fixed") + 1 < len(argv) else None
    if "--fixed" in argv and fixed_path is None:
        raise SystemExit("bench_eval: --fixed needs the path of the retired fixed-shape kernel's fast.py")
    res = run(quick, fixed_path)
    print(f"{res['layer']} on {res['arch']}, {res['mappings']} random legal mappings"
          f"{' (quick)' if quick else ''}; load average {res['loadavg']}")
    print(f"{'path':<17}{'evals':>8}{'runs':>6}{'evals/s (median)':>19}{'best':>14}{'per CPU s':>14}"
          f"{'x python':>10}")
    for name, p in res["paths"].items():
        print(f"{name:<17}{p['evals']:>8}{p['runs']:>6}{p['evals_per_second']:>19,.0f}"
              f"{p['best_evals_per_second']:>14,.0f}{p['evals_per_cpu_second']:>14,.0f}{p['speedup_vs_python']:>10,.0f}")
    c = res["compile"]
    cold = ("not measured (quick)" if c["cold_s"] is None else
            f"{c['cold_s']:.1f} s + {c['cold_batch_s']:.1f} s for the generated batch kernel")
    cached = ("not measured (quick)" if c["cached_s"] is None else
              f"{c['cached_s']:.2f} s + {c['cached_batch_s']:.2f} s")
    print(f"compile: cold (empty numba and kernel caches) {cold}; cached {cached}; "
          f"first call in this process {c['first_call_this_process_s']:.2f} s")
    batch = res["paths"]["batch"]["evals_per_second"]
    print(f"batch path: {batch:,.0f} evals/s, target {TARGET:,} {'met' if batch >= TARGET else 'NOT met'}")
    p = res["paths"]
    if "fixed" in p:
        for a, b in (("batch", "fixed"), ("batch_scored", "fixed_scored")):
            print(f"{a} / {b} per CPU s: {p[a]['evals_per_cpu_second'] / p[b]['evals_per_cpu_second']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
